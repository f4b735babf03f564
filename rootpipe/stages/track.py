"""Track: growth of each series (plant, tube window) over its timepoints.

Consecutive timepoints are registered (translation by phase correlation, on
the grey images with illumination removed by default, or on the root
probability maps: ``track.register_on``), then the current skeleton is compared with the
previous mask moved into the current frame: root length farther than a
tolerance from any previous root is production (gained), previous root length
farther than the tolerance from any current root is disappearance (lost).
Lengths use the traits estimator. Nothing forces a series to be non-decreasing.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from rootpipe.columns import GROWTH_COLUMNS, ROOT_COLUMNS
from rootpipe.io.atomic import write_table
from rootpipe.io.rsml import write_rsml
from rootpipe.tracking import cache
from rootpipe.tracking.cache import series_signature
from rootpipe.tracking.register import reference_loader
from rootpipe.tracking.series import (
    default_group_by,
    imaging_rounds,
    series_metadata,
    smooth_lengths,
    summarise_groups,
    track_series,
)
from rootpipe.traits import branch_paths, clear_border, measure_options, root_hierarchy, rsml_arguments


def write_tracked_rsml(path: Path, mask: np.ndarray, id_image: np.ndarray, pixel_size_mm: float,
                       traits_settings: dict, image_name: str | None = None, file_key: str | None = None) -> Path:
    """One image's RSML: its plants, primary and lateral roots (as the traits stage writes them), each
    with the ``root_id`` the tracking gave most of its pixels, so a root keeps its id through a series."""
    paths = branch_paths(mask, pixel_size_mm=pixel_size_mm, **{
        k: v for k, v in measure_options(traits_settings).items() if k != "diameter_classes_mm"})
    roots = root_hierarchy(paths)
    root_ids = []
    for root in roots:
        yx = np.rint(root.yx).astype(int)
        yx[:, 0] = yx[:, 0].clip(0, id_image.shape[0] - 1)
        yx[:, 1] = yx[:, 1].clip(0, id_image.shape[1] - 1)
        ids = id_image[yx[:, 0], yx[:, 1]]
        ids = ids[ids > 0]
        root_ids.append(int(np.bincount(ids).argmax()) if ids.size else 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_rsml(path=path, image_name=image_name, file_key=file_key, pixel_size_mm=pixel_size_mm,
                      **rsml_arguments(roots, root_ids=root_ids))  # written atomically


def run(traits_path: str | Path, out: str | Path, config: dict, threads: int = 1,
        progress: bool = False, roots_out: str | Path | None = None,
        summary_out: str | Path | None = None) -> pd.DataFrame:
    """The track stage: every series, re-computing only those whose images changed.

    Writes ``out`` (growth per series x timepoint), ``roots_out`` (per root; default
    ``roots.parquet`` beside ``out``) and ``summary_out`` (per metadata group; default
    ``growth_summary.parquet``). Per-series results are kept in
    ``{results_dir}/growth/`` with a signature of their inputs, so a new timepoint
    re-tracks only the series it touches.
    """
    # Long on purpose: the stage's I/O edge (settings, the per-series cache, campaign-wide columns, four
    # tables); the science is in rootpipe.tracking.
    from tqdm import tqdm

    from rootpipe.config import pixel_size_mm
    from rootpipe.io.stores import read_mask

    out = Path(out)
    roots_out = Path(roots_out) if roots_out else out.with_name("roots.parquet")
    summary_out = Path(summary_out) if summary_out else out.with_name("growth_summary.parquet")
    results = Path(config["results_dir"])
    settings = {k: v for k, v in config["track"].items() if k not in ("group_by", "smoothing_window")}
    settings["pixel_size_mm"] = pixel_size_mm(config)
    border_px = config.get("border_px") or 0
    if border_px:  # in the series' signatures only when set: campaigns without it keep their cache
        settings["border_px"] = border_px
    if config.get("traits", {}).get("rsml"):  # turned on, every series is tracked once more to write its RSML
        settings["rsml"] = True
    traits = pd.read_parquet(traits_path)
    meta = series_metadata(traits, config.get("timestamp_fields", []))
    per_series = list(meta.columns.drop("series"))
    unknown = [c for c in config["track"].get("group_by") or [] if c not in per_series]
    if unknown:  # before any tracking: a typo would pool every series, a time field fail at the end
        raise ValueError(f"track.group_by names {unknown}, which {'is' if len(unknown) == 1 else 'are'} not "
                         "a column with one value per series (missing, a time field, or varying within "
                         f"a series); the per-series metadata columns: {per_series}")
    cache_dir = results / "growth"
    cache_dir.mkdir(parents=True, exist_ok=True)
    batch_of = dict(zip(traits["image_id"], traits["batch"]))
    file_of = dict(zip(traits["image_id"], traits["file"]))
    store = lambda image_id: results / "segmentation" / f"{batch_of[image_id]}.zarr"

    def stamps_of(frames: pd.DataFrame) -> list:
        # A re-segmented batch is a new store (atomic rename): its mtime changes.
        return [(b, (results / "segmentation" / f"{b}.zarr").stat().st_mtime_ns)
                for b in sorted(set(frames["batch"]))]

    def one(series: str, frames: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        frames = frames.sort_values(["timestamp", "image_id"], ignore_index=True)
        signature_of = lambda f: series_signature(f, settings, stamps_of(f))
        signature = signature_of(frames)
        result, resume = cache.read(cache_dir, series, frames, signature_of)
        if result is not None:
            return *result, "cached"
        reference = reference_loader(results, batch_of, settings["register_on"])
        state = {}
        on_frame = None
        if config.get("traits", {}).get("rsml"):  # RSML with the tracking's root ids, a file per image
            folder = results / "rsml_series" / series
            on_frame = lambda frame, mask, ids: write_tracked_rsml(  # noqa: E731
                folder / f"{frame.image_id}.rsml", mask, ids, settings["pixel_size_mm"], config["traits"],
                image_name=file_of.get(frame.image_id), file_key=frame.image_id)
        table, roots = track_series(frames, lambda i: clear_border(read_mask(store(i), i), border_px), reference,
                                    settings["pixel_size_mm"], settings["tolerance_px"],
                                    settings["max_shift_px"], settings["registration"],
                                    settings["min_quality"], resume=resume, state=state, on_frame=on_frame)
        cache.write(cache_dir, series, table, roots, state, signature)
        return table, roots, "resumed" if resume else "tracked"

    groups = list(traits.groupby("series", sort=True))
    with ThreadPoolExecutor(max(1, threads)) as pool:
        done = list(tqdm(pool.map(lambda g: one(*g), groups), total=len(groups), desc="track",
                         unit="series", disable=not progress))
    growth = pd.concat([d[0] for d in done], ignore_index=True) if done else pd.DataFrame(columns=GROWTH_COLUMNS)
    # The source file beside each image_id (file_of), so a row leads back to the image.
    growth.insert(growth.columns.get_loc("image_id") + 1, "file", growth["image_id"].map(file_of))
    growth = growth.merge(meta, on="series", how="left")
    # Campaign-wide, so not cached per series: a new session can join an earlier round.
    growth.insert(growth.columns.get_loc("timestamp") + 1, "imaging_round", imaging_rounds(growth))
    growth["n_new_tips"] = growth["n_new_tips"].astype("Int64")  # a count, blank where not measured
    if config["track"]["smoothing_window"] > 1:
        growth["total_length_smoothed_mm"] = smooth_lengths(growth, config["track"]["smoothing_window"])
    roots = pd.concat([d[1] for d in done], ignore_index=True) if done else pd.DataFrame(columns=ROOT_COLUMNS)
    roots.insert(roots.columns.get_loc("image_id") + 1, "file", roots["image_id"].map(file_of))
    summary = summarise_groups(growth, default_group_by(growth, config))
    # Each table also as CSV beside it (same stem), for spreadsheets.
    write_table(roots.merge(meta, on="series", how="left"), roots_out)
    write_table(summary, summary_out)
    write_table(growth, out)
    how = pd.Series([d[2] for d in done], dtype=object)
    print(f"track: {len(groups)} series ({(how == 'tracked').sum()} tracked, {(how == 'resumed').sum()} "
          f"carried on from their last cached timepoint, {(how == 'cached').sum()} unchanged), "
          f"{len(growth)} rows -> {out}; "
          f"{roots['root_id'].count()} root sightings -> {roots_out}; {len(summary)} group rows -> {summary_out}")
    return growth
