rule report:
    input:
        manifest=f"{RESULTS}/manifest.parquet",
        traits=f"{RESULTS}/traits.parquet",
        growth=f"{RESULTS}/growth.parquet",
        summary=f"{RESULTS}/growth_summary.parquet",
        images=per_batch(f"{RESULTS}/images/{{batch}}.zarr"),
        segmentation=per_batch(f"{RESULTS}/segmentation/{{batch}}.zarr"),
    output:
        # Both also in `snakemake --report` (rootpipe run --report FILE.zip).
        html=report(
            f"{RESULTS}/report.html",
            caption="../report/report.rst",
            category="rootpipe report",
        ),
        figures=report(
            directory(f"{RESULTS}/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        f"{RESULTS}/logs/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report.tsv"
    conda:
        "../envs/rootpipe.yaml"
    params:
        config=settings(
            "report",
            "traits",
            "track",
            "results_dir",
            "pixel_size_mm",
            "dpi",
            "border_px",
        ),
    shell:
        "rootpipe report {input.manifest:q} {input.traits:q} {input.growth:q} {output.html:q} "
        "--figures {output.figures:q} --config {params.config} > {log:q} 2>&1"
