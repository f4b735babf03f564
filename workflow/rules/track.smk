rule track:
    input:
        traits=f"{RESULTS}/traits.parquet",
        images=per_batch(f"{RESULTS}/images/{{batch}}.zarr"),
        segmentation=per_batch(f"{RESULTS}/segmentation/{{batch}}.zarr"),
    output:
        growth=f"{RESULTS}/growth.parquet",
        roots=f"{RESULTS}/roots.parquet",
        summary=f"{RESULTS}/growth_summary.parquet",
        # The same tables as CSV, for spreadsheets (written beside each parquet file).
        csv=[
            f"{RESULTS}/growth.csv",
            f"{RESULTS}/roots.csv",
            f"{RESULTS}/growth_summary.csv",
        ],
    log:
        f"{RESULTS}/logs/track.log",
    benchmark:
        f"{RESULTS}/benchmarks/track.tsv"
    conda:
        "../envs/rootpipe.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 4000 * attempt,
    params:
        config=settings(
            "track",
            "results_dir",
            "pixel_size_mm",
            "dpi",
            "series_fields",
            "timestamp_fields",
            "border_px",
            # the traits section only with traits.rsml (the tracked RSML measures branches as the
            # traits stage does): other campaigns keep their params and are not tracked again
            *(["traits"] if config["traits"]["rsml"] else []),
        ),
        # Layout of the tables (rootpipe.compat): raising it re-runs track on older campaigns.
        tables=TRACK_TABLES,
    shell:
        "rootpipe track {input.traits:q} {output.growth:q} --roots {output.roots:q} --summary {output.summary:q} "
        "--config {params.config} --threads {threads} > {log:q} 2>&1"
