rule segment:
    input:
        images=f"{RESULTS}/images/{{batch}}.zarr",
        # The model file is an input: replacing it re-segments every batch.
        model=([str(model_path(config["segment"]))] if config["segment"]["method"] == "unet" else []),
    output:
        directory(f"{RESULTS}/segmentation/{{batch}}.zarr"),
    params:
        config=settings("segment"),
    threads: 2
    resources:
        # A retry after running out of memory asks for more.
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=120,
    benchmark:
        # Wall time and peak memory of each job: what to size cluster resources by.
        f"{RESULTS}/benchmarks/segment/{{batch}}.tsv",
    log:
        f"{RESULTS}/logs/segment/{{batch}}.log",
    conda:
        "../envs/rootpipe.yaml"
    shell:
        "rootpipe segment {input.images:q} {output:q} --config {params.config} --threads {threads} "
        "> {log:q} 2>&1"
