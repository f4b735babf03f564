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

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .atomic import atomic_path, write_table
from .columns import GROWTH_COLUMNS, MANIFEST_COLUMNS, ROOT_COLUMNS, SUMMARY_QUANTITIES
from .traits import clear_border, skeleton_length_map


def register(reference: np.ndarray, moving: np.ndarray, method: str = "translation") -> dict:
    """Register ``moving`` onto ``reference``.

    Translation by phase correlation; ``rigid`` and ``affine`` refine it with
    ECC (enhanced correlation coefficient). The inputs are what
    ``track.register_on`` names: grey images (the default) or root probability
    maps (docs/growth.md compares them).

    Parameters
    ----------
    reference, moving : (H, W) arrays of the same shape.
    method : ``translation``, ``rigid`` or ``affine``.

    Returns
    -------
    dict
        ``matrix`` (2x3 float, maps reference (x, y) px to moving (x, y) px),
        ``shift_y_px``, ``shift_x_px`` (how far the image centre moved), ``quality`` (phase-correlation
        peak response, or the ECC correlation coefficient, in [0, 1]; low means the
        images share little), ``error`` (why ECC failed, else "").
    """
    # Copies: cv2.phaseCorrelate multiplies its inputs by the window in place, and a
    # series reuses each image as the next interval's reference.
    a = np.array(reference, dtype=np.float32, order="C", copy=True)
    b = np.array(moving, dtype=np.float32, order="C", copy=True)
    window = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (dx, dy), response = cv2.phaseCorrelate(a, b, window)
    matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    out = {"matrix": matrix, "quality": float(np.clip(response, 0.0, 1.0)), "error": ""}
    if method != "translation":
        motion = {"rigid": cv2.MOTION_EUCLIDEAN, "affine": cv2.MOTION_AFFINE}[method]
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
        try:
            quality, matrix = cv2.findTransformECC(a, b, matrix.copy(), motion, criteria, None, 5)
            out.update(matrix=matrix, quality=float(max(quality, 0.0)))
        except cv2.error as exc:  # no convergence: keep the translation, flag it
            out["error"] = f"ECC {method} registration failed ({str(exc).strip().splitlines()[-1][:80]})"
            out["quality"] = 0.0
    # The scene's movement is the image centre's: the matrix's own translation part is measured
    # about the origin, where a small rotation of a large image reads as a large shift.
    centre = np.array([(a.shape[1] - 1) / 2, (a.shape[0] - 1) / 2, 1.0])
    out["shift_x_px"], out["shift_y_px"] = (float(v) for v in out["matrix"].astype(np.float64) @ centre
                                            - centre[:2])
    return out


def registration_image(rgb: np.ndarray) -> np.ndarray:
    """Grey image with slow illumination changes removed: what consecutive sessions share.

    Soil texture, stones and old roots are stable landmarks in a re-imaged
    window; a sparse root mask or probability map alone registers poorly.
    """
    grey = rgb.astype(np.float32).mean(axis=-1) if rgb.ndim == 3 else rgb.astype(np.float32)
    return grey - cv2.GaussianBlur(grey, (0, 0), 15)


def translation(shift_y: float, shift_x: float) -> np.ndarray:
    return np.array([[1, 0, shift_x], [0, 1, shift_y]], np.float32)


def warp(image: np.ndarray, matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` moved by ``matrix`` (source px -> destination px), nearest neighbour, 0 outside."""
    return cv2.warpAffine(image, matrix, shape[::-1], flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def translate(image: np.ndarray, shift_y: int, shift_x: int) -> np.ndarray:
    """Move ``image`` by whole pixels, filling uncovered pixels with 0."""
    return warp(image, translation(shift_y, shift_x), image.shape[:2])


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Distance (px) from every pixel to the nearest root pixel of ``mask``."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _new_length(length_px: np.ndarray, other_mask: np.ndarray, seen: np.ndarray,
                tolerance_px: float) -> float:
    """Skeleton length (px) that ``other_mask`` does not explain.

    Hysteresis along the skeleton: skeleton farther than ``tolerance_px``
    from the other mask is new, and so is skeleton outside that mask within
    about ``tolerance_px`` of it along the skeleton. The tolerance decides
    *whether* a stretch is new (registration and mask edges jitter by a pixel
    or two), not *how much* of it: an elongating root is new from the old
    apex on, not from tolerance_px beyond it.
    """
    distance = _distance_to(other_mask)
    outside = (length_px > 0) & seen & (distance > 0)
    new = (outside & (distance > tolerance_px)).astype(np.uint8)
    if not new.any():
        return 0.0
    # Grow the far pixels back along the skeleton, through pixels outside the other mask, by
    # about tolerance_px: that adds the stretch from the old apex out to the tolerance, and no
    # more. A whole connected stretch would count a thin root that moved a pixel or two, lying
    # just outside its old outline, as new from end to end.
    kernel = np.ones((3, 3), np.uint8)
    outside = outside.astype(np.uint8)
    for _ in range(int(np.ceil(tolerance_px)) + 1):
        new = cv2.dilate(new, kernel) & outside
    return float(length_px[new > 0].sum(dtype=np.float64))


def length_change(previous_mask: np.ndarray, current_mask: np.ndarray, matrix,
                  tolerance_px: float = 3.0) -> tuple[float, float]:
    """Root length gained and lost (px) between two registered masks.

    Parameters
    ----------
    previous_mask, current_mask : (H, W) masks.
    matrix : 2x3 transform from previous to current pixel coordinates (see :func:`register`).
    tolerance_px : how far (px) a root may move and still be the same root.

    Only the field of view both images share is compared: roots entering or
    leaving the frame by a camera shift are neither growth nor loss.
    """
    _, current_length = skeleton_length_map(current_mask)
    _, previous_length = skeleton_length_map(previous_mask)
    return _gained_lost(previous_mask, current_mask, previous_length, current_length, matrix, tolerance_px)


def _gained_lost(previous_mask, current_mask, previous_length, current_length, matrix, tolerance_px):
    matrix = np.asarray(matrix, np.float32)
    inverse = cv2.invertAffineTransform(matrix)
    previous = previous_mask.astype(np.uint8)
    current = current_mask.astype(np.uint8)
    ones_prev = np.ones(previous.shape, np.uint8)
    ones_cur = np.ones(current.shape, np.uint8)
    gained = _new_length(current_length, warp(previous, matrix, current.shape),
                         warp(ones_prev, matrix, current.shape) > 0, tolerance_px)
    lost = _new_length(previous_length, warp(current, inverse, previous.shape),
                       warp(ones_cur, inverse, previous.shape) > 0, tolerance_px)
    return gained, lost


def _shared_view(other_shape: tuple[int, int], matrix: np.ndarray, margin_px: float) -> np.ndarray:
    """(H, W) bool of this frame: pixels the other image (moved by ``matrix``) also shows,
    ``margin_px`` in from its edge. Same-size frames: ``other_shape`` is this frame's shape too."""
    view = warp(np.ones(other_shape, np.uint8), matrix, other_shape)
    size = 2 * int(np.ceil(margin_px)) + 1
    return cv2.erode(view, np.ones((size, size), np.uint8), borderType=cv2.BORDER_CONSTANT,
                     borderValue=0) > 0


def track_series(frames: pd.DataFrame, load_mask, load_probability, pixel_size_mm: float,
                 tolerance_px: float = 3.0, max_shift_px: float = 150.0, method: str = "translation",
                 min_quality: float = 0.05, resume: dict | None = None,
                 state: dict | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Growth table and per-root table of one series.

    Parameters
    ----------
    frames : one row per image of the series: ``series``, ``image_id``, ``timestamp``,
        ``total_length_mm`` (and ``n_tips``, ``root_length_density_mm_per_mm2`` if present).
    load_mask : image_id -> (H, W) root mask.
    load_probability : image_id -> (H, W) float image to register on (see :func:`registration_image`).
    pixel_size_mm : mm per pixel.
    method : registration, see :func:`register`.
    min_quality : registrations scoring below this are flagged and not used.
    resume : an earlier result for the first ``n`` of these frames (``growth``, ``roots``,
        and the last frame's ``id_image`` and ``next_id``, as ``state`` gave them); only
        frames ``n`` onwards are computed. The caller checks the first ``n`` frames are
        unchanged.
    state : if given, filled with ``id_image`` (root id per skeleton pixel of the last
        frame) and ``next_id``, to resume from when a later timepoint arrives.

    Returns
    -------
    growth : ``GROWTH_COLUMNS``, one row per image in time order. A failed
        registration, a size change or a repeated timestamp is a flagged row
        with a ``note``, never an exception.
    roots : one row per root and image it is seen in (``ROOT_COLUMNS``). Root ids
        run on across a flagged registration only as new roots.
    """
    from . import roots as rt

    frames = frames.sort_values(["timestamp", "image_id"], ignore_index=True)
    first = frames["timestamp"].iloc[0]
    rows, root_rows = [], []
    previous = None
    next_id = 1
    min_overlap_px = 4 * tolerance_px
    start = 0
    if resume is not None:
        start = len(resume["growth"])
        rows = resume["growth"][GROWTH_COLUMNS].to_dict("records")
        for row in rows:  # parquet gives None for the first row's missing flag
            if row["registration_ok"] is None:
                row["registration_ok"] = pd.NA
        root_rows = resume["roots"][[*ROOT_COLUMNS[:6], "elongation_rate_mm_per_day"]].to_dict("records")
        last = next(frames.iloc[start - 1:start].itertuples())
        mask = load_mask(last.image_id)
        previous = (last, mask, load_probability(last.image_id), skeleton_length_map(mask)[1],
                    resume["id_image"])
        next_id = int(resume["next_id"])
    for k, frame in enumerate(frames.itertuples()):
        if k < start:
            continue
        row = {"series": frame.series, "timepoint": k + 1, "image_id": frame.image_id,
               "timestamp": frame.timestamp, "days": (frame.timestamp - first).total_seconds() / 86400,
               "total_length_mm": frame.total_length_mm, "length_change_mm": np.nan,
               "growth_rate_mm_per_day": np.nan, "length_gained_mm": np.nan,
               "length_lost_mm": np.nan, "n_tips": getattr(frame, "n_tips", np.nan), "n_new_tips": np.nan,
               "root_length_density_mm_per_mm2": getattr(frame, "root_length_density_mm_per_mm2", np.nan),
               "shift_y_px": np.nan, "shift_x_px": np.nan, "registration_quality": np.nan,
               "registration_ok": pd.NA, "note": "first timepoint" if k == 0 else ""}
        mask = load_mask(frame.image_id)
        probability = load_probability(frame.image_id)
        _, length_px = skeleton_length_map(mask)
        labels, seg_lengths = rt.segments(length_px)
        ids = np.zeros(len(seg_lengths), np.int64)
        before, interval_days = {}, 0.0
        if previous is not None:
            prev_frame, prev_mask, prev_probability, prev_length, prev_ids = previous
            row["length_change_mm"] = frame.total_length_mm - prev_frame.total_length_mm
            interval = (frame.timestamp - prev_frame.timestamp).total_seconds() / 86400
            notes = []
            if interval > 0:
                row["growth_rate_mm_per_day"] = row["length_change_mm"] / interval
            else:
                notes.append("same timestamp as the previous image: no growth rate")
            if prev_mask.shape != mask.shape:
                # A new camera or crop: lengths before and after cover different fields of view.
                row.update(registration_ok=False, length_change_mm=np.nan, growth_rate_mm_per_day=np.nan)
                notes.append(f"image size changed {prev_mask.shape} -> {mask.shape}: not registered, and no "
                             "length change (the two images do not show the same field)")
            else:
                reg = register(prev_probability, probability, method)
                ok = (not reg["error"] and reg["quality"] >= min_quality
                      and abs(reg["shift_y_px"]) <= max_shift_px and abs(reg["shift_x_px"]) <= max_shift_px)
                row.update(shift_y_px=reg["shift_y_px"], shift_x_px=reg["shift_x_px"],
                           registration_quality=reg["quality"], registration_ok=ok)
                if ok:
                    gained, lost = _gained_lost(prev_mask, mask, prev_length, length_px, reg["matrix"],
                                                tolerance_px)
                    row["length_gained_mm"] = gained * pixel_size_mm
                    row["length_lost_mm"] = lost * pixel_size_mm
                    ids = rt.inherit(labels, seg_lengths, prev_ids, prev_mask, reg["matrix"],
                                     tolerance_px, min_overlap_px)
                    # The field of view both images share, in each frame: what enters or leaves
                    # the frame by a camera shift is neither a new tip nor elongation.
                    in_view = _shared_view(prev_mask.shape, reg["matrix"], tolerance_px)
                    prev_in_view = _shared_view(mask.shape, cv2.invertAffineTransform(reg["matrix"]),
                                                tolerance_px)
                    before = rt.lengths_by_id(prev_ids, prev_length, prev_in_view)
                    interval_days = interval
                else:
                    why = reg["error"] or (f"quality {reg['quality']:.3f} < min_quality {min_quality}"
                                           if reg["quality"] < min_quality else
                                           f"shift beyond max_shift_px={max_shift_px}")
                    notes.append(f"registration flagged: {why}; gained/lost not measured")
            row["note"] = "; ".join(notes)
        new = np.flatnonzero((ids == 0) & (seg_lengths > 0))
        new = new[new > 0]
        ids[new] = np.arange(next_id, next_id + len(new))
        next_id += len(new)
        after = {}
        if previous is not None and row["registration_ok"] is True:
            new_segment = np.zeros(len(ids), bool)
            new_segment[new] = True
            row["n_new_tips"] = int(new_segment[labels[rt.tips(length_px) & in_view]].sum())
            after = rt.lengths_by_id(rt.id_image(labels, ids), length_px, in_view)
        per_root = pd.Series(seg_lengths[1:], index=ids[1:]).groupby(level=0).sum()
        for root_id, length in per_root[per_root > 0].items():
            # Elongation compares the root's length within the shared view in both images.
            rate = ((after[root_id] - before.get(root_id, 0.0)) * pixel_size_mm / interval_days
                    if root_id in before and root_id in after and interval_days > 0 else np.nan)
            root_rows.append({"series": frame.series, "root_id": int(root_id), "timepoint": k + 1,
                              "image_id": frame.image_id, "timestamp": frame.timestamp,
                              "length_mm": float(length) * pixel_size_mm, "elongation_rate_mm_per_day": rate})
        rows.append(row)
        previous = (frame, mask, probability, length_px, rt.id_image(labels, ids))
    if state is not None and previous is not None:
        state.update(id_image=previous[4], next_id=next_id)
    roots = rt.summarise(pd.DataFrame(root_rows, columns=[*ROOT_COLUMNS[:6], "elongation_rate_mm_per_day"]))
    return pd.DataFrame(rows, columns=GROWTH_COLUMNS), roots


#: version of track_series' results; bump it when they change, so cached series are tracked again
TRACK_VERSION = 2


def series_signature(frames: pd.DataFrame, settings: dict, stamps: list) -> str:
    """Identifies a series' inputs: images, their lengths and segmentations, settings, code."""
    from . import __version__

    key = frames.sort_values("image_id")[["image_id", "total_length_mm"]].to_json(orient="values")
    blob = json.dumps([key, settings, sorted(stamps), __version__, TRACK_VERSION], sort_keys=True,
                      default=str).encode()
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


#: per-image bookkeeping columns of the manifest, not series metadata
BOOKKEEPING = set(MANIFEST_COLUMNS) - {"series"}


def _to_parquet_signed(frame: pd.DataFrame, path: Path, signature: str) -> None:
    """Write ``frame`` with ``signature`` in the parquet file's metadata (rows may be none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {**(table.schema.metadata or {}), b"rootpipe_signature": signature.encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def _parquet_signature(path: Path) -> str | None:
    """The signature :func:`_to_parquet_signed` wrote, or None."""
    import pyarrow.parquet as pq

    value = (pq.read_schema(path).metadata or {}).get(b"rootpipe_signature")
    return value.decode() if value is not None else None


def series_metadata(traits: pd.DataFrame, time_fields=()) -> pd.DataFrame:
    """Columns that describe a whole series (tube, window, genotype, treatment, ...).

    Those are the text columns that hold one value per series, except the file-name
    fields that make the timestamp (``time_fields``): with one session so far a date
    holds one value per series too, and the tables' columns would change with the second.
    """
    text = [c for c in traits.columns
            if c not in BOOKKEEPING and c != "series" and c not in time_fields
            and not pd.api.types.is_numeric_dtype(traits[c])
            and not pd.api.types.is_datetime64_any_dtype(traits[c])]
    per_series = traits.groupby("series")[text].nunique(dropna=False).max() if text else pd.Series()
    keep = [c for c in text if per_series.get(c, 2) <= 1]
    return traits.groupby("series", sort=True)[keep].first().reset_index()


def smooth_lengths(growth: pd.DataFrame, window: int) -> pd.Series:
    """Centred running median of ``total_length_mm`` within each series (``window`` timepoints).

    Damps a single badly segmented session without forcing the series to be
    non-decreasing: roots do disappear from minirhizotron windows. The window
    shrinks symmetrically towards a series' ends (the first and last timepoints
    keep their own value): a one-sided window there would pull the latest,
    longest measurement towards the earlier ones. An even ``window`` counts as
    the next odd one.
    """
    def centred(v: pd.Series) -> pd.Series:
        values, half = v.to_numpy(float), window // 2
        out = [np.nanmedian(values[i - h:i + h + 1])
               for i in range(len(values)) for h in [min(half, i, len(values) - 1 - i)]]
        return pd.Series(out, index=v.index)

    return growth.sort_values(["series", "timestamp"]).groupby("series")["total_length_mm"].transform(centred)


def imaging_rounds(growth: pd.DataFrame) -> pd.Series:
    """The campaign's imaging round of each row, named by its first day (YYYY-MM-DD).

    A round is a run of imaging days (sessions) that image different series, each day less
    than half the median interval between a series' images after the one before: tubes
    imaged on Mondays and others on Tuesdays of each week share one round per week, where
    sessions would split every week's group in two. A day that images a series the round
    already holds starts a new round, so daily imaging keeps one round per day, and two
    sessions a few days apart stay apart when a later, sparser one raises the median
    interval (a round must not swallow the session before it when new images arrive).
    """
    days = growth["timestamp"].dt.normalize()
    gaps = growth.sort_values("timestamp").groupby("series")["timestamp"].diff().dt.total_seconds() / 86400
    typical = gaps[gaps > 0].median()
    limit = typical / 2 if pd.notna(typical) else 0.5
    series_on = growth.groupby(days)["series"].agg(set).sort_index()
    label, first, held, last = {}, None, set(), None
    for day, series in series_on.items():
        if first is None or (day - last).total_seconds() / 86400 >= limit or held & series:
            first, held = day, set()
        held |= series
        label[day], last = first.strftime("%Y-%m-%d"), day
    return days.map(label).astype(object).where(days.notna(), pd.NA)


def summarise_groups(growth: pd.DataFrame, group_by: list[str]) -> pd.DataFrame:
    """Mean and 95 % confidence interval of growth curves per group and imaging round.

    Parameters
    ----------
    growth : the growth table with metadata columns.
    group_by : metadata columns (e.g. genotype, treatment); series of one group
        imaged on the same day are averaged.

    Returns
    -------
    One row per group x imaging round (:func:`imaging_rounds`): ``n_series``, and for ``total_length_mm``,
    ``growth_rate_mm_per_day``, ``length_gained_mm``, ``length_lost_mm``: ``_n`` (series with a
    value: gained and lost need a good registration, a rate an earlier image), ``_mean``,
    ``_ci95_low``, ``_ci95_high`` (Student t interval over series; NaN with one series; the low
    end of a length no lower than 0).
    Several images of one series in one round count once: its length is the round's last
    image's, gained and lost are the round's sums, and its rate is the summed length change
    over the summed time since the images before (an image retaken hours later must not average
    a week's rate with an hour's).
    """
    from scipy import stats

    table = growth.sort_values(["series", "timestamp"]).assign(
        imaging_round=lambda t: imaging_rounds(t),
        _interval=lambda t: t.groupby("series")["days"].diff())
    rated = table["growth_rate_mm_per_day"].notna()
    table["_change"] = table["length_change_mm"].where(rated)
    table["_interval"] = table["_interval"].where(rated)
    keys = [*group_by, "imaging_round"]
    values = SUMMARY_QUANTITIES
    day = table.groupby([*keys, "series"], dropna=False, sort=True)
    per_series = pd.DataFrame({
        "total_length_mm": day["total_length_mm"].last(),
        "growth_rate_mm_per_day": day["_change"].sum(min_count=1) / day["_interval"].sum(min_count=1),
        "length_gained_mm": day["length_gained_mm"].sum(min_count=1),
        "length_lost_mm": day["length_lost_mm"].sum(min_count=1)})
    grouped = per_series.groupby(level=list(range(len(keys))), dropna=False)
    out = grouped.size().rename("n_series").to_frame()
    out.index.names = keys
    for v in values:
        mean, sd, n = grouped[v].mean(), grouped[v].std(), grouped[v].count()
        half = stats.t.ppf(0.975, (n - 1).clip(lower=1)) * sd / np.sqrt(n)
        half = half.where(n > 1)
        low = mean - half
        if v != "growth_rate_mm_per_day":  # lengths cannot be negative; a rate can
            low = low.clip(lower=0)
        out[f"{v}_n"], out[f"{v}_mean"], out[f"{v}_ci95_low"], out[f"{v}_ci95_high"] = n, mean, low, mean + half
    return out.reset_index()


def default_group_by(growth: pd.DataFrame, config: dict) -> list[str]:
    """Metadata columns that describe groups of series: not the ones naming a series or a time."""
    if config["track"].get("group_by"):
        return list(config["track"]["group_by"])
    naming = {*config.get("series_fields", []), *config.get("timestamp_fields", []), *GROWTH_COLUMNS, "imaging_round"}
    return [c for c in series_metadata(growth).columns if c not in naming]


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
    from tqdm import tqdm

    from .config import pixel_size_mm
    from .segment import read_mask, read_probability
    from .tile import read_image_level

    out = Path(out)
    roots_out = Path(roots_out) if roots_out else out.with_name("roots.parquet")
    summary_out = Path(summary_out) if summary_out else out.with_name("growth_summary.parquet")
    results = Path(config["results_dir"])
    settings = {k: v for k, v in config["track"].items() if k not in ("group_by", "smoothing_window")}
    settings["pixel_size_mm"] = pixel_size_mm(config)
    border_px = config.get("border_px") or 0
    if border_px:  # in the series' signatures only when set: campaigns without it keep their cache
        settings["border_px"] = border_px
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
    store = lambda image_id: results / "segmentation" / f"{batch_of[image_id]}.zarr"

    def stamps_of(frames: pd.DataFrame) -> list:
        # A re-segmented batch is a new store (atomic rename): its mtime changes.
        return [(b, (results / "segmentation" / f"{b}.zarr").stat().st_mtime_ns)
                for b in sorted(set(frames["batch"]))]

    def one(series: str, frames: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str]:
        frames = frames.sort_values(["timestamp", "image_id"], ignore_index=True)
        signature = series_signature(frames, settings, stamps_of(frames))
        cached = cache_dir / f"{series}.parquet"
        cached_roots, cached_state = cache_dir / f"{series}.roots.parquet", cache_dir / f"{series}.state.npz"
        resume = None
        if cached.exists() and cached_roots.exists() and cached_state.exists():
            table = pd.read_parquet(cached)
            # The three files are one result only if all carry the table's signature: a run
            # stopped between their writes leaves roots or state of a later timepoint.
            cached_signature = table["signature"].iloc[0] if len(table) else None  # one per table
            with np.load(cached_state) as npz:
                saved = ({"id_image": npz["id_image"], "next_id": int(npz["next_id"])}
                         if "signature" in npz and str(npz["signature"]) == cached_signature else None)
            consistent = saved is not None and _parquet_signature(cached_roots) == cached_signature
            if consistent and cached_signature == signature:
                return table.drop(columns="signature"), pd.read_parquet(cached_roots), "cached"
            # A new timepoint after the cached ones: carry on from the last cached frame.
            n = len(table)
            if (consistent and n < len(frames) and list(table["image_id"]) == list(frames["image_id"].iloc[:n])
                    and cached_signature == series_signature(frames.iloc[:n], settings,
                                                             stamps_of(frames.iloc[:n]))):
                resume = {"growth": table, "roots": pd.read_parquet(cached_roots), **saved}
        if settings["register_on"] == "image":
            reference = lambda i: registration_image(
                read_image_level(results / "images" / f"{batch_of[i]}.zarr", i, 0))
        else:
            reference = lambda i: read_probability(store(i), i).astype(np.float32) / 255
        state = {}
        table, roots = track_series(frames, lambda i: clear_border(read_mask(store(i), i), border_px), reference,
                                    settings["pixel_size_mm"], settings["tolerance_px"],
                                    settings["max_shift_px"], settings["registration"],
                                    settings["min_quality"], resume=resume, state=state)
        with atomic_path(cached_state) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, id_image=state["id_image"], next_id=state["next_id"],
                                    signature=signature)
        with atomic_path(cached_roots) as tmp:
            _to_parquet_signed(roots, tmp, signature)
        with atomic_path(cached) as tmp:  # written last: it is what marks the cache valid
            table.assign(signature=signature).to_parquet(tmp, index=False)
        return table, roots, "resumed" if resume else "tracked"

    groups = list(traits.groupby("series", sort=True))
    with ThreadPoolExecutor(max(1, threads)) as pool:
        done = list(tqdm(pool.map(lambda g: one(*g), groups), total=len(groups), desc="track",
                         unit="series", disable=not progress))
    growth = pd.concat([d[0] for d in done], ignore_index=True) if done else pd.DataFrame(columns=GROWTH_COLUMNS)
    # The source file beside each image_id, so a row leads back to the image.
    file_of = dict(zip(traits["image_id"], traits["file"]))
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
