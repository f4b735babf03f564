"""Mask cleaning before measuring: small objects removed, small holes filled (mm^2).
"""

from __future__ import annotations

import cv2
import numpy as np


def _as_mask(mask) -> np.ndarray:
    """Return `mask` as a C-contiguous 2-D bool array (root = nonzero)."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {m.shape}")
    return np.ascontiguousarray(m != 0)


def clean_mask(mask, pixel_size_mm=1.0, *, min_object_area_mm2=0.0,
               fill_holes_area_mm2=0.0) -> np.ndarray:
    """Remove small objects and fill small holes.

    Parameters
    ----------
    mask : array_like, 2-D
        Root mask, root = nonzero.
    pixel_size_mm : float
        Pixel edge length in mm/px.
    min_object_area_mm2 : float
        8-connected objects with area below this (mm^2) are removed.
    fill_holes_area_mm2 : float
        Holes (4-connected background components not touching the image
        border) with area below this (mm^2) are filled.

    Returns
    -------
    numpy.ndarray of bool
        The cleaned mask, same shape.
    """
    m = _as_mask(mask)
    px_area = float(pixel_size_mm) ** 2
    if min_object_area_mm2 > 0 and m.any():
        n, lab, stats, _ = cv2.connectedComponentsWithStats(
            m.view(np.uint8), connectivity=8)
        keep = stats[:, cv2.CC_STAT_AREA] >= min_object_area_mm2 / px_area
        keep[0] = False
        m = keep[lab]
    if fill_holes_area_mm2 > 0 and m.any():
        # Background is 4-connected where the foreground is 8-connected.
        n, lab, stats, _ = cv2.connectedComponentsWithStats(
            (~m).view(np.uint8), connectivity=4)
        h, w = m.shape
        left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
        right = left + stats[:, cv2.CC_STAT_WIDTH]
        bottom = top + stats[:, cv2.CC_STAT_HEIGHT]
        inner = (left > 0) & (top > 0) & (right < w) & (bottom < h)
        fill = inner & (stats[:, cv2.CC_STAT_AREA]
                        < fill_holes_area_mm2 / px_area)
        fill[0] = False  # label 0 is the foreground here
        m = m | fill[lab]
    return m
