"""A real one-node SLURM cluster for the tests: Debian's slurmctld + slurmd + munge.

Installs the packages when missing (root, Debian), writes a one-node
slurm.conf with one fake GPU (a GRES backed by /dev/null, so `--gpus=1` is
scheduled as on a real GPU node), starts the daemons and stops them again.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

MARKER = "# written by rootpipe's tests"
PACKAGES = ["slurmctld", "slurmd", "munge", "slurm-client"]


def _run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def ensure_installed() -> str | None:
    """Install SLURM and munge if needed; returns why not possible, or None."""
    if all(shutil.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch", "squeue")):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "SLURM is not installed and cannot be installed here (needs root and apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if _run(["apt-get", "install", "-y", "-q", *PACKAGES], env=env).returncode:
        _run(["apt-get", "update", "-q"], env=env)
        result = _run(["apt-get", "install", "-y", "-q", *PACKAGES], env=env)
        if result.returncode:
            return f"apt-get install {' '.join(PACKAGES)} failed: {result.stderr[-500:]}"
    return None


def write_config(state: Path, cpus: int, memory_mb: int) -> Path:
    host = socket.gethostname()
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and MARKER not in conf.read_text():
        raise RuntimeError(f"{conf} belongs to a real cluster; not touching it")
    conf.parent.mkdir(parents=True, exist_ok=True)
    for sub in ("state", "spool"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    conf.write_text(f"""{MARKER}
ClusterName=rootpipe-test
SlurmctldHost={host}
SlurmUser=root
AuthType=auth/munge
StateSaveLocation={state}/state
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
ReturnToService=2
# More CPUs than the machine has, so the slurm profile's real-cluster sizes
# (--cpus-per-gpu=4) are scheduled unchanged.
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName={host} CPUs={cpus} RealMemory={memory_mb} Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    (conf.parent / "gres.conf").write_text(f"{MARKER}\nNodeName={host} Name=gpu File=/dev/null\n")
    return conf


def start(state: Path) -> list[int]:
    """Start munged, slurmctld and slurmd; wait until the node is idle. Returns daemon pids."""
    run_dir = Path("/run/munge")
    run_dir.mkdir(parents=True, exist_ok=True)
    shutil.chown(run_dir, "munge", "munge")
    if not Path("/etc/munge/munge.key").exists():
        _run(["mungekey", "--create"])
        shutil.chown("/etc/munge/munge.key", "munge", "munge")
    if _run(["pgrep", "-x", "munged"]).returncode:
        _run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"])
    for daemon in ("slurmctld", "slurmd"):
        _run(["pkill", "-x", daemon])
    time.sleep(0.5)
    _run(["slurmctld", "-c"])  # -c: fresh state, no jobs from an earlier test run
    _run(["slurmd"])
    deadline = time.time() + 60
    while time.time() < deadline:
        out = _run(["sinfo", "-h", "-o", "%t"]).stdout.strip()
        if out in ("idle", "mix", "alloc"):
            break
        time.sleep(0.5)
    else:
        raise RuntimeError(f"SLURM node never became idle: {out!r}; see {state}/slurmctld.log")
    pids = []
    for name in ("slurmctld", "slurmd"):
        pid_file = state / f"{name}.pid"
        if pid_file.exists():
            pids.append(int(pid_file.read_text().split()[0]))
    return pids


def stop(pids: list[int]) -> None:
    _run(["scancel", "--user", "root"])
    for pid in pids:
        try:
            os.kill(pid, 15)
        except ProcessLookupError:
            pass
