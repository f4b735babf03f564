# rootpipe: the workflow lives in workflow/ (the Snakemake workflow catalog layout).
include: "workflow/Snakefile"


# Snakemake does not take the default target from an included file: name it here.
rule default:
    default_target: True
    input:
        rules.all.input,
    localrule: True
