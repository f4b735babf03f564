"""Root traits from a binary root mask: length, diameter, topology, areas.

Public functions (the algorithm; the traits stage is :mod:`rootpipe.stages.traits`):

``measure(mask, pixel_size_mm, diameter_classes_mm)``
    One image's traits as a dict of plain Python numbers (units in the keys;
    see :func:`trait_keys`), including length, projected area, surface area
    and volume per diameter class.
``branches(mask, pixel_size_mm)``
    One row per skeleton branch (skan's branch definition).
``branch_paths(mask)``
    Each branch's measured centre-line and diameters, px (for RSML).
``measure_all(mask, ...)``
    All three from one analysis (what the traits stage runs).
``root_hierarchy(paths)``
    Plants, primary and lateral roots read off the branches (for RSML).
``skeleton_length_map(mask)``
    The skeleton and the length carried by each skeleton pixel, so that the
    length of any subset of the skeleton is ``length_px[subset].sum()``.

All take ``min_object_area_mm2``, ``fill_holes_area_mm2`` and
``spur_factor`` keywords. docs/traits.md lists every key and its accuracy.

Method
------
1. Cleaning: objects (8-connected) smaller than ``min_object_area_mm2`` are
   removed, then holes (4-connected background not touching the image
   border) smaller than ``fill_holes_area_mm2`` are filled.
2. Skeleton (:mod:`rootpipe.skeleton`): Guo-Hall thinning (:func:`thin`, identical to
   :func:`skimage.morphology.thin` but fast), graph as :mod:`skan` builds it (own cached numba port).
   skimage's default ``skeletonize`` (Zhang-Suen) is not used: it erases
   straight 45-degree roots 4, 6-10 px wide almost entirely.
   Terminal branches shorter than ``spur_factor`` (default
   ``SPUR_FACTOR``) x the distance transform (DT) at their junction are
   outline-noise spurs, or the forks thinning leaves in the corners of
   square ends, and are pruned (on the skeleton image, before skan builds
   its graph once).
3. Length: each skan branch path is smoothed (Gaussian along the ordered
   pixel coordinates, ends pinned by point reflection, sigma growing with
   root width) and measured as a polyline. This is orientation-unbiased,
   unlike pixel counts (-29 % on diagonals) or the sqrt(2) chain code
   (+5-8 %). Each free end (tip) is then extended along the root direction
   to the edge of the mask, because skeletons of thick roots stop about one
   radius short of the root's end. So a root is measured tip to tip along
   its axis: a capsule-shaped root with centre segment S and width w
   measures S + w, a square-ended bar of length L measures L.
4. Diameter: the chord across the root along the skeleton normal, between
   the crossings of the mask outline (the 0.5 level of the bilinearly
   interpolated DT, i.e. the marching-squares outline). Exact for
   axis-aligned roots of any width, odd or even, and unbiased for oblique
   and noisy ones, unlike ``2 DT`` or ``2 DT - 1``. Within one junction
   radius of a junction the chord measures the junction, not a root; there
   the branch's own mean diameter is used instead.
5. Surface area, volume and projected area: cylinder slices along the
   skeleton, sum(2 pi r dl), sum(pi r^2 dl) and sum(d dl) with the
   per-pixel length dl above; per diameter class by each pixel's diameter.
6. Perimeter: the mask outline, smoothed like the paths, corrected for
   running through boundary pixel centres (:func:`_outline`).
7. Orientation: the local angle from horizontal over a +-10 px window along
   the smoothed paths, length-weighted, in RhizoVision Explorer's shallow
   (<= 30), medium and steep (> 60 degrees) bins.

All internal work is in pixels; pixel size only scales the outputs and the
cleaning thresholds.
"""

from rootpipe.skeleton import thin
from rootpipe.traits.clean import clean_mask
from rootpipe.traits.hierarchy import Root, root_hierarchy, rsml_arguments
from rootpipe.traits.tables import (
    BRANCH_COLUMNS,
    CLASS_QUANTITIES,
    DEFAULT_DIAMETER_CLASSES_MM,
    MEASURE_SETTINGS,
    UNDEFINED_WITHOUT_AREA,
    UNDEFINED_WITHOUT_LENGTH,
    BranchPath,
    Measurement,
    branch_paths,
    branches,
    clear_border,
    diameter_class_keys,
    diameter_class_labels,
    measure,
    measure_all,
    measure_options,
    skeleton_length_map,
    trait_keys,
)

__all__ = [
    "BRANCH_COLUMNS", "BranchPath", "CLASS_QUANTITIES", "DEFAULT_DIAMETER_CLASSES_MM", "MEASURE_SETTINGS",
    "Measurement", "Root", "UNDEFINED_WITHOUT_AREA", "UNDEFINED_WITHOUT_LENGTH", "branch_paths", "branches",
    "clean_mask", "clear_border", "diameter_class_keys", "diameter_class_labels", "measure", "measure_all",
    "measure_options", "root_hierarchy", "rsml_arguments", "skeleton_length_map", "thin", "trait_keys",
]
