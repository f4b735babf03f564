"""Plants, primary and lateral roots from a skeleton's branches, for RSML.

A skeleton has no root order: branches meet at junctions. Where the skeleton is a tree, the
root system is read off it as RSML tools expect: each connected root object is a plant; its
primary root is the longest path (along the branches) from its topmost tip, where the root
entered the image; every other branch joins the longest path hanging off an earlier root at a
junction, a lateral of that root (longest-path decomposition, so a lateral runs to its
farthest tip). A branch that closes a loop (roots crossing) is a lateral of the root at one of
its ends. Lengths are kept: a root's polyline is its branches' polylines end to end.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np


@dataclass
class Root:
    """One root of the hierarchy.

    Attributes
    ----------
    branches : indices into the paths, in order from the root's base (its parent's junction, or
        the plant's topmost tip) to its tip.
    parent : index of the parent root in the list, -1 for a primary root.
    order : 1 primary, 2 lateral, 3 lateral of a lateral, ...
    plant : index of the plant (connected root object), numbered from 0 by topmost point.
    yx, diameter_px : the joined centre-line (n, 2) and its diameters (n,), px.
    """
    branches: list[int]
    parent: int
    order: int
    plant: int
    yx: np.ndarray
    diameter_px: np.ndarray


def _node(point: np.ndarray) -> tuple[int, int]:
    # Branch ends meet at junction pixels (pinned by the smoothing): rounding names the junction.
    return int(round(float(point[0]))), int(round(float(point[1])))


def _lengths(paths) -> np.ndarray:
    return np.array([float(np.hypot(*np.diff(np.asarray(p[0], float), axis=0).T).sum()) if len(p[0]) > 1 else 0.0
                     for p in paths])


def _direction(yx, reverse: bool, reach: int = 10) -> np.ndarray:
    """Unit direction (y, x) of a branch leaving its start (its end when ``reverse``), over ``reach`` points."""
    yx = np.asarray(yx, float)[::-1] if reverse else np.asarray(yx, float)
    step = yx[min(len(yx) - 1, reach)] - yx[0]
    norm = float(np.hypot(*step))
    return step / norm if norm else np.zeros(2)


def _join(paths, steps: list[tuple[int, bool]]) -> tuple[np.ndarray, np.ndarray]:
    """The branches' polylines end to end (each reversed where ``True``), shared ends once."""
    yx, d = [], []
    for i, reverse in steps:
        a, b = np.asarray(paths[i][0], float), np.asarray(paths[i][1], float)
        if reverse:
            a, b = a[::-1], b[::-1]
        if yx and len(a) and np.allclose(yx[-1][-1], a[0]):
            a, b = a[1:], b[1:]
        yx.append(a)
        d.append(b)
    return np.concatenate(yx), np.concatenate(d)


def root_hierarchy(paths) -> list[Root]:
    """Plants, primary and lateral roots of a mask's branches.

    Parameters
    ----------
    paths : sequence of (yx, diameter_px), e.g. :func:`rootpipe.traits.branch_paths` (branch ``i``
        is ``paths[i]``); closed cycles (first point == last) are roots of their own.

    Returns
    -------
    list of Root, parents before their laterals; every branch in exactly one root.
    """
    n = len(paths)
    lengths = _lengths(paths)
    ends = [(_node(p[0][0]), _node(p[0][-1])) for p in paths]
    adjacency: dict = {}
    for i, (a, b) in enumerate(ends):
        adjacency.setdefault(a, []).append((i, b))
        if b != a:
            adjacency.setdefault(b, []).append((i, a))
    seen_node: set = set()
    plants = []
    for start in sorted(adjacency, key=lambda v: (v[0], v[1])):  # topmost first
        if start in seen_node:
            continue
        component, stack = set(), [start]
        while stack:
            v = stack.pop()
            if v not in component:
                component.add(v)
                stack.extend(w for _, w in adjacency[v])
        seen_node |= component
        tips = [v for v in component if len(adjacency[v]) == 1]
        plants.append(min(tips or component))
    roots: list[Root] = []
    used = np.zeros(n, bool)
    for plant, top in enumerate(plants):
        _grow_plant(paths, plant, top, adjacency, ends, lengths, used, roots)
    return roots


def _grow_plant(paths, plant: int, top, adjacency: dict, ends: list, lengths: np.ndarray, used: np.ndarray,
                roots: list) -> None:
    """Append one plant's roots to ``roots``, marking their branches ``used``."""
    # Long on purpose: the shortest-path tree from the top tip and its longest-path decomposition share state.
    distance, via, heap = {top: 0.0}, {}, [(0.0, top)]
    while heap:
        dist, v = heapq.heappop(heap)
        if dist > distance[v]:
            continue
        for i, w in adjacency[v]:
            if w != v and dist + lengths[i] < distance.get(w, np.inf):
                distance[w], via[w] = dist + lengths[i], (i, v)
                heapq.heappush(heap, (dist + lengths[i], w))
    children: dict = {}
    for w, (i, v) in via.items():
        children.setdefault(v, []).append((i, w))
    height: dict = {}
    for v in sorted(distance, key=distance.get, reverse=True):  # leaves first
        height[v] = max((lengths[i] + height[w] for i, w in children.get(v, [])), default=0.0)
    root_of: dict = {}

    def longest(v, heading=None):
        """The free branch at ``v`` leading farthest, weighted by how straight on from ``heading``
        it goes: at a junction a root runs on rather than turning into a lateral a little longer."""
        free = [(i, w) for i, w in children.get(v, []) if not used[i]]
        if not free:
            return None
        straight = lambda i: 1.0 if heading is None else 0.5 + 0.5 * float(  # noqa: E731
            np.dot(heading, _direction(paths[i][0], ends[i][0] != v)))
        return max(free, key=lambda c: (lengths[c[0]] + height[c[1]]) * max(straight(c[0]), 0.25))

    def grow(v, step, parent, order):
        """A root from node ``v`` along ``step`` then the longest path on; then its laterals."""
        steps, nodes = [], [v]
        while step is not None:
            i, w = step
            steps.append((i, ends[i][0] != v))
            used[i] = True
            nodes.append(w)
            v, step = w, longest(w, -_direction(paths[i][0], ends[i][0] != w))
        index = len(roots)
        yx, d = _join(paths, steps)
        roots.append(Root([i for i, _ in steps], parent, order, plant, yx, d))
        for node in nodes:
            root_of.setdefault(node, index)
        for node in nodes:
            while (step := longest(node)) is not None:
                grow(node, step, index, order + 1)

    if (first := longest(top)) is not None:
        grow(top, first, -1, 1)
    # Branches off the tree: a loop closed by crossing roots joins the root at one of its ends;
    # a plant that is one closed cycle is a primary root of its own.
    for i in range(len(paths)):
        if not used[i] and ends[i][0] in distance:
            owner = root_of.get(ends[i][0], root_of.get(ends[i][1], -1))
            used[i] = True
            yx, d = _join(paths, [(i, False)])
            roots.append(Root([i], owner, roots[owner].order + 1 if owner >= 0 else 1, plant, yx, d))


def rsml_arguments(roots: list[Root], component_ids=None, root_ids=None) -> dict:
    """Keyword arguments for :func:`rootpipe.io.rsml.write_rsml` that write ``roots`` nested.

    Parameters
    ----------
    roots : :func:`root_hierarchy`'s list.
    component_ids : the branches table's ``component_id`` of each branch, so a plant's id is its
        component's; default: the plant's index.
    root_ids : the tracking's id of each root (0: none), or None.
    """
    plant = [int(component_ids[r.branches[0]]) if component_ids is not None else r.plant for r in roots]
    return {"paths": [(r.yx, r.diameter_px) for r in roots], "plant_ids": plant,
            "parents": [r.parent for r in roots],
            "labels": ["primary" if r.order == 1 else "lateral" for r in roots],
            "properties": [{"order": r.order, "branch_ids": " ".join(map(str, r.branches))} for r in roots],
            "root_ids": root_ids}
