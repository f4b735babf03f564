"""``rootpipe run``: the whole workflow through Snakemake, restartable after a kill.

Snakemake's own lock survives a killed run and then blocks every rerun until
``--unlock``. rootpipe holds an OS file lock (in results_dir) for the length of
a run instead: the kernel releases it when the process dies, so holding it
proves that any Snakemake lock left in ``.snakemake/locks`` is stale and may be
cleared. A results_dir is tied to the folder its runs start from, where
Snakemake keeps the history of its outputs.
"""
from __future__ import annotations

import copy
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rootpipe import __version__
from rootpipe.compat import check_results_layout
from rootpipe.resources import workflow_root

REPO = workflow_root()  # the Snakefile, profiles and default config: a checkout's, or a wheel's copy
RUN_LOCK = ".rootpipe-run.lock"
WORKDIR_MARKER = ".rootpipe-workdir"


def snakemake_command(profile: str, configfile: str | None, extra: list[str],
                      force: list[str] = ()) -> list[str]:
    """The snakemake command line; ``--profile`` comes last before ``extra`` because
    ``--configfile`` and ``--forcerun`` take several values and would swallow a target."""
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile")]
    if configfile:
        # Replace, not merge into, the Snakefile's default config/config.yaml: FILE alone is the campaign.
        cmd += ["--configfile", configfile, "--replace-workflow-config"]
    elif not Path("config/config.yaml").exists():
        cmd += ["--configfile", str(REPO / "config" / "config.yaml")]
    return cmd + list(force) + ["--profile", str(REPO / "profiles" / profile)] + list(extra)


def _sigint_default() -> None:
    """In Snakemake's process before it starts: SIGINT as Python expects it.

    A shell starts a background job without job control (`rootpipe run &` in a script) with
    SIGINT ignored, and Python then never turns SIGINT into KeyboardInterrupt, so the SIGINT
    rootpipe passes on for a SIGTERM would be dropped and every job still run.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_workflow(profile: str = "local", configfile: str | None = None, extra: list[str] = ()) -> int:
    """Run Snakemake in the current directory; returns its exit status."""
    # Long on purpose: one sequence under one lock (checks, lock, stale Snakemake locks, damaged tables,
    # Snakemake, signal forwarding); its order is the guarantee.
    extra = list(extra)
    overridden = [k for k in _config_overrides(extra) if k in ("results_dir", "input_dir")]
    if overridden:  # the lock and the checks below read the file: they would guard the wrong folder
        print(f"rootpipe run: give {' and '.join(overridden)} in the config file, not with --config: rootpipe "
              "reads it there to check the campaign and to lock its results folder", file=sys.stderr)
        return 2
    env = dict(os.environ)
    # Rules call `rootpipe STAGE`: make this environment's scripts win on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # The config's checks come before results_dir is claimed: a run started from the wrong
    # folder must not tie results_dir to that folder.
    results, notes, config = _checked_results_dir(configfile, check_input="train" not in extra)
    if profile == "slurm":
        extra += _slurm_status_args(extra) + gpu_job_groups(config, extra)
    for note in notes:
        print(f"rootpipe run: note: {note}", file=sys.stderr)
    problem = _claim(results)
    if problem:
        print(f"rootpipe run: {problem}", file=sys.stderr)
        return 1
    try:
        layout_note = check_results_layout(results, __version__)
    except ValueError as exc:
        print(f"rootpipe run: {exc}", file=sys.stderr)
        return 1
    if layout_note:
        print(f"rootpipe run: note: {layout_note}", file=sys.stderr)
    state = Path(".snakemake")
    state.mkdir(exist_ok=True)
    # The lock lives with the results, so two runs on one results_dir exclude each other
    # whichever folder they start from.
    with open(results / RUN_LOCK, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"rootpipe run: another rootpipe run is writing {results}; wait for it to finish",
                  file=sys.stderr)
            return 1
        base = snakemake_command(profile, configfile, [])
        dry = any(a in ("-n", "--dry-run", "--dryrun") for a in extra)
        # Holding results_dir's lock proves a Snakemake lock on *its* files stale; a lock on
        # another campaign's files (run from this folder too) may belong to a live run.
        if not dry and _locks_name(state / "locks", results):
            print("rootpipe run: clearing the lock of an earlier run that was killed", file=sys.stderr)
            subprocess.run(base + ["--unlock"], env=env, check=False, capture_output=True)
        for damaged in damaged_tables(results):
            print(f"rootpipe run: {damaged} cannot be read (truncated?); "
                  f"{'it would be made again' if dry else 'it is made again'}", file=sys.stderr)
            if not dry:
                damaged.unlink()
        # Ingest is cheap and incremental; forcing it is how new images in
        # sub-folders (which do not touch the top folder's mtime) are found.
        # The train target reads annotations, not the campaign: forcing ingest would pull it in.
        force = [] if dry or "train" in extra else ["--forcerun", "ingest"]
        if force:
            # Snakemake keeps the last --forcerun it is given: add ingest to the user's own.
            extra, force = _with_forced_ingest(extra)
        started = time.time()
        # Snakemake inherits the lock's file: if this process is killed outright, the lock stays
        # held until Snakemake ends too, so a rerun cannot start beside a Snakemake still running.
        # Snakemake stays in this process group: killing the group (kill -9 %1, a job manager)
        # stops it too, and a Ctrl-C at the terminal reaches it directly.
        child = subprocess.Popen(snakemake_command(profile, configfile, extra, force), env=env,
                                 pass_fds=(lock.fileno(),), preexec_fn=_sigint_default)
        stopped = []

        def stop(signum, frame):
            # As Ctrl-C: Snakemake cancels its jobs (local processes, SLURM jobs) and exits.
            stopped.append(signum)
            child.send_signal(signal.SIGINT)

        handlers = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGHUP)}
        try:
            status = child.wait()
        except KeyboardInterrupt:
            # Ctrl-C reached Snakemake too: a second SIGINT would break off its cancelling of
            # jobs, so none is sent. (A SIGINT sent to rootpipe alone is taken as that too: send
            # SIGTERM to stop a run from a script.)
            child.wait()
            stopped.append(signal.SIGINT)
        finally:
            for s, handler in handlers.items():
                signal.signal(s, handler)
        if not dry:  # still under the lock: no job of this campaign is writing
            from rootpipe.io.stores import drop_snakemake_markers

            drop_snakemake_markers(results)
        if stopped:
            print("rootpipe run: interrupted. Finished jobs are kept; run the same command again to "
                  "go on from there", file=sys.stderr)
            return 128 + stopped[0]
    if status == 0 and not dry:
        report = results / "report.html"
        reported = report.exists() and report.stat().st_mtime >= started - 1
        if reported:
            print(f"rootpipe run: done. Report: {report.resolve()}")
        manifest = results / "manifest.parquet"
        if manifest.exists() and manifest.stat().st_mtime >= started - 1:  # ingest ran this time
            _say_ingest(results)
        for note in notes if reported else []:  # again at the end of a whole run, where they are read
            print(f"rootpipe run: note: {note}")
    return status


def _config_overrides(extra: list[str]) -> list[str]:
    """Keys that ``--config KEY=VALUE ...`` (or ``-C``) sets in Snakemake's arguments."""
    keys, inside = [], False
    for arg in extra:
        if arg in ("--config", "-C"):
            inside = True
        elif arg.startswith("--config="):
            keys.append(arg.split("=", 2)[1])
        elif inside and "=" in arg and not arg.startswith("-"):
            keys.append(arg.split("=", 1)[0])
        else:
            inside = False
    return keys


def _with_forced_ingest(extra: list[str]) -> tuple[list[str], list[str]]:
    """(extra, force): ``--forcerun ingest``, merged into the user's ``-R``/``--forcerun`` if given."""
    out, merged = [], False
    for arg in extra:
        if not merged and arg in ("-R", "--forcerun"):
            out += [arg, "ingest"]
            merged = True
        elif not merged and arg.startswith("--forcerun="):
            out += ["--forcerun", "ingest", arg.split("=", 1)[1]]
            merged = True
        else:
            out.append(arg)
    return (out, []) if merged else (out, ["--forcerun", "ingest"])


def _locks_name(locks: Path, results: Path) -> bool:
    """Whether a Snakemake lock file in ``locks`` names a file under ``results``."""
    if not locks.is_dir():
        return False
    root = os.path.abspath(results)  # lock files hold the paths as the workflow spells them
    for lock in locks.glob("*.lock"):
        try:
            lines = lock.read_text().splitlines()
        except OSError:
            continue
        paths = (os.path.abspath(line.strip()) for line in lines if line.strip())
        if any(p == root or p.startswith(root + os.sep) for p in paths):
            return True
    return False


def gpu_job_groups(config: dict, extra: list[str]) -> list[str]:
    """Snakemake arguments that put ``segment_batches_per_job`` segment jobs into one cluster job.

    Each SLURM job pays its queue wait, its node's set-up and the GPU's first use; a GPU job of
    one batch (50 images, a few seconds of an H100's time) is mostly that. With the setting above 1,
    segment leaves the profile's per-batch group ("batch": tile, segment and traits of a batch in
    one job) for a group of its own ("gpu") of that many batches, so its GPU job holds more images
    than the other stages' jobs; tile and traits then run as CPU jobs of their own. Nothing when
    the setting is 1 or the command line sets groups itself.
    """
    n = int(config.get("segment_batches_per_job") or 1)
    if n <= 1 or any(a.startswith(("--groups", "--group-components")) for a in extra):
        return []
    return ["--groups", "segment=gpu", "--group-components", f"gpu={n}"]


def _slurm_status_args(extra: list[str]) -> list[str]:
    """``--slurm-status-command squeue`` where sacct cannot read job states.

    The SLURM plugin asks sacct whenever the command exists; on a cluster without an
    accounting database every query fails, and the run waits for ever without a word.
    """
    if any(a.startswith("--slurm-status-command") for a in extra):
        return []
    try:
        probe = subprocess.run(["sacct", "-X", "-n", "-j", "1"], capture_output=True, text=True, timeout=60)
        if probe.returncode == 0:
            return []
        why = (probe.stderr or probe.stdout).strip().splitlines()[-1:] or [f"exit status {probe.returncode}"]
    except (OSError, subprocess.TimeoutExpired) as exc:
        why = [str(exc)]
    print(f"rootpipe run: sacct cannot read job states here ({why[0]}); asking squeue instead "
          "(--slurm-status-command squeue)", file=sys.stderr)
    return ["--slurm-status-command", "squeue"]


def _claim(results: Path) -> str | None:
    """Tie ``results`` to the folder runs start from; the reason to refuse, if another holds it.

    Snakemake keeps what each output was made with (params, code) in ``.snakemake`` of the
    folder it runs in. A run from another folder would not see that history, and would call
    results made with old settings up to date.
    """
    results.mkdir(parents=True, exist_ok=True)
    # Relative to the results, so a project folder moved or copied whole still matches.
    marker = results / WORKDIR_MARKER
    here = os.path.relpath(Path.cwd().resolve(), results.resolve())
    if marker.exists():
        owner = marker.read_text().strip()
        if owner != here:
            return (f"{results} is run from {(results / owner).resolve()}, where Snakemake keeps the history "
                    "of how each result was made; run rootpipe from there, or choose another results_dir. "
                    f"If that folder was moved, delete {marker} and run again.")
        return None
    marker.write_text(here + "\n")
    return None


def _say_ingest(results: Path) -> None:
    """Repeat ingest's warnings and count its rejections: its log is not on the console."""
    import pandas as pd

    log = results / "logs" / "ingest.log"
    if log.exists():
        for line in log.read_text().splitlines():
            if line.startswith("ingest: warning:"):
                print(f"rootpipe run: {line}")
    manifest = pd.read_parquet(results / "manifest.parquet", columns=["status", "reason"])
    rejected = manifest[manifest["status"] == "rejected"]
    if len(rejected):
        # Reasons name their file or value: count them by their first words.
        kinds = rejected["reason"].str.split().str[:3].str.join(" ")
        top = kinds.value_counts()
        example = rejected["reason"][kinds == top.index[0]].iloc[0]
        print(f"rootpipe run: {len(rejected)} of {len(manifest)} files rejected, {top.iloc[0]} of them as "
              f"'{top.index[0]} ...', e.g. {example!r}; every file and reason: report.html or "
              f"{results / 'logs' / 'ingest.log'}")


def damaged_tables(results: Path) -> list[Path]:
    """The parquet tables under ``results`` whose footer cannot be read.

    Snakemake takes a file that exists for a finished output: a table truncated by a full
    disk or a copy cut short would stop every later run that reads it. Deleted, it is made
    again by its rule (and what depends on it is brought up to date). The footer alone is
    read: about a millisecond a file.
    """
    import pyarrow.parquet as pq

    damaged = []
    for path in sorted(results.rglob("*.parquet")) if results.is_dir() else []:
        if ".zarr" in path.parts[-2] or not path.is_file():
            continue
        try:
            pq.read_metadata(path)
        except Exception:  # pyarrow raises several kinds for a damaged file
            damaged.append(path)
    return damaged


def shipped_model_note() -> str:
    """What a campaign segmented with the shipped model should know of it, from its header."""
    from rootpipe.segmentation.checkpoint import read_header
    from rootpipe.segmentation.segmenter import DEFAULT_CHECKPOINT

    data = (read_header(DEFAULT_CHECKPOINT).get("training") or {}).get("data") or ""
    if data.startswith("synthetic"):
        return ("segmented with the model shipped with rootpipe, trained on synthetic images only; on real "
                "images it can mistake soil features for roots: fine-tune it on a few annotated images of "
                "this campaign before trusting the numbers (README, 'Training a model for your images')")
    return ("segmented with the model shipped with rootpipe, trained on minirhizotron (peanut, switchgrass) and "
            "seedling (barley) images; on other soils, cameras and crops it can be far off: read the report's "
            "segmentation confidence, and fine-tune it on a few annotated images of this campaign "
            "(README, 'Training a model for your images')")


def check_model(config: dict) -> None:
    """Load the campaign's model as a segment job would (header, sizes, shapes, finite weights), so
    a broken checkpoint is refused in one line before any image is tiled, not in every segment job.
    The train target's own model, not yet written, is left to it, and the shipped model, which the
    test suite loads, is not loaded again at every start (about 3 s: torch and the network)."""
    from rootpipe.segmentation.checkpoint import load, read_header
    from rootpipe.segmentation.segmenter import DEFAULT_CHECKPOINT, model_path, model_threshold

    segment = config["segment"]
    if segment["method"] != "unet":
        return
    path = model_path(segment)
    if not path.exists():
        return
    try:
        if path.resolve() != DEFAULT_CHECKPOINT.resolve():
            load(path)
        # the header's threshold, where the config leaves it null, against centreline_threshold
        model_threshold(segment, read_header(path))
    except ValueError as exc:
        raise ValueError(f"segment.checkpoint: {exc}") from None


def _checked_results_dir(configfile: str | None, check_input: bool = True) -> tuple[Path, list[str], dict]:
    """The campaign's results_dir, after the config's own checks (ValueError or FileNotFoundError),
    notes on settings left at defaults that a campaign should look at, and the checked config."""
    from rootpipe.config import check_campaign, check_input_dir, read_yaml

    source = configfile or ("config/config.yaml" if Path("config/config.yaml").exists()
                            else REPO / "config" / "config.yaml")
    raw = read_yaml(source)
    config = check_campaign(copy.deepcopy(raw))
    if check_input:
        check_input_dir(config["input_dir"])
        metadata = config.get("metadata_csv")
        if metadata and not Path(metadata).is_file():  # else Snakemake stops on ingest's missing input
            raise FileNotFoundError(f"metadata_csv {metadata} does not exist (paths are relative to the folder "
                                    f"rootpipe runs in, {Path.cwd()}): give the table's path, or set "
                                    "metadata_csv: null")
    if config["segment"]["method"] == "unet":
        check_model(config)
    notes = []
    if raw.get("pixel_size_mm") is None and not raw.get("dpi"):
        notes.append(f"{source} sets neither pixel_size_mm nor dpi, so lengths use the default "
                     f"{config['pixel_size_mm']} mm per pixel; set the one your camera or scanner gives")
    if config["segment"]["method"] == "unet" and not config["segment"]["checkpoint"]:
        notes.append(shipped_model_note())
    return Path(config["results_dir"]), notes, config
