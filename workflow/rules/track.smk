rule track:
    input:
        traits=f"{RESULTS}/traits.parquet",
        segmentation=per_batch(f"{RESULTS}/segmentation/{{batch}}.zarr"),
    output:
        f"{RESULTS}/growth.parquet",
    params:
        config=settings("track", "results_dir"),
    threads: 2
    resources:
        mem_mb=4000,
    log:
        f"{RESULTS}/logs/track.log",
    shell:
        "rootpipe track {input.traits} {output} --config {params.config} --threads {threads} 2> {log}"
