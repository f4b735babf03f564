"""Train an smp U-Net on image/annotation pairs (dense masks, RSML, sparse RootPainter labels).

Random tiles with augmentation, Dice + BCE over labelled pixels only, AdamW
with a one-cycle schedule, validation every epoch on whole images through
the same tiled inference the segment stage uses, and the best checkpoint
kept with its metadata and scores.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .annotations import BACKGROUND, ROOT, UNLABELLED, load_labels
from .decode import UnreadableImage, read_image, to_rgb8

# Training-only label: an annotated root pixel on the annotation's centre-line.
SKELETON = 2

DEFAULT_MODEL = {"architecture": "Unet", "encoder": "mobilenet_v2",
                 "model_kwargs": {"decoder_channels": [128, 64, 32, 16, 16]}}


def load_pairs(pairs: pd.DataFrame, rsml_width_px: float = 4.0,
               bit_depth: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Decode every pair into (rgb uint8 (H, W, 3), labels uint8 (H, W)).

    ``bit_depth``: as the config's, so that 16-bit images read as the segment stage reads them.
    """
    out = []
    for row in pairs.itertuples():
        try:
            rgb = to_rgb8(read_image(row.image), bit_depth)
        except UnreadableImage as exc:
            raise ValueError(f"image {row.image}: {exc}") from None
        out.append((rgb, load_labels(row.annotation, row.annotation_type, rgb.shape[:2], rsml_width_px)))
    return out


def check_labels(data: list, annotations) -> None:
    """Refuse training annotations that mark no root; warn about implausible ones.

    A mask that is mostly root is almost always inverted (black roots on white) or an
    image given as its own annotation (columns swapped), and would train a model that
    calls everything root.
    """
    names = list(annotations)
    if not any((lab == ROOT).any() for _, lab in data):
        unlabelled = all((lab == UNLABELLED).all() for _, lab in data)
        raise ValueError(f"no training annotation marks a {'labelled' if unlabelled else 'root'} pixel "
                         f"({len(names)} file(s), e.g. {names[0]}): check the annotation files and "
                         "their annotation type")
    if not any((lab == BACKGROUND).any() for _, lab in data):
        raise ValueError(f"no training annotation marks a background pixel ({len(names)} file(s), e.g. "
                         f"{names[0]}): a model trained on roots alone calls everything root. In RootPainter "
                         "annotations paint background green as well as roots red")
    for (_, lab), name in zip(data, names):
        labelled = lab != UNLABELLED
        fraction = (lab == ROOT).sum() / max(1, labelled.sum())
        if fraction == 1 and not labelled.all():  # sparse strokes on roots only
            print(f"train: warning: annotation {name} marks roots (red) but no background (green): it "
                  "teaches the model nothing about what is not root; paint some soil green", flush=True)
        elif fraction > 0.5:
            print(f"train: warning: annotation {name} marks {fraction:.0%} of its labelled pixels as root; "
                  "inverted (black roots on white)? image and annotation swapped?", flush=True)


def mark_skeleton(labels: np.ndarray) -> np.ndarray:
    """``labels`` with the root pixels on the roots' centre-lines (1 px wide) set to ``SKELETON``.

    Parameters
    ----------
    labels : uint8 (H, W), ``ROOT`` / background / ``UNLABELLED``.

    Returns
    -------
    uint8 (H, W): a copy; the marked pixels still count as root in the pixel loss.
    """
    from skimage.morphology import skeletonize

    root = labels == ROOT
    out = labels.copy()
    out[skeletonize(root)] = SKELETON  # 1 px wide whatever the root's width: weight by length
    return out


AUGMENTATIONS = ("full", "light", "lab")

#: RGB -> luma weights (ITU-R BT.601, as OpenCV's and Pillow's grey conversion)
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


def augment(rgb: np.ndarray, labels: np.ndarray, rng: np.random.Generator, tile: int,
            centre: tuple[int, int] | None = None, strength: str = "full", lab_fraction: float = 1.0):
    """One random training tile of (rgb, labels) with geometric and photometric jitter.

    ``strength="full"``: scale 0.75–1.33, flips, 90° rotations, brightness/contrast/hue
    jitter, greyscale (one tile in four), blur and noise: what changes between cameras,
    sessions and soils.
    ``strength="light"``: flips, 90° rotations and ±10 % brightness/contrast at the
    native scale, for fine-tuning on one imaging setup, where the heavy jitter only
    makes a small network under-fit thin roots.
    ``strength="lab"``: what differs between laboratories, for a generalist model: scale
    0.5–2x, colour balance and hue, grey, blur, noise, JPEG artefacts, uneven illumination,
    condensation and soil texture (:func:`lab_jitter`) on a share ``lab_fraction`` of the
    tiles; the rest get the light jitter only, so each set is also seen as it looks.
    ``centre`` (row, col, px), if given, is a pixel the tile must contain.
    """
    light = strength == "light"
    scale_range = (0.5, 2.0) if strength == "lab" else (0.75, 1.33)
    scale = 1.0 if light else float(np.exp(rng.uniform(*np.log(scale_range))))
    need = tile if light else int(math.ceil(tile / scale)) + 1
    h, w = labels.shape
    if h < need or w < need:  # small images: pad with unlabelled pixels
        ph, pw = max(0, need - h), max(0, need - w)
        rgb = np.pad(rgb, ((0, ph), (0, pw), (0, 0)), mode="reflect")
        labels = np.pad(labels, ((0, ph), (0, pw)), constant_values=UNLABELLED)
        h, w = labels.shape
    if centre is None:
        y, x = rng.integers(0, h - need + 1), rng.integers(0, w - need + 1)
    else:
        cy, cx = min(centre[0], h - 1), min(centre[1], w - 1)
        y = rng.integers(max(0, cy - need + 1), min(cy, h - need) + 1)
        x = rng.integers(max(0, cx - need + 1), min(cx, w - need) + 1)
    crop, lab = rgb[y:y + need, x:x + need], labels[y:y + need, x:x + need]
    if not light:
        crop = cv2.resize(crop, (tile, tile), interpolation=cv2.INTER_LINEAR)
        # NEAREST_EXACT samples at pixel centres as LINEAR does; plain NEAREST floors and put
        # the labels half a pixel off the image (a sixth of a 3 px root's width).
        lab = cv2.resize(lab, (tile, tile), interpolation=cv2.INTER_NEAREST_EXACT)
    k = int(rng.integers(4))
    crop, lab = np.rot90(crop, k), np.rot90(lab, k)
    if rng.random() < 0.5:
        crop, lab = crop[:, ::-1], lab[:, ::-1]
    if light or (strength == "lab" and rng.random() >= lab_fraction):
        img = crop.astype(np.float32) * rng.uniform(0.9, 1.1) + rng.uniform(-12, 12)
        return np.clip(img, 0, 255).astype(np.uint8), np.ascontiguousarray(lab)
    if strength == "lab":
        return lab_jitter(np.ascontiguousarray(crop), rng), np.ascontiguousarray(lab)
    img = crop.astype(np.float32)
    if rng.random() < 0.5:  # hue: rotate the colour a little around the grey axis
        hsv = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180
        img = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    if rng.random() < 0.25:  # flatbed scanners and NIR minirhizotron cameras write grey, repeated as RGB
        img = np.repeat(img @ GREY_WEIGHTS, 3).reshape(img.shape)
    img = img * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30)  # contrast, brightness
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(1, 8), img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), np.ascontiguousarray(lab)


def _smooth_field(shape: tuple[int, int], rng: np.random.Generator, cells: int) -> np.ndarray:
    """Zero-mean, unit-range random field varying over about ``cells`` cells per side (float32 (H, W))."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    field = cv2.resize(coarse, shape[::-1], interpolation=cv2.INTER_CUBIC)
    return field / max(1e-6, float(np.abs(field).max()))


def lab_jitter(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Photometric jitter for what differs between labs' images (uint8 (H, W, 3) in and out).

    Each effect is applied with its own probability: white balance (per-channel gain) and hue,
    grey (NIR cameras, flatbed scanners), uneven illumination (a smooth gain field: LED rings,
    vignetting), condensation (soft bright droplets), soil texture (band-pass noise), contrast
    and brightness, blur, sensor noise, and JPEG compression artefacts.
    """
    img = rgb.astype(np.float32)
    h, w = img.shape[:2]
    if rng.random() < 0.5:  # hue: rotate the colour around the grey axis
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-20, 20)) % 180
        hsv[..., 1] *= rng.uniform(0.5, 1.5)
        img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    if rng.random() < 0.5:  # white balance
        img = img * rng.uniform(0.75, 1.25, 3).astype(np.float32)
    if rng.random() < 0.25:
        img = np.repeat(img @ GREY_WEIGHTS, 3).reshape(img.shape)
    if rng.random() < 0.4:  # uneven illumination
        img = img * (1 + rng.uniform(0.1, 0.5) * _smooth_field((h, w), rng, 3))[..., None]
    if rng.random() < 0.2:  # condensation: soft bright droplets
        drops = np.zeros((h, w), np.float32)
        for _ in range(int(rng.integers(3, 30))):
            cv2.circle(drops, (int(rng.integers(w)), int(rng.integers(h))), int(rng.integers(2, 12)),
                       float(rng.uniform(0.3, 1.0)), -1)
        drops = cv2.GaussianBlur(drops, (0, 0), rng.uniform(1, 3))
        img = img + (drops * rng.uniform(40, 120))[..., None]
    if rng.random() < 0.3:  # soil texture: grain-sized band-pass noise
        img = img + (rng.uniform(5, 25) * _smooth_field((h, w), rng, int(rng.integers(16, 64))))[..., None]
    img = img * rng.uniform(0.6, 1.4) + rng.uniform(-40, 40)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.5))
    if rng.random() < 0.5:
        img = img + rng.normal(0, rng.uniform(1, 10), img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 90))])
        out = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    return out


def centreline_band(labels: np.ndarray, band_px: int) -> np.ndarray:
    """Centre-line strokes (RSML) with the pixels within ``band_px`` of them left unlabelled.

    A polyline tells where a root runs, not how wide it is: pixels beside the drawn stroke
    may be root, so neither the loss nor the scores should call them background.
    """
    root = (labels == ROOT).astype(np.uint8)
    size = 2 * band_px + 1
    near = cv2.dilate(root, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))).astype(bool)
    out = labels.copy()
    out[near & (labels == BACKGROUND)] = UNLABELLED
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


def masked_loss(logits, target, valid):
    """BCE + soft Dice over labelled pixels only (``valid`` = 1); unlabelled pixels add nothing."""
    import torch
    import torch.nn.functional as F

    n = valid.sum().clamp(min=1.0)
    bce = (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * valid).sum() / n
    p = torch.sigmoid(logits) * valid
    t = target * valid
    dice = 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    return bce + dice


def skeleton_recall_loss(logits, skeleton):
    """1 - soft recall of the annotated centre-lines (skeleton recall, Kirchhoff et al. 2024).

    Each pixel of a root's centre-line weighs the same whatever the outline's width, so a faint
    fine root the network misses costs in proportion to its length, not its (small) area.
    """
    import torch

    p = torch.sigmoid(logits)
    return 1 - ((p * skeleton).sum() + 1) / (skeleton.sum() + 1)


def scores(predicted: np.ndarray, labels: np.ndarray) -> dict:
    """Pixel scores over labelled pixels: f1 (= dice), iou, precision, recall, and the counts."""
    valid = labels != UNLABELLED
    pred, truth = predicted.astype(bool) & valid, (labels == 1) & valid
    tp = int((pred & truth).sum())
    fp, fn = int(pred.sum()) - tp, int(truth.sum()) - tp
    return pool([{"tp": tp, "fp": fp, "fn": fn}])


def pool(counts) -> dict:
    """Scores from summed tp/fp/fn counts (pixel-pooled over images)."""
    tp = sum(c["tp"] for c in counts)
    fp = sum(c["fp"] for c in counts)
    fn = sum(c["fn"] for c in counts)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    # No root annotated and none predicted: nothing to score (NaN), not a perfect 1.0 that
    # would rank an epoch predicting nothing first.
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    iou = tp / (tp + fp + fn) if tp + fp + fn else float("nan")
    return {"f1": f1, "dice": f1, "iou": iou, "precision": precision, "recall": recall,
            "tp": tp, "fp": fp, "fn": fn}


def validate(model, header: dict, data, device: str, tile: int, threshold: float = 0.5,
             groups=None) -> dict:
    """Pooled pixel scores of ``model`` on whole images, with the segment stage's tiled inference.

    With ``groups`` (a dataset name per image), ``f1`` is the mean over datasets of each one's
    pooled F1, so a generalist is ranked by its worst sets too, not by the largest one;
    ``f1_{group}`` beside it.
    """
    from .segment.tiling import predict_tiled
    from .segment.unet import TilePredictor

    predictor = TilePredictor(model, header, device=device, precision="fp32")
    counts = [scores(predict_tiled(rgb, predictor, tile=tile, overlap=tile // 8) > threshold, labels)
              for rgb, labels in data]
    model.train()
    result = pool(counts)
    if groups is not None and len(set(groups)) > 1:
        per_group = {g: pool([c for c, h in zip(counts, groups) if h == g])["f1"] for g in dict.fromkeys(groups)}
        result.update({f"f1_{g}": v for g, v in per_group.items()}, f1_pooled=result["f1"],
                      f1=float(np.nanmean(list(per_group.values()))))
    return result


def score_line(result: dict) -> dict:
    """The scores a checkpoint records and an epoch prints, rounded."""
    return {k: round(v, 4) for k, v in result.items()
            if k in ("f1", "iou", "precision", "recall", "f1_pooled") or k.startswith("f1_")}


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
          model_kwargs: dict | None = None, epochs: int = 10, steps_per_epoch: int = 50, batch: int = 8,
          tile: int = 256, lr: float = 2e-3, seed: int = 0, device: str = "auto", threads: int = 1,
          pixel_size_mm: float | None = None, rsml_width_px: float = 4.0, half: bool = True,
          root_fraction: float = 0.5, augmentation: str = "full", skeleton_weight: float = 0.0,
          progress: bool = True, notes: dict | None = None, bit_depth: int | None = None,
          centreline_band_px: int = 0, lab_fraction: float = 1.0, synthetic_share: float | None = None) -> dict:
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

    A ``dataset`` column in the pairs (several sets at once) samples the sets equally
    (:func:`sampling_weights`) and ranks epochs by the mean of their validation F1s.

    Returns
    -------
    dict
        The best checkpoint's header (with ``scores``).
    """
    import torch
    from tqdm import tqdm

    from .segment import checkpoint
    from .segment.unet import pick_device

    check_settings(out=out, init=init, epochs=epochs, steps_per_epoch=steps_per_epoch, batch=batch, tile=tile,
                   root_fraction=root_fraction, augmentation=augmentation, skeleton_weight=skeleton_weight,
                   lab_fraction=lab_fraction, synthetic_share=synthetic_share)
    check_splits(train_pairs, val_pairs)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, threads))
    rng = np.random.default_rng(seed)
    device = pick_device(device)
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
    return best_header
