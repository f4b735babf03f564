"""One series (plant, tube window) over its timepoints: growth rows, root identities, and the
campaign-wide tables made from them (imaging rounds, smoothed lengths, group summaries).
"""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from rootpipe.columns import GROWTH_COLUMNS, MANIFEST_COLUMNS, ROOT_COLUMNS, SUMMARY_QUANTITIES
from rootpipe.tracking import identity
from rootpipe.tracking.compare import _gained_lost, _shared_view
from rootpipe.tracking.register import register
from rootpipe.traits import skeleton_length_map

#: per-image bookkeeping columns of the manifest, not series metadata
BOOKKEEPING = set(MANIFEST_COLUMNS) - {"series"}


def track_series(frames: pd.DataFrame, load_mask, load_probability, pixel_size_mm: float,
                 tolerance_px: float = 3.0, max_shift_px: float = 150.0, method: str = "translation",
                 min_quality: float = 0.05, resume: dict | None = None,
                 state: dict | None = None, on_frame=None) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    on_frame : if given, called as ``on_frame(frame, mask, id_image)`` for every frame tracked
        (``id_image``: the root id of each skeleton pixel, 0 elsewhere), e.g. to write RSML.

    Returns
    -------
    growth : ``GROWTH_COLUMNS``, one row per image in time order. A failed
        registration, a size change or a repeated timestamp is a flagged row
        with a ``note``, never an exception.
    roots : one row per root and image it is seen in (``ROOT_COLUMNS``). Root ids
        run on across a flagged registration only as new roots.
    """

    # Long on purpose: each timepoint's steps (register, compare, root identities, the row) read the previous
    # frame's state; the measuring itself is in tracking.compare and tracking.identity.
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
        labels, seg_lengths = identity.segments(length_px)
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
                    ids = identity.inherit(labels, seg_lengths, prev_ids, prev_mask, reg["matrix"],
                                     tolerance_px, min_overlap_px)
                    # The field of view both images share, in each frame: what enters or leaves
                    # the frame by a camera shift is neither a new tip nor elongation.
                    in_view = _shared_view(prev_mask.shape, reg["matrix"], tolerance_px)
                    prev_in_view = _shared_view(mask.shape, cv2.invertAffineTransform(reg["matrix"]),
                                                tolerance_px)
                    before = identity.lengths_by_id(prev_ids, prev_length, prev_in_view)
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
            row["n_new_tips"] = int(new_segment[labels[identity.tips(length_px) & in_view]].sum())
            after = identity.lengths_by_id(identity.id_image(labels, ids), length_px, in_view)
        per_root = pd.Series(seg_lengths[1:], index=ids[1:]).groupby(level=0).sum()
        for root_id, length in per_root[per_root > 0].items():
            # Elongation compares the root's length within the shared view in both images.
            rate = ((after[root_id] - before.get(root_id, 0.0)) * pixel_size_mm / interval_days
                    if root_id in before and root_id in after and interval_days > 0 else np.nan)
            root_rows.append({"series": frame.series, "root_id": int(root_id), "timepoint": k + 1,
                              "image_id": frame.image_id, "timestamp": frame.timestamp,
                              "length_mm": float(length) * pixel_size_mm, "elongation_rate_mm_per_day": rate})
        rows.append(row)
        previous = (frame, mask, probability, length_px, identity.id_image(labels, ids))
        if on_frame is not None:
            on_frame(frame, mask, previous[4])
    if state is not None and previous is not None:
        state.update(id_image=previous[4], next_id=next_id)
    roots = identity.summarise(pd.DataFrame(root_rows, columns=[*ROOT_COLUMNS[:6], "elongation_rate_mm_per_day"]))
    return pd.DataFrame(rows, columns=GROWTH_COLUMNS), roots


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
