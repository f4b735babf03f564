"""Track: growth of each series (plant, tube window) over its timepoints.

Consecutive timepoints are registered (translation by phase correlation on the
root probability maps), then the current skeleton is compared with the
previous mask moved into the current frame: root length farther than a
tolerance from any previous root is production (gained), previous root length
farther than the tolerance from any current root is disappearance (lost).
Lengths use the traits estimator. Nothing forces a series to be non-decreasing.
"""
from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .atomic import atomic_path
from .traits import skeleton_length_map

GROWTH_COLUMNS = [
    "series", "timepoint", "image_id", "timestamp", "days", "total_length_mm",
    "length_change_mm", "growth_rate_mm_per_day", "length_gained_mm", "length_lost_mm",
    "shift_y_px", "shift_x_px", "registration_quality", "registration_ok", "note",
]


def register_translation(reference: np.ndarray, moving: np.ndarray) -> tuple[float, float, float]:
    """Translation of ``moving`` relative to ``reference`` by phase correlation.

    Parameters
    ----------
    reference, moving : (H, W) arrays of the same shape (root probabilities work best:
        soil texture changes between sessions, roots mostly stay).

    Returns
    -------
    shift_y_px, shift_x_px : float
        ``moving`` is ``reference`` moved down by shift_y and right by shift_x (px).
    quality : float
        Phase-correlation peak response in [0, 1]; low means the images share little.
    """
    a = np.ascontiguousarray(reference, dtype=np.float32)
    b = np.ascontiguousarray(moving, dtype=np.float32)
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(a, b, window)
    return float(dy), float(dx), float(response)


def translate(image: np.ndarray, shift_y: int, shift_x: int) -> np.ndarray:
    """Move ``image`` by whole pixels, filling uncovered pixels with 0."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    ys, yd = (slice(0, h - shift_y), slice(shift_y, h)) if shift_y >= 0 else (slice(-shift_y, h), slice(0, h + shift_y))
    xs, xd = (slice(0, w - shift_x), slice(shift_x, w)) if shift_x >= 0 else (slice(-shift_x, w), slice(0, w + shift_x))
    out[yd, xd] = image[ys, xs]
    return out


def overlap_region(shape: tuple[int, int], shift_y: int, shift_x: int) -> np.ndarray:
    """Pixels of the current frame that the previous frame also saw."""
    return translate(np.ones(shape, bool), shift_y, shift_x)


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Distance (px) from every pixel to the nearest root pixel of ``mask``."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def length_change(previous_mask: np.ndarray, current_mask: np.ndarray, shift_y: int, shift_x: int,
                  tolerance_px: float = 3.0) -> tuple[float, float]:
    """Root length gained and lost (px) between two registered masks.

    Only the field of view both images share is compared: roots entering or
    leaving the frame by a camera shift are neither growth nor loss.
    """
    shared = overlap_region(current_mask.shape, shift_y, shift_x)
    previous = translate(previous_mask.astype(np.uint8), shift_y, shift_x)
    _, current_length = skeleton_length_map(current_mask)
    _, previous_length = skeleton_length_map(previous_mask)
    previous_length = translate(previous_length, shift_y, shift_x)
    gained = current_length[shared & (_distance_to(previous) > tolerance_px)].sum()
    lost = previous_length[shared & (_distance_to(current_mask) > tolerance_px)].sum()
    return float(gained), float(lost)


def track_series(frames: pd.DataFrame, load_mask, load_probability, pixel_size_mm: float,
                 tolerance_px: float = 3.0, max_shift_px: float = 50.0) -> pd.DataFrame:
    """Growth table of one series.

    Parameters
    ----------
    frames : one row per image of the series: ``series``, ``image_id``, ``timestamp``,
        ``total_length_mm``.
    load_mask, load_probability : image_id -> (H, W) array.
    pixel_size_mm : mm per pixel.

    Returns
    -------
    DataFrame with ``GROWTH_COLUMNS``, one row per timepoint.
    """
    frames = frames.sort_values(["timestamp", "image_id"], ignore_index=True)
    rows = []
    previous = None
    for k, frame in enumerate(frames.itertuples()):
        row = {"series": frame.series, "timepoint": k + 1, "image_id": frame.image_id,
               "timestamp": frame.timestamp,
               "days": (frame.timestamp - frames["timestamp"].iloc[0]).total_seconds() / 86400,
               "total_length_mm": frame.total_length_mm, "length_change_mm": np.nan,
               "growth_rate_mm_per_day": np.nan, "length_gained_mm": np.nan,
               "length_lost_mm": np.nan, "shift_y_px": np.nan, "shift_x_px": np.nan,
               "registration_quality": np.nan, "registration_ok": pd.NA,
               "note": "first timepoint" if k == 0 else ""}
        mask = load_mask(frame.image_id)
        probability = load_probability(frame.image_id)
        if previous is not None:
            prev_frame, prev_mask, prev_probability = previous
            row["length_change_mm"] = frame.total_length_mm - prev_frame.total_length_mm
            interval = (frame.timestamp - prev_frame.timestamp).total_seconds() / 86400
            if interval > 0:
                row["growth_rate_mm_per_day"] = row["length_change_mm"] / interval
            else:
                row["note"] = "same timestamp as the previous image: no growth rate"
            if prev_mask.shape != mask.shape:
                row["registration_ok"] = False
                row["note"] = f"image size changed ({prev_mask.shape} -> {mask.shape}): not registered"
            else:
                dy, dx, quality = register_translation(prev_probability, probability)
                ok = bool(abs(dy) <= max_shift_px and abs(dx) <= max_shift_px)
                row.update(shift_y_px=dy, shift_x_px=dx, registration_quality=quality,
                           registration_ok=ok)
                if not ok:
                    row["note"] = f"shift larger than max_shift_px={max_shift_px}: gained/lost not measured"
                else:
                    gained, lost = length_change(prev_mask, mask, int(round(dy)), int(round(dx)),
                                                 tolerance_px)
                    row["length_gained_mm"] = gained * pixel_size_mm
                    row["length_lost_mm"] = lost * pixel_size_mm
        rows.append(row)
        previous = (frame, mask, probability)
    return pd.DataFrame(rows, columns=GROWTH_COLUMNS)


def series_signature(frames: pd.DataFrame, settings: dict) -> str:
    """Identifies a series' inputs: images, their lengths, and the tracking settings."""
    key = frames.sort_values("image_id")[["image_id", "total_length_mm"]].to_json(orient="values")
    blob = json.dumps([key, settings], sort_keys=True, default=str).encode()
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


#: per-image bookkeeping columns of the manifest, not series metadata
BOOKKEEPING = {"image_id", "batch", "path", "file", "session", "content_hash", "dtype", "timestamp"}


def series_metadata(traits: pd.DataFrame) -> pd.DataFrame:
    """Columns that describe a whole series (tube, window, genotype, treatment, ...).

    Those are the text columns that hold one value per series.
    """
    text = [c for c in traits.columns
            if c not in BOOKKEEPING and c != "series" and not pd.api.types.is_numeric_dtype(traits[c])
            and not pd.api.types.is_datetime64_any_dtype(traits[c])]
    per_series = traits.groupby("series")[text].nunique(dropna=False).max() if text else pd.Series()
    keep = [c for c in text if per_series.get(c, 2) <= 1]
    return traits.groupby("series", sort=True)[keep].first().reset_index()


def run(traits_path: str | Path, out: str | Path, config: dict, threads: int = 1,
        progress: bool = False) -> pd.DataFrame:
    """The track stage: every series, re-computing only those whose images changed.

    Per-series results are kept in ``{results_dir}/growth/{series}.parquet`` with a
    signature of their inputs; a new timepoint re-tracks only the series it touches.
    """
    from tqdm import tqdm

    from .config import pixel_size_mm
    from .segment import read_mask, read_probability

    results = Path(config["results_dir"])
    settings = {**config["track"], "pixel_size_mm": pixel_size_mm(config)}
    traits = pd.read_parquet(traits_path)
    cache_dir = results / "growth"
    cache_dir.mkdir(parents=True, exist_ok=True)
    store = lambda image_id: results / "segmentation" / f"{batch_of[image_id]}.zarr"
    batch_of = dict(zip(traits["image_id"], traits["batch"]))

    def one(series: str, frames: pd.DataFrame) -> tuple[pd.DataFrame, bool]:
        signature = series_signature(frames, settings)
        cached = cache_dir / f"{series}.parquet"
        if cached.exists():
            table = pd.read_parquet(cached)
            if len(table) and (table["signature"] == signature).all():
                return table.drop(columns="signature"), False
        table = track_series(frames, lambda i: read_mask(store(i), i),
                             lambda i: read_probability(store(i), i).astype(np.float32) / 255,
                             settings["pixel_size_mm"], settings["tolerance_px"],
                             settings["max_shift_px"])
        with atomic_path(cached) as tmp:
            table.assign(signature=signature).to_parquet(tmp, index=False)
        return table, True

    groups = list(traits.groupby("series", sort=True))
    with ThreadPoolExecutor(max(1, threads)) as pool:
        done = list(tqdm(pool.map(lambda g: one(*g), groups), total=len(groups), desc="track",
                         unit="series", disable=not progress))
    tables = [t for t, _ in done]
    growth = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=GROWTH_COLUMNS)
    growth = growth.merge(series_metadata(traits), on="series", how="left")
    with atomic_path(out) as tmp:
        growth.to_parquet(tmp, index=False)
    retracked = sum(changed for _, changed in done)
    print(f"track: {len(groups)} series ({retracked} re-tracked), {len(growth)} rows -> {out}")
    return growth

