"""RhizoVision Explorer (RVE) compatible trait tables.

RVE's batch mode writes ``features.csv`` with R-style dotted column names and
the unit in the name. Those names are reproduced here from RVE's source
(``MainUI::writeHeader``, RhizoVision Explorer 2.x), so that analysis scripts
written for RVE output read rootpipe's traits unchanged:

- *broken roots* mode (RVE's default, for roots washed from cores)::

    File.Name, Region.of.Interest, Number.of.Root.Tips,
    Number.of.Branch.Points, Total.Root.Length.mm, Branching.frequency.per.mm,
    Network.Area.mm2, Average.Diameter.mm, Median.Diameter.mm,
    Maximum.Diameter.mm, Perimeter.mm, Volume.mm3, Surface.Area.mm2,
    Computation.Time.s, then per diameter range k = 1..n:
    Root.Length.Diameter.Range.k.mm, Projected.Area.Diameter.Range.k.mm2,
    Surface.Area.Diameter.Range.k.mm2, Volume.Diameter.Range.k.mm3

- *whole root* mode (root crowns, rhizoboxes): RVE's whole-root columns.
  ``Median.Number.of.Roots``, ``Maximum.Number.of.Roots``,
  ``Lower.Root.Area.mm2``, ``Holes`` and ``Average.Hole.Size.mm2`` have no
  rootpipe trait and are written NA.

RVE's diameter ranges are its "diameter range" edges: range 1 is d <= first
edge, the last range d > last edge, exactly rootpipe's diameter classes
(:func:`rootpipe.traits.diameter_class_labels`). NaN is written ``NA``, as RVE
does. ``Region.of.Interest`` is ``Full`` (the whole image), as RVE writes it
without ROIs. :func:`write_rve_metadata` writes the settings as RVE's
``metadata.csv`` does (``key, value`` lines, RVE's keys where they have a
counterpart), so RVE can load the diameter ranges and pixel size.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from rootpipe.columns import CLASS_QUANTITIES
from rootpipe.io.atomic import atomic_path

# The diameter and size columns, in the same order in both of RVE's layouts.
SIZE = [
    ("Average.Diameter.mm", "mean_diameter_mm"),
    ("Median.Diameter.mm", "median_diameter_mm"),
    ("Maximum.Diameter.mm", "max_diameter_mm"),
    ("Perimeter.mm", "perimeter_mm"),
    ("Volume.mm3", "volume_mm3"),
    ("Surface.Area.mm2", "surface_area_mm2"),
]
BROKEN_ROOTS = [
    ("Number.of.Root.Tips", "n_tips"),
    ("Number.of.Branch.Points", "n_branch_points"),
    ("Total.Root.Length.mm", "total_length_mm"),
    ("Branching.frequency.per.mm", "branching_frequency_per_mm"),
    ("Network.Area.mm2", "network_area_mm2"),
    *SIZE,
    ("Computation.Time.s", "computation_time_s"),
]
WHOLE_ROOT = [
    ("Median.Number.of.Roots", None),
    ("Maximum.Number.of.Roots", None),
    ("Number.of.Root.Tips", "n_tips"),
    ("Total.Root.Length.mm", "total_length_mm"),
    ("Depth.mm", "depth_mm"),
    ("Maximum.Width.mm", "width_mm"),
    ("Width-to-Depth.Ratio", "width_depth_ratio"),
    ("Network.Area.mm2", "network_area_mm2"),
    ("Convex.Area.mm2", "convex_hull_area_mm2"),
    ("Solidity", "solidity"),
    ("Lower.Root.Area.mm2", None),
    *SIZE,
    ("Holes", None),
    ("Average.Hole.Size.mm2", None),
    ("Computation.Time.s", "computation_time_s"),
    ("Average.Root.Orientation.deg", "mean_orientation_deg"),
    ("Shallow.Angle.Frequency", "shallow_angle_fraction"),
    ("Medium.Angle.Frequency", "medium_angle_fraction"),
    ("Steep.Angle.Frequency", "steep_angle_fraction"),
]
# RVE's per-range column stem of each per-class quantity, in rootpipe's
# order (which is RVE's: length, projected area, surface area, volume).
RANGE_STEM = {"length_mm": "Root.Length.Diameter.Range.{k}.mm",
              "projected_area_mm2": "Projected.Area.Diameter.Range.{k}.mm2",
              "surface_area_mm2": "Surface.Area.Diameter.Range.{k}.mm2",
              "volume_mm3": "Volume.Diameter.Range.{k}.mm3"}
RANGE_STEMS = [(RANGE_STEM[q], q) for q, _ in CLASS_QUANTITIES]


def _class_labels(columns) -> list[str]:
    """Diameter class labels present in a traits table, in column order."""
    pattern = re.compile(r"^length_mm_diam_(.+)$")
    return [m.group(1) for c in columns if (m := pattern.match(c))]


def rve_columns(n_ranges: int, mode: str = "broken") -> list[str]:
    """RVE's ``features.csv`` header for `n_ranges` diameter ranges."""
    if mode not in ("broken", "whole"):
        raise ValueError(f"mode must be 'broken' or 'whole', got {mode!r}")
    fixed = BROKEN_ROOTS if mode == "broken" else WHOLE_ROOT
    return (["File.Name", "Region.of.Interest"] + [c for c, _ in fixed]
            + [stem.format(k=k) for stem, _ in RANGE_STEMS
               for k in range(1, n_ranges + 1)])


def to_rve_table(traits_df: pd.DataFrame, *, mode: str = "broken",
                 name_column: str | None = None) -> pd.DataFrame:
    """Rename a rootpipe traits table to RVE's ``features.csv`` columns.

    Parameters
    ----------
    traits_df : DataFrame
        One row per image with :func:`rootpipe.traits.measure` keys (a
        batch's traits parquet, or the collected ``traits.parquet``).
    mode : {"broken", "whole"}
        RVE's "broken roots" or "whole root" column set.
    name_column : str, optional
        Column for ``File.Name``. Default: ``file`` when present (the
        manifest's file name, as RVE writes it), else ``image_id``.

    Returns
    -------
    DataFrame
        RVE's columns in RVE's order, values in mm units. Traits rootpipe does
        not have are NaN. Diameter ranges follow the table's
        ``length_mm_diam_*`` classes, in order.
    """
    labels = _class_labels(traits_df.columns)
    if not labels:
        raise ValueError("traits table has no length_mm_diam_* columns")
    if name_column is None:
        name_column = "file" if "file" in traits_df.columns else "image_id"
    n = len(traits_df)
    out = {"File.Name": traits_df[name_column].astype(str).to_numpy(),
           "Region.of.Interest": np.full(n, "Full", dtype=object)}
    fixed = BROKEN_ROOTS if mode == "broken" else WHOLE_ROOT
    for rve, ours in fixed:
        # Counts stay integers, as RVE writes them.
        out[rve] = (traits_df[ours].to_numpy()
                    if ours is not None and ours in traits_df.columns
                    else np.full(n, np.nan))
    for stem, quantity in RANGE_STEMS:
        for k, label in enumerate(labels, start=1):
            out[stem.format(k=k)] = traits_df[
                f"{quantity}_diam_{label}"].to_numpy(dtype=float)
    table = pd.DataFrame(out, index=traits_df.index)
    return table[rve_columns(len(labels), mode)]


def write_rve_csv(traits_df: pd.DataFrame, path, **kwargs) -> Path:
    """Write :func:`to_rve_table` of `traits_df` as CSV (NaN as ``NA``).

    Keyword arguments go to :func:`to_rve_table`. Written atomically.
    """
    table = to_rve_table(traits_df, **kwargs)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, na_rep="NA")
    return Path(path)


def rve_metadata_lines(mode: str, pixel_size_mm: float, diameter_classes_mm, version: str,
                       features_file: str) -> list[str]:
    """RVE's ``metadata.csv`` lines (``key, value``) for rootpipe's settings."""
    edges = [float(e) for e in diameter_classes_mm]
    lines = [f"rootpipe version, {version}",
             f"Root type, {'Whole root' if mode == 'whole' else 'Broken roots'}",
             "Convert pixels to physical units, true",
             f"Number of Pixels per mm, {1 / pixel_size_mm:g}",
             f"Pixel to millimeter conversion factor, {pixel_size_mm:g}"]
    bounds = [0.0, *edges]
    lines += [f"Diameter Range {k + 1}, {lo:g}, {hi:g}" for k, (lo, hi) in enumerate(zip(bounds, edges))]
    lines += [f"Diameter Range {len(edges) + 1}, {bounds[-1]:g}, above", f"Features output file name, {features_file}"]
    return lines


def write_rve_metadata(path, **kwargs) -> Path:
    """Write :func:`rve_metadata_lines` to ``path`` (atomically)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(rve_metadata_lines(**kwargs)) + "\n")
    return Path(path)
