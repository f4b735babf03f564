"""The public trait functions: pixel analyses turned into mm traits, branch
tables and RSML paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from rootpipe.columns import BASE_TRAIT_KEYS, CLASS_QUANTITIES
from rootpipe.skeleton.pruning import SPUR_FACTOR
from rootpipe.traits.analysis import _analyse, _Analysis, _outline, _weighted_median

# RhizoVision Explorer's angle bins (degrees from horizontal): shallow up to
# 30, medium up to 60, steep above.
SHALLOW_MAX_DEG = 30.0
STEEP_MIN_DEG = 60.0

DEFAULT_DIAMETER_CLASSES_MM = (0.5, 1.0, 2.0)

BRANCH_COLUMNS = [
    "branch_id", "length_mm", "mean_diameter_mm", "branch_type",
    "y0_px", "x0_px", "y1_px", "x1_px", "angle_deg", "component_id",
]
_BRANCH_DTYPES = {"length_mm": float, "mean_diameter_mm": float,
                  "angle_deg": float}


class BranchPath(NamedTuple):
    """One branch's centre-line, as measured.

    ``yx`` is (n, 2) float: (row, column) image coordinates in px, pixel
    centres at integers, smoothed, with free ends extended to the root's
    end, so that its polyline length is the branch's length. Isolated dots
    are a 2-point horizontal segment as long as the dot is wide. Cycles are
    closed (first point == last). ``diameter_px`` is (n,) float: the root
    diameter at each point, px.
    """
    yx: np.ndarray
    diameter_px: np.ndarray


@dataclass(frozen=True)
class Measurement:
    """Everything measured on one mask (see :func:`measure_all`)."""
    traits: dict
    branches: pd.DataFrame
    paths: list


def _class_edges(diameter_classes_mm) -> np.ndarray:
    """Validated class edges (mm): finite, positive, increasing."""
    edges = np.asarray(
        [] if diameter_classes_mm is None else diameter_classes_mm,
        dtype=float).ravel()
    if (not np.all(np.isfinite(edges)) or np.any(edges <= 0)
            or np.any(np.diff(edges) <= 0)):
        raise ValueError("diameter_classes_mm must be increasing positive "
                         f"class edges in mm, got {diameter_classes_mm!r}")
    return edges


def diameter_class_labels(diameter_classes_mm=DEFAULT_DIAMETER_CLASSES_MM
                          ) -> list[str]:
    """Labels of the diameter classes that the edges make.

    Parameters
    ----------
    diameter_classes_mm : sequence of float
        Increasing class edges, mm. Edges ``(0.5, 1, 2)`` make four
        classes: d <= 0.5, 0.5 < d <= 1, 1 < d <= 2 and d > 2 mm (as in
        RhizoVision Explorer, an edge belongs to the class below it).

    Returns
    -------
    list of str
        ``["0-0.5mm", "0.5-1mm", "1-2mm", "over_2mm"]`` for the example;
        ``["all"]`` when there are no edges.
    """
    edges = _class_edges(diameter_classes_mm)
    if edges.size == 0:
        return ["all"]
    lows = np.concatenate([[0.0], edges[:-1]])
    return ([f"{lo:g}-{hi:g}mm" for lo, hi in zip(lows, edges)]
            + [f"over_{edges[-1]:g}mm"])


def diameter_class_keys(diameter_classes_mm=DEFAULT_DIAMETER_CLASSES_MM
                        ) -> list[str]:
    """Trait keys of the per-class quantities, e.g.
    ``length_mm_diam_0-0.5mm`` ... ``volume_mm3_diam_over_2mm``: all
    lengths, then all projected areas, surface areas and volumes."""
    labels = diameter_class_labels(diameter_classes_mm)
    return [f"{prefix}_diam_{label}" for prefix, _ in CLASS_QUANTITIES
            for label in labels]


def trait_keys(diameter_classes_mm=DEFAULT_DIAMETER_CLASSES_MM) -> list[str]:
    """All keys :func:`measure` returns for these diameter classes, in
    order."""
    return BASE_TRAIT_KEYS + diameter_class_keys(diameter_classes_mm)


def _traits(a: _Analysis, px: float, edges: np.ndarray) -> dict:
    """The traits dict of :func:`measure` from an analysis."""
    keys = BASE_TRAIT_KEYS + diameter_class_keys(edges)
    out = {k: 0 if k.startswith("n_") else 0.0 for k in keys}
    if a.graph is None:
        return out
    g = a.graph
    length = g.node_length  # float32, as skeleton_length_map returns it
    total_px = float(length.sum(dtype=np.float64))
    d = g.node_diameter
    w = length.astype(np.float64)
    r = d / 2
    r0, r1, c0, c1 = a.bounds
    area_px = float(np.count_nonzero(a.mask))
    perimeter_px, hull_px, n_comp = _outline(a.mask)
    depth_px = float(r1 - r0 + 1)
    width_px = float(c1 - c0 + 1)
    out.update(
        total_length_mm=total_px * px,
        mean_diameter_mm=(float(np.dot(d, w) / total_px) * px
                          if total_px > 0 else 0.0),
        median_diameter_mm=_weighted_median(d, w) * px,
        max_diameter_mm=g.max_diameter * px,
        n_tips=int(g.n_tips),
        n_branch_points=int(g.n_branch_points),
        network_area_mm2=area_px * px * px,
        n_components=n_comp,
        branching_frequency_per_mm=(g.n_branch_points / (total_px * px)
                                    if total_px > 0 else 0.0),
        surface_area_mm2=float(np.dot(2 * np.pi * r, w)) * px * px,
        volume_mm3=float(np.dot(np.pi * r * r, w)) * px ** 3,
        depth_mm=depth_px * px,
        width_mm=width_px * px,
        convex_hull_area_mm2=hull_px * px * px,
        projected_area_mm2=float(np.dot(d, w)) * px * px,
        perimeter_mm=perimeter_px * px,
        solidity=area_px / hull_px if hull_px > 0 else 0.0,
        width_depth_ratio=width_px / depth_px,
        root_length_density_mm_per_mm2=(
            total_px / (float(a.shape[0]) * float(a.shape[1])) / px),
    )
    out.update(_angle_traits(g.pt_angle, g.pt_length))
    out.update(_class_traits(d, w, px, edges))
    return out


def _angle_traits(angle: np.ndarray, weight: np.ndarray) -> dict:
    """Length-weighted mean orientation and shallow/medium/steep fractions
    (RhizoVision Explorer's bins: <= 30, 30-60, > 60 degrees from
    horizontal)."""
    ok = np.isfinite(angle) & (weight > 0)
    a, w = angle[ok], weight[ok]
    total = float(w.sum())
    if total <= 0:  # no length with a direction (none, or only single-pixel specks): undefined
        return dict(mean_orientation_deg=np.nan, shallow_angle_fraction=np.nan,
                    medium_angle_fraction=np.nan, steep_angle_fraction=np.nan)
    shallow = float(w[a <= SHALLOW_MAX_DEG].sum()) / total
    steep = float(w[a > STEEP_MIN_DEG].sum()) / total
    return dict(mean_orientation_deg=float(np.dot(a, w)) / total,
                shallow_angle_fraction=shallow,
                medium_angle_fraction=max(1.0 - shallow - steep, 0.0),
                steep_angle_fraction=steep)


def _class_traits(d: np.ndarray, w: np.ndarray, px: float,
                  edges: np.ndarray) -> dict:
    """Length, projected area (d dl), surface area and volume per diameter
    class, from per-pixel diameters `d` and lengths `w` (px)."""
    # A diameter on an edge belongs to the class below: d * px carries rounding (3 px x 0.1 mm
    # is 0.30000000000000004 mm), so compare with a relative tolerance of 1e-9.
    cls = np.searchsorted(edges * (1 + 1e-9), d * px, side="left")
    nc = edges.size + 1
    values = (
        np.bincount(cls, w, nc) * px,
        np.bincount(cls, d * w, nc) * px * px,
        np.bincount(cls, 2 * np.pi * (d / 2) * w, nc) * px * px,
        np.bincount(cls, np.pi * (d / 2) ** 2 * w, nc) * px ** 3,
    )
    keys = diameter_class_keys(edges)
    return dict(zip(keys, (float(v) for q in values for v in q)))


def _branch_table(a: _Analysis, px: float) -> pd.DataFrame:
    """The table of :func:`branches` from an analysis."""
    if a.graph is None or a.graph.path_length.size == 0:
        return pd.DataFrame({
            c: pd.Series(dtype=_BRANCH_DTYPES.get(c, np.int64))
            for c in BRANCH_COLUMNS})
    g = a.graph
    oy, ox = a.offset
    ends = g.path_ends.astype(np.int64) + np.array([oy, ox, oy, ox])
    return pd.DataFrame({
        "branch_id": np.arange(g.path_length.size, dtype=np.int64),
        "length_mm": g.path_length * px,
        "mean_diameter_mm": g.path_diameter * px,
        "branch_type": g.path_type.astype(np.int64),
        "y0_px": ends[:, 0], "x0_px": ends[:, 1],
        "y1_px": ends[:, 2], "x1_px": ends[:, 3],
        "angle_deg": g.path_angle.astype(float),
        "component_id": g.path_component.astype(np.int64),
    })


def _branch_paths(a: _Analysis) -> list[BranchPath]:
    """The list of :func:`branch_paths` from an analysis."""
    g = a.graph
    if g is None:
        return []
    off = np.asarray(a.offset, dtype=float)
    yx = g.pt_yx + off
    diam = g.pt_diameter
    # Free ends: add the root's end, where the tip extension reaches.
    P = g.indptr.size - 1
    n = np.diff(g.indptr)
    pid = np.repeat(np.arange(P), n)
    tip_path = pid[g.tip_pt]
    at_start = g.tip_pt == g.indptr[:-1][tip_path]
    where = np.where(at_start, g.tip_pt, g.tip_pt + 1)
    # At a shared index, the end of path p goes before the start of p + 1.
    order = np.lexsort((at_start, where))
    new_yx = yx[g.tip_pt] + g.tip_ext[:, None] * g.tip_dir
    yx = np.insert(yx, where[order], new_yx[order], axis=0)
    diam = np.insert(diam, where[order], diam[g.tip_pt][order])
    indptr = g.indptr + np.concatenate(
        [[0], np.cumsum(np.bincount(tip_path, minlength=P))])
    out = [BranchPath(p, dp) for p, dp in zip(np.split(yx, indptr[1:-1]),
                                              np.split(diam, indptr[1:-1]))]
    if P == 0:
        out = []
    # Dots: a horizontal segment as long as the dot is wide.
    for node, d in zip(g.iso, g.path_length[P:]):
        c = g.node_yx[node] + off
        out.append(BranchPath(
            np.array([[c[0], c[1] - d / 2], [c[0], c[1] + d / 2]]),
            np.array([d, d], dtype=float)))
    return out


def measure_all(mask, pixel_size_mm=1.0,
                diameter_classes_mm=DEFAULT_DIAMETER_CLASSES_MM, *,
                min_object_area_mm2=0.0, fill_holes_area_mm2=0.0,
                spur_factor=SPUR_FACTOR) -> Measurement:
    """Traits, branch table and branch paths of one mask, from one analysis.

    The same as calling :func:`measure`, :func:`branches` and
    :func:`branch_paths` with the same arguments, at the cost of one.

    Returns
    -------
    Measurement
        ``.traits`` (dict), ``.branches`` (DataFrame), ``.paths`` (list of
        :class:`BranchPath`); ``paths[i]`` is branch ``branch_id == i``.
    """
    edges = _class_edges(diameter_classes_mm)
    a = _analyse(mask, pixel_size_mm, min_object_area_mm2=min_object_area_mm2,
                 fill_holes_area_mm2=fill_holes_area_mm2,
                 spur_factor=spur_factor)
    px = float(pixel_size_mm)
    return Measurement(_undefined_to_nan(_traits(a, px, edges)), _branch_table(a, px),
                       _branch_paths(a))


def clear_border(mask: np.ndarray, border_px: int) -> np.ndarray:
    """``mask`` with ``border_px`` pixels along every edge set to background (a copy when any is).

    Parameters
    ----------
    mask : 2-D array, root = nonzero.
    border_px : width of the margin left out, px (0: ``mask`` itself).
    """
    if border_px <= 0:
        return mask
    if 2 * border_px >= min(mask.shape):
        raise ValueError(f"border_px {border_px} leaves nothing of a {mask.shape[0]} x {mask.shape[1]} px image")
    out = np.zeros_like(mask)
    out[border_px:-border_px, border_px:-border_px] = mask[border_px:-border_px, border_px:-border_px]
    return out


def measure(mask, pixel_size_mm=1.0,
            diameter_classes_mm=DEFAULT_DIAMETER_CLASSES_MM, *,
            min_object_area_mm2=0.0, fill_holes_area_mm2=0.0,
            spur_factor=SPUR_FACTOR) -> dict:
    """Root traits of one image.

    Parameters
    ----------
    mask : array_like, 2-D
        Root mask, root = nonzero (bool or uint8). The whole image: its
        area is the denominator of the root length density.
    pixel_size_mm : float
        Pixel edge length in mm/px.
    diameter_classes_mm : sequence of float
        Increasing diameter class edges, mm (see
        :func:`diameter_class_labels`); ``()`` for one class.
    min_object_area_mm2 : float
        Objects smaller than this (mm^2) are removed before measuring.
    fill_holes_area_mm2 : float
        Holes smaller than this (mm^2) are filled before measuring.
    spur_factor : float
        Terminal branches shorter than this many times the distance
        transform at their junction (about the parent's radius) are pruned
        as outline noise; 0 prunes nothing.

    Returns
    -------
    dict
        Plain Python floats and ints, keys in the order of
        :func:`trait_keys`:

        - ``total_length_mm``: skeleton length, tip to tip (see module doc).
        - ``mean_diameter_mm``, ``median_diameter_mm``: length-weighted over
          the skeleton; ``max_diameter_mm``: largest diameter along a
          root, each pixel's taken as the median over one diameter of root
          either side (a sharp bend's corner-to-corner chord does not count);
          junction discs are left out, so a junction is not a thick root.
        - ``n_tips``: free skeleton ends (an isolated dot counts 2).
        - ``n_branch_points``: junctions, those closer than the local root
          diameter merged into one (a crossing of two roots counts 1).
        - ``network_area_mm2``: root pixels x pixel area.
        - ``n_components``: 8-connected root objects.
        - ``branching_frequency_per_mm``: branch points per mm of length
          (0 when there is no length).
        - ``surface_area_mm2``, ``volume_mm3``: sum of 2 pi r dl and
          pi r^2 dl over skeleton pixels (cylinder slices).
        - ``depth_mm``, ``width_mm``: bounding box of root pixels (rows,
          columns), pixel edges included.
        - ``convex_hull_area_mm2``: hull of the root pixel squares.
        - ``projected_area_mm2``: sum of d dl, each root's own silhouette;
          where roots branch or cross both count, so it exceeds
          ``network_area_mm2`` there.
        - ``perimeter_mm``: length of the mask outline, holes included
          (see :func:`_outline`).
        - ``solidity``: network area / convex hull area.
        - ``width_depth_ratio``: ``width_mm / depth_mm``.
        - ``root_length_density_mm_per_mm2``: total length / image area
          (``mask.size`` x pixel area).
        - ``mean_orientation_deg``: length-weighted mean local root angle
          from horizontal (0 horizontal, 90 vertical), over a +-10 px
          window along the skeleton.
        - ``shallow_angle_fraction``, ``medium_angle_fraction``,
          ``steep_angle_fraction``: fractions of root length whose local
          angle from horizontal is <= 30, 30-60 and > 60 degrees (they sum
          to 1 when there is length; RhizoVision Explorer's "Shallow /
          Medium / Steep Angle Frequency").
        - per diameter class ``c`` (labels from
          :func:`diameter_class_labels`, e.g. ``0-0.5mm``, ``over_2mm``):
          ``length_mm_diam_c``, ``projected_area_mm2_diam_c``,
          ``surface_area_mm2_diam_c``, ``volume_mm3_diam_c``. Each skeleton
          pixel counts in the class of its diameter, so the classes sum to
          ``total_length_mm``, ``projected_area_mm2``,
          ``surface_area_mm2`` and ``volume_mm3``.

        An empty mask gives zero for every total and count, and NaN for what
        is undefined without roots (``UNDEFINED_WITHOUT_LENGTH``: diameters,
        branching frequency, orientation; ``UNDEFINED_WITHOUT_AREA``: solidity,
        width/depth ratio), so that a mean over images is not pulled towards 0
        by those without roots.
    """
    edges = _class_edges(diameter_classes_mm)
    a = _analyse(mask, pixel_size_mm, min_object_area_mm2=min_object_area_mm2,
                 fill_holes_area_mm2=fill_holes_area_mm2,
                 spur_factor=spur_factor)
    return _undefined_to_nan(_traits(a, float(pixel_size_mm), edges))


def _undefined_to_nan(out: dict) -> dict:
    """NaN for the ratios an image without roots (or without any angled root) leaves undefined."""
    if out["total_length_mm"] == 0:
        out.update(dict.fromkeys(UNDEFINED_WITHOUT_LENGTH, float("nan")))
    if out["network_area_mm2"] == 0:
        out.update(dict.fromkeys(UNDEFINED_WITHOUT_AREA, float("nan")))
    return out


#: traits that are ratios over root length: NaN, not 0, for an image without any
UNDEFINED_WITHOUT_LENGTH = ("mean_diameter_mm", "median_diameter_mm", "max_diameter_mm",
                            "branching_frequency_per_mm", "mean_orientation_deg", "shallow_angle_fraction",
                            "medium_angle_fraction", "steep_angle_fraction")
#: traits that are ratios over the root pixels' extent: NaN for an image without any
UNDEFINED_WITHOUT_AREA = ("solidity", "width_depth_ratio")


def branches(mask, pixel_size_mm=1.0, *, min_object_area_mm2=0.0,
             fill_holes_area_mm2=0.0, spur_factor=SPUR_FACTOR
             ) -> pd.DataFrame:
    """One row per skeleton branch (skan's definition, after spur pruning).

    Parameters
    ----------
    mask, pixel_size_mm, min_object_area_mm2, fill_holes_area_mm2, spur_factor
        As for :func:`measure`.

    Returns
    -------
    pandas.DataFrame
        Columns ``branch_id`` (0..n-1), ``length_mm`` (tips included; the
        column sums to ``measure()['total_length_mm']``),
        ``mean_diameter_mm`` (length-weighted), ``branch_type`` (0
        endpoint-endpoint, 1 junction-endpoint, 2 junction-junction,
        3 cycle), ``y0_px, x0_px, y1_px, x1_px`` (end pixels, image
        coordinates), ``angle_deg`` (length-weighted mean local angle from
        horizontal, 0-90; NaN for dots), ``component_id`` (the 8-connected
        root object it belongs to, 0..n_components-1). Isolated skeleton
        dots are type-0 branches with equal ends.
    """
    a = _analyse(mask, pixel_size_mm, min_object_area_mm2=min_object_area_mm2,
                 fill_holes_area_mm2=fill_holes_area_mm2,
                 spur_factor=spur_factor)
    return _branch_table(a, float(pixel_size_mm))


def branch_paths(mask, *, pixel_size_mm=1.0, min_object_area_mm2=0.0,
                 fill_holes_area_mm2=0.0, spur_factor=SPUR_FACTOR
                 ) -> list[BranchPath]:
    """Each branch's measured centre-line and diameters, in px.

    Parameters
    ----------
    mask : array_like, 2-D
    pixel_size_mm, min_object_area_mm2, fill_holes_area_mm2, spur_factor
        Cleaning and pruning as for :func:`measure` (pixel size only
        converts the cleaning areas; the paths are in px).

    Returns
    -------
    list of BranchPath
        ``(yx, diameter_px)`` per branch, in the order of :func:`branches`
        (``paths[i]`` is ``branch_id == i``). The polyline length of
        ``yx`` is the branch's length in px (free ends reach the end of the
        root), so the paths' total length is ``total_length_mm`` at 1 mm/px.
    """
    a = _analyse(mask, pixel_size_mm, min_object_area_mm2=min_object_area_mm2,
                 fill_holes_area_mm2=fill_holes_area_mm2,
                 spur_factor=spur_factor)
    return _branch_paths(a)


def skeleton_length_map(mask, *, pixel_size_mm=1.0, min_object_area_mm2=0.0,
                        fill_holes_area_mm2=0.0, spur_factor=SPUR_FACTOR
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The pruned skeleton and the length (px) carried by each of its pixels.

    Parameters
    ----------
    mask : array_like, 2-D
        Root mask, root = nonzero.
    pixel_size_mm, min_object_area_mm2, fill_holes_area_mm2, spur_factor
        Cleaning and pruning as for :func:`measure` (pixel size only
        converts the cleaning areas; lengths stay in px). Defaults: no
        cleaning.

    Returns
    -------
    skeleton : numpy.ndarray of bool, mask's shape
    length_px : numpy.ndarray of float32, mask's shape
        Nonzero only on skeleton pixels. Each pixel carries half of each
        adjacent smoothed path segment, tip pixels also their tip extension.
        ``length_px.sum(dtype=numpy.float64)`` equals
        ``measure(mask, 1.0)['total_length_mm']``, and the length of any
        part of the skeleton is ``length_px[part].sum()``.
    """
    a = _analyse(mask, pixel_size_mm, min_object_area_mm2=min_object_area_mm2,
                 fill_holes_area_mm2=fill_holes_area_mm2,
                 spur_factor=spur_factor)
    skel = np.zeros(a.shape, bool)
    length = np.zeros(a.shape, np.float32)
    if a.graph is None:
        return skel, length
    oy, ox = a.offset
    y = a.graph.node_yx[:, 0] + oy
    x = a.graph.node_yx[:, 1] + ox
    skel[y, x] = True
    length[y, x] = a.graph.node_length
    return skel, length


#: Keys of the config's ``traits`` section that :func:`rootpipe.traits.measure`
#: takes; other keys there are for the workflow, not the measurement.
MEASURE_SETTINGS = ("min_object_area_mm2", "fill_holes_area_mm2",
                    "diameter_classes_mm", "spur_factor")


def measure_options(settings: dict | None) -> dict:
    """Keyword arguments for :func:`rootpipe.traits.measure` from the config's
    ``traits`` section (a YAML list of class edges becomes a tuple)."""
    # None (YAML null) means "the default".
    opts = {k: v for k, v in (settings or {}).items()
            if k in MEASURE_SETTINGS and v is not None}
    if "diameter_classes_mm" in opts:
        opts["diameter_classes_mm"] = tuple(float(v) for v in opts["diameter_classes_mm"])
    return opts
