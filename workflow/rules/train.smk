# Not part of `all`: run it as a target (`rootpipe run train`). When segment.checkpoint is
# this rule's output, a plain run trains the model first and segments with it.
TRAIN = config["train"]


def train_pairs(wildcards):
    if not TRAIN["pairs"]:
        raise ValueError("the train target needs train.pairs in the config: a CSV with image, "
                         "annotation, annotation_type and split columns (see config/README.md)")
    return TRAIN["pairs"]


def train_files(wildcards):
    """The images and annotations the pairs CSV names: a corrected mask retrains the model."""
    from rootpipe.learn.annotations import read_pairs

    import pandas as pd

    try:  # several datasets, comma-separated, as `rootpipe train --dataset` takes them
        pairs = pd.concat([read_pairs(train_pairs(wildcards), dataset=d)
                           for d in (TRAIN["dataset"].split(",") if TRAIN["dataset"] else [None])])
    except (ValueError, FileNotFoundError) as exc:
        raise WorkflowError(f"train.pairs: {exc}") from None
    splits = {TRAIN["train_split"], TRAIN["val_split"]}
    if "split" in pairs:
        pairs = pairs[pairs["split"].astype(str).str.strip().str.lower().isin({str(s).lower() for s in splits})]
    return sorted({*pairs["image"], *pairs["annotation"]})


def train_args(wildcards):
    """The config's train section as `rootpipe train` flags (shell-quoted)."""
    flags = {"--dataset": TRAIN["dataset"], "--init": TRAIN["init"], "--epochs": TRAIN["epochs"],
             "--steps": TRAIN["steps"], "--batch": TRAIN["batch"], "--tile": TRAIN["tile_px"],
             "--lr": TRAIN["lr"], "--augmentation": TRAIN["augmentation"],
             "--root-fraction": TRAIN["root_fraction"], "--skeleton-weight": TRAIN["skeleton_weight"],
             "--device": TRAIN["device"], "--seed": TRAIN["seed"],
             "--train-split": TRAIN["train_split"], "--val-split": TRAIN["val_split"],
             # only once set: a model trained before the key existed is not retrained for it
             "--bit-depth": config.get("bit_depth")}
    return " ".join(f"{k} {shlex.quote(str(v))}" for k, v in flags.items() if v is not None)


rule train:
    input:
        pairs=train_pairs,
        files=train_files,
        init=[TRAIN["init"]] if TRAIN["init"] else [],
    output:
        f"{RESULTS}/models/model.safetensors",
    params:
        args=train_args,
    threads: 2
    resources:
        mem_mb=16000,
        runtime=720,
    benchmark:
        f"{RESULTS}/benchmarks/train.tsv",
    log:
        f"{RESULTS}/logs/train.log",
    shell:
        "rootpipe train --pairs {input.pairs:q} --out {output:q} {params.args} --threads {threads} --quiet "
        "> {log:q} 2>&1"
