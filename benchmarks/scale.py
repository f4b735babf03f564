"""Scale: job count and DAG time at 10,000 images; a 1,000-image run; adding a timepoint.

Three measurements, each printed as a markdown table:

``dag``
    A campaign of ``--dag-images`` tiny images (64 x 64 px PNG; a dry run never
    reads pixels) is ingested, then ``snakemake -n`` builds the DAG with
    ``profiles/slurm`` (the executor plugin must be installed). Reported: ingest
    time, dry-run wall time, Snakemake's per-rule job counts, and the number of
    SLURM submissions (group jobs count once; the local ``default`` rule not at all).
``run``
    A synthetic campaign of ``--series`` x ``--timepoints`` images of
    ``--size`` px runs end to end with ``rootpipe run`` (profile local, all
    cores). Every rule writes a Snakemake ``benchmark:`` file (the job's wall
    time from process start to exit); orchestration overhead is
    ``1 - sum(job times) / end-to-end time``. Every CPU rule asks for all the
    machine's cores, so jobs run one at a time and the sum is comparable.
``incremental``
    One more timepoint (``--series`` images) is added and the run repeated:
    its wall time against the full run's.

Usage::

    python benchmarks/scale.py --work /tmp/rootpipe-scale [--dag-images 10000]
        [--series 100 --timepoints 10 --size 512] [--skip-run]
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "input_dir: images\nresults_dir: results\nmetadata_csv: null\nbatch_size: 50\n"


def rootpipe(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rootpipe.cli", *args], cwd=cwd, check=True,
                          capture_output=True, text=True)


def tiny_campaign(folder: Path, n_images: int, n_series: int = 100) -> None:
    """``n_images`` 64 x 64 px PNGs named like the default pattern (T.._L.._YYYY-MM-DD)."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    start = dt.date(2026, 1, 1)
    for k in range(n_images):
        series, timepoint = k % n_series, k // n_series
        name = f"T{series // 10 + 1:03d}_L{series % 10 + 1:02d}_{start + dt.timedelta(days=timepoint)}.png"
        cv2.imwrite(str(images / name), rng.integers(0, 255, (64, 64, 3), np.uint8))


def submissions(dry_run: str) -> tuple[dict, int]:
    """Per-rule job counts (Snakemake's 'Job stats') and the number of jobs a cluster gets."""
    table = dry_run.split("Job stats:")[1].split("total")[0]
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}
    groups = dry_run.count("Group job ")
    # Jobs outside groups are printed unindented; `default` runs on the submitting machine.
    alone = [r for r in re.findall(r"^rule (\w+):", dry_run, re.M) if r != "default"]
    return counts, groups + len(alone)


def bench_dag(work: Path, n_images: int) -> list[str]:
    folder = work / "dag"
    if not (folder / "images").exists():
        tiny_campaign(folder, n_images)
    (folder / "config.yaml").write_text(CONFIG)
    start = time.perf_counter()
    rootpipe(folder, "ingest", "--config", "config.yaml", "--quiet", "--threads", "2")
    ingest_s = time.perf_counter() - start
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"),
                           "--profile", str(ROOT / "profiles/slurm"), "--configfile", "config.yaml"],
                          cwd=folder, capture_output=True, text=True)
    dag_s = time.perf_counter() - start
    if proc.returncode:
        sys.exit(proc.stderr[-3000:])
    counts, jobs = submissions(proc.stdout + proc.stderr)
    n_batches = len(list((folder / "results/batches").glob("*.tsv")))
    return [f"Dry run of a {n_images}-image campaign (64 x 64 px PNGs, 100 series), profiles/slurm, batch_size 50",
            "", "| measure | value |", "| --- | --- |",
            f"| ingest (decode and check every file, 2 threads) | {ingest_s:.1f} s |",
            f"| `snakemake -n` (DAG build, whole command) | {dag_s:.1f} s |",
            f"| batches | {n_batches} |",
            f"| jobs per rule | {', '.join(f'{k} {v}' for k, v in counts.items())} |",
            f"| SLURM submissions (one group job per batch) | {jobs} |",
            f"| limit: images / 50 + 20 | {n_images // 50 + 20} |", ""]


def job_seconds(results: Path, since: float) -> pd.DataFrame:
    """Wall seconds of every job whose benchmark file was written after ``since``."""
    rows = []
    for path in results.joinpath("benchmarks").rglob("*.tsv"):
        if path.stat().st_mtime >= since:
            stage = path.parent.name if path.parent.name != "benchmarks" else path.stem
            record = pd.read_csv(path, sep="\t").iloc[0]
            rows.append({"stage": stage, "s": float(record["s"]), "max_rss_mb": float(record["max_rss"])})
    return pd.DataFrame(rows)


def timed_run(folder: Path) -> tuple[float, pd.DataFrame]:
    since = time.time() - 1
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rootpipe.cli", "run", "--configfile", "config.yaml"],
                   cwd=folder, check=True, capture_output=True, text=True)
    return time.perf_counter() - start, job_seconds(folder / "results", since)


def bench_run(work: Path, n_series: int, n_timepoints: int, size: int) -> list[str]:
    from rootpipe.synthetic import make_campaign

    folder = work / "run"
    if folder.exists():
        shutil.rmtree(folder)
    make_campaign(folder / "campaign", n_series=n_series, n_timepoints=n_timepoints + 1,
                  image_size=(size, size), seed=1, progress=True)
    (folder / "images").mkdir()
    generated = sorted(folder.joinpath("campaign/images").iterdir())
    last_date = max(p.stem[-10:] for p in generated)
    held = [p for p in generated if p.stem.endswith(last_date)]  # the timepoint added later
    for p in generated:
        if p not in held:
            shutil.copy2(p, folder / "images" / p.name)
    (folder / "config.yaml").write_text(CONFIG)
    n_full = n_series * n_timepoints
    full_s, jobs = timed_run(folder)
    for p in held:
        shutil.copy2(p, folder / "images" / p.name)
    inc_s, inc_jobs = timed_run(folder)
    per_stage = jobs.groupby("stage")["s"].agg(["count", "sum"])
    busy = jobs["s"].sum()
    lines = [f"Campaign of {n_full} images ({n_series} series x {n_timepoints} timepoints, {size} x {size} px), "
             "profile local, 2 cores, shipped U-Net", "",
             "| stage | jobs | job time s |", "| --- | --- | --- |"]
    lines += [f"| {stage} | {int(r['count'])} | {r['sum']:.1f} |" for stage, r in per_stage.iterrows()]
    lines += ["", "| measure | value |", "| --- | --- |",
              f"| end to end (`rootpipe run`) | {full_s:.1f} s |",
              f"| images per second | {n_full / full_s:.2f} |",
              f"| sum of job times | {busy:.1f} s |",
              f"| orchestration overhead (1 - sum / end to end) | {100 * (1 - busy / full_s):.1f} % |",
              f"| add one timepoint ({len(held)} images): end to end | {inc_s:.1f} s "
              f"({', '.join(f'{s} {n}' for s, n in inc_jobs['stage'].value_counts().sort_index().items())} jobs) |",
              f"| incremental / full | {100 * inc_s / full_s:.1f} % |", ""]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/rootpipe-scale"))
    # images in the DAG-only campaign; series x timepoints of size x size px in the timed run
    for name, default in {"dag-images": 10_000, "series": 100, "timepoints": 10, "size": 512}.items():
        ap.add_argument(f"--{name}", type=int, default=default)
    ap.add_argument("--skip-dag", action="store_true")
    ap.add_argument("--skip-run", action="store_true")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    lines = []
    if not a.skip_dag:
        lines += bench_dag(a.work, a.dag_images)
        print("\n".join(lines), flush=True)
    if not a.skip_run:
        run = bench_run(a.work, a.series, a.timepoints, a.size)
        print("\n".join(run), flush=True)


if __name__ == "__main__":
    main()
