"""Training augmentation: flips, turns, brightness, and ``lab`` (what differs between labs:
scale, colour, grey, uneven light, condensation, soil texture, blur, noise, JPEG artefacts).
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from rootpipe.learn.annotations import UNLABELLED

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
