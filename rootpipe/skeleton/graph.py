"""The skeleton as a graph of pixels and branch paths, as :mod:`skan` builds it
(own cached numba port; the tests check it against skan).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from rootpipe.skeleton.pruning import SPUR_FACTOR, _prune_spurs
from rootpipe.skeleton.thinning import _foreground, _has_edges, thin


def _path_ends(S: SkeletonGraph) -> tuple[np.ndarray, np.ndarray]:
    """Node ids of the first and last point of each path."""
    indptr, idx = S.paths.indptr, S.paths.indices
    return idx[indptr[:-1]], idx[indptr[1:] - 1]


def _branch_types(S: SkeletonGraph) -> np.ndarray:
    """skan's branch codes: 0 tip-tip, 1 tip-junction, 2 junction-junction,
    3 cycle."""
    src, dst = _path_ends(S)
    ds, dd = S.degrees[src], S.degrees[dst]
    kind = np.full(src.shape, 2)
    kind[(ds == 1) | (dd == 1)] = 1
    kind[(ds == 1) & (dd == 1)] = 0
    kind[src == dst] = 3
    return kind


@numba.njit(cache=True, nogil=True)
def _pixel_graph_kernel(img, ys, xs, ids):  # pragma: no cover - numba
    """CSR arrays of the 8-neighbour graph of the pixels (ys, xs) of uint8
    image `img` (node k = pixel k, raster order), with pixel distances as
    weights and each row's neighbours in increasing order."""
    h, w = img.shape
    n = ys.size
    for k in range(n):
        ids[ys[k], xs[k]] = k
    indptr = np.zeros(n + 1, np.int32)
    for k in range(n):
        c = 0
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                yy, xx = ys[k] + dy, xs[k] + dx
                if ((dy or dx) and 0 <= yy < h and 0 <= xx < w
                        and img[yy, xx]):
                    c += 1
        indptr[k + 1] = indptr[k] + c
    indices = np.empty(indptr[n], np.int32)
    data = np.empty(indptr[n], np.float64)
    for k in range(n):
        j = indptr[k]
        for dy in range(-1, 2):  # raster order: neighbour ids increase
            for dx in range(-1, 2):
                yy, xx = ys[k] + dy, xs[k] + dx
                if ((dy or dx) and 0 <= yy < h and 0 <= xx < w
                        and img[yy, xx]):
                    indices[j] = ids[yy, xx]
                    data[j] = np.sqrt(float(dy * dy + dx * dx))
                    j += 1
    return indptr, indices, data


@dataclass
class SkeletonGraph:
    """The parts of ``skan.Skeleton`` rootpipe uses: pixel graph, nodes and paths.

    Same arrays as skan's (``tests/test_traits.py`` compares), built by
    numba functions that are cached on disk. skan's own path builders take
    numba jitclasses, which cannot be cached, and recompiling them cost
    every traits job several seconds.
    """

    graph: sparse.csr_matrix      # pixel adjacency, data = edge length (1 or sqrt 2 px)
    coordinates: np.ndarray       # (N, 2) row, col of each node (px)
    degrees: np.ndarray           # (N,) neighbours per node
    paths: sparse.csr_matrix      # paths[i, j] = 1 where node j is on path i

    @property
    def n_paths(self) -> int:
        return self.paths.shape[0]

    def path_lengths(self) -> np.ndarray:
        """(P,) float64 length of each path (px), summed along its edges."""
        out = np.empty(self.n_paths, np.float64)
        _path_lengths_kernel(self.graph.indptr.astype(np.int32), self.graph.indices.astype(np.int32),
                             self.graph.data.astype(np.float64), self.paths.indptr, self.paths.indices, out)
        return out


@numba.njit(cache=True, nogil=True)
def _edge_at(indptr, indices, i, j):
    """Position of edge (i, j) in the CSR arrays, -1 if absent."""
    for k in range(indptr[i], indptr[i + 1]):
        if indices[k] == j:
            return k
    return -1


@numba.njit(cache=True, nogil=True)
def _walk_path(indptr, indices, node, neighbor, visited, degrees, out, startj):
    """skan's ``_walk_path`` on plain CSR arrays (``visited`` parallels ``indices``)."""
    out[startj] = node
    start_node = node
    j = startj + 1
    while True:
        k = _edge_at(indptr, indices, node, neighbor)
        if k >= 0 and visited[k]:
            break
        if k >= 0:
            visited[k] = True
        k2 = _edge_at(indptr, indices, neighbor, node)
        if k2 >= 0:
            visited[k2] = True
        out[j] = neighbor
        if degrees[neighbor] != 2 or neighbor == start_node:
            break
        n1 = indices[indptr[neighbor]]
        n2 = indices[indptr[neighbor] + 1]
        nextneighbor = n1 if n1 != node else n2
        node, neighbor = neighbor, nextneighbor
        j += 1
    return j - startj + 1


@numba.njit(cache=True, nogil=True)
def _build_paths_kernel(indptr, indices, degrees, path_indptr, path_indices):
    """skan's ``_build_paths``: paths between endpoints/junctions, then isolated cycles."""
    visited = np.zeros(indices.size, np.bool_)
    pi = 0
    pj = 0
    n = indptr.size - 1
    for cycles in (False, True):
        for node in range(n):
            if cycles:  # everything left is in isolated cycles: walk from each node's first edge
                if degrees[node] == 0:
                    continue
                first, last = indptr[node], indptr[node] + 1
            elif degrees[node] > 2 or degrees[node] == 1:
                first, last = indptr[node], indptr[node + 1]
            else:
                continue
            for k in range(first, last):
                neighbor = indices[k]
                if not visited[_edge_at(indptr, indices, node, neighbor)]:
                    steps = _walk_path(indptr, indices, node, neighbor, visited, degrees, path_indices, pj)
                    path_indptr[pi + 1] = path_indptr[pi] + steps
                    pi += 1
                    pj += steps
    return pi + 1, pj


@numba.njit(cache=True, nogil=True)
def _path_lengths_kernel(indptr, indices, data, path_indptr, path_indices, out):
    for i in range(out.size):
        d = 0.0
        for t in range(path_indptr[i], path_indptr[i + 1] - 1):
            k = _edge_at(indptr, indices, path_indices[t], path_indices[t + 1])
            if k >= 0:
                d += data[k]
        out[i] = d


def _paths(graph: sparse.csr_matrix) -> sparse.csr_matrix:
    """skan's ``_build_skeleton_path_graph``: one row per path, its nodes in order."""
    indptr, indices = graph.indptr.astype(np.int32), graph.indices.astype(np.int32)
    max_cycles = indices.size // 4
    degrees = np.diff(indptr)
    end_degrees = degrees[degrees != 2]
    path_indptr = np.zeros(int(end_degrees.sum()) + max_cycles, np.int64)
    n_points = indices.size + int(np.maximum(0, end_degrees - 1).sum()) + max_cycles
    path_indices = np.zeros(n_points, np.int64)
    m, n = _build_paths_kernel(indptr, indices, degrees, path_indptr, path_indices)
    return sparse.csr_matrix((np.ones(n), path_indices[:n], path_indptr[:m]), shape=(m - 1, n))


def skeleton_graph(skel: np.ndarray) -> SkeletonGraph:
    """The graph ``skan.Skeleton(skel, keep_images=False)`` would build, faster.

    skan's own constructor spends most of its time in Python loops over
    every pixel (relabelling, and zeroing non-junction rows and columns
    before the minimum spanning tree of junction clusters). Here the pixel
    graph is built in numba and the junction subgraph by vectorised
    selection; the same sparse operations as skan's ``_mst_junctions``
    then run on identical arrays, and the paths are walked as skan walks
    them. The result is the same graph, node order and paths
    (tests/test_traits.py compares).
    """
    u = np.ascontiguousarray(skel).view(np.uint8)
    ys, xs = _foreground(u)
    indptr, indices, data = _pixel_graph_kernel(
        u, ys, xs, np.empty(u.shape, np.int32))
    n = ys.size
    graph = sparse.csr_matrix((data, indices, indptr), shape=(n, n))
    # skan's _mst_junctions: junction clusters (degree > 2 pixels next to
    # each other) are reduced to their minimum spanning tree.
    junction = np.diff(indptr) >= 3
    rows = np.repeat(np.arange(n), np.diff(indptr))
    keep = junction[rows] & junction[indices]
    jj = sparse.csr_matrix(
        (data[keep], indices[keep],
         np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=n))])),
        shape=(n, n))
    mst = csgraph.minimum_spanning_tree(jj)
    graph = sparse.csr_matrix(graph - (jj - (mst + mst.T)))
    return SkeletonGraph(graph=graph, coordinates=np.stack([ys, xs], axis=1),
                         degrees=np.diff(graph.indptr), paths=_paths(graph))


def pruned_skeleton(m: np.ndarray, dt: np.ndarray,
                     spur_factor: float = SPUR_FACTOR, max_rounds: int = 3):
    """Skeletonise `m`, prune spurs; return (skeleton image, skan graph).

    The graph is None when the skeleton has no two adjacent pixels.
    """
    skel = thin(m)
    if spur_factor > 0:
        skel = _prune_spurs(skel, dt, spur_factor, max_rounds)
    if not _has_edges(skel):
        return skel, None
    return skel, skeleton_graph(skel)
