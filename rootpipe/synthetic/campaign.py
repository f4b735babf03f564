"""Synthetic campaigns: series of tubes and windows, genotypes and treatments, visits,
and the images, truth masks and truth tables written to disk.
"""

import datetime as _dt
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from rootpipe.synthetic.geometry import (
    _STREAM_LOSS,
    _STREAM_SHIFT,
    _STREAM_SOIL,
    _STREAM_VISIT,
    MARGIN_PX,
    _rng,
    _with_losses,
    end_to_end_length,
    make_root_system,
    visible_lengths,
)
from rootpipe.synthetic.render import MAX_SHIFT_PX, _composite_roots, _crop, _finish, _soil, _visit_soil

#: Regular expression that every image file name matches.
FILENAME_PATTERN = r"(?P<tube>T\d+)_(?P<window>L\d+)_(?P<date>\d{4}-\d{2}-\d{2})"
GENOTYPES = ("WT", "mutA")
TREATMENTS = ("control", "drought")
WINDOWS_PER_TUBE = 3


def _series_names(i: int) -> tuple[str, str]:
    """Tube and window of series ``i``: three windows per tube."""
    return f"T{i // WINDOWS_PER_TUBE + 1:02d}", f"L{i % WINDOWS_PER_TUBE + 1:02d}"


def _group(i: int) -> tuple[str, str]:
    """Genotype and treatment of series ``i``, alternated so that any four
    consecutive series cover the 2 x 2 design."""
    return GENOTYPES[i % 2], TREATMENTS[(i // 2) % 2]


def _shifts(seed: int, series: int, n_timepoints: int) -> np.ndarray:
    """Camera shift (dy, dx) per timepoint, px; (0, 0) at the first."""
    rng = _rng(seed, series, _STREAM_SHIFT)
    out = rng.integers(-MAX_SHIFT_PX, MAX_SHIFT_PX + 1, size=(n_timepoints, 2))
    out[0] = 0
    return out


def _check_args(n_series: int, n_timepoints: int, image_size, seed: int,
                interval_days: int, p_disappear: float) -> tuple[int, int]:
    """Validate arguments; return the image shape (h, w)."""
    h, w = (int(v) for v in image_size)
    if n_series < 1 or n_timepoints < 1:
        raise ValueError("n_series and n_timepoints must be >= 1")
    if min(h, w) < 8 * MARGIN_PX:
        raise ValueError(f"image_size {image_size} too small: need >= {8 * MARGIN_PX} px a side")
    if seed < 0:
        raise ValueError("seed must be >= 0")
    if interval_days < 1 or interval_days != int(interval_days):
        raise ValueError("interval_days must be a whole number >= 1 (file names carry the date)")
    if not 0.0 <= p_disappear <= 1.0:
        raise ValueError("p_disappear must be in [0, 1]")
    return h, w


def generate_campaign(n_series: int = 6, n_timepoints: int = 4,
                      image_size: tuple[int, int] = (768, 1024), seed: int = 0,
                      pixel_size_mm: float = 0.05, start_date: str | _dt.date = "2026-05-01",
                      interval_days: int = 7, p_disappear: float = 0.0,
                      ) -> Iterator[tuple[dict, np.ndarray, np.ndarray, list[dict]]]:
    """Render a campaign in memory, one image at a time.

    Same arguments as :func:`make_campaign`, without the output folder.

    Yields
    ------
    record : dict
        The image's row of ``lengths.csv``.
    image : ndarray, (H, W, 3) uint8
        RGB image.
    mask : ndarray, (H, W) bool
        Ground-truth root region.
    roots : list of dict
        The image's rows of ``roots.csv``.
    """
    shape = _check_args(n_series, n_timepoints, image_size, seed, interval_days, p_disappear)
    start = pd.Timestamp(start_date).date()  # str, date or datetime; the time is dropped
    times = np.arange(n_timepoints, dtype=float) * interval_days
    duration = float(max(n_timepoints - 1, 1) * interval_days)
    for i in range(n_series):
        tube, window = _series_names(i)
        series = f"{tube}_{window}"
        genotype, treatment = _group(i)
        roots = make_root_system(seed, i, shape, duration, genotype, treatment)
        roots = _with_losses(roots, _rng(seed, i, _STREAM_LOSS), times, p_disappear)
        soil = _soil(_rng(seed, i, _STREAM_SOIL), shape)
        shifts = _shifts(seed, i, n_timepoints)
        for k, t in enumerate(times):
            date = (start + _dt.timedelta(days=int(t))).isoformat()
            name = f"{series}_{date}.png"
            rng = _rng(seed, i, _STREAM_VISIT, k)
            shift = (int(shifts[k, 0]), int(shifts[k, 1]))
            # Drought dries the soil, which lightens it a little over time.
            drying = 0.05 * t / duration if treatment == "drought" else 0.0
            rgb = _visit_soil(soil, rng, shape, shift, rng.uniform(0.96, 1.04) + drying)
            lengths = visible_lengths(roots, t)
            coverage = _composite_roots(rgb, roots, lengths, t, duration,
                                        _crop(soil.root_texture, shape, shift), shift)
            image = _finish(rgb, rng, soil.illumination)
            end_to_end = [end_to_end_length(r, L) for r, L in zip(roots, lengths)]
            true_px = sum(end_to_end)
            record = {"file": name, "tube": tube, "window": window, "series": series,
                      "date": date, "true_length_px": true_px,
                      "true_length_mm": true_px * pixel_size_mm,
                      "shift_y_px": shift[0], "shift_x_px": shift[1]}
            root_rows = [{"file": name, "series": series, "date": date, "root_id": r.root_id,
                          "parent_id": r.parent_id, "length_px": e, "centreline_length_px": float(L)}
                         for r, L, e in zip(roots, lengths, end_to_end)]
            yield record, image, coverage >= 0.5, root_rows


def make_campaign(out_dir, n_series: int = 6, n_timepoints: int = 4,
                  image_size: tuple[int, int] = (768, 1024), seed: int = 0,
                  pixel_size_mm: float = 0.05, start_date: str | _dt.date = "2026-05-01",
                  interval_days: int = 7, p_disappear: float = 0.0,
                  progress: bool = False, reuse: bool = False) -> pd.DataFrame:
    """Write a synthetic minirhizotron campaign with its ground truth.

    Parameters
    ----------
    out_dir : str or path-like
        Output folder, created if needed. One that already holds images is refused
        unless they are a campaign made with the same arguments (``truth/campaign.json``),
        which is written again: a smaller campaign written over a larger one would leave
        the larger one's images among its own.
    n_series : int
        Number of series (tube windows); series ``i`` is tube
        ``T{i // 3 + 1:02d}``, window ``L{i % 3 + 1:02d}``.
    n_timepoints : int
        Number of visits per series.
    image_size : (int, int)
        Image (height, width), px; at least 192 px a side.
    seed : int
        Non-negative seed; same arguments give byte-identical files.
    pixel_size_mm : float
        Pixel size, mm/px, used for ``true_length_mm``.
    start_date : str or datetime.date
        Date of the first visit, ISO ``YYYY-MM-DD``.
    interval_days : int
        Days between visits (>= 1).
    p_disappear : float
        Probability (0-1) that a lateral disappears at a later visit.
    progress : bool
        Show a tqdm progress bar (on stderr).
    reuse : bool
        Return the truth of a campaign already there with the same arguments without
        writing it again.

    Returns
    -------
    pandas.DataFrame
        The ``truth/lengths.csv`` table: ``file, tube, window, series, date,
        true_length_px, true_length_mm, shift_y_px, shift_x_px``.
    """
    _check_args(n_series, n_timepoints, image_size, seed, interval_days, p_disappear)  # before any folder
    out = Path(out_dir)
    arguments = {"n_series": n_series, "n_timepoints": n_timepoints, "image_size": [int(v) for v in image_size],
                 "seed": seed, "pixel_size_mm": pixel_size_mm, "start_date": str(pd.Timestamp(start_date).date()),
                 "interval_days": int(interval_days), "p_disappear": p_disappear}
    recorded = out / "truth" / "campaign.json"
    same = recorded.exists() and json.loads(recorded.read_text()) == arguments
    if same and reuse and (out / "truth" / "lengths.csv").exists():
        return pd.read_csv(out / "truth" / "lengths.csv")
    held = sorted((out / "images").glob("*")) if (out / "images").is_dir() else []
    if held and not same:
        raise ValueError(f"{out / 'images'} already holds {len(held)} files ({held[0].name}, ...) that are not a "
                         "campaign made with these arguments; a campaign written there would mix with them: "
                         f"remove {out} or write to another folder")
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    recorded.write_text(json.dumps(arguments, indent=1) + "\n")  # first: a stopped run may be re-run
    meta = pd.DataFrame([dict(zip(("tube", "window"), _series_names(i)),
                              **dict(zip(("genotype", "treatment"), _group(i))))
                         for i in range(n_series)])
    images = generate_campaign(n_series, n_timepoints, image_size, seed, pixel_size_mm,
                               start_date, interval_days, p_disappear)
    if progress:
        from tqdm.auto import tqdm
        images = tqdm(images, total=n_series * n_timepoints, desc="synthetic images")
    records, root_rows = [], []
    for record, image, mask, rows in images:
        stem = record["file"]
        if not cv2.imwrite(str(out / "images" / stem), np.ascontiguousarray(image[..., ::-1])):
            raise OSError(f"could not write {out / 'images' / stem}")
        if not cv2.imwrite(str(out / "truth" / stem), mask.astype(np.uint8) * 255):
            raise OSError(f"could not write {out / 'truth' / stem}")
        records.append(record)
        root_rows += rows
    meta.to_csv(out / "metadata.csv", index=False)
    lengths = pd.DataFrame(records)
    lengths.to_csv(out / "truth" / "lengths.csv", index=False)
    pd.DataFrame(root_rows).to_csv(out / "truth" / "roots.csv", index=False)
    return lengths
