"""One skeleton graph measured: length, diameter and topology per pixel, point and
branch path (px); the pieces of :mod:`.diameter` and :mod:`.paths` assembled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from rootpipe.skeleton.graph import SkeletonGraph, _branch_types, _path_ends
from rootpipe.traits.diameter import (
    _branch_means,
    _chord_diameter,
    _local_median_max,
    _near_ends,
    _orientation_deg,
    _tip_extension,
    _unit_normals,
)
from rootpipe.traits.paths import _smooth_by_width

# Branch points closer than the local root diameter (times this) are one
# branch point: thinning splits crossings into two junctions.
JUNCTION_MERGE_FACTOR = 1.0

@dataclass
class _Graph:
    """Per-node, per-point and per-path measurements of one skeleton (crop
    frame, px).

    Nodes are skeleton pixels (skan's node ids); paths are skan branches,
    followed by isolated skeleton pixels (dots); points are the pixels of
    the skan paths in path order, concatenated (a junction pixel appears
    once in each of its paths).
    """
    node_yx: np.ndarray        # (N, 2) int pixel coordinates
    node_length: np.ndarray    # (N,) float32 length carried by each pixel
    node_diameter: np.ndarray  # (N,) float diameter at each pixel
    node_component: np.ndarray  # (N,) int connected component, 0..
    degree: np.ndarray         # (N,) int
    path_length: np.ndarray    # (P,) float, tips included
    path_diameter: np.ndarray  # (P,) float, length-weighted mean
    path_type: np.ndarray      # (P,) int skan code
    path_ends: np.ndarray      # (P, 4) int y0, x0, y1, x1
    path_angle: np.ndarray     # (P,) float degrees from horizontal
    path_component: np.ndarray  # (P,) int
    indptr: np.ndarray         # (P_skan + 1,) points of skan path p
    pt_yx: np.ndarray          # (M, 2) float smoothed coordinates
    pt_length: np.ndarray      # (M,) float length, tip extension included
    pt_diameter: np.ndarray    # (M,) float
    pt_angle: np.ndarray       # (M,) float degrees from horizontal (or nan)
    tip_pt: np.ndarray         # (T,) int point index of each tip
    tip_ext: np.ndarray        # (T,) float tip extension, px
    tip_dir: np.ndarray        # (T, 2) float outward unit vector
    iso: np.ndarray            # (D,) int node ids of the dots
    n_tips: int
    n_branch_points: int
    max_diameter: float        # px, see _local_median_max


def _measure_graph(S: SkeletonGraph | None, skel: np.ndarray, m: np.ndarray,
                   dt: np.ndarray) -> _Graph:
    """Length, diameter and topology of a pruned skeleton (all in px)."""
    node_yx = np.transpose(np.nonzero(skel)) if S is None else (
        np.asarray(S.coordinates, dtype=np.intp))
    n_nodes = node_yx.shape[0]
    if S is None:
        degree = np.zeros(n_nodes, int)
        node_comp = np.arange(n_nodes)
    else:
        degree = np.asarray(S.degrees, dtype=int)
        _, node_comp = csgraph.connected_components(S.graph, directed=False)
    # Per-node sums the paths, their tips and the dots add to, in that order.
    nodes = {"length": np.zeros(n_nodes), "dsum": np.zeros(n_nodes), "wsum": np.zeros(n_nodes)}
    dt_node = dt[node_yx[:, 0], node_yx[:, 1]].astype(float)
    if S is not None and S.n_paths > 0:
        g = _measure_paths(S, m, dt, node_yx, degree, node_comp, dt_node, nodes)
    else:
        g = _no_paths()
    iso = _add_dots(g, degree, dt_node, node_comp, node_yx, nodes)
    node_diam = nodes["dsum"] / np.where(nodes["wsum"] > 0, nodes["wsum"], 1)
    n_bp = _count_branch_points(S, degree, dt_node) if S is not None else 0
    return _Graph(node_yx=node_yx, node_length=nodes["length"].astype(np.float32), node_diameter=node_diam,
                  node_component=node_comp, degree=degree, iso=iso, n_branch_points=n_bp, **g)


def _measure_paths(S: SkeletonGraph, m: np.ndarray, dt: np.ndarray, node_yx: np.ndarray, degree: np.ndarray,
                   node_comp: np.ndarray, dt_node: np.ndarray, nodes: dict) -> dict:
    """The per-point and per-path fields of :class:`_Graph` for a graph with paths (px).

    Adds each point's length (tips extended) and diameter to the per-node sums in ``nodes``.
    """
    n_nodes = node_yx.shape[0]
    indptr = np.asarray(S.paths.indptr, dtype=np.intp)
    ids = np.asarray(S.paths.indices, dtype=np.intp)
    P = indptr.size - 1
    n = np.diff(indptr)
    pid = np.repeat(np.arange(P), n)
    xy = node_yx[ids].astype(float)
    src, dst = ids[indptr[:-1]], ids[indptr[1:] - 1]
    # Isolated cycles are smoothed periodically; a loop on a junction
    # is an open path pinned at the junction at both ends.
    sm = _smooth_by_width(xy, indptr, (src == dst) & (degree[src] == 2),
                          src == dst, dt_node[ids])

    # Segment lengths between consecutive points of the same path.
    seg = np.hypot(*(sm[1:] - sm[:-1]).T)
    same = pid[1:] == pid[:-1]
    seg[~same] = 0.0
    # Each point carries half of each adjacent segment.
    pt_len = np.zeros(ids.size)
    pt_len[:-1] += seg / 2
    pt_len[1:] += seg / 2
    path_len = np.add.reduceat(pt_len, indptr[:-1])

    pt_diam = _chord_diameter(dt, node_yx[ids], _unit_normals(sm, same))
    # Within a junction's inscribed disc the chord measures the
    # junction, not a root.
    r_src = np.where(degree[src] > 2, dt_node[src], -1.0)
    r_dst = np.where(degree[dst] > 2, dt_node[dst], -1.0)
    in_junction = _near_ends(pt_len, indptr, r_src, r_dst)
    path_diam = _branch_means(pt_diam, pt_len, pid, ~in_junction, P)
    pt_diam = np.where(in_junction, path_diam[pid], pt_diam)
    max_diam = _local_median_max(pt_diam, pt_len, indptr, ~in_junction)

    nodes["length"] += np.bincount(ids, pt_len, n_nodes)
    nodes["dsum"] += np.bincount(ids, pt_diam, n_nodes)
    nodes["wsum"] += np.bincount(ids, None, n_nodes)

    # Tips: skeletons stop about one radius short of a root's end.
    at_src, at_dst = degree[src] == 1, degree[dst] == 1
    tip_pt = np.concatenate([indptr[:-1][at_src], indptr[1:][at_dst] - 1])
    inward = np.concatenate([np.ones(at_src.sum(), np.intp),
                             -np.ones(at_dst.sum(), np.intp)])
    n_tip = np.concatenate([n[at_src], n[at_dst]])
    ext, tip_dir = _tip_extension(m, sm, node_yx[ids[tip_pt]],
                                  dt_node[ids[tip_pt]], tip_pt, inward,
                                  n_tip)
    nodes["length"] += np.bincount(ids[tip_pt], ext, n_nodes)
    path_len = path_len + np.bincount(pid[tip_pt], ext, P)

    pt_length = pt_len.copy()
    pt_length[tip_pt] += ext  # tip points are distinct
    pt_angle = _orientation_deg(sm, indptr)
    path_angle = _branch_means(np.nan_to_num(pt_angle), pt_length, pid,
                               np.isfinite(pt_angle), P)
    return dict(indptr=indptr, pt_yx=sm, pt_length=pt_length, pt_diameter=pt_diam, pt_angle=pt_angle,
                tip_pt=tip_pt, tip_ext=ext, tip_dir=tip_dir, path_length=path_len, path_diameter=path_diam,
                path_angle=path_angle, path_component=node_comp[src], path_type=_branch_types(S),
                path_ends=np.concatenate([node_yx[src], node_yx[dst]], axis=1), n_tips=int(tip_pt.size),
                max_diameter=max_diam)


def _no_paths() -> dict:
    """The per-point and per-path fields of :class:`_Graph` for a skeleton without paths."""
    return dict(indptr=np.zeros(1, np.intp), pt_yx=np.zeros((0, 2)), pt_length=np.zeros(0),
                pt_diameter=np.zeros(0), pt_angle=np.zeros(0), tip_pt=np.zeros(0, np.intp), tip_ext=np.zeros(0),
                tip_dir=np.zeros((0, 2)), path_length=np.zeros(0), path_diameter=np.zeros(0),
                path_angle=np.zeros(0), path_component=np.zeros(0, np.intp), path_type=np.zeros(0, int),
                path_ends=np.zeros((0, 4), np.intp), n_tips=0, max_diameter=0.0)


def _add_dots(g: dict, degree: np.ndarray, dt_node: np.ndarray, node_comp: np.ndarray, node_yx: np.ndarray,
              nodes: dict) -> np.ndarray:
    """Isolated skeleton pixels (dots): a root as long as it is wide, with two tips, added to ``g`` as
    extra tip-tip branches and to the per-node sums. Returns the dots' node ids."""
    iso = np.flatnonzero(degree == 0)
    iso_d = np.maximum(2 * dt_node[iso] - 1, 1.0)
    nodes["length"][iso] += iso_d
    nodes["dsum"][iso] += iso_d
    nodes["wsum"][iso] += 1
    g["n_tips"] += 2 * iso.size
    g["max_diameter"] = max(g["max_diameter"], float(iso_d.max(initial=0.0)))
    g["path_length"] = np.concatenate([g["path_length"], iso_d])
    g["path_diameter"] = np.concatenate([g["path_diameter"], iso_d])
    g["path_angle"] = np.concatenate([g["path_angle"], np.full(iso.size, np.nan)])
    g["path_component"] = np.concatenate([g["path_component"], node_comp[iso]])
    g["path_type"] = np.concatenate([g["path_type"], np.zeros(iso.size, int)])
    g["path_ends"] = np.concatenate([g["path_ends"], np.concatenate([node_yx[iso], node_yx[iso]], axis=1)])
    return iso


def _count_branch_points(S: SkeletonGraph, degree: np.ndarray,
                         dt_node: np.ndarray) -> int:
    """Number of branch points, merging junctions closer than the local
    root diameter (a crossing thins to two junctions a few px apart)."""
    junction = degree > 2
    if not junction.any():
        return 0
    src, dst = _path_ends(S)
    lengths = S.path_lengths()
    diam = np.maximum(2 * dt_node - 1, 0)
    close = (junction[src] & junction[dst] & (src != dst)
             & (lengths <= np.maximum(
                 JUNCTION_MERGE_FACTOR * np.maximum(diam[src], diam[dst]),
                 1.5)))
    jid = np.flatnonzero(junction)
    index = np.full(degree.size, -1)
    index[jid] = np.arange(jid.size)
    g = sparse.coo_matrix(
        (np.ones(close.sum()), (index[src[close]], index[dst[close]])),
        shape=(jid.size, jid.size))
    n, _ = csgraph.connected_components(g, directed=False)
    return int(n)
