"""Per-image segmentation confidence: how sure the model is of what it calls root.

A model on images like its training images gives sharp probability maps: pixels are
near 0 or near 1. Out of its domain (another soil, camera or crop) much of what it
marks sits in between. The share of undecided pixels among the root-side ones is a
per-image warning that needs no annotation.
"""
from __future__ import annotations

import math

import numpy as np

#: probability band (0-1) counted as undecided, and the lower end of "root side"
UNDECIDED = (0.3, 0.7)


def segmentation_confidence(probability: np.ndarray, valid: np.ndarray | None = None) -> float:
    """1 - the share of root-side pixels whose probability is undecided.

    Parameters
    ----------
    probability : (H, W) float in [0, 1], or uint8 with 255 = certain root (the segmentation store's).
    valid : optional bool (H, W): only these pixels count (e.g. inside ``border_px``).

    Returns
    -------
    float in [0, 1]: 1 when every pixel at or above 0.3 is also at or above 0.7 (sharp
    outlines); an image with no root-side pixel at all is 1 (nothing undecided).
    """
    low, high = UNDECIDED
    if probability.dtype == np.uint8:  # compare in the stored units: no float copy of the image
        low, high = math.ceil(low * 255), math.ceil(high * 255)
    p = probability if valid is None else probability[valid]
    root_side = np.count_nonzero(p >= low)
    if not root_side:
        return 1.0
    return 1.0 - (root_side - np.count_nonzero(p >= high)) / root_side
