"""Euclidean distance transform of a mask's foreground, cropped to where the roots are (px).
"""

from __future__ import annotations

import cv2
import numba
import numpy as np


def _bounds(m: np.ndarray) -> tuple[int, int, int, int] | None:
    """First and last row and column with root pixels (None if none)."""
    rows = np.flatnonzero(m.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(m.any(axis=0))
    return int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])


def _crop_box(m: np.ndarray, bounds=None) -> tuple[slice, slice] | None:
    """Bounding box of the foreground with a one-pixel margin (if room)."""
    bounds = _bounds(m) if bounds is None else bounds
    if bounds is None:
        return None
    r0, r1, c0, c1 = bounds
    h, w = m.shape
    return (slice(max(r0 - 1, 0), min(r1 + 2, h)),
            slice(max(c0 - 1, 0), min(c1 + 2, w)))


@numba.njit(cache=True, nogil=True)
def _column_distance(m, g):  # pragma: no cover - numba
    """Distance (px) from each pixel of `m` to the nearest background pixel
    in its own column, outside the image counting as background, into `g`
    (0 on background). Returns the sum over root pixels."""
    h, w = m.shape
    for x in range(w):
        g[0, x] = 1 if m[0, x] else 0
    for y in range(1, h):
        for x in range(w):
            g[y, x] = g[y - 1, x] + 1 if m[y, x] else 0
    for x in range(w):
        if m[h - 1, x]:
            g[h - 1, x] = 1
    total = 0
    for y in range(h - 2, -1, -1):
        for x in range(w):
            if m[y, x]:
                v = g[y + 1, x] + 1
                if v < g[y, x]:
                    g[y, x] = v
                total += g[y, x]
    return total + np.sum(g[h - 1])


@numba.njit(cache=True, nogil=True)
def _row_distance(m, g, out):  # pragma: no cover - numba
    """Exact EDT of root pixels from column distances `g`: the minimum over
    columns x' of (x - x')^2 + g[y, x']^2, searched outwards from x only as
    far as it can still improve (so ~DT steps per root pixel)."""
    h, w = m.shape
    for y in range(h):
        for x in range(w):
            if not m[y, x]:
                continue
            best = g[y, x] * g[y, x]
            k = 1
            while k * k < best:
                gl = g[y, x - k] if x - k >= 0 else 0
                gr = g[y, x + k] if x + k < w else 0
                v = k * k + min(gl * gl, gr * gr)
                if v < best:
                    best = v
                k += 1
            out[y, x] = np.sqrt(best)
    return out


def distance_transform(m: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance (px) from root pixel centres to the nearest
    background pixel centre, outside the image counting as background.

    Two passes (column distances, then rows searched only as far as can
    still help) cost about one DT's worth of steps per root pixel: on
    sparse root masks ~5x faster than OpenCV's exact transform, which
    visits every pixel with a constant cost. Blobs, where the row search
    would be long, go to OpenCV (padded: on its own it treats the outside
    as root; the thinning, chord and tip searches all stop at the image
    edge, and so does this).
    """
    u = m.view(np.uint8)
    # Column distances are at most the height: int16 halves memory traffic.
    g = np.empty(m.shape, np.int16 if m.shape[0] < 32767 else np.int32)
    if _column_distance(u, g) > 8 * m.size:
        dt = cv2.distanceTransform(np.pad(u, 1), cv2.DIST_L2,
                                   cv2.DIST_MASK_PRECISE)
        return np.ascontiguousarray(dt[1:-1, 1:-1])
    return _row_distance(u, g, np.zeros(m.shape, np.float32))
