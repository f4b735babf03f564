"""Train an smp U-Net on image/annotation pairs (dense masks, RSML, sparse RootPainter labels).

Random tiles with augmentation, Dice + BCE over labelled pixels only, AdamW
with a one-cycle schedule, validation every epoch on whole images through
the same tiled inference the segment stage uses, and the best checkpoint
kept with its metadata and scores.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from rootpipe import config
from rootpipe.learn.annotations import ROOT, UNLABELLED, check_labels, load_pairs
from rootpipe.learn.augment import AUGMENTATIONS, augment
from rootpipe.learn.losses import masked_loss, skeleton_recall_loss
from rootpipe.learn.metrics import centreline_band, pool, score_line, scores
from rootpipe.skeleton import thin

# Training-only label: an annotated root pixel on the annotation's centre-line.
SKELETON = 2

#: the config schema's train section: the one source of training defaults
DEFAULTS = config.load(None)["train"]

DEFAULT_MODEL = {"architecture": "Unet", "encoder": "mobilenet_v2",
                 "model_kwargs": {"decoder_channels": [128, 64, 32, 16, 16]}}


def mark_skeleton(labels: np.ndarray) -> np.ndarray:
    """``labels`` with the root pixels on the roots' centre-lines (1 px wide) set to ``SKELETON``.

    Parameters
    ----------
    labels : uint8 (H, W), ``ROOT`` / background / ``UNLABELLED``.

    Returns
    -------
    uint8 (H, W): a copy; the marked pixels still count as root in the pixel loss.
    """
    # The trait code's thinning: skimage's default (Zhang-Suen) erases 45-degree roots 4-10 px
    # wide almost entirely, so their length would go unrewarded (rootpipe.traits, Method).
    out = labels.copy()
    out[thin(labels == ROOT)] = SKELETON  # 1 px wide whatever the root's width: weight by length
    return out


def sampling_weights(data, groups, shares: dict | None = None) -> np.ndarray:
    """Probability of drawing each training image: groups (datasets) equally, by area within one.

    A set of 25 images beside one of 100 is otherwise drawn a fifth as often, and a large
    scanner's images drown a small camera's. ``shares`` fixes some groups' share of the
    draws (e.g. ``{"synthetic": 0.1}``); the other groups share the rest equally.
    """
    area = np.array([lab.size for _, lab in data], np.float64)
    groups = np.asarray(groups if groups is not None else np.zeros(len(data)), dtype=object)
    weights = np.zeros(len(data))
    names = list(dict.fromkeys(groups))
    shares = {g: v for g, v in (shares or {}).items() if g in names}
    rest = [g for g in names if g not in shares]
    free = (1 - sum(shares.values())) / len(rest) if rest else 0.0
    for g in names:
        inside = groups == g
        weights[inside] = area[inside] / area[inside].sum() * shares.get(g, free)
    return weights / weights.sum()


def _root_pixel(flat_indices: np.ndarray, shape: tuple, rng: np.random.Generator):
    """A random annotated root pixel (row, col), or None when the image has none."""
    if not len(flat_indices):
        return None
    return np.unravel_index(flat_indices[rng.integers(len(flat_indices))], shape)


#: the mask thresholds ``--pick-threshold`` scores on the validation images
PICK_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def validate(model, header: dict, data, device: str, tile: int, threshold: float = 0.5,
             groups=None) -> dict:
    """Pooled pixel scores of ``model`` on whole images, with the segment stage's tiled inference.

    With ``groups`` (a dataset name per image), ``f1`` is the mean over datasets of each one's
    pooled F1, so a generalist is ranked by its worst sets too, not by the largest one;
    ``f1_{group}`` beside it.
    """
    return validate_thresholds(model, header, data, device, tile, (threshold,), groups)[threshold]


def validate_thresholds(model, header: dict, data, device: str, tile: int, thresholds, groups=None) -> dict:
    """:func:`validate` at each of ``thresholds`` from one pass of the network: {threshold: scores}."""
    from rootpipe.segmentation.tiling import predict_tiled
    from rootpipe.segmentation.unet import TilePredictor

    predictor = TilePredictor(model, header, device=device, precision="fp32")
    counts = {t: [] for t in thresholds}
    for rgb, labels in data:
        probability = predict_tiled(rgb, predictor, tile=tile, overlap=tile // 8)
        for t in thresholds:
            counts[t].append(scores(probability > t, labels))
    model.train()
    results = {}
    for t, found in counts.items():
        result = pool(found)
        if groups is not None and len(set(groups)) > 1:
            per_group = {g: pool([c for c, h in zip(found, groups) if h == g])["f1"] for g in dict.fromkeys(groups)}
            result.update({f"f1_{g}": v for g, v in per_group.items()}, f1_pooled=result["f1"],
                          f1=float(np.nanmean(list(per_group.values()))))
        results[t] = result
    return results


def pick_threshold(path: str | Path, data, device: str, tile: int, groups=None, half: bool = True) -> dict:
    """Score the checkpoint at ``path`` at each of :data:`PICK_THRESHOLDS` and write the best into its header.

    The segment stage uses a checkpoint's ``threshold`` where the config leaves ``segment.threshold``
    null: how sure a network is at a root's edge depends on its training (a recipe that labels roots
    thin draws probabilities that fall off sooner), so the threshold is chosen with the weights,
    on the same validation images. Ties go to the lower threshold.

    Returns
    -------
    dict
        The checkpoint's new header.
    """
    from rootpipe.segmentation import checkpoint

    model, header = checkpoint.load(path, device=device)
    results = validate_thresholds(model, header, data, device, tile, PICK_THRESHOLDS, groups)
    best = max(PICK_THRESHOLDS, key=lambda t: (results[t]["f1"], -t))
    scores_ = dict(header.get("scores") or {})
    scores_["validation_f1_by_threshold"] = {f"{t:g}": round(results[t]["f1"], 4) for t in PICK_THRESHOLDS}
    header = {**header, "threshold": best, "scores": scores_}
    checkpoint.save(model, path, header, half=half)
    return header


def check_settings(*, out, init, epochs, steps_per_epoch, batch, tile, root_fraction, augmentation,
                   skeleton_weight, lab_fraction=1.0, synthetic_share=None) -> None:
    """Refuse bad training settings before minutes of decoding, not after (CLI flag in brackets)."""
    for name, flag, value in (("epochs", "--epochs", epochs), ("steps_per_epoch", "--steps", steps_per_epoch),
                              ("batch", "--batch", batch)):
        if value < 1:
            raise ValueError(f"{name} ({flag}) must be at least 1, not {value}")
    if tile < 64 or tile % 32:
        raise ValueError(f"tile (--tile) must be a multiple of 32 px and at least 64 (the U-Net halves a "
                         f"tile five times), not {tile}; 256 is the default")
    if not 0 <= root_fraction <= 1:
        raise ValueError(f"root_fraction (--root-fraction) is a share of tiles, 0 to 1, not {root_fraction}")
    for name, flag, value in (("lab_fraction", "--lab-fraction", lab_fraction),
                              ("synthetic_share", "--synthetic-share", synthetic_share)):
        if value is not None and not 0 <= value <= 1:
            raise ValueError(f"{name} ({flag}) is a share of tiles, 0 to 1, not {value}")
    if skeleton_weight < 0:
        raise ValueError(f"skeleton_weight (--skeleton-weight) must be 0 (off) or more, not {skeleton_weight}")
    if augmentation not in AUGMENTATIONS:
        raise ValueError(f"augmentation must be one of {AUGMENTATIONS}, not {augmentation!r}")
    out = Path(out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give the checkpoint's file name, "
                         f"e.g. {out / 'model.safetensors'}")
    if init is not None and out.exists() and out.resolve() == Path(init).resolve():
        raise ValueError(f"--out {out} is the --init checkpoint: the first epoch would replace it, "
                         "whatever its score; write the fine-tuned model to a new file")


def check_splits(train_pairs: pd.DataFrame, val_pairs: pd.DataFrame) -> None:
    """Refuse an image that is both trained on and validated on.

    Validation would score images the model has learnt, rank epochs by it and report a
    flattering F1 in the checkpoint.
    """
    def resolved(paths):
        return {Path(p).resolve(): p for p in paths.astype(str)}

    train_images, val_images = resolved(train_pairs["image"]), resolved(val_pairs["image"])
    both = sorted(str(val_images[p]) for p in set(train_images) & set(val_images))
    if both:
        raise ValueError(f"{len(both)} image(s) are in both the training and the validation split, e.g. "
                         f"{both[0]}: validation would score images the model learnt. Give each image one "
                         "split in the pairs CSV")


def train(train_pairs: pd.DataFrame, val_pairs: pd.DataFrame, out: str | Path, *, init: str | None = None,
          architecture: str = DEFAULT_MODEL["architecture"], encoder: str = DEFAULT_MODEL["encoder"],
          model_kwargs: dict | None = None, epochs: int = DEFAULTS["epochs"],
          steps_per_epoch: int = DEFAULTS["steps"], batch: int = DEFAULTS["batch"], tile: int = DEFAULTS["tile_px"],
          lr: float = DEFAULTS["lr"], seed: int = DEFAULTS["seed"], device: str = DEFAULTS["device"],
          threads: int = 1, pixel_size_mm: float | None = None, rsml_width_px: float = DEFAULTS["rsml_width_px"],
          half: bool = True, root_fraction: float = DEFAULTS["root_fraction"],
          augmentation: str = DEFAULTS["augmentation"], skeleton_weight: float = DEFAULTS["skeleton_weight"],
          progress: bool = True, notes: dict | None = None, bit_depth: int | None = None,
          centreline_band_px: int = DEFAULTS["centreline_band_px"], lab_fraction: float = DEFAULTS["lab_fraction"],
          synthetic_share: float | None = DEFAULTS["synthetic_share"], choose_threshold: bool = False) -> dict:
    """Train and keep the best checkpoint (by validation F1) at ``out``.

    Parameters
    ----------
    train_pairs, val_pairs : tables with ``image``, ``annotation``, ``annotation_type``.
    init : a rootpipe checkpoint to start from (fine-tuning, or resuming); its architecture wins.
    tile : training tile edge (px, multiple of 32).
    half : store weights as fp16 (half the file size).
    root_fraction : share of training tiles placed over an annotated root pixel; the rest
        are uniform. Sparse fine roots (a few % of pixels) are otherwise rarely seen.
    augmentation : ``"full"`` or ``"light"`` (see :func:`augment`).
    skeleton_weight : weight of :func:`skeleton_recall_loss` beside BCE + Dice (0: off).
    centreline_band_px : around RSML centre-line annotations, this many px left unlabelled
        (:func:`centreline_band`); 0: off.
    lab_fraction : with ``augmentation="lab"``, the share of tiles given the lab jitter.
    synthetic_share : share of the draws from the ``synthetic`` dataset, when mixed with real
        sets (None: an equal share).
    choose_threshold : then score the best checkpoint at several mask thresholds on the
        validation images and record the best in its header (:func:`pick_threshold`).

    A ``dataset`` column in the pairs (several sets at once) samples the sets equally
    (:func:`sampling_weights`) and ranks epochs by the mean of their validation F1s.

    Returns
    -------
    dict
        The best checkpoint's header (with ``scores``).
    """
    # Long on purpose: data, network, optimiser, the step loop, validation and keeping the best epoch share one
    # run's state; cut apart, that state would travel through a dozen arguments.
    import torch
    from tqdm import tqdm

    from rootpipe.segmentation import checkpoint
    from rootpipe.segmentation.unet import pick_device

    check_settings(out=out, init=init, epochs=epochs, steps_per_epoch=steps_per_epoch, batch=batch, tile=tile,
                   root_fraction=root_fraction, augmentation=augmentation, skeleton_weight=skeleton_weight,
                   lab_fraction=lab_fraction, synthetic_share=synthetic_share)
    check_splits(train_pairs, val_pairs)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, threads))
    rng = np.random.default_rng(seed)
    device = pick_device(device)
    if device.startswith("cpu"):
        from rootpipe.allocator import hold_freed_memory

        hold_freed_memory()  # activations and gradients reused, not page-faulted in each step
    if init:
        model, header = checkpoint.load(init, device=device)
        header = {k: header[k] for k in ("architecture", "encoder", "model_kwargs", "normalisation")
                  if k in header}
        header["fine_tuned_from"] = str(init)
        # the scale carries over: a fine-tune on the same kind of images stays at its model's
        pixel_size_mm = pixel_size_mm or checkpoint.read_header(init).get("pixel_size_mm")
    else:
        header = {"architecture": architecture, "encoder": encoder,
                  "model_kwargs": model_kwargs if model_kwargs is not None else DEFAULT_MODEL["model_kwargs"],
                  "normalisation": checkpoint.DEFAULT_NORMALISATION}
        model = checkpoint.build_model({"in_channels": 3, "classes": 1, **header}).to(device)
    header.update(tile_px=tile, pixel_size_mm=pixel_size_mm, training={
        "n_train_images": len(train_pairs), "n_val_images": len(val_pairs), "epochs": epochs,
        "steps_per_epoch": steps_per_epoch, "batch": batch, "lr": lr, "seed": seed,
        "augmentation": augmentation, "root_fraction": root_fraction, "skeleton_weight": skeleton_weight,
        **({"lab_fraction": lab_fraction} if augmentation == "lab" else {}),
        **({"synthetic_share": synthetic_share} if synthetic_share is not None else {}),
        **({"centreline_band_px": centreline_band_px} if centreline_band_px else {}),
        **(notes or {})})
    if train_pairs.empty:
        raise ValueError("no training pairs")
    train_data = load_pairs(train_pairs, rsml_width_px, bit_depth)
    val_data = load_pairs(val_pairs, rsml_width_px, bit_depth)
    if centreline_band_px:
        for data, pairs in ((train_data, train_pairs), (val_data, val_pairs)):
            for i, kind in enumerate(pairs["annotation_type"]):
                if kind == "rsml_centrelines":
                    data[i] = (data[i][0], centreline_band(data[i][1], centreline_band_px))
    check_labels(train_data, train_pairs["annotation"])
    val_groups = list(val_pairs["dataset"]) if "dataset" in val_pairs else None
    if val_data and not any((lab == ROOT).any() for _, lab in val_data):
        print(f"train: warning: the {len(val_data)} validation image(s) have no annotated root pixel, so F1 "
              "cannot rank epochs; validation is skipped", flush=True)
        val_data = []
    if not val_data:
        print(f"train: no validation images: each epoch replaces {out}, and the last one is kept", flush=True)
    if skeleton_weight:
        train_data = [(rgb, mark_skeleton(lab)) for rgb, lab in train_data]
    mean = torch.tensor(header["normalisation"]["mean"], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(header["normalisation"]["std"], device=device).view(1, 3, 1, 1) * 255
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=epochs * steps_per_epoch)
    use_amp = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    best, best_header = -1.0, None
    started = time.time()

    def keep(result, epoch):
        nonlocal best, best_header
        line = score_line(result)
        best = result["f1"] if val_data else best
        best_header = {**header, "scores": {"validation": line, "epoch": epoch,
                                            "train_minutes": round((time.time() - started) / 60, 2)}}
        checkpoint.save(model, out, best_header, half=half)

    if init and val_data:
        # Epoch 0 is the starting model: a fine-tune whose every epoch scores below it (too high
        # a learning rate, too few images) keeps the model it started from, and says so.
        keep(validate(model, header, val_data, device, tile, groups=val_groups), 0)
        print(f"epoch 0 (the --init model): validation {best_header['scores']['validation']}", flush=True)
    weights = sampling_weights(train_data, train_pairs["dataset"] if "dataset" in train_pairs else None,
                               None if synthetic_share is None else {"synthetic": synthetic_share})
    roots = [np.flatnonzero((lab == ROOT) | (lab == SKELETON)) for _, lab in train_data]
    model.train()
    for epoch in range(1, epochs + 1):
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{epochs}", disable=not progress, unit="step")
        for _ in bar:
            picks = rng.choice(len(train_data), size=batch, p=weights)
            tiles = [augment(*train_data[i], rng, tile, _root_pixel(roots[i], train_data[i][1].shape, rng)
                             if rng.random() < root_fraction else None, augmentation, lab_fraction) for i in picks]
            x = torch.from_numpy(np.stack([t[0] for t in tiles])).to(device).permute(0, 3, 1, 2).float()
            x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
            lab = torch.from_numpy(np.stack([t[1] for t in tiles])).to(device)[:, None]
            valid = (lab != UNLABELLED).float()
            target = ((lab == ROOT) | (lab == SKELETON)).float()
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                logits = model(x).float()
            loss = masked_loss(logits, target, valid)
            if skeleton_weight:
                loss = loss + skeleton_weight * skeleton_recall_loss(logits, (lab == SKELETON).float())
            optimiser.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            schedule.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", val_f1=f"{best:.3f}" if best >= 0 else "-")
        result = (validate(model, header, val_data, device, tile, groups=val_groups) if val_data
                  else {"f1": float("nan")})
        line = score_line(result)
        print(f"epoch {epoch}: loss {loss.item():.4f}, validation {line}", flush=True)
        if not val_data or result["f1"] > best:
            keep(result, epoch)
    if best_header["scores"]["epoch"] == 0:
        print(f"train: warning: no epoch beat the --init model's validation F1 {best:.4f}, so {out} holds "
              "the --init model's weights; try a lower --lr or more training images", flush=True)
    if choose_threshold and val_data:
        best_header = pick_threshold(out, val_data, device, tile, val_groups, half)
        print(f"train: mask threshold {best_header['threshold']} chosen on validation "
              f"(F1 by threshold {best_header['scores']['validation_f1_by_threshold']})", flush=True)
    elif choose_threshold:
        print("train: warning: no validation images, so no mask threshold was chosen", flush=True)
    return best_header
