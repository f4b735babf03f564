"""End-to-end Snakemake runs on small synthetic campaigns (real rules, real stores)."""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
import zarr

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
# The demo's own image size: short roots in tiny images would measure the
# segmenter's behaviour at root ends, not what a campaign sees.
SIZE = ("--height", "768", "--width", "1024")
N_SERIES = 2


def rootpipe(cwd, *args, check=True):
    proc = subprocess.run([sys.executable, "-m", "rootpipe.cli", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True)
    if check and proc.returncode:
        raise AssertionError(f"rootpipe {' '.join(map(str, args))} failed:\n"
                             f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def make_run_dir(path, campaign, dates, **config):
    """A campaign folder holding only ``dates``, and a config.yaml pointing at it."""
    images = path / "campaign" / "images"
    images.mkdir(parents=True)
    for date in dates:
        for f in (campaign / "images").glob(f"*_{date}.png"):
            shutil.copy2(f, images / f.name)
    shutil.copy2(campaign / "metadata.csv", path / "campaign" / "metadata.csv")
    settings = {"input_dir": "campaign/images", "metadata_csv": "campaign/metadata.csv",
                "results_dir": "results", "pixel_size_mm": 0.05, **config}
    (path / "config.yaml").write_text(yaml.safe_dump(settings))
    return path


def dates_of(campaign):
    return sorted({re.search(r"\d{4}-\d{2}-\d{2}", f.name).group() for f in (campaign / "images").glob("*.png")})


def job_counts(dry_run_output: str) -> dict:
    """Snakemake's own 'Job stats' table of a dry run, as {rule: count}."""
    table = dry_run_output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    out = tmp_path_factory.mktemp("campaign")
    rootpipe(out, "demo", "full", "--series", N_SERIES, "--timepoints", 3, *SIZE, "--quiet")
    return out / "full"


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, campaign, bad_files_module):
    """Two timepoints plus three bad files, run through `rootpipe run`."""
    run = make_run_dir(tmp_path_factory.mktemp("run"), campaign, dates_of(campaign)[:2])
    bad_files_module(run / "campaign" / "images", "T09_L01_2026-05-01", "T09_L02_2026-05-01", "T09_L03_2026-05-01")
    proc = rootpipe(run, "run", "--configfile", "config.yaml")
    return run, proc


@pytest.fixture(scope="module")
def bad_files_module():
    from conftest import write_jpeg

    def make(folder, stem_zero, stem_truncated, stem_text):
        (folder / f"{stem_zero}.png").write_bytes(b"")
        good = write_jpeg(folder / f"{stem_truncated}.jpg",
                          np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))
        good.write_bytes(good.read_bytes()[:1500])
        (folder / f"{stem_text}.png").write_text("not an image\n")

    return make


def test_run_writes_one_row_per_image_and_per_series_timepoint(first_run, campaign):
    run, proc = first_run
    assert "Report:" in proc.stdout
    manifest = pd.read_parquet(run / "results/manifest.parquet")
    traits = pd.read_parquet(run / "results/traits.parquet")
    growth = pd.read_parquet(run / "results/growth.parquet")
    accepted = manifest[manifest["status"] == "accepted"]
    assert len(accepted) == N_SERIES * 2 and len(traits) == N_SERIES * 2
    assert sorted(traits["image_id"]) == sorted(accepted["image_id"])
    assert {"genotype", "treatment", "tube", "window", "total_length_mm"} <= set(traits.columns)
    assert traits["segmentation_confidence"].between(0, 1).all()
    assert "Segmentation confidence" in (run / "results/report.html").read_text()
    rve = pd.read_csv(run / "results/traits_rve.csv")
    assert (rve["Region.of.Interest"] == "Full").all() and (rve["Computation.Time.s"] > 0).all()
    metadata = (run / "results/traits_rve_metadata.csv").read_text()
    assert "Root type, Broken roots" in metadata and "Number of Pixels per mm, 20" in metadata
    assert len(growth) == N_SERIES * 2 and set(growth["timepoint"]) == {1, 2}
    assert {"genotype", "treatment"} <= set(growth.columns)
    # Each row names its imaging round, the key growth_summary averages series over.
    summary = pd.read_parquet(run / "results/growth_summary.parquet")
    assert growth.groupby("timepoint")["imaging_round"].nunique().eq(1).all()
    assert sorted(set(growth["imaging_round"])) == sorted(set(summary["imaging_round"]))
    assert pd.read_csv(run / "results/traits.csv").shape[0] == N_SERIES * 2
    # every table also as CSV, and growth rows lead back to their source file
    assert growth["file"].str.endswith((".png", ".jpg", ".tif")).all()
    assert pd.read_csv(run / "results/growth.csv")["file"].tolist() == growth["file"].tolist()
    for name in ("roots", "growth_summary", "manifest"):
        assert len(pd.read_csv(run / f"results/{name}.csv")) == len(pd.read_parquet(run / f"results/{name}.parquet"))


def test_bad_files_are_rejected_with_reasons_and_reported(first_run):
    run, proc = first_run
    assert "rootpipe run: 3 of " in proc.stdout and "files rejected" in proc.stdout  # said, not only logged
    # The shipped model's limits are said last, where they are read, not only before Snakemake's log.
    assert "note: segmented with the model shipped" in proc.stdout.split("done. Report:")[1]
    manifest = pd.read_parquet(run / "results/manifest.parquet")
    rejected = manifest[manifest["status"] == "rejected"].set_index("file")["reason"]
    assert "empty" in rejected["T09_L01_2026-05-01.png"]
    assert "truncated" in rejected["T09_L02_2026-05-01.jpg"]
    assert "cannot decode" in rejected["T09_L03_2026-05-01.png"]
    html = (run / "results/report.html").read_text()
    assert "Rejected files (3)" in html
    assert re.search(r"pixel size \(mm per pixel.*?</td>\s*<td>0.05</td>", html, re.S)
    for name in rejected.index:
        assert name in html
    assert html.count("data:image/jpeg;base64") >= N_SERIES * 2 and "data:image/png;base64" in html


def test_report_names_the_model_that_segmented_the_images(first_run):
    import hashlib

    run, _ = first_run
    html = (run / "results/report.html").read_text()
    shipped = ROOT / "rootpipe/models/default.safetensors"
    assert "Methods: how these numbers were made" in html
    assert hashlib.sha256(shipped.read_bytes()).hexdigest() in html
    assert "0.05 mm per pixel" in html and "WARNING" not in html
    from rootpipe.segmentation.checkpoint import read_header
    synthetic_only = read_header(shipped)["training"]["data"].startswith("synthetic")
    assert ("NOTE: synthetic images only" in html) == synthetic_only


def test_report_fits_800_and_1400_px_wide_in_headless_chromium(first_run, tmp_path):
    """The two-timepoint campaign's report in Debian's Chromium, as a reader opens it: nothing sticks
    out sideways at 800 or 1400 px (wide tables scroll in their own box), and the screenshots show it."""
    from browser import chromium

    binary = chromium.ensure_chromium()
    if binary is None:
        pytest.skip("chromium is not installed and cannot be installed here (needs root and apt-get)")
    run, _ = first_run
    page = tmp_path / "report.html"
    shutil.copy(run / "results/report.html", page)
    html = page.read_text()
    for section in ("Growth by genotype", "New and lost roots", "Traits per timepoint", "QC gallery",
                    "Every image", "sortable"):
        assert section in html, section
    for width in (800, 1400):
        layout = chromium.layout(binary, page, width)
        assert layout["inner_width"] == width and layout["scroll_width"] == width, layout
        assert layout["offenders"] == []
        shot = chromium.screenshot(binary, page, width, tmp_path / f"report-{width}.png")
        from PIL import Image

        with Image.open(shot) as image:
            assert image.size[0] == width and np.asarray(image.convert("L")).std() > 10  # drawn, not blank
    # The check can fail: one element wider than the window is caught.
    wide = tmp_path / "wide.html"
    wide.write_text(html.replace("<h2 id=\"summary\">", "<div style='width:1200px'>x</div><h2 id=\"summary\">"))
    assert chromium.layout(binary, wide, 800)["scroll_width"] > 800


def test_snakemake_lint_is_clean_and_its_report_holds_rootpipes_figures(first_run):
    import zipfile

    run, _ = first_run
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--snakefile", str(ROOT / "Snakefile"),
                           "--configfile", "config.yaml"], cwd=run, capture_output=True, text=True)
    assert lint.returncode == 0 and "in a good condition" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    from rootpipe.reporting.figures import GROUP_PANELS, TRAIT_PLOTS

    expected = {*(f"group_{q}.png" for q, _ in GROUP_PANELS), *(f"traits_{t}.png" for t in TRAIT_PLOTS),
                "series_length.png", "series_rate.png", "series_gained_lost.png"}
    assert {p.name for p in (run / "results/figures").glob("*.png")} == expected
    rootpipe(run, "run", "--configfile", "config.yaml", "--report", "snakemake_report.zip")
    names = [Path(n).name for n in zipfile.ZipFile(run / "snakemake_report.zip").namelist()]
    assert {"report.html", *expected} <= set(names)


def test_stores_are_ome_zarr_and_napari_lays_the_mask_over_the_image_in_mm(first_run):
    """ome-zarr-models validates every image and segmentation store; napari's model of one image
    puts its mask and probability exactly over it, in mm. No Snakemake marker is left in a store
    (zarr warns of unknown files when it lists a group); later runs still re-run nothing (below)."""
    import warnings

    import zarr

    stores = sorted(first_run[0].glob("results/*/*.zarr"))
    assert len(stores) >= 4 and not [s for s in stores if (s / ".snakemake_timestamp").exists()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ZarrUserWarning about a stray file fails here
        assert all(len(list(zarr.open_group(s, mode="r").members())) >= 2 for s in stores)
    from napari.components import ViewerModel
    from ome_zarr_models.v05.bioformats2raw import BioFormats2Raw
    from ome_zarr_models.v05.image import Image
    from ome_zarr_models.v05.image_label import ImageLabel

    from rootpipe.view import layers

    run, _ = first_run
    results = run / "results"
    stores = sorted((results / "images").glob("*.zarr")) + sorted((results / "segmentation").glob("*.zarr"))
    assert len(stores) >= 4
    for store in stores:
        root = zarr.open_group(store, mode="r")
        BioFormats2Raw.from_zarr(root)
        series = root["OME"].attrs["ome"]["series"]
        assert series == root.attrs["rootpipe"]["images"]
        for image_id in series:
            image = Image.from_zarr(root[image_id])
            if "segmentation" in store.parts:
                assert [d.path for d in image.ome_attributes.multiscales[0].datasets] == ["probability"]
                ImageLabel.from_zarr(root[image_id]["labels"]["mask"])
    image_id = zarr.open_group(stores[0], mode="r").attrs["rootpipe"]["images"][0]
    viewer = ViewerModel()
    for data, kwargs, kind in layers(results, image_id):
        getattr(viewer, f"add_{kind}")(data, **kwargs)
    image, probability, mask = viewer.layers
    np.testing.assert_allclose(mask.extent.world, image.extent.world)
    np.testing.assert_allclose(probability.extent.world, image.extent.world)
    height_px = zarr.open_group(stores[0], mode="r")[image_id]["s0"].shape[1]
    # napari spans pixel centres: (rows - 1) x the pixel size (0.05 mm in this campaign)
    assert image.extent.world[1][0] - image.extent.world[0][0] == pytest.approx((height_px - 1) * 0.05)


def test_the_catalog_test_config_runs(tmp_path):
    """.test/config/config.yaml, the workflow catalog's test campaign, runs end to end."""
    work = tmp_path / ".test"
    shutil.copytree(ROOT / ".test", work)
    rootpipe(work, "demo", "demo", "--series", 2, "--timepoints", 2, "--height", 256, "--width", 320, "--quiet")
    rootpipe(work, "run", "--configfile", "config/config.yaml")
    growth = pd.read_parquet(work / "results/growth.parquet")
    assert len(growth) == 4 and growth["total_length_mm"].gt(0).all()


def test_report_by_hand_reads_the_stores_beside_its_manifest(first_run, tmp_path):
    from rootpipe.config import load
    from rootpipe.stages.report import run as report

    run, _ = first_run
    moved = tmp_path / "moved"  # a campaign's results moved or copied elsewhere
    shutil.copytree(run / "results", moved, symlinks=True)
    config = load(run / "config.yaml")
    config["results_dir"] = str(tmp_path / "not-this-campaign")
    log = moved / "logs" / "ingest.log"
    log.write_text(log.read_text() + "ingest: warning: metadata_csv m.csv has no row for series T01_L07 <b>\n")
    out = report(moved / "manifest.parquet", moved / "traits.parquet", moved / "growth.parquet",
                 tmp_path / "report.html", config)
    html = out.read_text()
    assert "Methods: how these numbers were made" in html and "default.safetensors" in html
    assert "Warnings (1)" in html and "<li>metadata_csv m.csv has no row for series T01_L07 &lt;b&gt;</li>" in html
    assert html.count("data:image/jpeg;base64") >= N_SERIES * 2


def test_a_border_left_out_measures_and_tracks_again_without_segmenting(first_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(first_run[0], run, symlinks=True)
    before = pd.read_parquet(run / "results/traits.parquet").set_index("image_id")["total_length_mm"]
    settings = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**settings, "border_px": 0}))  # the default: nothing
    assert "Nothing to be done" in rootpipe(run, "run", "--configfile", "config.yaml", "-n").stdout
    (run / "config.yaml").write_text(yaml.safe_dump({**settings, "border_px": 300}))
    counts = job_counts(rootpipe(run, "run", "--configfile", "config.yaml", "-n").stdout)
    assert "segment" not in counts and "tile" not in counts and counts["traits"] >= 1 and counts["track"] == 1
    rootpipe(run, "run", "--configfile", "config.yaml")
    after = pd.read_parquet(run / "results/traits.parquet").set_index("image_id")["total_length_mm"]
    assert (after < before).all()  # 300 px of a 1024 x 768 image's edges hold roots too
    assert "image border left out (px)" in (run / "results/report.html").read_text()


def test_rsml_turned_on_later_writes_every_images_tracked_rsml(first_run, tmp_path):
    """traits.rsml on an existing campaign: the series are tracked once more (cache signature), so every
    image gets its rsml_series file, without segmenting again."""
    run = tmp_path / "run"
    shutil.copytree(first_run[0], run, symlinks=True)
    settings = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump({**settings, "traits": {"rsml": True}}))
    counts = job_counts(rootpipe(run, "run", "--configfile", "config.yaml", "-n").stdout)
    assert "segment" not in counts and counts["track"] == 1
    rootpipe(run, "run", "--configfile", "config.yaml")
    growth = pd.read_parquet(run / "results/growth.parquet")
    written = {p.stem for p in (run / "results/rsml_series").rglob("*.rsml")}
    assert written == set(growth["image_id"])


def test_truncated_tables_and_caches_are_made_again_with_the_same_content(first_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(first_run[0], run, symlinks=True)
    before = pd.read_parquet(run / "results/traits.parquet")
    growth = pd.read_parquet(run / "results/growth.parquet")
    for name in ("traits.parquet", "cache/ingest_checks.parquet"):  # a full disk cut both short
        path = run / "results" / name
        path.write_bytes(path.read_bytes()[:100])
    proc = rootpipe(run, "run", "--configfile", "config.yaml")
    assert "traits.parquet cannot be read (truncated?); it is made again" in proc.stderr
    pd.testing.assert_frame_equal(pd.read_parquet(run / "results/traits.parquet"), before)
    pd.testing.assert_frame_equal(pd.read_parquet(run / "results/growth.parquet"), growth)
    assert len(pd.read_parquet(run / "results/cache/ingest_checks.parquet")) > 0


def test_a_hostile_folder_runs_to_the_end_and_the_good_images_tables_are_unchanged(first_run, campaign, tmp_path):
    """Every hostile entry of tests/test_hostile.py in one folder beside first_run's images."""
    import tifffile
    from test_hostile import png_declaring

    run = make_run_dir(tmp_path, campaign, dates_of(campaign)[:2])
    images = run / "campaign" / "images"
    for bad in (first_run[0] / "campaign" / "images").glob("T09_*"):  # first_run's three bad files
        shutil.copy2(bad, images / bad.name)
    os.symlink("T20_L01_2026-05-01.png", images / "T20_L01_2026-05-01.png")
    os.mkfifo(images / "T20_L02_2026-05-01.png")
    os.symlink("/dev/zero", images / "T20_L03_2026-05-01.png")
    (images / "T20_L04_2026-05-01.png").write_bytes(png_declaring(40000, 40000))
    with open(os.fsencode(images) + b"/T20_L05_2026-05-01_\xff.png", "wb") as fh:
        fh.write(b"\x89PNG")
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., :3] = 100
    rgba[:, 32:, :3] = 200
    rgba[:, :20, 3] = 255
    from conftest import write_png
    write_png(images / "T20_L06_2026-05-01.png", rgba)
    nan = np.ones((64, 64, 3), np.float32)
    nan[3, 3] = np.nan
    tifffile.imwrite(images / "T20_L07_2026-05-01.tif", nan, photometric="rgb")
    proc = rootpipe(run, "run", "--configfile", "config.yaml")
    assert "Report:" in proc.stdout
    manifest = pd.read_parquet(run / "results/manifest.parquet")
    hostile = manifest[manifest["file"].str.startswith("T20")]
    assert len(hostile) == 7 and hostile["status"].eq("rejected").all() and hostile["reason"].str.len().gt(10).all()
    clean = pd.read_parquet(first_run[0] / "results/traits.parquet").drop(columns=["path"])
    swept = pd.read_parquet(run / "results/traits.parquet").drop(columns=["path"])
    pd.testing.assert_frame_equal(swept, clean)
    for name in ("growth", "growth_summary"):
        pd.testing.assert_frame_equal(pd.read_parquet(run / f"results/{name}.parquet"),
                                      pd.read_parquet(first_run[0] / f"results/{name}.parquet"))
    peak_mb = pd.read_csv(run / "results/benchmarks/ingest.tsv", sep="\t")["max_rss"].iloc[0]
    assert peak_mb < 1000, f"ingest peaked at {peak_mb} MB"


def test_lengths_agree_with_the_generator_truth(first_run, campaign):
    run, _ = first_run
    traits = pd.read_parquet(run / "results/traits.parquet")
    truth = pd.read_csv(campaign / "truth/lengths.csv")
    both = traits.merge(truth[["file", "true_length_mm"]], on="file")
    error = both["total_length_mm"] / both["true_length_mm"] - 1
    assert len(both) == N_SERIES * 2
    assert error.abs().max() <= 0.10, both.assign(error=error)[["file", "true_length_mm", "total_length_mm", "error"]]


def test_new_timepoint_reruns_only_its_batches(first_run, campaign, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(first_run[0], run, symlinks=True)  # copy2 keeps mtimes: the copy is up to date
    # One series' two-timepoint table, to fake a track job stopped after it wrote the three-timepoint
    # roots and state files but before the table.
    stale = next(f for f in (run / "results/growth").glob("*.parquet") if f.name.count(".") == 1)
    stale_table = stale.read_bytes()
    old_store = run / "results/segmentation" / f"{dates_of(campaign)[0]}-001.zarr"
    before = old_store.stat().st_mtime_ns
    new_date = dates_of(campaign)[2]
    for f in (campaign / "images").glob(f"*_{new_date}.png"):
        shutil.copy2(f, run / "campaign/images" / f.name)
    rootpipe(run, "run", "--configfile", "config.yaml", "--until", "ingest")
    dry = rootpipe(run, "run", "--configfile", "config.yaml", "-n").stdout
    assert job_counts(dry) == {"tile": 1, "segment": 1, "traits": 1, "collect": 1, "track": 1,
                               "report": 1, "default": 1}
    assert f"{new_date}-001" in dry
    rootpipe(run, "run", "--configfile", "config.yaml")
    assert old_store.stat().st_mtime_ns == before
    assert f"{N_SERIES} carried on from their last cached timepoint" in (run / "results/logs/track.log").read_text()
    # Carrying on from the cache gives what tracking every timepoint afresh gives.
    stale.write_bytes(stale_table)
    rootpipe(run, "track", "results/traits.parquet", "stopped.parquet", "--config", "config.yaml", "--quiet")
    roots_after_stop = pd.read_parquet(run / "roots.parquet")
    shutil.rmtree(run / "results/growth")
    rootpipe(run, "track", "results/traits.parquet", "afresh.parquet", "--config", "config.yaml", "--quiet")
    pd.testing.assert_frame_equal(pd.read_parquet(run / "results/growth.parquet"),
                                  pd.read_parquet(run / "afresh.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(run / "stopped.parquet"), pd.read_parquet(run / "afresh.parquet"))
    pd.testing.assert_frame_equal(roots_after_stop, pd.read_parquet(run / "roots.parquet"))
    growth = pd.read_parquet(run / "results/growth.parquet")
    assert len(growth) == N_SERIES * 3
    assert "Nothing to be done" in rootpipe(run, "run", "--configfile", "config.yaml", "-n").stdout


def test_slurm_profile_asks_a_gpu_for_segment_only(campaign, tmp_path):
    run = make_run_dir(tmp_path, campaign, dates_of(campaign)[:1])
    rootpipe(run, "ingest", "--config", "config.yaml", "--quiet")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--snakefile", ROOT / "Snakefile",
                           "--profile", ROOT / "profiles/slurm", "--configfile", "config.yaml"],
                          cwd=run, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    jobs = {m.group(1): m.group(2) for m in re.finditer(r"rule (\w+):\n(?: +.*\n)*? +resources: (.*)", out)}
    assert {"tile", "segment", "traits", "collect", "track", "report"} <= set(jobs)
    assert re.search(r"\bgpu=1\b", jobs["segment"])
    assert all("gpu" not in res for rule, res in jobs.items() if rule != "segment")
    # tile, segment and traits of the one batch are submitted as one group job
    assert out.count("Group job batch") == 1


def _wait_for(predicate, timeout):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_killed_during_segmentation_then_rerun_gives_the_same_tables(campaign, tmp_path):
    from rootpipe.segmentation import checkpoint

    model = tmp_path / "unet.safetensors"
    checkpoint.new(model, encoder="resnet18", tile_px=128)
    unet = {"segment": {"method": "unet", "checkpoint": str(model), "tile_px": 128, "overlap_px": 32,
                        "precision": "fp32"},
            # A group name of the campaign's own: every stage must run with it, track included.
            "filename_pattern": r"(?P<tube>T\d+)_(?P<window>L\d+)_(?P<day>\d{4}-\d{2}-\d{2})",
            "timestamp_fields": ["day"], "traits": {"rsml": True}}
    dates = dates_of(campaign)[:2]
    clean = make_run_dir(tmp_path / "clean", campaign, dates, **unet)
    rootpipe(clean, "run", "--configfile", "config.yaml")
    # Each RSML file names its source image file (viewers open the image by it).
    names = {ET.parse(f).getroot().findtext("metadata/image/name")
             for f in (clean / "results/rsml").rglob("*.rsml")}
    assert names == {f.name for f in (clean / "campaign/images").iterdir()}

    killed = make_run_dir(tmp_path / "killed", campaign, dates, **unet)
    seg_dir = killed / "results/segmentation"
    proc = subprocess.Popen([sys.executable, "-m", "rootpipe.cli", "run", "--configfile", "config.yaml"],
                            cwd=killed, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        started = _wait_for(lambda: any(seg_dir.glob(".*.zarr.tmp-*")), timeout=120)
        os.killpg(proc.pid, signal.SIGKILL)  # the whole run: snakemake and its jobs
    finally:
        proc.wait()
    assert started, "segmentation never started"
    # Nothing half-written under a final name: each store there is complete.
    for store in seg_dir.glob("*.zarr"):
        group = zarr.open_group(store, mode="r")
        assert all("mask" in group[i] for i in group.attrs["rootpipe"]["images"])
    assert not (killed / "results/traits.parquet").exists()

    rootpipe(killed, "run", "--configfile", "config.yaml")
    assert not list(seg_dir.glob(".*.tmp-*"))
    for table in ("traits.parquet", "growth.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(killed / "results" / table),
                                      pd.read_parquet(clean / "results" / table))


def _tiny_pairs(folder):
    """Three small image/mask pairs (two train, one val) and their pairs CSV."""
    from conftest import write_png

    rng = np.random.default_rng(0)
    rows = []
    for i, split in enumerate(["train", "train", "val"]):
        img = rng.integers(40, 90, (96, 128, 3), dtype=np.uint8)
        mask = np.zeros((96, 128), np.uint8)
        img[:, 50 + 10 * i:56 + 10 * i] = 220
        mask[:, 50 + 10 * i:56 + 10 * i] = 255
        write_png(folder / "images" / f"im{i}.png", img)
        write_png(folder / "masks" / f"im{i}.png", mask)
        rows.append({"image": f"images/im{i}.png", "annotation": f"masks/im{i}.png",
                     "annotation_type": "mask", "split": split})
    pd.DataFrame(rows).to_csv(folder / "pairs.csv", index=False)
    return folder / "pairs.csv"


def test_train_target_trains_the_configured_model(tmp_path):
    pairs = _tiny_pairs(tmp_path / "annotated")
    train = {"pairs": str(pairs), "epochs": 1, "steps": 2, "batch": 2, "tile_px": 64, "augmentation": "light",
             "root_fraction": 0.8, "skeleton_weight": 0.5, "device": "cpu"}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"results_dir": "results", "train": train}))
    rootpipe(tmp_path, "run", "--configfile", "config.yaml", "train")
    from rootpipe.segmentation import checkpoint

    model = tmp_path / "results/models/model.safetensors"
    _, header = checkpoint.load(model)
    assert header["tile_px"] == 64
    assert {k: header["training"][k] for k in ("n_train_images", "n_val_images", "epochs", "steps_per_epoch",
                                               "batch", "augmentation", "root_fraction",
                                               "skeleton_weight")} == {
        "n_train_images": 2, "n_val_images": 1, "epochs": 1, "steps_per_epoch": 2, "batch": 2,
        "augmentation": "light", "root_fraction": 0.8, "skeleton_weight": 0.5}
    assert (tmp_path / "results/benchmarks/train.tsv").exists()
    # a corrected annotation retrains the model
    dry = lambda: rootpipe(tmp_path, "run", "--configfile", "config.yaml", "train", "-n").stdout
    assert "Nothing to be done" in dry()
    from conftest import write_png

    mask = np.zeros((96, 128), np.uint8)
    mask[:, 50:58] = 255  # the root drawn 2 px wider
    write_png(tmp_path / "annotated/masks/im0.png", mask)
    later = model.stat().st_mtime + 10
    os.utime(tmp_path / "annotated/masks/im0.png", (later, later))
    assert re.search(r"rule train:", dry())


def test_train_target_without_pairs_says_what_to_set(tmp_path):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump({"results_dir": "results"}))
    proc = rootpipe(tmp_path, "run", "--configfile", "config.yaml", "train", check=False)
    assert proc.returncode != 0
    assert "train.pairs" in proc.stdout + proc.stderr
    assert not (tmp_path / "results/models").exists()


def test_slurm_profile_gives_train_a_gpu():
    profile = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert profile["set-resources"]["train"]["gpu"] == 1


def test_a_run_whose_checkpoint_is_the_train_output_trains_first(tmp_path):
    rootpipe(tmp_path, "demo", "camp", "--series", 1, "--timepoints", 2, "--height", 384, "--width", 512,
             "--quiet")
    pairs = _tiny_pairs(tmp_path / "annotated")
    config = {"input_dir": "camp/images", "metadata_csv": "camp/metadata.csv", "results_dir": "results",
              "pixel_size_mm": 0.05,
              # the threshold the training picks on its validation image, carried by the checkpoint
              "segment": {"checkpoint": "results/models/model.safetensors", "tile_px": 128, "overlap_px": 32,
                          "threshold": None},
              "train": {"pairs": str(pairs), "epochs": 1, "steps": 1, "batch": 2, "tile_px": 64, "device": "cpu",
                        "pick_threshold": True}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = rootpipe(tmp_path, "run", "--configfile", "config.yaml")
    log = proc.stdout + proc.stderr
    assert re.search(r"rule train:", log) and log.index("rule train:") < log.index("rule segment:")
    store = next((tmp_path / "results/segmentation").glob("*.zarr"))
    attrs = zarr.open_group(store, mode="r").attrs["rootpipe"]
    assert attrs["settings"]["checkpoint"] == "results/models/model.safetensors"
    from rootpipe.segmentation import checkpoint

    picked = checkpoint.read_header(tmp_path / "results/models/model.safetensors")["threshold"]
    assert attrs["settings"]["threshold"] is None and attrs["resolved"]["threshold"] == picked
    assert len(pd.read_parquet(tmp_path / "results/traits.parquet")) == 2


def test_results_are_run_from_one_folder(tmp_path, monkeypatch):
    # Snakemake's record of how each result was made lives in the folder a run starts from; a
    # run from elsewhere would call stale results up to date, so it is refused.
    from rootpipe.run import WORKDIR_MARKER, _claim

    results = tmp_path / "shared results"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    assert _claim(results) is None and _claim(results) is None
    monkeypatch.chdir(tmp_path / "b")
    problem = _claim(results)
    assert problem and str(tmp_path / "a") in problem and WORKDIR_MARKER in problem


# The marker is written inside the try and renamed into place: a SIGINT sent as soon as the test
# sees it must land where it is handled, and the pid must be whole when read.
FAKE_SNAKEMAKE = """
import os, sys, time
from pathlib import Path
try:
    Path("snakemake-started.tmp").write_text(str(os.getpid()))
    os.replace("snakemake-started.tmp", "snakemake-started")
    time.sleep(60)
except KeyboardInterrupt:  # what Snakemake does on Ctrl-C: cancel its jobs, then exit
    Path("snakemake-got-sigint").write_text("yes")
    sys.exit(1)
"""


def _start_run(tmp_path, sigint_ignored=False):
    """`rootpipe run` in a process of its own, with a stand-in for Snakemake that sleeps."""
    (tmp_path / "images").mkdir(exist_ok=True)
    (tmp_path / "config.yaml").write_text("input_dir: images\nresults_dir: results\npixel_size_mm: 0.05\n")
    (tmp_path / "fake_snakemake.py").write_text(FAKE_SNAKEMAKE)
    script = ("import sys, rootpipe.run as r\n"
              "r.snakemake_command = lambda *a, **k: [sys.executable, 'fake_snakemake.py']\n"
              "sys.exit(r.run_workflow('local', 'config.yaml', []))\n")
    # As a shell starts `rootpipe run &` without job control: SIGINT ignored, inherited so.
    ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                            preexec_fn=ignore)
    for _ in range(300):
        if (tmp_path / "snakemake-started").exists():
            return proc
        time.sleep(0.1)
    raise AssertionError("the stand-in Snakemake did not start")


def test_a_terminated_run_stops_snakemake_and_a_killed_one_keeps_its_lock(tmp_path):
    # SIGTERM (kill, timeout, scancel of a run submitted as a job) stops Snakemake as Ctrl-C does,
    # instead of leaving it running on its own, also when started in the background of a script.
    for sent, sigint_ignored in ((signal.SIGTERM, False), (signal.SIGTERM, True)):
        proc = _start_run(tmp_path, sigint_ignored)
        proc.send_signal(sent)
        assert proc.wait(timeout=30) == 128 + sent and "interrupted" in proc.stderr.read()
        assert (tmp_path / "snakemake-got-sigint").exists()
        (tmp_path / "snakemake-got-sigint").unlink()
        (tmp_path / "snakemake-started").unlink()
    # SIGKILL cannot be passed on; the Snakemake left running still holds the run lock, so a
    # second run does not start beside it.
    proc = _start_run(tmp_path)
    proc.kill()
    proc.wait()
    second = subprocess.run([sys.executable, "-m", "rootpipe.cli", "run", "--configfile", "config.yaml"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert second.returncode == 1 and "another rootpipe run is writing" in second.stderr
    os.kill(int((tmp_path / "snakemake-started").read_text()), signal.SIGKILL)


@pytest.mark.parametrize("accounting", [True, False])
def test_the_slurm_profile_asks_squeue_where_sacct_cannot_answer(tmp_path, monkeypatch, accounting):
    from rootpipe.run import _slurm_status_args

    sacct = tmp_path / "sacct"
    sacct.write_text("#!/bin/sh\n" + ("exit 0\n" if accounting else
                                      "echo 'Slurm accounting storage is disabled' >&2\nexit 1\n"))
    sacct.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert _slurm_status_args([]) == ([] if accounting else ["--slurm-status-command", "squeue"])
    assert _slurm_status_args(["--slurm-status-command", "sacct"]) == []


def test_run_arguments_that_would_mislead_the_lock_or_the_forced_ingest(tmp_path, monkeypatch):
    from rootpipe.run import _locks_name, _with_forced_ingest, run_workflow

    # results_dir from --config would be written by Snakemake while rootpipe locks the file's folder
    monkeypatch.chdir(tmp_path)
    assert run_workflow("local", None, ["--config", "results_dir=elsewhere"]) == 2
    assert not (tmp_path / "results").exists()
    # a user's own -R keeps the forced ingest (Snakemake keeps only the last --forcerun)
    assert _with_forced_ingest(["-R", "segment", "-n"]) == (["-R", "ingest", "segment", "-n"], [])
    assert _with_forced_ingest(["--forcerun=traits"]) == (["--forcerun", "ingest", "traits"], [])
    assert _with_forced_ingest(["--cores", "2"]) == (["--cores", "2"], ["--forcerun", "ingest"])
    # only a Snakemake lock on this campaign's results is taken as stale
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text("other/manifest.parquet\nother/report.html\n")
    assert not _locks_name(locks, Path("results"))
    (locks / "1.output.lock").write_text(f"{tmp_path}/results/manifest.parquet\n")
    assert _locks_name(locks, Path("results"))
