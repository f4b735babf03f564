"""Where the workflow's files are: the Snakefile, workflow/ (rules, schema), profiles/ and the
default config/.

In a source checkout (an editable install too) they are the repository's own, beside
``rootpipe/``. An installed wheel carries a copy of them inside the package, in
``rootpipe/_bundle/`` (copied at build time by ``setup.py``), so ``pip install .`` gives a
``rootpipe`` that runs a campaign from any folder.
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def workflow_root() -> Path:
    """The folder holding ``Snakefile``, ``workflow/``, ``profiles/`` and ``config/``."""
    source = _PACKAGE.parent
    if (source / "Snakefile").is_file() and (source / "workflow" / "Snakefile").is_file():
        return source
    bundle = _PACKAGE / "_bundle"
    if (bundle / "Snakefile").is_file():
        return bundle
    raise FileNotFoundError(f"rootpipe's workflow files are neither beside {_PACKAGE} (a source checkout) nor in "
                            f"{bundle} (an installed wheel): reinstall rootpipe (pip install --force-reinstall "
                            "rootpipe, or make install in a checkout)")
