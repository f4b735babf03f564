rule report:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        traits=f"{RESULTS}/traits.parquet",
        growth=f"{RESULTS}/growth.parquet",
        summary=f"{RESULTS}/growth_summary.parquet",
        images=per_batch(f"{RESULTS}/images/{{batch}}.zarr"),
        segmentation=per_batch(f"{RESULTS}/segmentation/{{batch}}.zarr"),
    output:
        f"{RESULTS}/report.html",
    params:
        config=settings("report", "traits", "track", "results_dir", "pixel_size_mm", "dpi", "border_px"),
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv",
    log:
        f"{RESULTS}/logs/report.log",
    shell:
        "rootpipe report {input.manifest:q} {input.traits:q} {input.growth:q} {output:q} "
        "--config {params.config} > {log:q} 2>&1"
