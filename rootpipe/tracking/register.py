"""Registration of consecutive timepoints: the shift (or affine) that lays one image over the
next, by phase correlation on grey images with illumination removed (or on probability maps).
"""
from __future__ import annotations

import cv2
import numpy as np


def register(reference: np.ndarray, moving: np.ndarray, method: str = "translation") -> dict:
    """Register ``moving`` onto ``reference``.

    Translation by phase correlation; ``rigid`` and ``affine`` refine it with
    ECC (enhanced correlation coefficient). The inputs are what
    ``track.register_on`` names: grey images (the default) or root probability
    maps (docs/growth.md compares them).

    Parameters
    ----------
    reference, moving : (H, W) arrays of the same shape.
    method : ``translation``, ``rigid`` or ``affine``.

    Returns
    -------
    dict
        ``matrix`` (2x3 float, maps reference (x, y) px to moving (x, y) px),
        ``shift_y_px``, ``shift_x_px`` (how far the image centre moved), ``quality`` (phase-correlation
        peak response, or the ECC correlation coefficient, in [0, 1]; low means the
        images share little), ``error`` (why ECC failed, else "").
    """
    # Copies: cv2.phaseCorrelate multiplies its inputs by the window in place, and a
    # series reuses each image as the next interval's reference.
    a = np.array(reference, dtype=np.float32, order="C", copy=True)
    b = np.array(moving, dtype=np.float32, order="C", copy=True)
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(a, b, window)
    matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    out = {"matrix": matrix, "quality": float(np.clip(response, 0.0, 1.0)), "error": ""}
    if method != "translation":
        motion = {"rigid": cv2.MOTION_EUCLIDEAN, "affine": cv2.MOTION_AFFINE}[method]
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
        try:
            quality, matrix = cv2.findTransformECC(a, b, matrix.copy(), motion, criteria, None, 5)
            out.update(matrix=matrix, quality=float(max(quality, 0.0)))
        except cv2.error as exc:  # no convergence: keep the translation, flag it
            out["error"] = f"ECC {method} registration failed ({str(exc).strip().splitlines()[-1][:80]})"
            out["quality"] = 0.0
    # The scene's movement is the image centre's: the matrix's own translation part is measured
    # about the origin, where a small rotation of a large image reads as a large shift.
    centre = np.array([(a.shape[1] - 1) / 2, (a.shape[0] - 1) / 2, 1.0])
    out["shift_x_px"], out["shift_y_px"] = (float(v) for v in out["matrix"].astype(np.float64) @ centre
                                            - centre[:2])
    return out


def registration_image(rgb: np.ndarray) -> np.ndarray:
    """Grey image with slow illumination changes removed: what consecutive sessions share.

    Soil texture, stones and old roots are stable landmarks in a re-imaged
    window; a sparse root mask or probability map alone registers poorly.
    """
    grey = rgb.astype(np.float32).mean(axis=-1) if rgb.ndim == 3 else rgb.astype(np.float32)
    return grey - cv2.GaussianBlur(grey, (0, 0), 15)


def reference_loader(results_dir, batch_of: dict, register_on: str = "image"):
    """``image_id -> (H, W) float32``: what the track stage registers an image on (``track.register_on``):
    its :func:`registration_image` (``image``) or its root probability in [0, 1] (``probability``),
    read from the campaign's stores (``batch_of``: image_id -> batch)."""
    from pathlib import Path

    from rootpipe.io.stores import read_image_level, read_probability

    results_dir = Path(results_dir)
    if register_on == "image":
        return lambda i: registration_image(read_image_level(results_dir / "images" / f"{batch_of[i]}.zarr", i, 0))
    return lambda i: read_probability(results_dir / "segmentation" / f"{batch_of[i]}.zarr", i).astype(np.float32) / 255


def translation(shift_y: float, shift_x: float) -> np.ndarray:
    return np.array([[1, 0, shift_x], [0, 1, shift_y]], np.float32)


def warp(image: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` moved by ``matrix`` (source px -> destination px), nearest neighbour, 0 outside."""
    return cv2.warpAffine(image, matrix, shape[::-1], flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)
