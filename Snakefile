# rootpipe: the workflow lives in workflow/ (the Snakemake workflow catalog layout).
include: "workflow/Snakefile"
