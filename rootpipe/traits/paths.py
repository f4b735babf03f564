"""Branch paths smoothed along their ordered pixel coordinates, so polyline length
is orientation-unbiased (px).
"""

from __future__ import annotations

import numba
import numpy as np

# Gaussian sigma (in path samples) for smoothing branch paths before taking
# the polyline length; 2-3 removes the digital staircase of straight lines
# while shrinking curves of radius rho by only ~sigma^2 / (2 rho^2).
SMOOTH_SIGMA = 2.5
# ... and at least this many times the root radius (see _smooth_by_width).
SMOOTH_SIGMA_PER_RADIUS = 0.5

def _smooth_paths(coords: np.ndarray, indptr: np.ndarray, closed: np.ndarray,
                  sigma: float) -> np.ndarray:
    """Gaussian-smooth concatenated path coordinates, each path on its own.

    Parameters
    ----------
    coords : (N, 2) float array
        Ordered pixel coordinates of all paths, concatenated.
    indptr : (P + 1,) int array
        Path p is ``coords[indptr[p]:indptr[p + 1]]``.
    closed : (P,) bool array
        Paths that are isolated cycles (first point == last point): smoothed
        periodically. Open paths are padded by point reflection about their
        ends, which keeps the ends fixed and straight lines straight.
    sigma : float
        Gaussian sigma in samples (pixels along the path).

    Returns
    -------
    (N, 2) float array
        Smoothed coordinates; ends of open paths equal the input exactly.
    """
    h = int(np.ceil(3 * sigma))
    if h == 0 or coords.shape[0] == 0:
        return coords.astype(float)
    k = np.arange(-h, h + 1)
    kern = np.exp(-0.5 * (k / sigma) ** 2)
    kern /= kern.sum()
    return _smooth_kernel(np.ascontiguousarray(coords, dtype=float),
                          np.asarray(indptr, dtype=np.int64),
                          np.asarray(closed, dtype=np.bool_), kern, h)


@numba.njit(cache=True, nogil=True)
def _smooth_kernel(c, indptr, closed, kern, h):  # pragma: no cover - numba
    """Loop of :func:`_smooth_paths`: each path convolved with `kern`
    (length 2h + 1), padded periodically (closed) or by point reflection
    about its ends (open, ends then pinned)."""
    out = np.empty_like(c)
    for p in range(indptr.size - 1):
        base = indptr[p]
        nn = indptr[p + 1] - base
        last = base + nn - 1
        period = max(nn - 1, 1)
        for i in range(nn):
            sy = 0.0
            sx = 0.0
            for t in range(-h, h + 1):
                j = i + t
                if 0 <= j < nn:
                    vy, vx = c[base + j, 0], c[base + j, 1]
                elif closed[p]:
                    q = base + j % period
                    vy, vx = c[q, 0], c[q, 1]
                elif j < 0:
                    q = base + min(-j, nn - 1)
                    vy, vx = 2 * c[base, 0] - c[q, 0], 2 * c[base, 1] - c[q, 1]
                else:
                    q = base + max(2 * (nn - 1) - j, 0)
                    vy, vx = 2 * c[last, 0] - c[q, 0], 2 * c[last, 1] - c[q, 1]
                sy += kern[t + h] * vy
                sx += kern[t + h] * vx
            out[base + i, 0] = sy
            out[base + i, 1] = sx
        if not closed[p]:  # pin the ends (reflection already nearly does)
            out[base] = c[base]
            out[last] = c[last]
    return out


def _smooth_by_width(coords: np.ndarray, indptr: np.ndarray,
                     closed: np.ndarray, loop: np.ndarray,
                     dt_pts: np.ndarray) -> np.ndarray:
    """Smooth each path with a sigma that grows with the root's radius.

    Outline noise makes the skeleton of a thick root wander on a scale of
    its radius, so thick paths get ``SMOOTH_SIGMA_PER_RADIUS`` x radius
    (never less than ``SMOOTH_SIGMA``); a root cannot bend much tighter than
    its own radius, so this costs little on curves. Sigmas are quantised
    so that paths can be smoothed in a few vectorised groups.

    Parameters
    ----------
    coords, indptr, closed
        As for :func:`_smooth_paths`.
    loop : (P,) bool array
        Paths that return to their start (isolated cycles and loops on a
        junction). Smoothing shrinks a loop of n points by a factor
        ``exp(-(2 pi sigma / n)^2 / 2)``, so their sigma is capped at
        ``n / 30`` (< 2 % shrinkage).
    dt_pts : (N,) float array
        Distance transform at each path point.

    Returns
    -------
    (N, 2) float array
    """
    n = np.diff(indptr)
    mean_dt = np.add.reduceat(dt_pts, indptr[:-1]) / n
    sigma = np.maximum(SMOOTH_SIGMA,
                       SMOOTH_SIGMA_PER_RADIUS * (mean_dt - 0.5))
    # No point smoothing over much more than the path itself.
    sigma = np.minimum(sigma, np.maximum(SMOOTH_SIGMA, n / 4))
    sigma = np.where(loop, np.minimum(sigma, (n - 1) / 30), sigma)
    # Quantise (steps of ~12 %) so that few groups are needed.
    q = np.round(np.log(np.maximum(sigma, 0.25) / SMOOTH_SIGMA)
                 / np.log(1.125))
    sigma = np.where(sigma < 0.25, 0.0, SMOOTH_SIGMA * 1.125 ** q)
    values = np.unique(sigma)
    if values.size == 1:
        return _smooth_paths(coords, indptr, closed, float(values[0]))
    out = np.empty(coords.shape, float)
    for value in values:
        sel = np.flatnonzero(sigma == value)
        sub_n = n[sel]
        sub_indptr = np.concatenate([[0], np.cumsum(sub_n)])
        idx = (np.repeat(indptr[sel] - sub_indptr[:-1], sub_n)
               + np.arange(sub_indptr[-1]))
        out[idx] = _smooth_paths(coords[idx], sub_indptr, closed[sel],
                                 float(value))
    return out
