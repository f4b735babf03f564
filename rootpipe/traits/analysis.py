"""Whole-image analysis in pixels: clean, skeletonise, measure the graph, outline.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from rootpipe.skeleton.distance import _bounds, _crop_box, distance_transform
from rootpipe.skeleton.graph import pruned_skeleton
from rootpipe.skeleton.pruning import SPUR_FACTOR
from rootpipe.traits.clean import clean_mask
from rootpipe.traits.graph import _Graph, _measure_graph
from rootpipe.traits.paths import _smooth_paths

# Gaussian sigma (outline samples) for the perimeter: smaller than for the
# skeleton, because outlines turn tightly round thin roots' tips; 1 keeps
# bars of any angle within 1 % and discs of radius >= 4 px within 2 %.
PERIMETER_SIGMA = 1.0

@dataclass
class _Analysis:
    """Everything the public functions report, in pixels."""
    shape: tuple[int, int]
    offset: tuple[int, int]    # crop origin in the image
    mask: np.ndarray           # cleaned mask (crop)
    skeleton: np.ndarray       # pruned skeleton (crop)
    graph: _Graph | None
    bounds: tuple[int, int, int, int]  # first/last root row and column


def _analyse(mask, pixel_size_mm=1.0, *, min_object_area_mm2=0.0,
             fill_holes_area_mm2=0.0, spur_factor=SPUR_FACTOR) -> _Analysis:
    m = clean_mask(mask, pixel_size_mm,
                   min_object_area_mm2=min_object_area_mm2,
                   fill_holes_area_mm2=fill_holes_area_mm2)
    bounds = _bounds(m)
    if bounds is None:
        empty = np.zeros((0, 0), bool)
        return _Analysis(m.shape, (0, 0), empty, empty, None, (0, -1, 0, -1))
    box = _crop_box(m, bounds)
    mc = np.ascontiguousarray(m[box])
    dt = distance_transform(mc)
    skel, S = pruned_skeleton(mc, dt, float(spur_factor))
    graph = _measure_graph(S, skel, mc, dt)
    return _Analysis(m.shape, (box[0].start, box[1].start), mc, skel, graph,
                     bounds)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of `values` with `weights` (lower median at exact halves)."""
    if values.size == 0 or weights.sum() <= 0:
        return 0.0
    order = np.argsort(values)
    cw = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cw, 0.5 * cw[-1])])


def _outline(m: np.ndarray) -> tuple[float, float, int]:
    """Perimeter, convex hull area and object count of a mask, from its
    outlines.

    Perimeter: each outline (OpenCV's 8-connected chain of boundary pixel
    centres, outer borders and holes) is smoothed like the skeleton paths
    and measured as a closed polyline. That chain runs half a pixel inside
    the true edge (the pixel squares' outline); a closed curve offset
    outwards by d is 2 pi d longer, so each outer border gets + pi and each
    hole - pi. A w x L bar measures about 2 (w + L) and a disc 2 pi r.

    Convex hull: of the root pixel squares (corners, not centres, so the
    hull always contains the network area).

    Parameters
    ----------
    m : 2-D bool array

    Returns
    -------
    perimeter : float, px
    hull_area : float, px^2
    n_objects : int
        8-connected objects (one outer border each).
    """
    # OpenCV (>= 4) traces objects touching the image edge round, unpadded.
    contours, hierarchy = cv2.findContours(m.view(np.uint8), cv2.RETR_CCOMP,
                                           cv2.CHAIN_APPROX_NONE)
    if not contours:
        return 0.0, 0.0, 0
    outer = hierarchy[0][:, 3] < 0
    # Close each chain (first point repeated) for periodic smoothing.
    n = np.array([c.shape[0] for c in contours])
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    xy = np.concatenate(contours)[:, 0]  # int32 (x, y)
    points = xy[:, ::-1].astype(float)
    chains = np.insert(points, starts + n, points[starts], axis=0)
    indptr = np.concatenate([[0], np.cumsum(n + 1)])
    sm = _smooth_paths(chains, indptr, np.ones(n.size, bool), PERIMETER_SIGMA)
    seg = np.hypot(*(sm[1:] - sm[:-1]).T)
    seg[indptr[1:-1] - 1] = 0.0  # no segment between two chains
    perimeter = float(seg.sum() + np.pi * (outer.sum() - (~outer).sum()))

    # The outer borders hold every extreme point.
    hull = cv2.convexHull(xy[np.repeat(outer, n)])[:, 0]
    corners = np.concatenate([hull + (dx, dy) for dx in (-0.5, 0.5)
                              for dy in (-0.5, 0.5)]).astype(np.float32)
    hull_area = float(cv2.contourArea(cv2.convexHull(corners)))
    return perimeter, hull_area, int(outer.sum())
