# Not part of `all`: run it as a target (`rootpipe run train`). When segment.checkpoint is
# this rule's output, a plain run trains the model first and segments with it.
rule train:
    input:
        pairs=train_pairs,
        files=train_files,
        init=[TRAIN["init"]] if TRAIN["init"] else [],
    output:
        f"{RESULTS}/models/model.safetensors",
    log:
        f"{RESULTS}/logs/train.log",
    benchmark:
        f"{RESULTS}/benchmarks/train.tsv"
    conda:
        "../envs/rootpipe.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=720,
    params:
        args=train_args,
    shell:
        "rootpipe train --pairs {input.pairs:q} --out {output:q} {params.args} --threads {threads} --quiet "
        "> {log:q} 2>&1"
