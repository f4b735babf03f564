"""``rootpipe run``: the whole workflow through Snakemake, restartable after a kill.

Snakemake's own lock survives a killed run and then blocks every rerun until
``--unlock``. rootpipe holds an OS file lock for the length of a run instead:
the kernel releases it when the process dies, so holding it proves that any
Snakemake lock left in ``.snakemake/locks`` is stale and may be cleared.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def snakemake_command(profile: str, configfile: str | None, extra: list[str],
                      force: list[str] = ()) -> list[str]:
    """The snakemake command line; ``--profile`` comes last before ``extra`` because
    ``--configfile`` and ``--forcerun`` take several values and would swallow a target."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    if configfile:
        cmd += ["--configfile", configfile]
    elif not Path("config/config.yaml").exists():
        cmd += ["--configfile", str(REPO / "config" / "config.yaml")]
    return cmd + list(force) + ["--profile", str(REPO / "profiles" / profile)] + list(extra)


def run_workflow(profile: str = "local", configfile: str | None = None, extra: list[str] = ()) -> int:
    """Run Snakemake in the current directory; returns its exit status."""
    extra = list(extra)
    env = dict(os.environ)
    # Rules call `rootpipe STAGE`: make this environment's scripts win on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    state = Path(".snakemake")
    state.mkdir(exist_ok=True)
    with open(state / "rootpipe-run.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("rootpipe run: another rootpipe run is using this folder; wait for it to finish",
                  file=sys.stderr)
            return 1
        base = snakemake_command(profile, configfile, [])
        if any((state / "locks").glob("*")):
            print("rootpipe run: clearing the lock of an earlier run that was killed", file=sys.stderr)
            subprocess.run(base + ["--unlock"], env=env, check=False, capture_output=True)
        dry = any(a in ("-n", "--dry-run", "--dryrun") for a in extra)
        # Ingest is cheap and incremental; forcing it is how new images in
        # sub-folders (which do not touch the top folder's mtime) are found.
        # The train target reads annotations, not the campaign: forcing ingest would pull it in.
        force = [] if dry or "--forcerun" in extra or "train" in extra else ["--forcerun", "ingest"]
        started = time.time()
        status = subprocess.run(snakemake_command(profile, configfile, extra, force), env=env).returncode
    if status == 0 and not dry:
        report = _results_dir(configfile) / "report.html"
        if report.exists() and report.stat().st_mtime >= started - 1:
            print(f"rootpipe run: done. Report: {report.resolve()}")
    return status


def _results_dir(configfile: str | None) -> Path:
    from .config import load

    source = configfile or ("config/config.yaml" if Path("config/config.yaml").exists()
                            else REPO / "config" / "config.yaml")
    return Path(load(source)["results_dir"])
