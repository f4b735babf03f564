rule tile:
    input:
        f"{RESULTS}/batches/{{batch}}.tsv",
    output:
        directory(f"{RESULTS}/images/{{batch}}.zarr"),
    log:
        f"{RESULTS}/logs/tile/{{batch}}.log",
    benchmark:
        # Wall time and peak memory of each job: what to size cluster resources by.
        f"{RESULTS}/benchmarks/tile/{{batch}}.tsv"
    conda:
        "../envs/rootpipe.yaml"
    threads: 2
    resources:
        # A retry after running out of memory asks for more.
        mem_mb=lambda wildcards, attempt: 2000 * attempt,
        runtime=60,
    params:
        config=settings("tile", "pixel_size_mm", "dpi", "bit_depth"),
    shell:
        "rootpipe tile {input:q} {output:q} --config {params.config} --threads {threads} > {log:q} 2>&1"
