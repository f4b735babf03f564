def input_dir(wildcards):
    # Checked here too: a missing input is otherwise Snakemake's MissingInputException.
    try:
        check_input_dir(config["input_dir"])
    except FileNotFoundError as exc:
        raise WorkflowError(str(exc)) from None
    return config["input_dir"]


checkpoint ingest:
    input:
        # The folder's mtime changes when files are added; `rootpipe run` also
        # forces this cheap, incremental rule so images in sub-folders are seen.
        input_dir,
        ([config["metadata_csv"]] if config["metadata_csv"] else []),
    output:
        f"{RESULTS}/manifest.parquet",
        f"{RESULTS}/manifest.csv",
    log:
        f"{RESULTS}/logs/ingest.log",
    benchmark:
        f"{RESULTS}/benchmarks/ingest.tsv"
    conda:
        "../envs/rootpipe.yaml"
    threads: 2
    params:
        config=settings(
            "input_dir",
            "results_dir",
            "extensions",
            "filename_pattern",
            "series_fields",
            "timestamp_fields",
            "timestamp_format",
            "metadata_csv",
            "batch_size",
            "bit_depth",
            "max_image_megapixels",
        ),
    shell:
        "rootpipe ingest --config {params.config} --threads {threads} > {log:q} 2>&1"
