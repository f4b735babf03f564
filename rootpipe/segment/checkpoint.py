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
    try:
        header = json.loads(metadata[HEADER_KEY])
    except json.JSONDecodeError as exc:
        raise NotACheckpoint(f"{path} has a rootpipe header that is not valid JSON ({exc}); {hint}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise NotACheckpoint(f"{path} header format is {found!r}, not {FORMAT!r}")
    missing = [k for k in ("architecture", "encoder") if k not in header]
    if missing:
        raise NotACheckpoint(f"{path} header lacks {', '.join(missing)}; it cannot say which network to build")
    return header


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

    architecture = getattr(smp, header["architecture"], None)
    if architecture is None:
        raise ValueError(f"unknown smp architecture {header['architecture']!r}")
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
    from safetensors.torch import load_file

    header = read_header(path)
    model = build_model(header)
    state = load_file(str(path), device="cpu")
    with warnings.catch_warnings():  # smp's own mismatch warning says "TRAIN the model": we refuse below
        warnings.simplefilter("ignore", UserWarning)
        missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise NotACheckpoint(f"{path} weights do not fit {header['architecture']}/"
                             f"{header['encoder']}: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.to(device).eval(), header


def save(model, path: str | Path, header: dict, half: bool = False) -> None:
    """Write ``model`` with ``header`` (architecture, encoder, ... ) atomically.

    ``half`` stores floating-point weights as fp16 (half the file; loading
    casts back to the model's fp32 parameters).
    """
    from safetensors.torch import save_file

    from ..atomic import atomic_path

    header = {"format": FORMAT, "normalisation": DEFAULT_NORMALISATION, "in_channels": 3,
              "classes": 1, **header}
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={HEADER_KEY: json.dumps(header)})


def new(path: str | Path, architecture: str = "Unet", encoder: str = "resnet18", seed: int = 0,
        **header) -> None:
    """Write a freshly initialised checkpoint (a starting point for training, and for tests)."""
    import torch

    torch.manual_seed(seed)
    head = {"architecture": architecture, "encoder": encoder, **header}
    save(build_model({"in_channels": 3, "classes": 1, **head}), path, head)
