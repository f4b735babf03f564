"""rootpipe installed from a wheel (not editable) runs a campaign from an empty folder.

The wheel is built from this checkout and installed into a fresh virtual environment with
``--no-deps``; the dependencies (torch alone is 5 GB) come from the test's own environment
through a ``.pth`` line, which puts them after the fresh environment's own packages, so
``rootpipe`` itself is the wheel's copy and not this checkout.
"""
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def test_a_wheel_in_a_fresh_venv_runs_the_demo_from_an_empty_folder(tmp_path):
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", tmp_path / "dist", REPO])
    wheel = next((tmp_path / "dist").glob("rootpipe-*.whl"))
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv])
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", wheel])
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip()
    (Path(site) / "rootpipe_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    campaign = tmp_path / "campaign"
    campaign.mkdir()
    where = run([python, "-c", "import rootpipe.resources as r; print(r.__file__); print(r.workflow_root())"],
                cwd=campaign).split()
    assert where[0].startswith(site) and where[1] == str(Path(site) / "rootpipe" / "_bundle")
    assert run([bin_dir / "rootpipe", "--version"]).startswith("rootpipe ")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    run([bin_dir / "rootpipe", "demo", "demo", "--series", "2", "--timepoints", "2", "--height", "256",
         "--width", "320", "--quiet"], cwd=campaign, env=env)
    config = campaign / "campaign.yaml"
    config.write_text("input_dir: demo/images\nresults_dir: results\npixel_size_mm: 0.05\n"
                      "filename_pattern: '(?P<tube>T\\d+)_(?P<window>L\\d+)_(?P<date>\\d{4}-\\d{2}-\\d{2})'\n"
                      "series_fields: [tube, window]\ntimestamp_fields: [date]\ntimestamp_format: '%Y-%m-%d'\n")
    run([bin_dir / "rootpipe", "run", "--configfile", config.name, "--cores", "2"], cwd=campaign, env=env)
    assert (campaign / "results" / "report.html").stat().st_size > 10_000
    assert (campaign / "results" / "growth.parquet").exists()
