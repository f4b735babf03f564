rule traits:
    input:
        f"{RESULTS}/segmentation/{{batch}}.zarr",
    output:
        traits=f"{RESULTS}/traits/{{batch}}.parquet",
        branches=f"{RESULTS}/branches/{{batch}}.parquet",
        rsml=(
            directory(f"{RESULTS}/rsml/{{batch}}") if config["traits"]["rsml"] else []
        ),
    log:
        f"{RESULTS}/logs/traits/{{batch}}.log",
    benchmark:
        # Wall time and peak memory of each job: what to size cluster resources by.
        f"{RESULTS}/benchmarks/traits/{{batch}}.tsv"
    conda:
        "../envs/rootpipe.yaml"
    threads: 2
    resources:
        # A retry after running out of memory asks for more.
        mem_mb=lambda wildcards, attempt: 6000 * attempt,
        runtime=60,
    params:
        config=settings("traits", "pixel_size_mm", "dpi", "border_px"),
        rsml=lambda wildcards, output: (
            f"--rsml {shlex.quote(output.rsml)}" if config["traits"]["rsml"] else ""
        ),
    shell:
        "rootpipe traits {input:q} {output.traits:q} --branches {output.branches:q} {params.rsml} "
        "--config {params.config} --threads {threads} > {log:q} 2>&1"


rule collect:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        traits=per_batch(f"{RESULTS}/traits/{{batch}}.parquet"),
    output:
        parquet=f"{RESULTS}/traits.parquet",
        csv=f"{RESULTS}/traits.csv",
        rve=f"{RESULTS}/traits_rve.csv",
        rve_metadata=f"{RESULTS}/traits_rve_metadata.csv",
    log:
        f"{RESULTS}/logs/collect.log",
    benchmark:
        f"{RESULTS}/benchmarks/collect.tsv"
    conda:
        "../envs/rootpipe.yaml"
    params:
        config=settings("rve_mode", "pixel_size_mm", "dpi", "traits"),
    shell:
        "rootpipe collect {input.manifest:q} {input.traits:q} --out {output.parquet:q} "
        "--config {params.config} > {log:q} 2>&1"
