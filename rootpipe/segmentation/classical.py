"""Classical segmenter: multi-scale ridge filter + threshold.

A baseline, and enough for clean scanner images. Roots are bright, elongated
structures: the Hessian of the smoothed image has one strongly negative
eigenvalue across a bright ridge. The scale-normalised response, taken at the
best of a few scales, is turned into a probability by a logistic on the
image's own noise level, so no absolute grey level is assumed.
"""
from __future__ import annotations

import cv2
import numpy as np


def _gray(rgb: np.ndarray) -> np.ndarray:
    gray = rgb.astype(np.float32).mean(axis=-1) if rgb.ndim == 3 else rgb.astype(np.float32)
    # Flatten uneven illumination; the ridge filter itself ignores slow gradients,
    # but the noise estimate below should not.
    background = cv2.GaussianBlur(gray, (0, 0), 25)
    return gray - background


def ridge_response(gray: np.ndarray, sigmas=(1.5, 3.0, 5.0)) -> np.ndarray:
    """Bright-ridge strength, max over scales.

    Parameters
    ----------
    gray : (H, W) float32 image.
    sigmas : Gaussian scales (px); a ridge of width w answers best near sigma = w / (2*sqrt(3)).

    Returns
    -------
    (H, W) float32, >= 0, in grey levels (scale-normalised by sigma**2).
    """
    best = np.zeros(gray.shape, np.float32)
    for sigma in sigmas:
        smooth = cv2.GaussianBlur(gray, (0, 0), sigma)
        dyy = cv2.Sobel(smooth, cv2.CV_32F, 0, 2, ksize=3)
        dxx = cv2.Sobel(smooth, cv2.CV_32F, 2, 0, ksize=3)
        dxy = cv2.Sobel(smooth, cv2.CV_32F, 1, 1, ksize=3) * 0.25  # ksize 3 cross term is 4x
        # Most negative eigenvalue of [[dyy, dxy], [dxy, dxx]].
        half_trace = 0.5 * (dyy + dxx)
        root = np.sqrt(0.25 * (dyy - dxx) ** 2 + dxy**2)
        low = half_trace - root
        np.maximum(best, np.maximum(-low, 0) * sigma**2, out=best)
    return best


def _robust_z(values: np.ndarray) -> np.ndarray:
    """Values in units of their robust spread (median absolute deviation) from the median."""
    median = float(np.median(values))
    spread = float(np.median(np.abs(values - median))) * 1.4826 + 1e-6
    return (values - median) / spread


def probability(rgb: np.ndarray, sigmas=(1.5, 3.0, 5.0), contrast: float = 7.0,
                contrast_low: float = 4.0, brightness: float = 1.0) -> np.ndarray:
    """Root probability in [0, 1] from an RGB or grey image.

    ``contrast`` sets the response at p = 0.5 in units of the background's
    robust spread (median absolute deviation) of the response. Hysteresis:
    weaker ridges (above ``contrast_low``) connected to a confident one are
    raised to p = 0.6, because a faint lateral attached to a root is a root,
    while an isolated faint ridge is more likely soil texture. Pixels not
    brighter than the soil by ``brightness`` robust spreads stay below 0.5:
    the smoothed ridge response runs on a few px past a root's apex and
    sides, and would lengthen every root.
    """
    gray = _gray(rgb)
    z = _robust_z(ridge_response(gray, sigmas))
    p = (1.0 / (1.0 + np.exp(-(z - contrast)))).astype(np.float32)
    if contrast_low < contrast:
        n, labels = cv2.connectedComponents((z > contrast_low).astype(np.uint8), connectivity=8)
        confident = np.zeros(n, bool)
        confident[np.unique(labels[z > contrast])] = True
        confident[0] = False
        np.maximum(p, np.where(confident[labels], np.float32(0.6), np.float32(0)), out=p)
    dim = _robust_z(gray) <= brightness
    p[dim] = np.minimum(p[dim], 0.4)
    return p
