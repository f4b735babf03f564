"""A binary mask to its skeleton graph, in pixels: distance transform, Guo-Hall
thinning, spur pruning and the pixel/branch graph (skan's definitions).

No units here and no tables: :mod:`rootpipe.traits` turns the graph into traits.
"""

from rootpipe.skeleton.distance import distance_transform
from rootpipe.skeleton.graph import SkeletonGraph, pruned_skeleton, skeleton_graph
from rootpipe.skeleton.pruning import SPUR_FACTOR
from rootpipe.skeleton.thinning import thin

__all__ = ["SPUR_FACTOR", "SkeletonGraph", "distance_transform", "pruned_skeleton", "skeleton_graph", "thin"]
