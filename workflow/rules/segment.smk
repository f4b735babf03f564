rule segment:
    input:
        images=f"{RESULTS}/images/{{batch}}.zarr",
        # The model file is an input: replacing it re-segments every batch.
        model=(
            [str(model_path(config["segment"]))]
            if config["segment"]["method"] == "unet"
            else []
        ),
    output:
        directory(f"{RESULTS}/segmentation/{{batch}}.zarr"),
    log:
        f"{RESULTS}/logs/segment/{{batch}}.log",
    benchmark:
        # Wall time and peak memory of each job: what to size cluster resources by.
        f"{RESULTS}/benchmarks/segment/{{batch}}.tsv"
    conda:
        "../envs/rootpipe.yaml"
    threads: 2
    resources:
        # A retry after running out of memory asks for more.
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=120,
    params:
        config=settings("segment"),
    shell:
        "rootpipe segment {input.images:q} {output:q} --config {params.config} --threads {threads} "
        "> {log:q} 2>&1"
