rule traits:
    input:
        f"{RESULTS}/segmentation/{{batch}}.zarr",
    output:
        f"{RESULTS}/traits/{{batch}}.parquet",
    params:
        config=settings("traits", "pixel_size_mm", "dpi"),
    threads: 2
    resources:
        # A retry after running out of memory asks for more.
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
        runtime=60,
    log:
        f"{RESULTS}/logs/traits/{{batch}}.log",
    shell:
        "rootpipe traits {input} {output} --config {params.config} --threads {threads} 2> {log}"


rule collect:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        traits=per_batch(f"{RESULTS}/traits/{{batch}}.parquet"),
    output:
        parquet=f"{RESULTS}/traits.parquet",
        csv=f"{RESULTS}/traits.csv",
    log:
        f"{RESULTS}/logs/collect.log",
    shell:
        "rootpipe collect {input.manifest} {input.traits} --out {output.parquet} 2> {log}"
