"""Growth tracking on real minirhizotron time series: peanut tube T064 (PlantRootSeg).

The 176 images of ``plantrootseg/peanut`` (45 windows of tube T064, 1 to 6
sessions each, 736 x 552 px, every image hand-annotated) go through the whole
workflow (``rootpipe run``, classical segmentation). Production (length gained),
loss (length lost) and net change per window and interval are then computed twice:

``predicted``
    the pipeline's ``growth.parquet``: rootpipe's own masks, registered on its
    own probability maps.
``annotated``
    :func:`rootpipe.tracking.series.track_series` on the annotation masks (root = 255 in
    channel 0 of the RGBA PNG), registered on the annotation masks themselves
    (``load_probability`` = mask as float), ``total_length_mm`` from
    :func:`rootpipe.traits.measure` on the mask, same track settings.

and compared: R^2 about the identity line, squared Pearson r, least-squares
slope predicted ~ annotated, over the intervals where both sides measured the
quantity. Net change (``length_change_mm``) needs no registration and is
compared on every interval. As a reference for the registrations, each
interval is also registered on the grey images themselves (phase correlation,
:func:`rootpipe.tracking.register.register`), which nothing in the pipeline uses.

The pixel size of these images is not published: the config says 1 mm/px, so
every ``_mm`` number here is in px.

Usage::

    python benchmarks/growth_peanut.py --data ../shared/data [--out DIR]
        [--sigmas 1.5 3 5] [--threshold 0.5] [--max-shift-px 50 160] [--sweep] [--no-write]

``--max-shift-px`` takes one or more values: the workflow is run once per value
(segmentation and traits are reused, only track and report re-run). ``--sweep``
adds a table of per-image segmentation quality for a few classical settings
(library calls, no workflow). ``DIR`` (default ``/tmp/rootpipe-growth-peanut``)
receives ``config.yaml``, ``results/`` and the per-interval tables; the images
are read in place and never copied. Unless ``--no-write``, the section between
the ``growth-peanut`` markers of ``docs/growth.md`` is replaced.
"""
from __future__ import annotations

import argparse
import os
import platform
import shlex
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import yaml
from common import replace_section, run_pipeline  # benchmarks/common.py
from PIL import Image

from rootpipe.config import load
from rootpipe.tracking.register import register
from rootpipe.tracking.series import track_series
from rootpipe.traits import measure

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "growth.md"
BEGIN, END = "<!-- growth-peanut:begin -->", "<!-- growth-peanut:end -->"
DATASET = "plantrootseg_peanut"
PATTERN = r"(?P<tube>T\d+)_(?P<window>L\d+)_(?P<date>\d{4}\.\d{2}\.\d{2})_(?P<time>\d{6})"
SWEEP = [((1.5, 3.0, 5.0), 0.5), ((1.5, 3.0, 5.0), 0.7), ((2.0, 4.0, 6.0), 0.5), ((3.0, 5.0), 0.5),
         ((4.0, 6.0), 0.5)]
#: Shift (px) between the mask and the image registration below which the two count as agreeing.
AGREE_PX = 10.0


def read_annotation(path: Path) -> np.ndarray:
    """``mask_png_rgba_ch0``: root where channel 0 is 255; uint8 0/1."""
    a = np.asarray(Image.open(path))
    return ((a[..., 0] if a.ndim == 3 else a) == 255).astype(np.uint8)


def read_gray(path: Path) -> np.ndarray:
    return cv2.cvtColor(np.asarray(Image.open(path).convert("RGB")), cv2.COLOR_RGB2GRAY).astype(np.float32)


def pairs(data: Path) -> pd.DataFrame:
    table = pd.read_csv(data / "pairs.csv")
    table = table[table["dataset"] == DATASET].copy()
    table["file"] = table["image"].map(lambda p: Path(p).name)
    return table[["file", "image", "annotation", "annotation_type", "split"]]


def write_config(out: Path, images: Path, sigmas, threshold: float, max_shift_px: float,
                 min_quality: float) -> Path:
    config = {
        "input_dir": str(images),
        "metadata_csv": None,
        "results_dir": "results",
        "filename_pattern": PATTERN,
        "series_fields": ["tube", "window"],
        "timestamp_fields": ["date", "time"],
        "timestamp_format": "%Y.%m.%d %H%M%S",
        "pixel_size_mm": 1.0,  # unknown: every _mm column is px
        "segment": {"method": "classical", "ridge_sigmas_px": [float(s) for s in sigmas],
                    "threshold": float(threshold)},
        "track": {"max_shift_px": float(max_shift_px), "min_quality": float(min_quality)},
    }
    path = out / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def frames_from_manifest(results: Path, pair_table: pd.DataFrame) -> pd.DataFrame:
    manifest = pd.read_parquet(results / "manifest.parquet")
    frames = manifest[manifest["status"] == "accepted"][["image_id", "series", "timestamp", "file"]]
    return frames.merge(pair_table, on="file", how="left", validate="one_to_one")


def annotated_growth(data: Path, frames: pd.DataFrame, track: dict) -> tuple[pd.DataFrame, float]:
    """Growth rows from the annotation masks, and the seconds it took."""
    t0 = time.perf_counter()
    path_of = dict(zip(frames["image_id"], frames["annotation"]))
    cache: dict[str, np.ndarray] = {}

    def load_mask(image_id):
        if image_id not in cache:
            cache[image_id] = read_annotation(data / path_of[image_id])
        return cache[image_id]

    frames = frames.assign(total_length_mm=[measure(load_mask(i), 1.0)["total_length_mm"]
                                            for i in frames["image_id"]])
    tables = []
    for _, group in frames.groupby("series", sort=True):
        table, _ = track_series(group, load_mask, lambda i: load_mask(i).astype(np.float32), 1.0,
                                track["tolerance_px"], track["max_shift_px"], track["registration"],
                                track["min_quality"])
        tables.append(table)
    return pd.concat(tables, ignore_index=True), time.perf_counter() - t0


def image_registration(data: Path, growth: pd.DataFrame, frames: pd.DataFrame) -> pd.DataFrame:
    """Shift of each image relative to the previous one of its series, from the grey images."""
    path_of = dict(zip(frames["image_id"], frames["image"]))
    rows = []
    for _, g in growth.sort_values(["series", "timepoint"]).groupby("series"):
        ids = g["image_id"].tolist()
        for prev, cur in zip(ids, ids[1:]):
            r = register(read_gray(data / path_of[prev]), read_gray(data / path_of[cur]))
            rows.append({"image_id": cur, "image_dy_px": r["shift_y_px"], "image_dx_px": r["shift_x_px"],
                         "image_quality": r["quality"]})
    return pd.DataFrame(rows)


def agreement(pred: pd.Series, ann: pd.Series) -> dict:
    ok = pred.notna() & ann.notna()
    p, a = pred[ok].to_numpy(float), ann[ok].to_numpy(float)
    out = {"n": int(ok.sum()), "R2": np.nan, "r2": np.nan, "slope": np.nan,
           "sum_pred": p.sum(), "sum_ann": a.sum()}
    if len(a) >= 3 and np.ptp(a) > 0:
        out["R2"] = 1 - np.sum((p - a) ** 2) / np.sum((a - a.mean()) ** 2)
        out["r2"] = np.corrcoef(p, a)[0, 1] ** 2 if np.ptp(p) > 0 else 0.0
        out["slope"] = np.polyfit(a, p, 1)[0]
    return out


def compare(pred: pd.DataFrame, ann: pd.DataFrame, reg: pd.DataFrame) -> pd.DataFrame:
    cols = ["image_id", "series", "timepoint", "timestamp", "total_length_mm", "length_change_mm",
            "length_gained_mm", "length_lost_mm", "shift_y_px", "shift_x_px", "registration_quality",
            "registration_ok"]
    table = pred[cols].merge(ann[cols[:1] + cols[4:]], on="image_id", suffixes=("_pred", "_ann"),
                             validate="one_to_one")
    table = table.merge(reg, on="image_id", how="left")
    for side in ("pred", "ann"):
        table[f"shift_vs_image_px_{side}"] = np.hypot(table[f"shift_y_px_{side}"] - table["image_dy_px"],
                                                      table[f"shift_x_px_{side}"] - table["image_dx_px"])
    return table


def summarise(table: pd.DataFrame) -> dict:
    iv = table[table["timepoint"] > 1]
    ok_p = iv["registration_ok_pred"] == True  # noqa: E712 (pd.NA-safe)
    ok_a = iv["registration_ok_ann"] == True  # noqa: E712
    conf = iv["image_quality"] > 0.3
    big = np.maximum(iv["image_dy_px"].abs(), iv["image_dx_px"].abs())
    verified = (ok_p & ok_a & conf & (iv["shift_vs_image_px_pred"] < AGREE_PX)
                & (iv["shift_vs_image_px_ann"] < AGREE_PX))
    return {
        "images": len(table), "windows": table["series"].nunique(), "intervals": len(iv),
        "ok_pred": int(ok_p.sum()), "ok_ann": int(ok_a.sum()), "ok_both": int((ok_p & ok_a).sum()),
        "image_confident": int(conf.sum()),
        "image_shift_median_px": float(big[conf].median()), "image_shift_max_px": float(big[conf].max()),
        "pred_agrees_image": int((iv["shift_vs_image_px_pred"] < AGREE_PX)[conf].sum()),
        "ann_agrees_image": int((iv["shift_vs_image_px_ann"] < AGREE_PX)[conf].sum()),
        "pred_ok_wrong": int((ok_p & conf & (iv["shift_vs_image_px_pred"] >= AGREE_PX)).sum()),
        "ann_ok_wrong": int((ok_a & conf & (iv["shift_vs_image_px_ann"] >= AGREE_PX)).sum()),
        "total": agreement(table["total_length_mm_pred"], table["total_length_mm_ann"]),
        "change": agreement(iv["length_change_mm_pred"], iv["length_change_mm_ann"]),
        "gained": agreement(iv["length_gained_mm_pred"], iv["length_gained_mm_ann"]),
        "lost": agreement(iv["length_lost_mm_pred"], iv["length_lost_mm_ann"]),
        # Both registrations confirmed by the image reference: what is left is the masks.
        "gained_verified": agreement(iv.loc[verified, "length_gained_mm_pred"],
                                     iv.loc[verified, "length_gained_mm_ann"]),
        "lost_verified": agreement(iv.loc[verified, "length_lost_mm_pred"],
                                   iv.loc[verified, "length_lost_mm_ann"]),
        "ann_turnover": float(iv.loc[verified, "length_lost_mm_ann"].sum()
                              / iv.loc[verified, "length_gained_mm_ann"].sum()),
    }


def segmentation_sweep(data: Path, pair_table: pd.DataFrame) -> pd.DataFrame:
    """Pixel F1 and per-image length agreement of the classical segmenter, a few settings."""
    from rootpipe.segmentation.classical import probability
    from rootpipe.segmentation.segmenter import to_mask

    images = [np.asarray(Image.open(data / p).convert("RGB")) for p in pair_table["image"]]
    truth = [read_annotation(data / p) > 0 for p in pair_table["annotation"]]
    true_len = np.array([measure(t, 1.0)["total_length_mm"] for t in truth])
    rows = []
    for sigmas in dict.fromkeys(s for s, _ in SWEEP):
        t0 = time.perf_counter()
        probs = [probability(im, sigmas) for im in images]
        per_image = (time.perf_counter() - t0) / len(images)
        for s, threshold in SWEEP:
            if s != sigmas:
                continue
            masks = [to_mask(p, threshold, 60) > 0 for p in probs]
            tp = sum(int((m & t).sum()) for m, t in zip(masks, truth))
            fp = sum(int((m & ~t).sum()) for m, t in zip(masks, truth))
            fn = sum(int((~m & t).sum()) for m, t in zip(masks, truth))
            length = np.array([measure(m, 1.0)["total_length_mm"] for m in masks])
            a = agreement(pd.Series(length), pd.Series(true_len))
            rows.append({"ridge_sigmas_px": list(sigmas), "threshold": threshold,
                         "pixel_precision": tp / max(tp + fp, 1), "pixel_recall": tp / max(tp + fn, 1),
                         "pixel_F1": 2 * tp / max(2 * tp + fp + fn, 1), "length_R2": a["R2"],
                         "length_r2": a["r2"], "length_ratio": length.sum() / true_len.sum(),
                         "s_per_image": per_image})
    return pd.DataFrame(rows)


def fmt(v, digits=3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, (int, np.integer)):
        return str(v)
    return f"{v:.{digits}f}"


def by_session(table: pd.DataFrame) -> pd.DataFrame:
    """Mean total length per image and session date, predicted and annotated."""
    date = pd.to_datetime(table["timestamp"]).dt.strftime("%Y-%m-%d").rename("session")
    return table.groupby(date).agg(images=("image_id", "size"), predicted=("total_length_mm_pred", "mean"),
                                   annotated=("total_length_mm_ann", "mean")).reset_index()


def markdown(runs: list[dict], sweep: pd.DataFrame | None, command: str, args, first_seconds: float,
             ann_seconds: float, cold: bool) -> str:
    s0 = runs[0]["summary"]
    lines = [
        f"Command (from the repository root; {platform.machine()}, {os.cpu_count()} cores):",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Data: {s0['images']} images, {s0['windows']} windows, {s0['intervals']} intervals (consecutive "
        f"sessions of a window, 1–2 weeks apart). Classical segmentation, `ridge_sigmas_px: "
        f"{list(args.sigmas)}`, `threshold: {args.threshold}`; pixel size unknown, so **lengths are px** "
        f"(`pixel_size_mm: 1.0`). `rootpipe run` {'cold' if cold else 'warm (earlier results reused)'} "
        f"(ingest to report): **{first_seconds:.0f} s**; "
        f"each further `max_shift_px` re-runs only track and report. Annotated-mask tracking (library calls): "
        f"{ann_seconds:.0f} s.",
        "",
        "Agreement of predicted (rootpipe's masks, `growth.parquet`) with annotated (annotation masks through "
        "`track_series`), per interval; n = intervals where both sides have the number (gained/lost need "
        "`registration_ok` on both sides); R² about the identity line, r² squared Pearson, slope of the "
        "least-squares line predicted ~ annotated:",
        "",
        "| track.max_shift_px | quantity | n | R² | r² | slope | Σ predicted (px) | Σ annotated (px) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = {"total": "total length per image", "change": "net change", "gained": "production (gained)",
             "lost": "loss (lost)", "gained_verified": "production, both registrations verified",
             "lost_verified": "loss, both registrations verified"}
    for run in runs:
        for key, label in names.items():
            a = run["summary"][key]
            lines.append(f"| {fmt(run['max_shift_px'], 0)} | {label} | {a['n']} | {fmt(a['R2'], 2)} "
                         f"| {fmt(a['r2'], 2)} | {fmt(a['slope'], 2)} | {fmt(a['sum_pred'], 0)} "
                         f"| {fmt(a['sum_ann'], 0)} |")
    lines += [
        "",
        "Registration (per interval; the grey-image phase correlation is the reference where its peak "
        f"response is > 0.3; \"agrees\" = within {AGREE_PX:.0f} px of it):",
        "",
        "| track.max_shift_px | intervals | registration_ok predicted | registration_ok annotated | both "
        "| confident image reference | predicted agrees | annotated agrees | ok but wrong: predicted "
        "| ok but wrong: annotated |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        s = run["summary"]
        lines.append(f"| {fmt(run['max_shift_px'], 0)} | {s['intervals']} | {s['ok_pred']} | {s['ok_ann']} "
                     f"| {s['ok_both']} | {s['image_confident']} | {s['pred_agrees_image']} "
                     f"| {s['ann_agrees_image']} | {s['pred_ok_wrong']} | {s['ann_ok_wrong']} |")
    lines += [
        "",
        "\"Verified\" intervals: both sides `registration_ok` and both shifts within "
        f"{AGREE_PX:.0f} px of a confident grey-image registration, so the difference is the masks alone. "
        f"On those (max_shift_px {runs[-1]['max_shift_px']:g}), the annotated masks themselves lose "
        f"{runs[-1]['summary']['ann_turnover']:.2f} px for every px they gain "
        "(see the caveats).",
        "",
        f"Camera shifts between sessions (confident image registrations): median {s0['image_shift_median_px']:.0f} px, "
        f"largest {s0['image_shift_max_px']:.0f} px on the larger axis (frame 736 × 552 px).",
        "",
        "Mean total root length per image (px) by session: the classical masks and the annotations run in "
        "opposite directions over the season:",
        "",
        "| session | images | predicted | annotated |",
        "|---|---|---|---|",
    ]
    for r in runs[-1]["by_session"].itertuples():
        lines.append(f"| {r.session} | {r.images} | {r.predicted:.0f} | {r.annotated:.0f} |")
    if sweep is not None:
        lines += [
            "",
            "Classical segmentation against the annotation masks, all images (library calls, no workflow; "
            "`min_object_area_px` 60); length R² about the identity line and r² over per-image total length:",
            "",
            "| ridge_sigmas_px | threshold | pixel precision | pixel recall | pixel F1 | length R² | length r² "
            "| Σ length ratio | s/image |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in sweep.itertuples():
            lines.append(f"| {r.ridge_sigmas_px} | {r.threshold} | {r.pixel_precision:.3f} | {r.pixel_recall:.3f} "
                         f"| {r.pixel_F1:.3f} | {r.length_R2:.2f} | {r.length_r2:.3f} | {r.length_ratio:.2f} "
                         f"| {r.s_per_image:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="the shared data folder (holds pairs.csv)")
    p.add_argument("--out", type=Path, default=Path("/tmp/rootpipe-growth-peanut"))
    p.add_argument("--sigmas", type=float, nargs="+", default=[1.5, 3.0, 5.0],
                   help="segment.ridge_sigmas_px (default: the shipped 1.5 3 5)")
    p.add_argument("--threshold", type=float, default=0.5, help="segment.threshold (default 0.5)")
    p.add_argument("--max-shift-px", type=float, nargs="+", default=[150.0],
                   help="track.max_shift_px values, one workflow run each (default 150, the shipped value)")
    p.add_argument("--min-quality", type=float, default=0.05, help="track.min_quality (default 0.05)")
    p.add_argument("--sweep", action="store_true", help="add the classical-segmentation settings table")
    p.add_argument("--no-write", action="store_true", help="do not touch docs/growth.md")
    args = p.parse_args(argv)

    data = args.data.resolve()
    images = data / "plantrootseg" / "peanut" / "images"
    if not images.is_dir():
        raise SystemExit(f"{images} not found")
    out = args.out.resolve()
    if out == REPO or REPO in out.parents:
        raise SystemExit("--out must be outside the repository: these images are never copied into it")
    out.mkdir(parents=True, exist_ok=True)
    pair_table = pairs(data)
    cold = not (out / "results").exists()

    runs, first_seconds, ann_seconds, reg = [], None, 0.0, None
    for max_shift in args.max_shift_px:
        config = write_config(out, images, args.sigmas, args.threshold, max_shift, args.min_quality)
        seconds = run_pipeline(out, config)
        first_seconds = seconds if first_seconds is None else first_seconds
        print(f"rootpipe run (max_shift_px {max_shift:g}): {seconds:.0f} s")
        results = out / "results"
        frames = frames_from_manifest(results, pair_table)
        if frames["annotation"].isna().any():
            raise SystemExit(f"no annotation for {frames.loc[frames['annotation'].isna(), 'file'].tolist()}")
        track = load(str(config))["track"]  # the schema fills what the config leaves out
        pred = pd.read_parquet(results / "growth.parquet")
        ann, secs = annotated_growth(data, frames, track)
        ann_seconds = max(ann_seconds, secs)
        if reg is None:
            reg = image_registration(data, ann, frames)
        table = compare(pred, ann, reg)
        table.to_csv(out / f"intervals_max_shift_{max_shift:g}.csv", index=False)
        summary = summarise(table)
        runs.append({"max_shift_px": max_shift, "summary": summary, "by_session": by_session(table)})
        print(pd.DataFrame({k: v for k, v in summary.items() if isinstance(v, dict)}).T
              .to_string(float_format=lambda v: f"{v:.3f}"))
        print(pd.Series({k: v for k, v in summary.items() if not isinstance(v, dict)}).to_string())

    sweep = None
    if args.sweep:
        sweep = segmentation_sweep(data, pair_table)
        sweep.to_csv(out / "segmentation_sweep.csv", index=False)
        print(sweep.to_string(float_format=lambda v: f"{v:.3f}"))

    try:
        data_arg = os.path.relpath(data, REPO)
    except ValueError:
        data_arg = str(data)
    parts = [f"--data {shlex.quote(data_arg)}"]
    if args.out != p.get_default("out"):
        parts.append(f"--out {shlex.quote(str(args.out))}")
    if list(args.sigmas) != p.get_default("sigmas"):
        parts.append("--sigmas " + " ".join(f"{s:g}" for s in args.sigmas))
    if args.threshold != p.get_default("threshold"):
        parts.append(f"--threshold {args.threshold:g}")
    if list(args.max_shift_px) != p.get_default("max_shift_px"):
        parts.append("--max-shift-px " + " ".join(f"{s:g}" for s in args.max_shift_px))
    if args.min_quality != p.get_default("min_quality"):
        parts.append(f"--min-quality {args.min_quality:g}")
    if args.sweep:
        parts.append("--sweep")
    command = "python benchmarks/growth_peanut.py " + " ".join(parts)
    if not args.no_write:
        replace_section(DOC, BEGIN, END, markdown(runs, sweep, command, args, first_seconds, ann_seconds, cold))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
