"""Hostile input: nothing a folder or a config holds stops a campaign, hangs it or changes its numbers silently.

Each test is one case of a sweep run as a new user's messy folder would be; docs/reliability.md
lists them with the promise each holds.
"""
import os
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pandas as pd
import pytest
from conftest import write_png

from rootpipe import config as cfg
from rootpipe.stages import ingest


def _good_images(folder, n=2, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        write_png(folder / f"T01_L{i + 1:02d}_2026-05-01.png", rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))


def _config(tmp_path, **extra):
    return cfg.load({"input_dir": str(tmp_path / "images"), "results_dir": str(tmp_path / "results"), **extra})


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` grey px, with a few rows of data (some 100 bytes)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def _reasons(manifest):
    return manifest.set_index("file")["reason"]


def test_links_that_loop_or_lead_to_devices_and_pipes_are_rejected_not_opened(tmp_path):
    images = tmp_path / "images"
    _good_images(images)
    os.symlink("T09_L01_2026-05-01.png", images / "T09_L01_2026-05-01.png")  # a link to itself
    os.mkfifo(images / "T09_L02_2026-05-01.png")  # opened for reading, it would wait for a writer
    os.symlink("/dev/zero", images / "T09_L03_2026-05-01.png")  # read, it never ends
    (images / "T09_L04_2026-05-01.png").mkdir()  # a folder named like an image
    start = time.monotonic()
    manifest = ingest.run(_config(tmp_path), progress=False)
    assert time.monotonic() - start < 60
    reasons = _reasons(manifest)
    assert "Too many levels of symbolic links" in reasons["T09_L01_2026-05-01.png"]
    assert "named pipe" in reasons["T09_L02_2026-05-01.png"]
    assert "character device" in reasons["T09_L03_2026-05-01.png"]
    assert "T09_L04_2026-05-01.png" not in reasons  # os.walk lists it as a folder: nothing in it
    assert manifest.loc[manifest["file"].str.startswith("T01"), "status"].eq("accepted").all()


def test_a_name_that_is_not_utf8_is_rejected_and_the_tables_can_hold_it(tmp_path):
    images = tmp_path / "images"
    _good_images(images)
    raw = os.fsencode(images) + b"/T01_L09_2026-05-01_\xff\xfe.png"
    with open(raw, "wb") as fh:
        fh.write((images / "T01_L01_2026-05-01.png").read_bytes())
    manifest = ingest.run(_config(tmp_path), progress=False)
    row = manifest[manifest["file"].str.contains("L09")].iloc[0]
    assert row["status"] == "rejected" and "not valid UTF-8" in row["reason"]
    assert "\\xff\\xfe" in row["file"]
    assert len(pd.read_parquet(tmp_path / "results/manifest.parquet")) == 3  # written, with that row


def test_an_unlisted_folder_is_named_in_a_warning(tmp_path, capsys, monkeypatch):
    # As root (the tests' user here) permission bits do not stop listing, so the refusal is
    # made by the walk itself, as os.walk reports an unreadable folder to its onerror.
    images = tmp_path / "images"
    _good_images(images)
    (images / "locked").mkdir()
    real_scandir = os.scandir

    def scandir(path="."):
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    manifest = ingest.run(_config(tmp_path), progress=False)
    out = capsys.readouterr().out
    assert "warning: cannot list folder" in out and "locked" in out and "Permission denied" in out
    assert manifest["status"].eq("accepted").all()


def test_an_image_declaring_a_huge_size_is_rejected_from_its_header(tmp_path):
    images = tmp_path / "images"
    _good_images(images)
    bomb = png_declaring(40000, 40000)
    assert len(bomb) < 1000
    (images / "T09_L01_2026-05-01.png").write_bytes(bomb)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest, with torch loaded)
    code = ("import re\nfrom rootpipe import config\nfrom rootpipe.stages import ingest\n"
            f"ingest.run(config.load({{'input_dir': {str(images)!r}, 'results_dir': {str(tmp_path / 'r')!r}}}),"
            " progress=False)\nprint('peak_kb', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    peak_mb = int(proc.stdout.split("peak_kb")[1]) / 1024
    assert peak_mb < 1000, f"ingest peaked at {peak_mb:.0f} MB"
    reasons = _reasons(pd.read_parquet(tmp_path / "r/manifest.parquet"))
    assert "40000 x 40000 px (1600 MP), over max_image_megapixels (500 MP)" in reasons["T09_L01_2026-05-01.png"]
    # the limit is the config's: a larger one lets a real mosaic through
    assert ingest.check_file(str(images / "T01_L01_2026-05-01.png"), max_megapixels=0.001)["status"] == "rejected"


@pytest.mark.parametrize("settings, key", [
    ({"pixel_size_mm": float("nan")}, "pixel_size_mm"),
    ({"pixel_size_mm": None, "dpi": float("nan")}, "dpi"),
    ({"pixel_size_mm": float("inf")}, "pixel_size_mm"),
    ({"segment": {"threshold": float("nan")}}, "segment.threshold"),
    ({"track": {"max_shift_px": float("inf")}}, "track.max_shift_px"),
    ({"segment": {"ridge_sigmas_px": []}}, "segment.ridge_sigmas_px"),
    ({"extensions": []}, "extensions"),
])
def test_non_finite_numbers_and_empty_lists_are_refused_naming_the_key(settings, key):
    with pytest.raises(ValueError, match=rf"\n  {key}: "):
        cfg.check_campaign(settings)


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    lines.append("extensions: [" + ", ".join(["*i"] * 10) + "]")  # 10**10 strings written out
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    with pytest.raises(ValueError, match="more than 10000 values") as info:
        cfg.load(path)
    assert time.monotonic() - start < 5 and len(str(info.value)) < 500


def test_schema_messages_quote_long_values_shortened():
    with pytest.raises(ValueError) as info:
        cfg.load({"extensions": "y" * 100_000})
    assert len(str(info.value)) < 1000 and "characters)" in str(info.value)
    with pytest.raises(ValueError) as info:
        cfg.load({"extensions": [{"x": "y" * 50}] * 100})
    assert len(str(info.value)) < 2000 and "and 90 more" in str(info.value)


def test_a_backtracking_filename_pattern_stops_ingest_with_its_name(tmp_path):
    images = tmp_path / "images"
    write_png(images / ("a" * 40 + "!.png"), np.random.default_rng(0).integers(0, 255, (40, 48, 3), np.uint8))
    config = _config(tmp_path, filename_pattern=r"(?P<tube>(?:a|aa)+)b(?P<window>x)?(?P<date>\d+)?")
    start = time.monotonic()
    with pytest.raises(ValueError, match="took over 1 s to match the file name 'a+!.png'"):
        ingest.run(config, progress=False)
    assert time.monotonic() - start < 30


def test_the_checks_cache_truncated_is_rebuilt(tmp_path, capsys):
    images = tmp_path / "images"
    _good_images(images)
    config = _config(tmp_path)
    first = ingest.run(config, progress=False)
    cache = tmp_path / "results" / ingest.CHECKS_CACHE
    cache.write_bytes(cache.read_bytes()[:40])
    second = ingest.run(config, progress=False)
    assert "cannot be read" in capsys.readouterr().out
    pd.testing.assert_frame_equal(first, second)
    assert len(pd.read_parquet(cache)) == 2  # written whole again


def _checkpoint(path, header_text=None, model_kwargs=None, architecture="Unet", nan=False, shape_off=False,
                threshold=None):
    """A checkpoint of the shipped network with a header or weights changed as given."""
    import json

    import torch
    from safetensors.torch import save_file

    from rootpipe.segmentation import checkpoint

    checkpoint.new(path, encoder="mobilenet_v2", model_kwargs={"decoder_channels": [32, 16, 16, 8, 8]})
    from safetensors import safe_open
    with safe_open(str(path), framework="pt") as f:
        header = json.loads(f.metadata()["rootpipe"])
        state = {k: f.get_tensor(k) for k in f.keys()}
    header["architecture"] = architecture
    if model_kwargs is not None:
        header["model_kwargs"] = model_kwargs
    if threshold is not None:
        header["threshold"] = threshold
    if nan:
        first = next(k for k, t in state.items() if t.is_floating_point())
        state[first] = torch.full_like(state[first], float("nan"))
    if shape_off:
        first = next(k for k, t in state.items() if t.ndim == 4)
        state[first] = torch.zeros(*state[first].shape[:-1], state[first].shape[-1] + 1)
    save_file(state, str(path), metadata={"rootpipe": header_text or json.dumps(header)})
    return path


@pytest.mark.parametrize("kind, message", [
    ("deep", "nested too deep"),
    ("create_model", "not one of the segmentation networks"),
    ("wide", "outside 0-1024"),
    ("nan", "NaN or infinite"),
    ("shape", "do not fit"),
    ("threshold", "threshold is 2, not a probability"),
])
def test_a_hostile_checkpoint_is_refused_before_any_job_in_one_line(tmp_path, kind, message):
    from rootpipe.run import check_model

    path = tmp_path / "m.safetensors"
    if kind == "deep":
        _checkpoint(path, header_text="[" * 100_000 + "]" * 100_000)
    elif kind == "create_model":
        _checkpoint(path, architecture="create_model")
    elif kind == "threshold":
        _checkpoint(path, threshold=2)
    elif kind == "wide":
        _checkpoint(path, model_kwargs={"decoder_channels": [8192, 8192, 8192, 8192, 8192]})
    else:
        _checkpoint(path, nan=kind == "nan", shape_off=kind == "shape")
    config = cfg.load({"segment": {"checkpoint": str(path)}})
    with pytest.raises(ValueError, match=message) as info:
        check_model(config)
    assert "\n" not in str(info.value) and len(str(info.value)) < 600


def test_a_store_missing_a_chunk_file_is_named_never_read_as_no_roots(tmp_path):
    from rootpipe.io.stores import read_mask
    from rootpipe.stages.segment import run as segment_batch
    from rootpipe.stages.tile import run as tile_batch
    from rootpipe.stages.traits import run as measure_batch

    # One image, three 1024-row bands; the root lies in the middle one, so zarr's default would
    # store only that band's chunk, and a missing chunk file could not be told from an empty band.
    img = np.full((2100, 160, 3), 40, np.uint8)
    img[1300:1900, 70:76] = 220
    write_png(tmp_path / "a.png", img)
    batch = pd.DataFrame({"image_id": ["a"], "path": [str(tmp_path / "a.png")]})
    tile_batch(batch, tmp_path / "images.zarr", chunk_px=512, levels=1)
    settings = cfg.load({"segment": {"method": "classical"}})["segment"]
    segment_batch(tmp_path / "images.zarr", tmp_path / "seg.zarr", settings, band_px=1024)
    table = measure_batch(tmp_path / "seg.zarr", tmp_path / "t.parquet", 0.05, {})
    assert table["total_length_mm"].iloc[0] > 25
    chunks = sorted(p for p in (tmp_path / "seg.zarr" / "a" / "labels" / "mask" / "0" / "c").rglob("*") if p.is_file())
    assert len(chunks) == 3  # every band stored, the empty ones too
    (tmp_path / "seg.zarr" / "a" / "labels" / "mask" / "0" / "c" / "1" / "0").unlink()  # the band with the root
    with pytest.raises(ValueError, match=r"seg.zarr: image a is missing 1 of the 3 chunk files of its mask array"):
        measure_batch(tmp_path / "seg.zarr", tmp_path / "t.parquet", 0.05, {})
    with pytest.raises(ValueError, match="delete .*seg.zarr and run again"):
        read_mask(tmp_path / "seg.zarr", "a")
    next(p for p in (tmp_path / "images.zarr" / "a" / "s0" / "c").rglob("*") if p.is_file()).unlink()
    with pytest.raises(ValueError, match="images.zarr: image a is missing"):
        segment_batch(tmp_path / "images.zarr", tmp_path / "seg2.zarr", settings)


def test_transparent_animated_and_nan_images_are_rejected_saying_which(tmp_path):
    from PIL import Image

    from rootpipe.io.decode import UnreadableImage, read_image

    images = tmp_path / "images"
    _good_images(images)
    rgba = np.zeros((40, 48, 4), np.uint8)
    rgba[..., :3] = np.random.default_rng(1).integers(0, 255, (40, 48, 3))
    rgba[..., 3] = 255
    rgba[:, :12, 3] = 0  # a transparent strip, black beneath: it would be measured as soil or root
    write_png(images / "T02_L01_2026-05-01.png", rgba)
    opaque = rgba.copy()
    opaque[..., 3] = 255
    write_png(images / "T02_L02_2026-05-01.png", opaque)
    frames = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 48, 3), np.uint8)) for i in range(3)]
    frames[0].save(images / "T02_L03_2026-05-01.png", save_all=True, append_images=frames[1:])
    frames[0].save(images / "T02_L04_2026-05-01.gif", save_all=True, append_images=frames[1:])
    config = _config(tmp_path, extensions=[".png", ".gif"])
    reasons = _reasons(ingest.run(config, progress=False))
    assert "480 pixels (25.0%) are transparent" in reasons["T02_L01_2026-05-01.png"]
    assert pd.isna(reasons["T02_L02_2026-05-01.png"])  # opaque alpha is fine
    assert "an animation of 3 frames (PNG)" in reasons["T02_L03_2026-05-01.png"]
    assert "an animation of 3 frames (GIF)" in reasons["T02_L04_2026-05-01.gif"]
    import tifffile
    values = np.ones((40, 48, 3), np.float32)
    values[0, :5] = np.nan  # 5 pixels, 15 values
    tifffile.imwrite(tmp_path / "nan.tif", values, photometric="rgb")
    with pytest.raises(UnreadableImage, match="^5 pixels are NaN"):
        read_image(tmp_path / "nan.tif")


def test_a_centreline_threshold_above_the_checkpoints_own_is_refused_before_any_job(tmp_path):
    from rootpipe.run import check_model

    path = _checkpoint(tmp_path / "m.safetensors", threshold=0.7)
    config = cfg.load({"segment": {"checkpoint": str(path), "threshold": None, "centreline_threshold": 0.75}})
    with pytest.raises(ValueError, match="below the checkpoint's own threshold"):
        check_model(config)
    check_model(cfg.load({"segment": {"checkpoint": str(path), "threshold": None, "centreline_threshold": 0.65}}))
