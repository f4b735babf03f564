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
    raise WorkflowError(f"{exc}\n(config file: {', '.join(map(str, workflow.configfiles))})") from None

RESULTS = config["results_dir"]

# The model too, before any image is tiled: otherwise every segment job fails on its own.
if config["segment"]["method"] == "unet":
    _model = model_path(config["segment"])
    if _model.exists():
        try:
            read_header(_model)
        except NotACheckpoint as exc:
            raise WorkflowError(f"segment.checkpoint: {exc}") from None
    elif _model.absolute() != Path(RESULTS, "models", "model.safetensors").absolute():  # the train target's
        raise WorkflowError(f"segment.checkpoint {_model} does not exist ({_model.absolute()}): give the path "
                            "of a model `rootpipe train` wrote, or null for the shipped model")


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
    value = shlex.quote(json.dumps({k: config[k] for k in keys if k not in ADDED_LATER or config.get(k)},
                                   sort_keys=True))
    return lambda wildcards: value
