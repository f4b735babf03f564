"""Report: one self-contained HTML page (images embedded) to check a campaign and read its biology.

Summary with rejected files and their reasons; growth per group (mean, 95 % CI, series as points) and
per series; the images with the most roots gained and lost; traits per timepoint and group; the least
confident images; a gallery of masks and diameter-class skeletons; every image with its QC flags; the
methods. The parts are in :mod:`rootpipe.reporting`; this module reads the results and writes the page.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import zarr
from markupsafe import Markup

from rootpipe.columns import SUMMARY_COLUMNS
from rootpipe.io.atomic import atomic_path
from rootpipe.reporting import figures as fig
from rootpipe.reporting import pictures
from rootpipe.reporting.methods import methods
from rootpipe.reporting.page import LENGTH_DROP_FLAG, OUT_OF_DOMAIN_CONFIDENCE, image_table, png_uri, render_page, table

__all__ = ["gallery_sample", "methods", "render", "run"]


def gallery_sample(traits: pd.DataFrame, n: int) -> pd.DataFrame:
    """Up to ``n`` images spread over series and time: the images with the most and the least
    root length and the least confident one first (where segmentation errors show), then the
    first and last of each series."""
    if n <= 0 or traits.empty:
        return traits.iloc[:0]
    ordered = traits.sort_values(["series", "timestamp"])
    lengths = ordered["total_length_mm"]
    extremes = ordered.loc[[lengths.idxmax(), lengths.idxmin()]] if lengths.notna().any() else ordered.iloc[:0]
    confidence = ordered.get("segmentation_confidence")
    if confidence is not None and confidence.notna().any():
        extremes = pd.concat([ordered.loc[[confidence.idxmin()]], extremes])
    ends = pd.concat([ordered.groupby("series").head(1), ordered.groupby("series").tail(1)])
    rest = ordered.drop(ends.index)
    picks = pd.concat([extremes, ends, rest]).drop_duplicates("image_id")
    return picks.head(n).sort_values(["series", "timestamp"])


def confidence_summary(traits: pd.DataFrame, n: int = 10) -> dict | None:
    """The campaign's median confidence, whether it looks out of the model's domain, and the ``n``
    least confident images (a table); None for traits made before the confidence existed."""
    if "segmentation_confidence" not in traits or traits["segmentation_confidence"].isna().all():
        return None
    median = float(traits["segmentation_confidence"].median())
    columns = [c for c in ("file", "series", "timestamp", "segmentation_confidence", "total_length_mm")
               if c in traits]
    least = traits.nsmallest(n, "segmentation_confidence")[columns]
    return {"median": median, "unsure": median < OUT_OF_DOMAIN_CONFIDENCE, "limit": OUT_OF_DOMAIN_CONFIDENCE,
            "n": len(least), "table": Markup(table(least, name="traits"))}


def _thumbnail_level(height_px: int, width_px: int, max_px: int = 480) -> int:
    """The coarsest pyramid level still at least ``max_px`` on its long side: plenty for a
    thumbnail and much cheaper to read."""
    return int(max(0, np.floor(np.log2(max(height_px, width_px) / max_px))))


def gallery(traits: pd.DataFrame, results_dir: Path, n: int, config: dict) -> list[dict]:
    """Pictures of up to ``n`` images (:func:`gallery_sample`): the mask over the image and the
    skeleton by diameter class (data URIs), with a caption."""
    from rootpipe.io.stores import read_image_level, read_mask
    from rootpipe.traits import DEFAULT_DIAMETER_CLASSES_MM, branch_paths, clear_border, measure_options

    options = measure_options(config.get("traits"))
    edges = options.pop("diameter_classes_mm", DEFAULT_DIAMETER_CLASSES_MM)
    pixel = config.get("pixel_size_mm") or 1.0
    out = []
    for row in gallery_sample(traits, n).itertuples():
        level = _thumbnail_level(row.height_px, row.width_px)
        rgb = read_image_level(results_dir / "images" / f"{row.batch}.zarr", row.image_id, level)
        mask = clear_border(read_mask(results_dir / "segmentation" / f"{row.batch}.zarr", row.image_id),
                            config.get("border_px") or 0)
        paths = branch_paths(mask, pixel_size_mm=pixel, **options)
        out.append({"overlay": pictures.jpeg_uri(pictures.overlay(rgb, mask)),
                    "features": pictures.jpeg_uri(pictures.feature_image(rgb, mask.shape, paths, pixel, edges)),
                    "caption": f"{row.file} · {row.total_length_mm:.1f} mm"})
    return out


def change_sample(growth: pd.DataFrame, n: int = 4) -> pd.DataFrame:
    """Up to ``n`` registered intervals: those with the most length gained and with the most lost, in turn."""
    usable = growth[growth["registration_ok"].eq(True) & growth["length_gained_mm"].notna()]
    gained = usable.sort_values("length_gained_mm", ascending=False)
    lost = usable.sort_values("length_lost_mm", ascending=False)
    turns = pd.concat([pd.concat([gained.iloc[[k]], lost.iloc[[k]]]) for k in range(min(n, len(usable)))]
                      ) if len(usable) else usable
    return turns.drop_duplicates("image_id").head(n)


def changes(growth: pd.DataFrame, traits: pd.DataFrame, results_dir: Path, config: dict, n: int = 4) -> list[dict]:
    """Pictures of the roots kept, gained and lost over :func:`change_sample`'s intervals, as the
    track stage measured them (registered as it registers, on the same images; the traits' border
    left out)."""
    from rootpipe.io.stores import read_image_level, read_mask
    from rootpipe.tracking.compare import change_maps
    from rootpipe.tracking.register import reference_loader, register, warp
    from rootpipe.traits import clear_border, skeleton_length_map

    info = traits.set_index("image_id")
    track = config.get("track") or {}
    tolerance, method = track.get("tolerance_px", 3.0), track.get("registration", "translation")
    reference = reference_loader(results_dir, info["batch"].to_dict(), track.get("register_on", "image"))
    border = config.get("border_px") or 0
    mask_of = lambda i: clear_border(read_mask(results_dir / "segmentation" / f"{info.at[i, 'batch']}.zarr", i),
                                     border)  # noqa: E731
    out = []
    for row in change_sample(growth, n).itertuples():
        series = growth[growth["series"] == row.series].sort_values("timepoint")
        previous_id = series.loc[series["timepoint"] == row.timepoint - 1, "image_id"].iloc[0]
        previous, current = mask_of(previous_id), mask_of(row.image_id)
        if previous.shape != current.shape:
            continue
        matrix = register(reference(previous_id), reference(row.image_id), method)["matrix"]
        (_, previous_length), (skeleton, current_length) = skeleton_length_map(previous), skeleton_length_map(current)
        gained, lost = change_maps(previous, current, previous_length, current_length, matrix, tolerance)
        lost_here = warp(lost.astype(np.uint8), matrix, current.shape) > 0
        level = _thumbnail_level(*current.shape)
        rgb = read_image_level(results_dir / "images" / f"{info.at[row.image_id, 'batch']}.zarr", row.image_id, level)
        days = (row.timestamp - series.loc[series["image_id"] == previous_id, "timestamp"].iloc[0]).days
        out.append({"src": pictures.jpeg_uri(pictures.change_image(rgb, skeleton, gained, lost_here)),
                    "caption": f"{row.series}: {row.file}, {days} days after the image before · "
                               f"+{row.length_gained_mm:.1f} mm gained, -{row.length_lost_mm:.1f} mm lost"})
    return out


def rounds_with_losses(growth: pd.DataFrame, rounds: pd.Series, min_series: int = 3) -> pd.DataFrame:
    """Imaging rounds where most series' length fell by more than ``LENGTH_DROP_FLAG`` at once.

    The images counted are those the per-image table flags "length fell". Roots seldom vanish
    together; a round imaged differently does this to a model's masks (on the PlantRootSeg peanut
    windows, the grey, blurred last session: 10 of 17 windows in the masks, 3 in the annotations;
    no other session more than 3 of 10).

    Parameters
    ----------
    growth : the growth table (``total_length_mm``, ``length_change_mm``).
    rounds : each row's imaging round (:func:`rootpipe.tracking.series.imaging_rounds`).
    min_series : rounds with fewer series that had root before are not judged.

    Returns
    -------
    DataFrame with ``imaging_round``, ``n_series`` (with root in their previous image) and ``n_lost``,
    one row per round flagged.
    """
    previous = growth["total_length_mm"] - growth["length_change_mm"]  # NaN where no change is measured
    judged = previous > 0
    fell = judged & (growth["length_change_mm"] < -LENGTH_DROP_FLAG * previous)
    counts = pd.DataFrame({"n_series": judged.groupby(rounds).sum(), "n_lost": fell.groupby(rounds).sum()})
    counts = counts.rename_axis("imaging_round").reset_index()
    return counts[(counts["n_series"] >= min_series) & (counts["n_lost"] > counts["n_series"] / 2)]


def _notes(growth: pd.DataFrame) -> list[str]:
    """Series missing an imaging round between their first and last image; series with one image;
    rounds where most series lost root length at once."""
    from rootpipe.tracking.series import imaging_rounds

    notes = []
    rounds = growth["imaging_round"] if "imaging_round" in growth else imaging_rounds(growth)
    losses = rounds_with_losses(growth, rounds)
    if len(losses):
        notes.append(f"Imaging rounds where most series lost more than {LENGTH_DROP_FLAG:.0%} of their root length "
                     "at once: "
                     + "; ".join(f"{r.imaging_round} ({r.n_lost} of {r.n_series} series)"
                                 for r in losses.itertuples())
                     + ". Roots seldom vanish together, and a round imaged differently (camera mode, light, "
                       "focus) makes the model miss roots: look at its images before reading growth across it.")
    all_rounds = set(rounds.dropna())
    # Only rounds between a series' first and last image: a series planted late or ended
    # early is not missing the days outside its span.
    missing = {series: sorted(d for d in all_rounds - set(rounds[rows.index])
                              if rounds[rows.index].min() < d < rounds[rows.index].max())
               for series, rows in growth.groupby("series")}
    missing = {k: v for k, v in missing.items() if v}
    if missing:
        notes.append("Series missing an imaging round (growth is measured over the longer interval): "
                     + "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(missing.items())))
    single = growth.groupby("series").size()
    if (single == 1).any():
        notes.append(f"Series with a single timepoint (no growth yet): {', '.join(single[single == 1].index)}")
    return notes


def _figures(growth, traits, summary, group_by, timecourse, figures: dict | None) -> dict[str, list[str]]:
    """Every figure as a data URI, by section; their PNG bytes also into ``figures`` (name: bytes)."""
    made = {"series": fig.series_figures(growth) if timecourse else {},
            "group": fig.group_figures(growth, summary, group_by) if timecourse and summary is not None
            and len(summary) else {},
            "trait": fig.trait_box_figures(traits, group_by) if len(traits) else {}}
    out = {}
    for section, named in made.items():
        out[section] = []
        for name, figure in named.items():
            data = fig.png(figure)
            if figures is not None:
                figures[name] = data
            out[section].append(png_uri(data))
    return out


def render(manifest: pd.DataFrame, traits: pd.DataFrame, growth: pd.DataFrame, results_dir: str | Path,
           gallery_images: int = 12, summary: pd.DataFrame | None = None, config: dict | None = None,
           methods: tuple[str, pd.DataFrame] | None = None, warnings: list[str] = (),
           figures: dict | None = None) -> str:
    """The report page as an HTML string.

    ``config`` gives the pixel size, the traits' settings and border and the tracking tolerance
    (for the pictures); ``methods`` is :func:`methods`'s (text, table); ``warnings`` ingest's
    warnings about the campaign (metadata rows, series fields, bit depths). Each figure's PNG
    also goes into ``figures`` (name: bytes) when it is given.
    """
    # Long on purpose: the page's context, section by section, in the order the page reads.
    from rootpipe import __version__
    from rootpipe.traits import DEFAULT_DIAMETER_CLASSES_MM, diameter_class_labels, measure_options

    config = config or {}
    results_dir = Path(results_dir)
    pixel = config.get("pixel_size_mm")
    rejected = manifest[manifest["status"] == "rejected"]
    accepted = manifest[manifest["status"] == "accepted"]
    overview = pd.DataFrame([
        ("files found", len(manifest)), ("images accepted", len(accepted)),
        ("images rejected", len(rejected)), ("images measured", len(traits)),
        ("series", accepted["series"].nunique()), ("sessions (days)", accepted["session"].nunique()),
        ("batches", accepted["batch"].nunique()),
        ("first image", str(accepted["timestamp"].min())), ("last image", str(accepted["timestamp"].max())),
        *([("pixel size (mm per pixel; every mm value depends on it)", f"{pixel:g}")] if pixel else []),
    ], columns=["", "value"])
    timecourse = bool(len(growth)) and bool(growth["series"].duplicated().any())
    group_by = ([c for c in summary.columns if c not in ("imaging_round", "n_series", *SUMMARY_COLUMNS)]
                if summary is not None else [])
    measured = traits.merge(growth[["image_id", "imaging_round"]], on="image_id", how="left") \
        if timecourse and "imaging_round" in growth else traits
    made = _figures(growth, measured, summary, group_by, timecourse, figures)
    flagged = growth[growth["registration_ok"].eq(False) | growth["note"].fillna("").str.contains("same timestamp")] \
        if timecourse else growth.iloc[:0]
    edges = measure_options(config.get("traits")).get("diameter_classes_mm", DEFAULT_DIAMETER_CLASSES_MM)
    first, last = accepted["timestamp"].min(), accepted["timestamp"].max()
    growth_shown = growth.drop(columns=[c for c in ("note",) if c in growth and growth[c].eq("").all()])
    return render_page(
        version=__version__,
        campaign_span=(f"{len(accepted)} images, {pd.Timestamp(first):%Y-%m-%d} to {pd.Timestamp(last):%Y-%m-%d}"
                       if len(accepted) else "no accepted image"),
        overview=Markup(table(overview)), warnings=list(warnings), n_rejected=len(rejected),
        rejected=Markup(table(rejected[["path", "reason"]], name="manifest")),
        timecourse=timecourse, notes=_notes(growth) if timecourse else [], group_by=", ".join(group_by),
        group_figures=made["group"], series_figures=made["series"], trait_figures=made["trait"],
        n_flagged=len(flagged),
        flagged=Markup(table(flagged[["series", "image_id", "shift_y_px", "shift_x_px", "registration_quality",
                                      "note"]], name="growth")),
        changes=changes(growth, traits, results_dir, config) if timecourse and gallery_images else [],
        confidence=confidence_summary(traits),
        diameter_legend=pictures.class_legend(diameter_class_labels(edges)),
        gallery=gallery(traits, results_dir, gallery_images, config),
        n_images=len(traits), image_table=Markup(table(image_table(traits, growth if timecourse else None),
                                                       max_rows=2000, name="traits", sortable=True)),
        methods_text=methods[0] if methods else "", methods_table=Markup(table(methods[1])) if methods else "",
        growth_table=Markup(table(growth_shown, name="growth")))


def run(manifest_path, traits_path, growth_path, out, config: dict, figures_dir=None) -> Path:
    """Write the report page ``out``; with ``figures_dir``, also its figures there as PNG files
    (what ``snakemake --report`` shows)."""
    from rootpipe.config import pixel_size_mm

    # The stores sit beside the manifest: a report run by hand on another campaign's tables
    # must not draw its gallery and methods from the config's results_dir.
    results_dir = Path(manifest_path).parent
    summary_path = Path(growth_path).with_name("growth_summary.parquet")
    summary = pd.read_parquet(summary_path) if summary_path.exists() else None
    manifest = pd.read_parquet(manifest_path)
    batches = sorted(manifest.loc[manifest["status"] == "accepted", "batch"].dropna().unique())
    stores = [results_dir / "segmentation" / f"{b}.zarr" for b in batches]
    attrs = [dict(zarr.open_group(p, mode="r").attrs).get("rootpipe") or {} for p in stores if p.exists()]
    # Ingest's warnings live in its log (ingest runs at the start of every run): a metadata typo
    # or a missing series field must reach whoever reads the report, not only the console.
    log = results_dir / "logs" / "ingest.log"
    warnings = [line.removeprefix("ingest: warning: ") for line in
                (log.read_text(errors="replace").splitlines() if log.exists() else [])
                if line.startswith("ingest: warning: ")]
    growth = pd.read_parquet(growth_path)
    page = render(manifest, pd.read_parquet(traits_path), growth, results_dir, config["report"]["gallery_images"],
                  summary, {**config, "pixel_size_mm": pixel_size_mm(config)},
                  methods(attrs, config, growth["series"].duplicated().any()), warnings, figures := {})
    with atomic_path(out) as tmp:
        Path(tmp).write_text(page)
    if figures_dir is not None:
        with atomic_path(figures_dir) as tmp:
            Path(tmp).mkdir()
            for name, png in figures.items():
                (Path(tmp) / f"{name}.png").write_bytes(png)
    print(f"report: {Path(out).resolve()}")
    return Path(out)
