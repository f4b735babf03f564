"""Root length gained and lost between two registered masks (px): production and disappearance.

The current skeleton is compared with the previous mask moved into the current frame: length
farther than a tolerance from any previous root is gained, previous length farther than the
tolerance from any current root is lost. Only the view both images share is compared.
"""
from __future__ import annotations

import cv2
import numpy as np

from rootpipe.tracking.register import warp


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Distance (px) from every pixel to the nearest root pixel of ``mask``."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _new_pixels(length_px: np.ndarray, other_mask: np.ndarray, seen: np.ndarray,
                tolerance_px: float) -> np.ndarray:
    """Skeleton pixels (bool) that ``other_mask`` does not explain.

    Hysteresis along the skeleton: skeleton farther than ``tolerance_px``
    from the other mask is new, and so is skeleton outside that mask within
    about ``tolerance_px`` of it along the skeleton. The tolerance decides
    *whether* a stretch is new (registration and mask edges jitter by a pixel
    or two), not *how much* of it: an elongating root is new from the old
    apex on, not from tolerance_px beyond it.
    """
    distance = _distance_to(other_mask)
    outside = (length_px > 0) & seen & (distance > 0)
    new = (outside & (distance > tolerance_px)).astype(np.uint8)
    if not new.any():
        return new > 0
    # Grow the far pixels back along the skeleton, through pixels outside the other mask, by
    # about tolerance_px: that adds the stretch from the old apex out to the tolerance, and no
    # more. A whole connected stretch would count a thin root that moved a pixel or two, lying
    # just outside its old outline, as new from end to end.
    kernel = np.ones((3, 3), np.uint8)
    outside = outside.astype(np.uint8)
    for _ in range(int(np.ceil(tolerance_px)) + 1):
        new = cv2.dilate(new, kernel) & outside
    return new > 0


def change_maps(previous_mask, current_mask, previous_length, current_length, matrix, tolerance_px
                ) -> tuple[np.ndarray, np.ndarray]:
    """Where root was gained and lost between two registered masks.

    Parameters
    ----------
    previous_mask, current_mask : (H, W) root masks of consecutive timepoints.
    previous_length, current_length : their skeletons' length per pixel (px), as
        :func:`rootpipe.traits.skeleton_length_map` gives them.
    matrix : 2 x 3 affine moving the previous frame onto the current one.
    tolerance_px : distance (px) within which a root counts as the same.

    Returns
    -------
    gained : bool, current frame: skeleton pixels of roots new since the previous image.
    lost : bool, previous frame: skeleton pixels of roots gone from the current image.
    The lengths are ``current_length[gained].sum()`` and ``previous_length[lost].sum()`` (px).
    """
    matrix = np.asarray(matrix, np.float32)
    inverse = cv2.invertAffineTransform(matrix)
    previous = previous_mask.astype(np.uint8)
    current = current_mask.astype(np.uint8)
    gained = _new_pixels(current_length, warp(previous, matrix, current.shape),
                         warp(np.ones(previous.shape, np.uint8), matrix, current.shape) > 0, tolerance_px)
    lost = _new_pixels(previous_length, warp(current, inverse, previous.shape),
                       warp(np.ones(current.shape, np.uint8), inverse, previous.shape) > 0, tolerance_px)
    return gained, lost


def _gained_lost(previous_mask, current_mask, previous_length, current_length, matrix, tolerance_px):
    """Root length (px) gained and lost: the lengths of :func:`change_maps`'s pixels."""
    gained, lost = change_maps(previous_mask, current_mask, previous_length, current_length, matrix, tolerance_px)
    return (float(current_length[gained].sum(dtype=np.float64)),
            float(previous_length[lost].sum(dtype=np.float64)))


def _shared_view(other_shape: tuple[int, int], matrix: np.ndarray, margin_px: float) -> np.ndarray:
    """(H, W) bool of this frame: pixels the other image (moved by ``matrix``) also shows,
    ``margin_px`` in from its edge. Same-size frames: ``other_shape`` is this frame's shape too."""
    view = warp(np.ones(other_shape, np.uint8), matrix, other_shape)
    size = 2 * int(np.ceil(margin_px)) + 1
    return cv2.erode(view, np.ones((size, size), np.uint8), borderType=cv2.BORDER_CONSTANT,
                     borderValue=0) > 0
