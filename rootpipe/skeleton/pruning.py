"""Spur pruning: terminal skeleton branches shorter than ``SPUR_FACTOR`` x the
distance transform at their junction are outline noise, not laterals, and go.
"""

from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
from scipy import ndimage as ndi

from rootpipe.skeleton.thinning import _foreground

# Terminal branches shorter than this many times the distance transform at
# their junction are spurs from boundary noise, not laterals.
SPUR_FACTOR = 2.0

_RING = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))


@lru_cache(maxsize=1)
def _deletable_lut() -> np.ndarray:
    """256-entry table: can a thin-line pixel with this 8-neighbourhood go?

    A pixel is deletable when it is a simple point (removing it changes no
    8-connectivity of the foreground nor 4-connectivity of the background)
    and is not an end point. Bit k of the code is the neighbour at
    ``_RING[k]``.
    """
    lut = np.zeros(256, bool)
    eight = np.ones((3, 3), int)
    for code in range(256):
        nb = np.zeros((3, 3), bool)
        for k, (dy, dx) in enumerate(_RING):
            nb[1 + dy, 1 + dx] = bool(code >> k & 1)
        n_fg = nb.sum()
        if n_fg < 2:
            continue
        _, n_obj = ndi.label(nb, structure=eight)
        bg = ~nb
        bg[1, 1] = False
        lab, _ = ndi.label(bg)  # 4-connectivity
        touching = {lab[0, 1], lab[1, 0], lab[1, 2], lab[2, 1]} - {0}
        lut[code] = (n_obj == 1) and (len(touching) == 1)
    return lut


@numba.njit(cache=True, nogil=True)
def _ring_code(img, y, x):  # pragma: no cover - numba
    """8-neighbourhood code of (y, x), bit k = neighbour ``_RING[k]``."""
    return (img[y - 1, x - 1] | (img[y - 1, x] << 1) | (img[y - 1, x + 1] << 2)
            | (img[y, x + 1] << 3) | (img[y + 1, x + 1] << 4)
            | (img[y + 1, x] << 5) | (img[y + 1, x - 1] << 6)
            | (img[y, x - 1] << 7))


@numba.njit(cache=True, nogil=True)
def _n_neighbours(img, y, x):  # pragma: no cover - numba
    return (img[y - 1, x - 1] + img[y - 1, x] + img[y - 1, x + 1]
            + img[y, x - 1] + img[y, x + 1] + img[y + 1, x - 1]
            + img[y + 1, x] + img[y + 1, x + 1])


@numba.njit(cache=True, nogil=True)
def _thin_at(img, jy, jx, lut):  # pragma: no cover - numba
    """Delete redundant pixels of padded uint8 skeleton `img` at and around
    the pixels (jy, jx), in place.

    After a spur is cut, its junction pixel can be a superfluous corner of
    the remaining line, which skan would read as a tiny loop.
    """
    for i in range(jy.size):
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                y = jy[i] + dy
                x = jx[i] + dx
                if img[y, x] and lut[_ring_code(img, y, x)]:
                    img[y, x] = 0


@numba.njit(cache=True, nogil=True)
def _walk_to_junction(img, y, x, buf, pos):  # pragma: no cover - numba
    """Follow a skeleton line from end pixel (y, x) to the first pixel with
    more than two neighbours.

    The line's pixels, junction excluded, are written to ``buf[pos:]`` as
    linear indices into `img`. Returns (junction linear index or -1 when
    the line ends in another end pixel, line length in px including the
    step onto the junction, number of pixels written).
    """
    h, w = img.shape
    py, px = -1, -1
    length = 0.0
    k = 0
    while True:
        buf[pos + k] = y * w + x
        k += 1
        ny, nx = -1, -1
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                if (dy or dx) and img[y + dy, x + dx] and not (
                        y + dy == py and x + dx == px):
                    ny, nx = y + dy, x + dx
        if ny < 0:
            return -1, length, k
        length += 1.4142135623730951 if (ny != y and nx != x) else 1.0
        if _n_neighbours(img, ny, nx) > 2:
            return ny * w + nx, length, k
        if _n_neighbours(img, ny, nx) == 1:
            return -1, length, k
        py, px, y, x = y, x, ny, nx


@numba.njit(cache=True, nogil=True)
def _prune_spurs_kernel(img, dt, spur_factor, max_rounds, lut):  # pragma: no cover
    """Spur pruning of padded uint8 skeleton `img` in place (see
    :func:`_prune_spurs`); `dt` is the DT of the unpadded image."""
    h, w = img.shape
    ys, xs = _foreground(img)
    n = ys.size
    buf = np.empty(n, np.int64)
    for _ in range(max_rounds):
        ends = np.empty(n, np.int64)
        n_end = 0
        j = 0
        for i in range(n):  # drop deleted pixels, find end pixels
            y, x = ys[i], xs[i]
            if img[y, x]:
                ys[j], xs[j] = y, x
                j += 1
                if _n_neighbours(img, y, x) == 1:
                    ends[n_end] = y * w + x
                    n_end += 1
        n = j
        junction = np.full(n_end, -1, np.int64)
        limit = np.zeros(n_end)
        length = np.zeros(n_end)
        start = np.zeros(n_end, np.int64)
        count = np.zeros(n_end, np.int64)
        pos = 0
        for e in range(n_end):
            jn, length[e], k = _walk_to_junction(img, ends[e] // w, ends[e] % w,
                                                 buf, pos)
            if jn < 0:
                continue  # a line with two free ends: a root, not a spur
            junction[e] = jn
            limit[e] = spur_factor * dt[jn // w - 1, jn % w - 1]
            start[e], count[e] = pos, k
            pos += k
        cand = np.flatnonzero((junction >= 0) & (length < limit))
        if cand.size == 0:
            break
        cand = cand[np.argsort(junction[cand], kind="mergesort")]
        prune = np.zeros(cand.size, np.bool_)
        g0 = 0
        while g0 < cand.size:  # one group per junction
            g1 = g0
            while g1 < cand.size and junction[cand[g1]] == junction[cand[g0]]:
                g1 += 1
            jn = junction[cand[g0]]
            if _n_neighbours(img, jn // w, jn % w) > g1 - g0:
                prune[g0:g1] = True  # another branch stays at the junction
            else:  # every branch here is a spur: keep the longest
                best = g0
                for g in range(g0, g1):
                    if length[cand[g]] > length[cand[best]]:
                        best = g
                prune[g0:g1] = True
                prune[best] = False
            g0 = g1
        cut = cand[prune]
        for e in cut:
            for i in range(start[e], start[e] + count[e]):
                img[buf[i] // w, buf[i] % w] = 0
        jn = junction[cut]
        _thin_at(img, jn // w, jn % w, lut)
    return img


def _prune_spurs(skel: np.ndarray, dt: np.ndarray, spur_factor: float,
                 max_rounds: int = 3) -> np.ndarray:
    """Remove terminal branches short enough to be outline noise.

    A terminal branch (end pixel to the first junction pixel) is a spur
    when it is shorter than `spur_factor` x DT at its junction, i.e. it
    reaches less than about one parent radius beyond the parent's surface:
    bumps on thick roots, and the forks that thinning leaves in the corners
    of square root ends (image borders). Every junction keeps at least one
    branch (its longest), so a small blob whose skeleton is all spurs keeps
    a line. Spurs of spurs go in later rounds, up to `max_rounds`.

    Works on the skeleton image (numba), so that skan builds its graph
    once, from the pruned skeleton.

    Parameters
    ----------
    skel : 2-D bool array
        One-pixel-wide skeleton (:func:`thin`).
    dt : 2-D float array
        Distance transform of the mask, same shape.
    spur_factor : float
    max_rounds : int

    Returns
    -------
    2-D bool array, the pruned skeleton
    """
    img = np.pad(skel.view(np.uint8), 1)
    _prune_spurs_kernel(img, np.ascontiguousarray(dt, dtype=np.float32),
                        float(spur_factor), int(max_rounds),
                        _deletable_lut().view(np.uint8))
    return np.ascontiguousarray(img[1:-1, 1:-1]).view(bool)
