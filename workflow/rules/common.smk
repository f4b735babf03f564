import json
import shlex
from pathlib import Path

from snakemake.exceptions import WorkflowError

from rootpipe.compat import ADDED_LATER, TRACK_TABLES
from rootpipe.config import check_campaign, check_input_dir
from rootpipe.segmentation.segmenter import model_path
from rootpipe.segmentation.checkpoint import NotACheckpoint, read_header

# All of rootpipe's checks (defaults filled in), here at the start: a value only a job would
# refuse would otherwise cost the outputs Snakemake deletes before running that job.
try:
    check_campaign(config)
except ValueError as exc:
    raise WorkflowError(
        f"{exc}\n(config file: {', '.join(map(str, workflow.configfiles))})"
    ) from None

RESULTS = config["results_dir"]

# The model too, before any image is tiled: otherwise every segment job fails on its own.
if config["segment"]["method"] == "unet":
    _model = model_path(config["segment"])
    if _model.exists():
        try:
            read_header(_model)
        except NotACheckpoint as exc:
            raise WorkflowError(f"segment.checkpoint: {exc}") from None
    elif (
        _model.absolute() != Path(RESULTS, "models", "model.safetensors").absolute()
    ):  # the train target's
        raise WorkflowError(
            f"segment.checkpoint {_model} does not exist ({_model.absolute()}): give the path "
            "of a model `rootpipe train` wrote, or null for the shipped model"
        )


def batches():
    """Batch names, known once ingest has run (it is a checkpoint).

    Reading the small list-file folder is all the module-level work a job does;
    the manifest itself is never a dependency of a per-batch rule.
    """
    checkpoints.ingest.get()
    return sorted(p.stem for p in Path(RESULTS, "batches").glob("*.tsv"))


def per_batch(pattern):
    return lambda wildcards: expand(pattern, batch=batches())


def settings(*keys):
    """The config slice a rule's output depends on, as a shell-quoted JSON argument.

    Passed as a param, so changing it re-runs exactly the rules that use it. A
    function, because a plain string's braces would be read as wildcards.
    """
    value = shlex.quote(
        json.dumps(
            {k: config[k] for k in keys if k not in ADDED_LATER or config.get(k)},
            sort_keys=True,
        )
    )
    return lambda wildcards: value


# The train target's inputs and flags (rules/train.smk), from the config's train section.
TRAIN = config["train"]


def train_pairs(wildcards):
    if not TRAIN["pairs"]:
        raise ValueError(
            "the train target needs train.pairs in the config: a CSV with image, "
            "annotation, annotation_type and split columns (see config/README.md)"
        )
    return TRAIN["pairs"]


def train_files(wildcards):
    """The images and annotations the pairs CSV names: a corrected mask retrains the model."""
    from rootpipe.learn.annotations import read_pairs

    import pandas as pd

    try:  # several datasets, comma-separated, as `rootpipe train --dataset` takes them
        pairs = pd.concat(
            [
                read_pairs(train_pairs(wildcards), dataset=d)
                for d in (TRAIN["dataset"].split(",") if TRAIN["dataset"] else [None])
            ]
        )
    except (ValueError, FileNotFoundError) as exc:
        raise WorkflowError(f"train.pairs: {exc}") from None
    splits = {TRAIN["train_split"], TRAIN["val_split"]}
    if "split" in pairs:
        pairs = pairs[
            pairs["split"]
            .astype(str)
            .str.strip()
            .str.lower()
            .isin({str(s).lower() for s in splits})
        ]
    return sorted({*pairs["image"], *pairs["annotation"]})


def train_args(wildcards):
    """The config's train section as `rootpipe train` flags (shell-quoted)."""
    flags = {
        "--dataset": TRAIN["dataset"],
        "--init": TRAIN["init"],
        "--epochs": TRAIN["epochs"],
        "--steps": TRAIN["steps"],
        "--batch": TRAIN["batch"],
        "--tile": TRAIN["tile_px"],
        "--lr": TRAIN["lr"],
        "--augmentation": TRAIN["augmentation"],
        "--root-fraction": TRAIN["root_fraction"],
        "--skeleton-weight": TRAIN["skeleton_weight"],
        "--device": TRAIN["device"],
        "--seed": TRAIN["seed"],
        "--train-split": TRAIN["train_split"],
        "--val-split": TRAIN["val_split"],
        # only once set: a model trained before the key existed is not retrained for it
        "--bit-depth": config.get("bit_depth"),
    }
    # a switch, only once on: a model trained before the key existed is not retrained for it
    switches = ["--pick-threshold"] if TRAIN["pick_threshold"] else []
    return " ".join(
        [f"{k} {shlex.quote(str(v))}" for k, v in flags.items() if v is not None]
        + switches
    )
