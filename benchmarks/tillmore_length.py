"""Root length from masks rendered from real RSML annotations, against the annotation.

For every ``rsml_centrelines`` pair of ``pairs.csv`` (TILLMore barley seedlings:
RootNav splines in pixel units), the centre-lines are drawn as 4 px strokes
(:func:`rootpipe.io.rsml.render_mask`, as RootNav's loader draws them) on a canvas
of the photo's size, the mask is measured with :func:`rootpipe.traits.measure`
(1 mm/px, so lengths are px), and the result is compared with two truths:

``polyline``
    The annotation's total centre-line length. Biased as a truth for a mask:
    where two annotated roots run within a stroke width of each other (seedling
    roots leave the seed together, and cross or run alongside on the paper),
    the mask has one root where the annotation has two.
``union``
    The centre-line length counted once where roots overlap (a stretch of a
    root within one stroke width of a root drawn before it is not counted
    again), plus half a stroke width per free end (an end not within a stroke
    width of another root), because a stroke's round cap sticks out that far
    beyond the centre-line and the measure runs tip to tip. This discounts
    crossings too, where a skeleton does carry both roots through.
``visible``
    As ``union``, but a stretch counts as overlapping only where it also runs
    along the other root (directions within 30 degrees): what a mask can show.
    Roots running together merge into one stroke and one skeleton line;
    roots crossing keep both lines through the crossing.

Usage::

    python benchmarks/tillmore_length.py --data ../shared/data [--limit N] [--no-write]
    python benchmarks/tillmore_length.py --data ../shared/data --widths 6,8,10,12,16 --split test

Prints a per-set summary (bias = mean of measured / truth - 1 over images;
R^2 = 1 - SS_res / SS_tot about the identity line; r^2 = squared Pearson
correlation) and, unless ``--no-write``, replaces the table between the
``tillmore`` markers in ``docs/traits.md``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import replace_section  # benchmarks/common.py, beside this script
from PIL import Image
from scipy.spatial import cKDTree

from rootpipe import traits
from rootpipe.io import rsml
from rootpipe.learn.evaluate import length_agreement
from rootpipe.traits.tables import clear_border

STROKE_PX = 4.0
PARALLEL_DEG = 30.0
DOC = Path(__file__).resolve().parents[1] / "docs" / "traits.md"
BEGIN, END = "<!-- tillmore:begin -->", "<!-- tillmore:end -->"


def densify(yx: np.ndarray, step: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Points every <= `step` px along a polyline, and the length each carries."""
    yx = np.asarray(yx, float)
    if yx.shape[0] < 2:
        return yx, np.zeros(yx.shape[0])
    seg = np.hypot(*np.diff(yx, axis=0).T)
    k = np.maximum(np.ceil(seg / step).astype(int), 1)
    t = np.concatenate([np.arange(n) / n for n in k])
    i = np.repeat(np.arange(seg.size), k)
    pts = yx[i] + t[:, None] * (yx[i + 1] - yx[i])
    carried = np.repeat(seg / k, k)
    return np.vstack([pts, yx[-1:]]), np.append(carried, 0.0)


def _dense_with_directions(yx: np.ndarray, step: float = 0.5):
    pts, carried = densify(yx, step)
    tangent = np.gradient(pts, axis=0) if len(pts) > 1 else np.zeros_like(pts)
    tangent /= np.maximum(np.hypot(*tangent.T), 1e-12)[:, None]
    return pts, carried, tangent


def overlap_lengths(roots, width: float = STROKE_PX,
                    max_angle_deg: float = PARALLEL_DEG) -> tuple[float, float, int]:
    """Centre-line length with overlaps counted once, and free ends.

    Returns
    -------
    union : float, px
        Each root's length farther than `width` from every root before it.
    visible : float, px
        Each root's length except where it is within `width` of a root
        before it and runs along it (directions within `max_angle_deg`).
    free_ends : int
        Root ends farther than `width` from every other root.
    """
    dense = [_dense_with_directions(r.yx) for r in roots]
    cos_max = np.cos(np.radians(max_angle_deg))
    union = visible = 0.0
    for i, (pts, carried, tangent) in enumerate(dense):
        if i == 0:
            union += carried.sum()
            visible += carried.sum()
            continue
        before = np.concatenate([d[0] for d in dense[:i]])
        before_t = np.concatenate([d[2] for d in dense[:i]])
        dist, j = cKDTree(before).query(pts, k=1, distance_upper_bound=width)
        near = np.isfinite(dist)
        along = np.zeros(len(pts), bool)
        along[near] = np.abs(np.sum(tangent[near] * before_t[j[near]], axis=1)) >= cos_max
        union += float(carried[~near].sum())
        visible += float(carried[~along].sum())
    labels = np.concatenate([np.full(len(d[0]), i) for i, d in enumerate(dense)])
    tree = cKDTree(np.concatenate([d[0] for d in dense]))
    free = 0
    for i, r in enumerate(roots):
        for end in (r.yx[0], r.yx[-1]):
            near = labels[tree.query_ball_point(end, width)]
            free += int(not np.any(near != i))
    return union, visible, free


def compare_image(data: Path, row) -> dict:
    """Measured and true lengths (px) of one annotated image."""
    roots = [r for r in rsml.read_rsml(data / row.annotation) if len(r.yx) > 1]
    with Image.open(data / row.image) as im:
        width, height = im.size
    shape = (height, width)
    mask = rsml.render_mask(roots, shape, STROKE_PX)
    t0 = time.perf_counter()
    measured = traits.measure(mask)["total_length_mm"]
    seconds = time.perf_counter() - t0
    union, visible, free = overlap_lengths(roots)
    caps = STROKE_PX / 2 * free
    return {
        "image": Path(row.image).name, "n_roots": len(roots),
        "polyline_px": sum(rsml.polyline_length(r.yx) for r in roots),
        "union_px": union + caps, "visible_px": visible + caps, "free_ends": free,
        "measured_px": measured, "seconds": seconds,
    }


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Bias, spread and agreement of measured against each truth."""
    rows = []
    m = table["measured_px"].to_numpy()
    for truth in ("polyline_px", "union_px", "visible_px"):
        t = table[truth].to_numpy()
        rel = m / t - 1
        r2 = 1 - np.sum((m - t) ** 2) / np.sum((t - t.mean()) ** 2)
        rows.append({
            "truth": truth.removesuffix("_px"), "images": len(t),
            "bias_pct": 100 * rel.mean(), "median_pct": 100 * np.median(rel),
            "sd_pct": 100 * rel.std(ddof=1) if len(t) > 1 else 0.0,
            "min_pct": 100 * rel.min(), "max_pct": 100 * rel.max(),
            "total_ratio": m.sum() / t.sum(), "R2": r2,
            "r2": np.corrcoef(m, t)[0, 1] ** 2 if len(t) > 1 else 1.0,
        })
    return pd.DataFrame(rows)


def run(data: Path, limit: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-image table and summary over the TILLMore set (or its first `limit`)."""
    pairs = pd.read_csv(Path(data) / "pairs.csv")
    pairs = pairs[pairs["annotation_type"] == "rsml_centrelines"]
    if limit:
        pairs = pairs.head(limit)
    table = pd.DataFrame([compare_image(Path(data), row)
                          for row in pairs.itertuples()])
    return table, summary(table)


def width_ceiling(data: Path, split: str, widths, border_px: int = 40) -> pd.DataFrame:
    """Length agreement of a mask that draws every annotated root ``w`` px wide, against the 4 px strokes.

    A segmentation that draws the roots as wide as they look merges roots running side by side, as a
    wider stroke does: what the length of a perfect mask at that width can score against the
    annotation (both measured without ``border_px`` along the edges, as the models benchmark does).
    """
    pairs = pd.read_csv(Path(data) / "pairs.csv")
    pairs = pairs[(pairs["annotation_type"] == "rsml_centrelines") & (pairs["split"] == split)]
    truth, lengths = [], {w: [] for w in widths}
    for row in pairs.itertuples():
        roots = [r for r in rsml.read_rsml(Path(data) / row.annotation) if len(r.yx) > 1]
        with Image.open(Path(data) / row.image) as im:
            shape = im.size[::-1]
        for w, out in [(STROKE_PX, truth), *lengths.items()]:
            mask = clear_border(rsml.render_mask(roots, shape, float(w)), border_px)
            out.append(traits.measure(mask)["total_length_mm"])
    rows = []
    for w, measured in lengths.items():
        a = length_agreement(measured, truth)
        rows.append({"stroke px": w, "images": len(truth), "length r²": a["length_r2"],
                     "length slope": a["length_slope"], "length R² about 1:1": a["length_r2_identity"],
                     "lowest ratio": min(m / t for m, t in zip(measured, truth))})
    return pd.DataFrame(rows)


def markdown(summ: pd.DataFrame) -> str:
    formats = {"truth": "{}", "images": "{}", "bias_pct": "{:+.2f}", "median_pct": "{:+.2f}",
               "sd_pct": "{:.2f}", "min_pct": "{:+.2f}", "max_pct": "{:+.2f}",
               "total_ratio": "{:.3f}", "R2": "{:.4f}", "r2": "{:.4f}"}
    lines = ["| " + " | ".join(formats) + " |", "|" + "---|" * len(formats)]
    for row in summ[list(formats)].itertuples(index=False):
        lines.append("| " + " | ".join(f.format(v) for f, v in zip(formats.values(), row)) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, required=True, help="shared/data folder")
    p.add_argument("--limit", type=int, default=None, help="first N images only")
    p.add_argument("--no-write", action="store_true", help="do not update docs/traits.md")
    p.add_argument("--widths", default=None,
                   help="instead: strokes this wide (px, comma-separated) on --split, against 4 px")
    p.add_argument("--split", default="test")
    a = p.parse_args(argv)
    if a.widths:
        table = width_ceiling(a.data, a.split, [float(w) for w in a.widths.split(",")])
        print(table.to_markdown(index=False, floatfmt=("g", "g", ".3f", ".3f", ".3f", ".2f")))
        return
    table, summ = run(a.data, a.limit)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(table.describe().T[["mean", "min", "max"]])
        print(summ.to_string(index=False))
    if not a.no_write:
        replace_section(DOC, BEGIN, END, markdown(summ))


if __name__ == "__main__":
    main()
