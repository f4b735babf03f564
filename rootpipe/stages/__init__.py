"""The pipeline's stages, one module each, in the order Snakemake runs them:
:mod:`.ingest`, :mod:`.tile`, :mod:`.segment`, :mod:`.traits`, :mod:`.collect`,
:mod:`.track`, :mod:`.report`. Each is called by one ``rootpipe`` subcommand
(:mod:`rootpipe.cli`) and works over the layers below it; no stage imports
another (tests/test_layout.py).
"""
