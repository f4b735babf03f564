"""What several benchmark scripts share: running ``rootpipe run`` and writing a table into a document."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def rootpipe_executable() -> str:
    """The ``rootpipe`` script of the running interpreter's environment."""
    exe = Path(sys.executable).parent / "rootpipe"
    return str(exe) if exe.exists() else "rootpipe"


def run_pipeline(out: Path, config: Path) -> float:
    """``rootpipe run`` in ``out``; returns its wall time (s). Its output is appended to ``out/rootpipe-run.log``."""
    cmd = [rootpipe_executable(), "run", "--configfile", config.name]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=out, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    with open(out / "rootpipe-run.log", "a") as log:
        log.write(done.stdout + done.stderr)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"rootpipe run failed ({done.returncode}); log in {out / 'rootpipe-run.log'}")
    return seconds


def replace_section(doc: Path, begin: str, end: str, body: str) -> None:
    """Replace what lies between ``begin`` and ``end`` in ``doc`` with ``body`` (SystemExit if either is missing)."""
    text = doc.read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{doc} has no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{begin}\n{body}\n{end}{tail}")
    print(f"wrote {doc}")
