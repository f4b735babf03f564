"""rootpipe checkpoints: safetensors weights plus a JSON header.

The header says how to rebuild and feed the network (architecture, encoder,
input normalisation, tile size, pixel size it was trained at) and records
training data and validation scores. Loading reads tensors and JSON only:
nothing is ever unpickled, so a checkpoint cannot run code.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

FORMAT = "rootpipe-checkpoint"
HEADER_KEY = "rootpipe"
DEFAULT_NORMALISATION = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
#: smp architectures a header may name: the segmentation networks, not any attribute of smp
ARCHITECTURES = ("Unet", "UnetPlusPlus", "FPN", "Linknet", "MAnet", "PAN", "PSPNet", "DeepLabV3",
                 "DeepLabV3Plus", "UPerNet", "Segformer", "DPT")
#: model_kwargs a header may set, and the largest number any of them may hold (channels, depth)
MODEL_KWARGS = ("decoder_channels", "encoder_depth", "decoder_attention_type", "decoder_use_norm",
                "decoder_use_batchnorm", "decoder_pyramid_channels", "decoder_segmentation_channels",
                "decoder_dropout", "upsampling", "decoder_merge_policy", "decoder_interpolation")
MAX_KWARG_NUMBER = 1024
#: largest header (characters) and weights (parameters) a checkpoint may have: the shipped model has
#: about 4 million parameters; 200 million is a network far larger than any tile inference needs
MAX_HEADER_CHARS = 1_000_000
MAX_PARAMETERS = 200_000_000


class NotACheckpoint(ValueError):
    """The file is not a rootpipe checkpoint; it was not executed."""


def read_header(path: str | Path) -> dict:
    """Read a checkpoint's JSON header without loading its weights.

    Raises
    ------
    NotACheckpoint
        If the file is not a safetensors file with a rootpipe header.
    """
    from safetensors import safe_open

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"checkpoint {path} is a folder; give the .safetensors file in it")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    hint = ("rootpipe only loads checkpoints written by `rootpipe train` (a .safetensors file "
            "with a rootpipe header); pickled .pt/.pth files are refused because loading them "
            "can run arbitrary code")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except Exception as exc:
        raise NotACheckpoint(f"{path} is not a safetensors file ({exc}); {hint}") from None
    if HEADER_KEY not in metadata:
        raise NotACheckpoint(f"{path} has no rootpipe header; {hint}")
    if len(metadata[HEADER_KEY]) > MAX_HEADER_CHARS:
        raise NotACheckpoint(f"{path} has a rootpipe header of {len(metadata[HEADER_KEY])} characters; a real "
                             f"one has a few hundred (at most {MAX_HEADER_CHARS})")
    try:
        header = json.loads(metadata[HEADER_KEY])
    except json.JSONDecodeError as exc:
        raise NotACheckpoint(f"{path} has a rootpipe header that is not valid JSON ({exc}); {hint}") from None
    except RecursionError:
        raise NotACheckpoint(f"{path} has a rootpipe header nested too deep to read; {hint}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise NotACheckpoint(f"{path} header format is {found!r}, not {FORMAT!r}")
    missing = [k for k in ("architecture", "encoder") if k not in header]
    if missing:
        raise NotACheckpoint(f"{path} header lacks {', '.join(missing)}; it cannot say which network to build")
    problem = network_problem(header)
    if problem:
        raise NotACheckpoint(f"{path}: {problem}")
    threshold = header.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 < threshold < 1):
        raise NotACheckpoint(f"{path} header's threshold is {str(threshold)[:40]}, not a probability between 0 and "
                             "1; set segment.threshold in the config, or remove the key from the header")
    return header


def network_problem(header: dict) -> str | None:
    """Why the network a header describes must not be built, or None.

    Only segmentation architectures, a single output class, 1-4 input channels and the
    model_kwargs :data:`MODEL_KWARGS` with numbers up to :data:`MAX_KWARG_NUMBER`: a header
    asking for 8192-channel decoders would allocate gigabytes before anything is checked.
    """
    if header["architecture"] not in ARCHITECTURES:
        return (f"architecture {str(header['architecture'])[:80]!r} is not one of the segmentation "
                f"networks rootpipe builds ({', '.join(ARCHITECTURES)})")
    if not isinstance(header["encoder"], str):
        return "encoder is not a name"
    if header.get("classes", 1) != 1 or header.get("in_channels", 3) not in (1, 2, 3, 4):
        return "the network must have 1 output class and 1 to 4 input channels"
    kwargs = header.get("model_kwargs") or {}
    if not isinstance(kwargs, dict):
        return "model_kwargs is not a mapping"
    unknown = [k for k in kwargs if k not in MODEL_KWARGS]
    if unknown:
        return f"model_kwargs {unknown[:3]} are not settings rootpipe passes to a network ({', '.join(MODEL_KWARGS)})"

    def numbers(value):
        if isinstance(value, (list, tuple)):
            if len(value) > 8:
                return [MAX_KWARG_NUMBER + 1]
            return [n for v in value for n in numbers(v)]
        return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []

    big = [n for v in kwargs.values() for n in numbers(v) if not 0 <= n <= MAX_KWARG_NUMBER]
    if big:
        return f"model_kwargs hold {big[0]}, outside 0-{MAX_KWARG_NUMBER} (channels, depths)"
    return None


def describe(path: str | Path, header: dict) -> dict:
    """What a methods section needs to name a checkpoint: file, SHA-256 and what it learnt from.

    The SHA-256 identifies the weights whatever the file is called or where it moved.
    """
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    training = header.get("training") or {}
    validation = (header.get("scores") or {}).get("validation") or {}
    return {"file": Path(path).name, "sha256": digest.hexdigest(),
            "architecture": header["architecture"], "encoder": header["encoder"],
            "trained_on": training.get("data") or (f"{training['n_train_images']} annotated images"
                                                   if "n_train_images" in training else None),
            "fine_tuned_from": Path(header["fine_tuned_from"]).name if header.get("fine_tuned_from") else None,
            "validation_f1": validation.get("f1"), "pixel_size_mm": header.get("pixel_size_mm")}


def build_model(header: dict):
    """An untrained smp network as the header describes it."""
    import segmentation_models_pytorch as smp

    problem = network_problem(header)
    if problem:
        raise ValueError(problem)
    architecture = getattr(smp, header["architecture"])
    if header["encoder"] not in smp.encoders.get_encoder_names():
        raise ValueError(f"unknown smp encoder {header['encoder']!r}; e.g. mobilenet_v2 (the shipped model), "
                         "resnet18, resnet34, efficientnet-b0 (segmentation_models_pytorch.encoders."
                         "get_encoder_names() lists all)")
    # Pretrained encoder weights cannot be downloaded at run time: always None.
    return architecture(encoder_name=header["encoder"], encoder_weights=None,
                        in_channels=header.get("in_channels", 3), classes=header.get("classes", 1),
                        **header.get("model_kwargs", {}))


def load(path: str | Path, device="cpu"):
    """Load a checkpoint.

    Returns
    -------
    (model, header)
        The network in eval mode on ``device``, and the header dict.
    """
    import torch
    from safetensors.torch import load_file

    header = read_header(path)
    state = load_file(str(path), device="cpu")
    n = sum(t.numel() for t in state.values())
    if n > MAX_PARAMETERS:
        raise NotACheckpoint(f"{path} holds {n:,} weights, over {MAX_PARAMETERS:,}: not a tile segmentation network")
    broken = [k for k, t in state.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if broken:  # NaN weights give an all-zero mask for every image, and exit 0
        raise NotACheckpoint(f"{path} has weights that are NaN or infinite ({len(broken)} tensors, e.g. "
                             f"{broken[0]}): the training diverged; use another checkpoint")
    # Built on the meta device: no random initialisation (1.2 s of a job's start on this CPU, the
    # network's 1.8 M weights drawn only to be overwritten); every tensor then comes from the file,
    # cast to the dtype the network declares (fp16 files load as fp32, as a copy into it would).
    with torch.device("meta"):
        model = build_model(header)
    declared = model.state_dict()
    state = {k: v.to(declared[k].dtype) if k in declared else v for k, v in state.items()}
    with warnings.catch_warnings():  # smp's own mismatch warning says "TRAIN the model": we refuse below
        warnings.simplefilter("ignore", UserWarning)
        try:
            missing, unexpected = model.load_state_dict(state, strict=False, assign=True)
        except RuntimeError as exc:  # size mismatch
            reason = str(exc).strip().splitlines()
            raise NotACheckpoint(f"{path} weights do not fit {header['architecture']}/{header['encoder']}: "
                                 f"{(reason[1] if len(reason) > 1 else reason[0]).strip()[:300]}") from None
    if missing or unexpected:
        raise NotACheckpoint(f"{path} weights do not fit {header['architecture']}/"
                             f"{header['encoder']}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    unset = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if unset:  # a buffer the file need not hold (none in smp's networks today)
        raise NotACheckpoint(f"{path} leaves {unset[:3]} of {header['architecture']}/{header['encoder']} unset")
    return model.to(device).eval(), header


def save(model, path: str | Path, header: dict, half: bool = False) -> None:
    """Write ``model`` with ``header`` (architecture, encoder, ... ) atomically.

    ``half`` stores floating-point weights as fp16 (half the file; loading
    casts back to the model's fp32 parameters), except tensors with values beyond fp16's range.
    """
    from safetensors.torch import save_file

    from rootpipe.io.atomic import atomic_path

    header = {"format": FORMAT, "normalisation": DEFAULT_NORMALISATION, "in_channels": 3,
              "classes": 1, **header}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        # fp16 holds up to 65504: a batch norm's running variance can exceed it after a fine-tune,
        # and would be stored as inf (its channel silently zeroed); such tensors stay fp32
        state = {k: v.half() if v.is_floating_point() and bool(v.abs().max() < 6e4) else v
                 for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={HEADER_KEY: json.dumps(header)})


def new(path: str | Path, architecture: str = "Unet", encoder: str = "resnet18", seed: int = 0,
        **header) -> None:
    """Write a freshly initialised checkpoint (a starting point for training, and for tests)."""
    import torch

    torch.manual_seed(seed)
    head = {"architecture": architecture, "encoder": encoder, **header}
    save(build_model({"in_channels": 3, "classes": 1, **head}), path, head)
