"""The workflow on a real (one-node) SLURM cluster, through profiles/slurm."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from slurm import cluster

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
# A test cluster has no accounting database (squeue, not sacct) and no account;
# short waits keep the test quick. Everything else comes from profiles/slurm.
SLURM_ARGS = ["--profile", "slurm", "--configfile", "config.yaml", "--slurm-status-command", "squeue",
              "--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1",
              "--slurm-no-account", "--latency-wait", "5"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    why = cluster.ensure_installed()
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    state = tmp_path_factory.mktemp("slurm")
    try:
        cluster.write_config(state, cpus=8, memory_mb=20000)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    pids = cluster.start(state)
    yield state
    cluster.stop(pids)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    out = tmp_path_factory.mktemp("slurm-campaign")
    subprocess.run([sys.executable, "-m", "rootpipe.cli", "demo", "camp", "--series", "2", "--timepoints", "2",
                    "--height", "256", "--width", "320", "--quiet"], cwd=out, check=True)
    return out / "camp"


def workdir(path: Path, campaign: Path) -> Path:
    path.mkdir()
    shutil.copytree(campaign, path / "camp")
    (path / "config.yaml").write_text("input_dir: camp/images\nmetadata_csv: camp/metadata.csv\n"
                                      "results_dir: results\n")
    shim = path / "bin"
    shim.mkdir()
    # Records every sbatch command line Snakemake submits, then submits it.
    (shim / "sbatch").write_text(f'#!/bin/sh\necho "$@" >> {path}/sbatch.log\nexec {shutil.which("sbatch")} "$@"\n')
    (shim / "sbatch").chmod(0o755)
    return path


def rootpipe_run(path: Path, *args, wait=True):
    env = {**os.environ, "PATH": f"{path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "rootpipe.cli", "run", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, cwd=path, env=env, capture_output=True, text=True, timeout=600)


def sbatch_lines(path: Path, rule: str) -> list[str]:
    """Submitted command lines whose jobs include ``rule`` (alone or in a group job)."""
    return [line for line in (path / "sbatch.log").read_text().splitlines() if f"'{rule}:" in line]


def test_slurm_run_equals_local_run_and_asks_a_gpu_for_segment_only(slurm, campaign, tmp_path):
    local = workdir(tmp_path / "local", campaign)
    assert rootpipe_run(local, "--configfile", "config.yaml").returncode == 0
    remote = workdir(tmp_path / "remote", campaign)
    proc = rootpipe_run(remote, *SLURM_ARGS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for table in ("traits.parquet", "growth.parquet", "roots.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(remote / "results" / table),
                                      pd.read_parquet(local / "results" / table))
    segment = sbatch_lines(remote, "segment")
    others = [line for line in (remote / "sbatch.log").read_text().splitlines() if line not in segment]
    assert len(segment) == 2 and all("--gpus=1" in line for line in segment)
    assert others and not any("--gpu" in line for line in others)
    # One job per batch: tile, segment and traits of a batch share one submission.
    assert all("'tile:" in line and "'traits:" in line for line in segment)
    assert len(others) == 4  # ingest, collect, track, report


def test_cancelled_job_is_retried_and_the_run_completes(slurm, campaign, tmp_path):
    run = workdir(tmp_path / "cancel", campaign)
    proc = rootpipe_run(run, *SLURM_ARGS, wait=False)
    cancelled = None
    deadline = time.time() + 300
    while cancelled is None and time.time() < deadline and proc.poll() is None:
        jobs = subprocess.run(["squeue", "-h", "-o", "%i %T %k"], capture_output=True, text=True).stdout
        for job_id, state, comment in (line.split(maxsplit=2) for line in jobs.splitlines() if line.strip()):
            if "segment" in comment and state == "RUNNING":
                subprocess.run(["scancel", job_id], check=True)
                cancelled = job_id
                break
        time.sleep(0.1)
    out, _ = proc.communicate(timeout=600)
    assert cancelled, "no segment job was seen running"
    assert proc.returncode == 0, out[-4000:]
    assert len(sbatch_lines(run, "segment")) == 3  # two batches, one of them submitted twice
    assert len(pd.read_parquet(run / "results/traits.parquet")) == 4
