"""Diameter as the chord across the root along the skeleton normal, tip
extension, local orientation, and per-branch means (px).
"""

from __future__ import annotations

import numba
import numpy as np

# Local root orientation is the chord over this many path points (~px) on
# each side: about RhizoVision Explorer's 41 px window.
ORIENTATION_HALF_WINDOW = 10

@numba.njit(cache=True, nogil=True)
def _bilinear(img, y, x):  # pragma: no cover - numba
    """Bilinear sample of `img` at float (y, x); 0 outside the image.

    Zero outside makes the image edge an edge of the root for the chord
    search: what runs off the image is not measured.
    """
    h, w = img.shape
    y0 = int(np.floor(y))
    x0 = int(np.floor(x))
    fy = y - y0
    fx = x - x0
    out = 0.0
    for dy in range(2):
        wy = fy if dy else 1.0 - fy
        yy = y0 + dy
        for dx in range(2):
            wx = fx if dx else 1.0 - fx
            xx = x0 + dx
            if 0 <= yy < h and 0 <= xx < w:
                out += img[yy, xx] * wy * wx
    return out


def _ray_to_boundary(m: np.ndarray, p: np.ndarray, u: np.ndarray,
                     max_s: np.ndarray, step: float = 0.25) -> np.ndarray:
    """Distance (px) from points `p` along unit directions `u` to the edge of
    the root pixel squares of `m`; the image edge counts as an edge.

    Parameters
    ----------
    m : 2-D bool array
    p, u : (T, 2) float arrays
    max_s : (T,) float array
        Longest distance searched.

    Returns
    -------
    (T,) float array
    """
    if p.shape[0] == 0:
        return np.zeros(0)
    s = np.arange(step, float(max_s.max()) + step, step)
    q = p[:, None, :] + s[None, :, None] * u[:, None, :]
    iy = np.floor(q[..., 0] + 0.5).astype(np.intp)
    ix = np.floor(q[..., 1] + 0.5).astype(np.intp)
    h, w = m.shape
    valid = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    fg = np.zeros(iy.shape, bool)
    fg[valid] = m[iy[valid], ix[valid]]
    fg &= s[None, :] <= max_s[:, None]
    # fg[:, :k] all True up to the first background sample k.
    k = np.argmin(fg, axis=1)
    k[fg.all(axis=1)] = s.size
    # The edge lies between the last root sample and the first background
    # one; take the middle.
    return np.where(k == 0, step / 2, (k + 0.5) * step)


def _wall_distance(dt: np.ndarray, p: np.ndarray, u: np.ndarray,
                   s0: np.ndarray, s_max: np.ndarray,
                   n_iter: int = 10, tol: float = 0.25) -> np.ndarray:
    """Distance from `p` along unit directions `u` to the 0.5 level of the
    bilinearly interpolated distance transform `dt` (the mask outline).

    Marches out from ``s0`` in steps of ``DT - 0.5`` (at least `tol`): DT is
    1-Lipschitz, so such a step does not jump over the outline, and on a
    straight wall it lands on it. Once a step lands outside, the bracket is
    bisected down to `tol` (needed where DT is not Lipschitz: at the image
    edge, outside which the samples are 0) and the crossing is linearly
    interpolated in it. Searches stop at `s_max`.

    Parameters
    ----------
    dt : 2-D float array
    p, u : (N, 2) float arrays
    s0, s_max : (N,) float arrays
        Start of the search (inside the root) and its limit, px.

    Returns
    -------
    (N,) float array, px
    """
    return _wall_distance_kernel(dt, p, u, s0, s_max, n_iter, tol)


@numba.njit(cache=True, nogil=True)
def _wall_distance_kernel(dt, p, u, s0, s_max, n_iter, tol):  # pragma: no cover
    """Per-point loop of :func:`_wall_distance`."""
    n = p.shape[0]
    out = np.empty(n)
    for i in range(n):
        lo = min(s0[i], s_max[i])
        v_lo = _bilinear(dt, p[i, 0] + lo * u[i, 0], p[i, 1] + lo * u[i, 1])
        if v_lo < 0.5:  # started beyond the wall: start from the centre
            lo = 0.0
            v_lo = _bilinear(dt, p[i, 0], p[i, 1])
        hi = s_max[i]
        v_hi = 0.0
        bracketed = False
        for _ in range(n_iter):
            if bracketed:
                s_new = 0.5 * (lo + hi)
            else:
                s_new = lo + max(v_lo - 0.5, tol)
            s_new = min(s_new, hi)
            v_new = _bilinear(dt, p[i, 0] + s_new * u[i, 0],
                              p[i, 1] + s_new * u[i, 1])
            if v_new >= 0.5:
                lo, v_lo = s_new, v_new
                if s_new >= s_max[i]:
                    break  # nothing found up to s_max
            else:
                hi, v_hi = s_new, v_new
                bracketed = True
            if hi - lo <= tol:
                break
        if bracketed:
            out[i] = lo + (v_lo - 0.5) / (v_lo - v_hi) * (hi - lo)
        else:
            out[i] = s_max[i]
    return out


def _chord_diameter(dt: np.ndarray, yx: np.ndarray,
                    normal: np.ndarray) -> np.ndarray:
    """Root diameter (px) at skeleton pixels: the chord across the root.

    The chord runs along the normal `normal` through each pixel, between the
    two crossings of the 0.5 level of the bilinearly interpolated distance
    transform. Next to the background DT is 1 on root pixels and 0 off them,
    so that level is the marching-squares outline of the mask: it follows
    pixel edges on axis-aligned roots (a bar of width w gives exactly w,
    odd or even) and is unbiased across the staircase of oblique ones and
    along noisy outlines. (``2 DT - 1`` is right for odd axis-aligned widths
    only, and any DT-based radius shrinks with angle, thickness and outline
    noise, because DT is the distance to the *nearest* background pixel.)

    Clipped to ``[2 DT - 1.5, 3 DT + 2]``: the inscribed disc bounds the
    chord from below; the upper bound guards tips and junctions, where the
    normal can run along a root.
    """
    p = yx.astype(float)
    centre = dt[yx[:, 0], yx[:, 1]].astype(float)
    s0 = np.maximum(centre - 2.0, 0.0)
    s_max = 1.5 * centre + 2.0
    total = (_wall_distance(dt, p, normal, s0, s_max)
             + _wall_distance(dt, p, -normal, s0, s_max))
    return np.clip(total, 2 * centre - 1.5, 3 * centre + 2.0)


def _unit_normals(sm: np.ndarray, same: np.ndarray) -> np.ndarray:
    """Unit normals of concatenated paths from central differences.

    Parameters
    ----------
    sm : (N, 2) float array
        Smoothed path coordinates, paths concatenated.
    same : (N - 1,) bool array
        Whether points k and k + 1 belong to the same path.

    Returns
    -------
    (N, 2) float array
    """
    d = np.where(same[:, None], sm[1:] - sm[:-1], 0.0)
    tan = np.zeros_like(sm)
    tan[:-1] += d
    tan[1:] += d
    norm = np.hypot(*tan.T)
    tan /= np.where(norm > 0, norm, 1.0)[:, None]
    return np.stack([tan[:, 1], -tan[:, 0]], axis=1)


def _near_ends(pt_len: np.ndarray, indptr: np.ndarray, r_src: np.ndarray,
               r_dst: np.ndarray) -> np.ndarray:
    """Points within arc length ``r_src`` of their path's first point or
    ``r_dst`` of its last (pass a negative radius to flag nothing).

    Parameters
    ----------
    pt_len : (N,) float array
        Length carried by each point (half of each adjacent segment).
    indptr : (P + 1,) int array
    r_src, r_dst : (P,) float arrays, px

    Returns
    -------
    (N,) bool array
    """
    n = np.diff(indptr)
    pid = np.repeat(np.arange(n.size), n)
    cum = np.cumsum(pt_len)
    start = cum[indptr[:-1]] - pt_len[indptr[:-1]]
    from_src = cum - start[pid] - pt_len / 2  # arc length from the start
    from_dst = (cum[indptr[1:] - 1] - start)[pid] - from_src
    return (from_src <= r_src[pid]) | (from_dst <= r_dst[pid])


def _local_median_max(pt_diam: np.ndarray, pt_len: np.ndarray,
                      indptr: np.ndarray, use: np.ndarray) -> float:
    """Largest diameter along the paths, each point's diameter taken as the
    median over the points within one diameter of arc length either side.

    A single point's chord overshoots at a sharp bend: at a right angle the
    shortest chord through the corner runs from the inner to the outer
    corner (1.2-1.4 w), at 120 degrees up to 2 w. That spike is a few
    points long, shorter than the root is wide, so a median over one
    diameter either side removes it; a thickening longer than the root is
    wide (a nodule, a thick base) is kept. Points within a junction's disc
    are left out (their chord measures the junction), so is a path lying
    wholly within one (a spur at a sharp bend).

    Parameters
    ----------
    pt_diam, pt_len : (M,) float arrays
        Diameter and length carried by each point (px).
    indptr : (P + 1,) int array
        Points of path p are ``indptr[p]:indptr[p + 1]``.
    use : (M,) bool array
        Points outside junction discs.

    Returns
    -------
    float, px (0 without usable points)
    """
    if pt_diam.size == 0:
        return 0.0
    return float(_local_median_max_kernel(
        pt_diam.astype(np.float64), pt_len.astype(np.float64),
        np.asarray(indptr, np.int64), use.astype(np.bool_)))


@numba.njit(cache=True, nogil=True)
def _local_median_max_kernel(d, ln, indptr, use):  # pragma: no cover
    """Loop of :func:`_local_median_max`: O(points x window)."""
    best = 0.0
    for p in range(indptr.size - 1):
        a, b = indptr[p], indptr[p + 1]
        s = np.empty(b - a)  # arc length at each point's centre
        acc = 0.0
        for k in range(a, b):
            s[k - a] = acc + ln[k] / 2
            acc += ln[k]
        buf = np.empty(b - a)
        for i in range(b - a):
            if not use[a + i]:
                continue
            r = d[a + i]
            n = 0
            j = i
            while j >= 0 and s[j] >= s[i] - r:
                if use[a + j]:
                    buf[n] = d[a + j]
                    n += 1
                j -= 1
            j = i + 1
            while j < b - a and s[j] <= s[i] + r:
                if use[a + j]:
                    buf[n] = d[a + j]
                    n += 1
                j += 1
            v = np.median(buf[:n])
            if v > best:
                best = v
    return best


def _branch_means(values: np.ndarray, weights: np.ndarray, pid: np.ndarray,
                  use: np.ndarray, P: int) -> np.ndarray:
    """Per-path weighted mean of `values` over points where `use` holds;
    over all of the path's points where it holds nowhere.

    Parameters
    ----------
    values, weights : (N,) float arrays
    pid : (N,) int array
        Path of each point, 0..P-1.
    use : (N,) bool array
    P : int
        Number of paths.

    Returns
    -------
    (P,) float array
    """
    w_use = weights * use
    len_use = np.bincount(pid, w_use, P)
    mean_use = np.bincount(pid, w_use * values, P) / np.where(
        len_use > 0, len_use, 1.0)
    w_all = np.where(weights > 0, weights, 1e-9)
    mean_all = (np.bincount(pid, w_all * values, P)
                / np.bincount(pid, w_all, P))
    return np.where(len_use > 0, mean_use, mean_all)


def _tip_extension(m: np.ndarray, sm: np.ndarray, tip_yx: np.ndarray,
                   tip_dt: np.ndarray, tip_pt: np.ndarray, inward: np.ndarray,
                   n_path: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length (px) from each tip pixel to the end of the root, and the
    direction in which it was measured.

    Measured along the root's direction at the tip, which is taken from the
    smoothed path over about one radius (at most half the path).

    Parameters
    ----------
    m : 2-D bool array
        The mask.
    sm : (N, 2) float array
        Smoothed path coordinates, paths concatenated.
    tip_yx : (T, 2) int array
    tip_dt : (T,) float array
        DT at the tips.
    tip_pt : (T,) int array
        Index of each tip in `sm`.
    inward : (T,) int array
        +1 when the tip is its path's first point, -1 when the last.
    n_path : (T,) int array
        Number of points of each tip's path.

    Returns
    -------
    ext : (T,) float array
        Extension, px.
    direction : (T, 2) float array
        Outward unit vector (dy, dx) at each tip; the end of the root is
        ``sm[tip_pt] + ext * direction``.
    """
    half = np.maximum((n_path - 1) // 2, 1)
    back = np.clip(np.round(1 + tip_dt).astype(np.intp), 1, half)
    u = sm[tip_pt] - sm[tip_pt + inward * back]
    un = np.hypot(*u.T)
    ok = un > 0
    u[ok] /= un[ok][:, None]
    u[~ok] = (0.0, 1.0)  # no direction known: any keeps the length right
    ext = _ray_to_boundary(m, tip_yx.astype(float), u, 2 * tip_dt + 1)
    return np.where(ok, ext, tip_dt - 0.5), u


def _orientation_deg(sm: np.ndarray, indptr: np.ndarray,
                     half_window: int = ORIENTATION_HALF_WINDOW) -> np.ndarray:
    """Local root orientation (degrees from horizontal, 0-90) at path points.

    The direction of the chord from ``half_window`` points before to
    ``half_window`` points after each point (clipped to its path), a scale
    like RhizoVision Explorer's 41 px window, so that the staircase of the
    pixel grid does not show.

    Parameters
    ----------
    sm : (N, 2) float array
        Smoothed (y, x) path coordinates, paths concatenated.
    indptr : (P + 1,) int array
    half_window : int
        Points on each side.

    Returns
    -------
    (N,) float array, degrees; nan where the chord has no length.
    """
    n = np.diff(indptr)
    pid = np.repeat(np.arange(n.size), n)
    i = np.arange(sm.shape[0])
    lo = np.maximum(i - half_window, indptr[:-1][pid])
    hi = np.minimum(i + half_window, indptr[1:][pid] - 1)
    d = np.abs(sm[hi] - sm[lo])
    with np.errstate(invalid="ignore"):
        ang = np.degrees(np.arctan2(d[:, 0], d[:, 1]))
    ang[(d[:, 0] == 0) & (d[:, 1] == 0)] = np.nan
    return ang
