"""Growth tracking end to end on a synthetic campaign, against its exact truth.

A campaign of ``--series`` windows x ``--timepoints`` weekly visits at the demo
image size (768 x 1024 px, 0.05 mm/px) is written with
:func:`rootpipe.synthetic.make_campaign`, some laterals disappearing
(``--p-disappear``), and the whole workflow runs on it (``rootpipe run``,
segmentation by ``--method`` (default the shipped U-Net), the shipped defaults). Each
interval between consecutive visits of a series is then compared with the truth:

``change``
    ``length_change_mm`` against the change of ``true_length_mm`` (end-to-end
    root length) between the two visits.
``gained`` (production)
    ``length_gained_mm`` against the true added length: the sum over the
    series' roots of ``max(0, L_t - L_{t-1})`` (``truth/roots.csv``,
    end-to-end ``length_px``) x pixel size.
``lost`` (disappearance)
    ``length_lost_mm`` against the sum of ``max(0, L_{t-1} - L_t)``.
``shift``
    the recovered registration shift (``shift_y_px``, ``shift_x_px``: current
    image relative to the previous one) against the difference of the camera
    shifts recorded for the two visits (each relative to the series' first).

Scores: R^2 = 1 - SS_res / SS_tot about the identity line (measured = true),
slope and intercept of the least-squares line measured ~ true, per-interval
ratio measured / true, and campaign total ratio (sum measured / sum true).

Usage::

    python benchmarks/growth_synthetic.py [--out DIR] [--series 8] [--timepoints 5]
        [--seed 1] [--p-disappear 0.15] [--no-write]

``DIR`` (default ``/tmp/rootpipe-growth-synthetic``) receives the campaign
(``campaign/``), ``config.yaml`` and ``results/``; an existing ``results/`` is
reused by Snakemake (only missing or stale outputs are rebuilt), so delete it
for a cold timing. Unless ``--no-write``, the section between the
``growth-synthetic`` markers of ``docs/growth.md`` is replaced.
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

from rootpipe.config import load
from rootpipe.synthetic import make_campaign
from rootpipe.tracking.series import track_series
from rootpipe.traits import measure

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "growth.md"
BEGIN, END = "<!-- growth-synthetic:begin -->", "<!-- growth-synthetic:end -->"
IMAGE_SIZE = (768, 1024)
PIXEL_SIZE_MM = 0.05
TARGETS = {"change_R2": 0.95, "gained_total_ratio_pct": 10.0, "shift_max_abs_err_px": 0.5}


def write_config(out: Path, campaign: Path, method: str = "unet") -> Path:
    config = {
        "input_dir": str(campaign / "images"),
        "metadata_csv": str(campaign / "metadata.csv"),
        "results_dir": "results",
        "pixel_size_mm": PIXEL_SIZE_MM,
        "segment": {"method": method},
    }
    path = out / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def true_intervals(campaign: Path, pixel_size_mm: float) -> pd.DataFrame:
    """One row per series x visit (from the second on): true change, gained, lost, shift."""
    lengths = pd.read_csv(campaign / "truth" / "lengths.csv")
    roots = pd.read_csv(campaign / "truth" / "roots.csv")
    lengths = lengths.sort_values(["series", "date"], ignore_index=True)
    lengths["timepoint"] = lengths.groupby("series").cumcount() + 1
    by_series = lengths.groupby("series")
    lengths["true_change_mm"] = by_series["true_length_mm"].diff()
    lengths["true_dy_px"] = by_series["shift_y_px"].diff()
    lengths["true_dx_px"] = by_series["shift_x_px"].diff()

    roots = roots.sort_values(["series", "root_id", "date"], ignore_index=True)
    delta = roots.groupby(["series", "root_id"])["length_px"].diff()
    roots["gained_px"] = delta.clip(lower=0)
    roots["lost_px"] = (-delta).clip(lower=0)
    per_image = roots.groupby("file")[["gained_px", "lost_px"]].sum(min_count=1)
    lengths = lengths.join(per_image, on="file")
    lengths["true_gained_mm"] = lengths["gained_px"] * pixel_size_mm
    lengths["true_lost_mm"] = lengths["lost_px"] * pixel_size_mm
    return lengths[lengths["timepoint"] > 1].drop(columns=["gained_px", "lost_px"])


def compare(results: Path, truth: pd.DataFrame) -> pd.DataFrame:
    """Truth joined with the pipeline's growth rows (by file name)."""
    growth = pd.read_parquet(results / "growth.parquet")  # its rows carry their source file
    keep = ["file", "timepoint", "total_length_mm", "length_change_mm", "length_gained_mm",
            "length_lost_mm", "shift_y_px", "shift_x_px", "registration_quality", "registration_ok", "note"]
    table = truth.merge(growth[keep], on="file", how="left", suffixes=("", "_pipeline"))
    if (table["timepoint"] != table["timepoint_pipeline"]).any():
        raise SystemExit("timepoint numbering of growth.parquet does not match the truth")
    table["shift_err_y_px"] = table["shift_y_px_pipeline"] - table["true_dy_px"]
    table["shift_err_x_px"] = table["shift_x_px_pipeline"] - table["true_dx_px"]
    table["shift_err_px"] = np.hypot(table["shift_err_y_px"], table["shift_err_x_px"])
    return table


def oracle(campaign: Path, truth: pd.DataFrame, pixel_size_mm: float, track: dict) -> pd.DataFrame:
    """The same tracking on the truth masks (library calls, no segmentation).

    Separates what segmentation costs from what the tracking itself costs:
    ``total_length_mm`` from :func:`rootpipe.traits.measure` on the truth mask,
    registration on the truth mask as float.
    """
    lengths = pd.read_csv(campaign / "truth" / "lengths.csv")
    masks = {f: (cv2.imread(str(campaign / "truth" / f), cv2.IMREAD_GRAYSCALE) > 127).astype(np.uint8)
             for f in lengths["file"]}
    frames = lengths.assign(image_id=lengths["file"], timestamp=pd.to_datetime(lengths["date"]),
                            total_length_mm=[measure(masks[f], pixel_size_mm)["total_length_mm"]
                                             for f in lengths["file"]])
    tables = [track_series(g, masks.__getitem__, lambda i: masks[i].astype(np.float32), pixel_size_mm,
                           track["tolerance_px"], track["max_shift_px"], track["registration"],
                           track["min_quality"])[0]
              for _, g in frames.groupby("series", sort=True)]
    growth = pd.concat(tables, ignore_index=True).rename(columns={"image_id": "file"})
    keep = ["file", "length_change_mm", "length_gained_mm", "length_lost_mm", "shift_y_px", "shift_x_px"]
    table = truth.merge(growth[keep], on="file", how="left", suffixes=("", "_pipeline"))
    table["shift_err_y_px"] = table["shift_y_px_pipeline"] - table["true_dy_px"]
    table["shift_err_x_px"] = table["shift_x_px_pipeline"] - table["true_dx_px"]
    return table


def agreement(measured: pd.Series, true: pd.Series) -> dict:
    """R^2 about identity, least-squares slope/intercept, r^2, total ratio, n."""
    ok = measured.notna() & true.notna()
    m, t = measured[ok].to_numpy(float), true[ok].to_numpy(float)
    if len(t) < 2:
        return {"n": len(t)}
    ss_tot = np.sum((t - t.mean()) ** 2)
    slope, intercept = np.polyfit(t, m, 1)
    return {"n": len(t), "R2": 1 - np.sum((m - t) ** 2) / ss_tot if ss_tot > 0 else np.nan,
            "r2": np.corrcoef(m, t)[0, 1] ** 2, "slope": slope, "intercept_mm": intercept,
            "sum_measured_mm": m.sum(), "sum_true_mm": t.sum(),
            "total_ratio": m.sum() / t.sum() if t.sum() else np.nan,
            "mean_abs_err_mm": np.abs(m - t).mean()}


def summarise(table: pd.DataFrame, ideal: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    rows = {}
    for source, t in (("pipeline", table), ("truth masks", ideal)):
        for q in ("change", "gained", "lost"):
            rows[(source, q)] = agreement(t[f"length_{q}_mm"], t[f"true_{q}_mm"])
    summary = pd.DataFrame(rows).T
    ratio = table["length_gained_mm"] / table["true_gained_mm"]
    extra = {
        "intervals": len(table),
        "registration_ok": int((table["registration_ok"] == True).sum()),  # noqa: E712
        "shift_max_abs_err_px": float(np.nanmax(np.abs(table[["shift_err_y_px", "shift_err_x_px"]]))),
        "shift_mean_abs_err_px": float(np.nanmean(np.abs(table[["shift_err_y_px", "shift_err_x_px"]]))),
        "gained_ratio_median": float(ratio.median()),
        "gained_ratio_min": float(ratio.min()), "gained_ratio_max": float(ratio.max()),
        "lost_intervals_true": int((table["true_lost_mm"] > 0).sum()),
        "lost_false_alarm_mm": float(table.loc[table["true_lost_mm"] == 0, "length_lost_mm"].sum()),
        # gained - lost should add up to the net change; what it misses is length no side counts
        "balance_gap_mm": float((table["length_gained_mm"] - table["length_lost_mm"]).sum()
                                - table["length_change_mm"].sum()),
        "ideal_shift_max_abs_err_px": float(np.nanmax(np.abs(ideal[["shift_err_y_px", "shift_err_x_px"]]))),
    }
    return summary, extra


def fmt(v, digits=2) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "**no**"
    if isinstance(v, (int, np.integer)):
        return str(v)
    return f"{v:.{digits}f}"


def markdown(summary: pd.DataFrame, extra: dict, table: pd.DataFrame, command: str,
             seconds: float, args, cold: bool) -> str:
    n_images = args.series * args.timepoints
    lines = [
        f"Command (from the repository root; {platform.machine()}, {os.cpu_count()} cores, "
        f"{args.method} segmentation, shipped defaults otherwise):",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Campaign: {args.series} series x {args.timepoints} weekly visits = {n_images} images of "
        f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} px at {PIXEL_SIZE_MM} mm/px, seed {args.seed}, "
        f"p_disappear {args.p_disappear}; {extra['intervals']} intervals, "
        f"{extra['registration_ok']} with registration_ok. `rootpipe run` (ingest to report, "
        f"{'cold' if cold else 'warm: earlier results reused'}): "
        f"**{seconds:.0f} s** ({seconds / n_images:.1f} s per image).",
        "",
        "Rows \"pipeline\" are `growth.parquet`; rows \"truth masks\" run the same tracking "
        "(`track_series`, same settings) on the generator's exact masks, so their gap to the truth is what "
        "the tracking and the length estimator cost, and the rest is segmentation.",
        "",
        "| masks | quantity | n | R² (identity) | r² | slope | intercept (mm) | Σ measured (mm) | Σ true (mm) "
        "| total ratio | mean abs err (mm) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (source, name), r in summary.iterrows():
        lines.append(f"| {source} | {name} | {int(r['n'])} | {fmt(r['R2'], 3)} | {fmt(r['r2'], 3)} "
                     f"| {fmt(r['slope'], 3)} "
                     f"| {fmt(r['intercept_mm'])} | {fmt(r['sum_measured_mm'], 1)} | {fmt(r['sum_true_mm'], 1)} "
                     f"| {fmt(r['total_ratio'], 3)} | {fmt(r['mean_abs_err_mm'])} |")
    ch, ga = summary.loc[("pipeline", "change")], summary.loc[("pipeline", "gained")]
    lines += [
        "",
        f"Registration: max |error| {extra['shift_max_abs_err_px']:.2f} px per axis, mean "
        f"{extra['shift_mean_abs_err_px']:.2f} px, over {extra['intervals']} intervals. "
        f"Production per-interval ratio: median {extra['gained_ratio_median']:.3f}, range "
        f"{extra['gained_ratio_min']:.3f}–{extra['gained_ratio_max']:.3f}. Loss: "
        f"{extra['lost_intervals_true']} intervals with true loss; length reported lost where nothing "
        f"was: {extra['lost_false_alarm_mm']:.1f} mm in all. Σ gained − Σ lost − Σ change = "
        f"{extra['balance_gap_mm']:+.1f} mm (length that neither gained nor lost accounts for). "
        f"Registration on the truth masks: max |error| {extra['ideal_shift_max_abs_err_px']:.2f} px.",
        "",
        "Targets: "
        f"change R² ≥ {TARGETS['change_R2']} → {ch['R2']:.3f} "
        f"({'met' if ch['R2'] >= TARGETS['change_R2'] else '**not met**'}); "
        f"production total within {TARGETS['gained_total_ratio_pct']:.0f} % → "
        f"{100 * (ga['total_ratio'] - 1):+.1f} % "
        f"({'met' if abs(ga['total_ratio'] - 1) * 100 <= TARGETS['gained_total_ratio_pct'] else '**not met**'}); "
        f"shift error ≤ {TARGETS['shift_max_abs_err_px']} px → {extra['shift_max_abs_err_px']:.2f} px "
        f"({'met' if extra['shift_max_abs_err_px'] <= TARGETS['shift_max_abs_err_px'] else '**not met**'}).",
        "",
        "Per interval (lengths in mm; shift = current relative to previous visit, px, as (y, x)):",
        "",
        "| series | visits | Δ true | Δ measured | gained true | gained measured | ratio | lost true "
        "| lost measured | shift true | shift measured | reg ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        ratio = r.length_gained_mm / r.true_gained_mm if r.true_gained_mm else np.nan
        lines.append(
            f"| {r.series} | {r.timepoint - 1}→{r.timepoint} | {r.true_change_mm:.2f} | {fmt(r.length_change_mm)} "
            f"| {r.true_gained_mm:.2f} | {fmt(r.length_gained_mm)} | {fmt(ratio, 3)} | {r.true_lost_mm:.2f} "
            f"| {fmt(r.length_lost_mm)} | ({r.true_dy_px:+.0f}, {r.true_dx_px:+.0f}) "
            f"| ({r.shift_y_px_pipeline:+.2f}, {r.shift_x_px_pipeline:+.2f}) | {fmt(r.registration_ok)} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("/tmp/rootpipe-growth-synthetic"))
    p.add_argument("--series", type=int, default=8)
    p.add_argument("--timepoints", type=int, default=5)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--p-disappear", type=float, default=0.15)
    p.add_argument("--method", default="unet", choices=["unet", "classical"],
                   help="segment.method (default: the shipped U-Net)")
    p.add_argument("--no-write", action="store_true", help="do not touch docs/growth.md")
    args = p.parse_args(argv)

    out = args.out.resolve()
    campaign = out / "campaign"
    out.mkdir(parents=True, exist_ok=True)
    cold = not (out / "results").exists()
    t0 = time.perf_counter()
    make_campaign(campaign, n_series=args.series, n_timepoints=args.timepoints, image_size=IMAGE_SIZE,
                  seed=args.seed, pixel_size_mm=PIXEL_SIZE_MM, p_disappear=args.p_disappear)
    print(f"campaign: {args.series * args.timepoints} images in {time.perf_counter() - t0:.0f} s -> {campaign}")
    config = write_config(out, campaign, args.method)
    seconds = run_pipeline(out, config)
    print(f"rootpipe run: {seconds:.0f} s")

    table = compare(out / "results", true_intervals(campaign, PIXEL_SIZE_MM))
    table.to_csv(out / "intervals.csv", index=False)
    track = load(str(config))["track"]
    t0 = time.perf_counter()
    ideal = oracle(campaign, true_intervals(campaign, PIXEL_SIZE_MM), PIXEL_SIZE_MM, track)
    print(f"tracking on the truth masks: {time.perf_counter() - t0:.0f} s")
    summary, extra = summarise(table, ideal)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(summary.to_string(float_format=lambda v: f"{v:.3f}"))
        print(pd.Series(extra).to_string())
        cols = ["series", "timepoint", "true_change_mm", "length_change_mm", "true_gained_mm",
                "length_gained_mm", "true_lost_mm", "length_lost_mm", "true_dy_px", "shift_y_px_pipeline",
                "true_dx_px", "shift_x_px_pipeline", "registration_ok"]
        print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.2f}"))

    command = "python benchmarks/growth_synthetic.py " + " ".join(
        [f"--out {shlex.quote(str(args.out))}"] * (args.out != p.get_default("out"))
        + [f"--series {args.series}", f"--timepoints {args.timepoints}", f"--seed {args.seed}",
           f"--p-disappear {args.p_disappear}"])
    if not args.no_write:
        replace_section(DOC, BEGIN, END, markdown(summary, extra, table, command, seconds, args, cold))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
