def input_dir(wildcards):
    folder = config["input_dir"]
    if not Path(folder).is_dir():
        raise WorkflowError(f"input_dir {folder} is not a folder: set input_dir in the config to the folder "
                            "that holds the campaign's images")
    return folder


checkpoint ingest:
    input:
        # The folder's mtime changes when files are added; `rootpipe run` also
        # forces this cheap, incremental rule so images in sub-folders are seen.
        input_dir,
        ([config["metadata_csv"]] if config["metadata_csv"] else []),
    output:
        f"{RESULTS}/manifest.parquet",
    params:
        config=settings("input_dir", "results_dir", "extensions", "filename_pattern",
                        "series_fields", "timestamp_fields", "timestamp_format",
                        "metadata_csv", "batch_size"),
    threads: 2
    benchmark:
        f"{RESULTS}/benchmarks/ingest.tsv",
    log:
        f"{RESULTS}/logs/ingest.log",
    shell:
        "rootpipe ingest --config {params.config} --threads {threads} > {log:q} 2>&1"
