import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import write_png

from rootpipe import config as cfg
from rootpipe.io.stores import read_mask, read_probability
from rootpipe.segmentation import checkpoint
from rootpipe.segmentation.segmenter import to_mask
from rootpipe.segmentation.tiling import blend_window, predict_tiled, tile_starts
from rootpipe.stages.segment import run as segment_batch
from rootpipe.stages.tile import run as tile_batch


@pytest.mark.parametrize("length,tile,overlap,align", [
    (1000, 256, 64, 1), (256, 256, 64, 1), (257, 256, 64, 1), (100, 256, 32, 1), (1024, 256, 64, 32),
    (20000 + 32, 512, 64, 32), (704, 256, 100, 32)])
def test_tiles_cover_the_image_with_the_overlap(length, tile, overlap, align):
    starts = tile_starts(length, tile, overlap, align)
    assert starts[0] == 0 and starts[-1] + tile >= length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))
    assert all(s % align == 0 for s in starts)


def test_blended_prediction_of_a_pointwise_model_is_exact(rng):
    image = rng.integers(0, 255, (300, 517, 3), dtype=np.uint8)
    pointwise = lambda tiles: tiles.mean(axis=-1) / 255.0
    out = predict_tiled(image, pointwise, tile=128, overlap=32, batch_tiles=3)
    assert out.shape == (300, 517)
    np.testing.assert_allclose(out, image.mean(axis=-1) / 255.0, atol=1e-5)
    small = predict_tiled(image[:50, :70], pointwise, tile=128, overlap=32)
    np.testing.assert_allclose(small, image[:50, :70].mean(axis=-1) / 255.0, atol=1e-5)


def test_blend_window_fades_at_borders():
    w = blend_window(64, 64, 16, 16)
    assert w[32, 32] == 1.0 and w[0, 32] < 0.05 and w.min() > 0


def test_pickle_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    bad = tmp_path / "model.pt"
    bad.write_bytes(pickle.dumps({"state_dict": Evil()}))
    with pytest.raises(checkpoint.NotACheckpoint, match="not a safetensors file"):
        checkpoint.load(bad)
    assert not marker.exists()


def test_safetensors_without_rootpipe_header_is_refused(tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(checkpoint.NotACheckpoint, match="no rootpipe header"):
        checkpoint.read_header(tmp_path / "other.safetensors")


def test_to_mask_drops_specks():
    p = np.zeros((50, 50), np.float32)
    p[10:12, 10:12] = 0.9  # 4 px speck
    p[20:40, 30:33] = 0.9  # 60 px root
    m = to_mask(p, 0.5, min_object_area_px=10)
    assert m[10, 10] == 0 and m[25, 31] == 1 and m.sum() == 60


def test_centreline_threshold_adds_faint_roots_as_one_pixel_lines():
    from rootpipe.traits import measure

    p = np.zeros((80, 200), np.float32)
    p[20:25, 10:190] = 0.9  # a confident root, 180 px long
    p[50:55, 10:190] = 0.3  # a faint one
    p[70:72, 5:8] = 0.3     # a faint 6 px speck
    plain = to_mask(p, 0.5, min_object_area_px=10)
    lined = to_mask(p, 0.5, min_object_area_px=10, centreline_threshold=0.2)
    assert plain[40:].sum() == 0
    np.testing.assert_array_equal(lined[:40], plain[:40])  # the confident root keeps its outline
    faint = lined[40:65, 15:185]
    assert faint.sum(axis=0).max() == 1 and faint.sum() == 170  # 1 px wide, the whole length
    assert lined[65:].sum() == 0  # specks stay out at the lower threshold too
    length = measure(plain)["total_length_mm"]
    assert measure(lined)["total_length_mm"] == pytest.approx(2 * length, rel=0.05)


def test_max_object_width_drops_bands_and_blobs_and_keeps_roots_and_tangles():
    from rootpipe.traits import measure

    p = np.zeros((200, 300), np.float32)
    p[10:14, 10:290] = 0.9     # a root 4 px wide
    p[30:150, 20:24] = 0.9     # a tangle of 4 px roots: a comb (one object)
    for x in range(20, 200, 30):
        p[60:64, x:x + 40] = 0.9
    p[30:190, 250:262] = 0.9   # a band 12 px wide (a tube frame's glare)
    p[170:190, 40:70] = 0.9    # a blob 20 x 30 (a clod)
    plain = to_mask(p, 0.5, min_object_area_px=10)
    kept = to_mask(p, 0.5, min_object_area_px=10, max_object_width_px=8)
    np.testing.assert_array_equal(kept[:165, :240], plain[:165, :240])  # root and tangle untouched
    assert kept[30:190, 245:270].sum() == 0 and kept[165:, :100].sum() == 0
    assert measure(kept)["total_length_mm"] < measure(plain)["total_length_mm"] - 150
    # the band stays below a limit above its width; faint centre-lines obey the limit too
    assert to_mask(p, 0.5, 10, max_object_width_px=16)[100, 255] == 1
    faint = p.copy()
    faint[30:190, 250:262] = 0.3
    lined = to_mask(faint, 0.5, 10, centreline_threshold=0.2, max_object_width_px=8)
    assert lined[30:190, 245:270].sum() == 0
    assert to_mask(faint, 0.5, 10, centreline_threshold=0.2)[30:190, 245:270].sum() > 100


def test_methods_name_the_width_limit_only_when_set():
    from rootpipe.reporting.methods import methods

    def written(width):
        attrs = [{"settings": {"method": "unet", "threshold": 0.5, "min_object_area_px": 60,
                               "max_object_width_px": width}}]
        text, table = methods(attrs, {"pixel_size_mm": 0.05})
        return text, dict(table.itertuples(index=False))

    text, table = written(8.0)
    assert float(table["objects wider on average than (px) removed"]) == 8.0 and "wider on average than 8.0 px" in text
    text, table = written(None)
    assert "objects wider on average than (px) removed" not in table and "wider" not in text


def test_centreline_threshold_must_be_below_threshold():
    with pytest.raises(ValueError, match="centreline_threshold: 0.5 must be below segment.threshold"):
        cfg.load({"segment": {"threshold": 0.5, "centreline_threshold": 0.5}})


def _batch(tmp_path, rng, n=2, shape=(96, 160, 3)):
    paths = [write_png(tmp_path / f"img{i}.png", rng.integers(0, 255, shape, dtype=np.uint8)) for i in range(n)]
    batch = pd.DataFrame({"image_id": [f"id{i}" for i in range(n)], "path": [str(p) for p in paths]})
    tile_batch(batch, tmp_path / "images.zarr", chunk_px=64, levels=2)
    return tmp_path / "images.zarr"


def test_unet_checkpoint_segments_a_batch(tmp_path, rng):
    images = _batch(tmp_path, rng)
    checkpoint.new(tmp_path / "m.safetensors", encoder="resnet18", tile_px=64)
    settings = cfg.load({"segment": {"method": "unet", "checkpoint": str(tmp_path / "m.safetensors"),
                                     "tile_px": 64, "overlap_px": 16, "precision": "fp32"}})["segment"]
    segment_batch(images, tmp_path / "seg.zarr", settings)
    prob = read_probability(tmp_path / "seg.zarr", "id1")
    mask = read_mask(tmp_path / "seg.zarr", "id1")
    assert prob.shape == mask.shape == (96, 160) and prob.dtype == np.uint8
    assert set(np.unique(mask)) <= {0, 1}
    # the store names the weights it was made with, for the report's methods section
    import hashlib

    import zarr
    recorded = zarr.open_group(tmp_path / "seg.zarr", mode="r").attrs["rootpipe"]
    assert recorded["model"]["sha256"] == hashlib.sha256((tmp_path / "m.safetensors").read_bytes()).hexdigest()
    assert recorded["model"]["encoder"] == "resnet18" and recorded["resolved"]["device"] == "cpu"


def test_classical_finds_a_bright_line(tmp_path):
    from rootpipe.segmentation.classical import probability

    img = np.full((128, 128, 3), 80, np.uint8)
    img[:, 60:66] = 200
    noisy = np.clip(img + np.random.default_rng(0).normal(0, 5, img.shape), 0, 255).astype(np.uint8)
    mask = probability(noisy) > 0.5
    assert mask[10:118, 61:65].mean() > 0.9
    assert mask[:, :50].mean() < 0.01


def test_segment_stage_mask_equals_to_mask_with_centrelines(tmp_path):
    from rootpipe.segmentation.classical import probability

    img = np.full((96, 160, 3), 60.0) + np.random.default_rng(0).normal(0, 3, (96, 160, 1))
    img[20:26, 8:152] += 160  # a bright root
    img[60:64, 8:152] += 6    # a dim one
    img = np.clip(img, 0, 255).astype(np.uint8)
    write_png(tmp_path / "roots.png", img)
    tile_batch(pd.DataFrame({"image_id": ["r"], "path": [str(tmp_path / "roots.png")]}),
               tmp_path / "images.zarr", chunk_px=64, levels=1)
    p = probability(img, (1.5, 3.0, 5.0))
    bright, dim = np.median(p[21:25, 20:140]), np.median(p[61:63, 20:140])
    assert dim < bright  # else the test's thresholds mean nothing
    settings = cfg.load({"segment": {"method": "classical", "threshold": float((bright + dim) / 2),
                                     "centreline_threshold": float(dim / 2)}})["segment"]
    segment_batch(tmp_path / "images.zarr", tmp_path / "seg.zarr", settings)
    mask = read_mask(tmp_path / "seg.zarr", "r")
    expected = to_mask(p, settings["threshold"], settings["min_object_area_px"], settings["centreline_threshold"])
    np.testing.assert_array_equal(mask, expected)
    columns = mask[55:70].sum(axis=0)[20:140]
    assert columns.max() == 1 and columns.sum() > 100  # the dim root is a 1 px line
    # a width limit below the bright root's drawn width removes it in the stage as in to_mask
    narrow = {**settings, "max_object_width_px": 2.0}
    segment_batch(tmp_path / "images.zarr", tmp_path / "narrow.zarr", narrow)
    mask = read_mask(tmp_path / "narrow.zarr", "r")
    np.testing.assert_array_equal(mask, to_mask(p, narrow["threshold"], narrow["min_object_area_px"],
                                                narrow["centreline_threshold"], 2.0))
    assert mask[15:30].sum() == 0 and read_mask(tmp_path / "seg.zarr", "r")[15:30].sum() > 500


def test_a_damaged_image_store_is_named_with_the_fix(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (96, 160, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", img)
    store = tmp_path / "images.zarr"
    tile_batch(pd.DataFrame({"image_id": ["a"], "path": [str(tmp_path / "a.png")]}), store, chunk_px=64, levels=1)
    chunk = next(p for p in (store / "a").rglob("*") if p.is_file() and "c" in p.relative_to(store).parts)
    chunk.write_bytes(np.random.default_rng(1).bytes(chunk.stat().st_size))  # a disk or copy error
    settings = cfg.load({"segment": {"method": "classical"}})["segment"]
    with pytest.raises(ValueError, match=f"cannot read image a .* from {store}.*delete {store} and run again"):
        segment_batch(store, tmp_path / "seg.zarr", settings)
    assert not (tmp_path / "seg.zarr").exists()


def test_half_precision_checkpoints_keep_values_fp16_cannot_hold(tmp_path):
    import torch

    path = tmp_path / "m.safetensors"
    checkpoint.new(path, encoder="mobilenet_v2", model_kwargs={"decoder_channels": [32, 16, 16, 8, 8]})
    model, header = checkpoint.load(path)
    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    bn.running_var[0] = 1e5  # a fine-tune's running variance beyond fp16's 65504
    checkpoint.save(model, path, header, half=True)
    loaded, _ = checkpoint.load(path)  # refused if any weight came back inf
    again = next(m for m in loaded.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert again.running_var[0] == 1e5
    weights = [p for p in loaded.state_dict().values() if p.is_floating_point()]
    assert path.stat().st_size < 0.6 * sum(4 * p.numel() for p in weights)  # the rest still fp16


def test_threshold_comes_from_the_config_else_the_checkpoint_else_half():
    from rootpipe.segmentation.segmenter import model_threshold

    assert model_threshold({"threshold": None}, {"threshold": 0.8}) == 0.8
    assert model_threshold({"threshold": 0.6}, {"threshold": 0.8}) == 0.6
    assert model_threshold({"threshold": None}, {}) == 0.5  # a checkpoint from before thresholds were picked
    assert model_threshold({"threshold": None}, None) == 0.5  # the classical filter
    with pytest.raises(ValueError, match="centreline_threshold 0.8 must be below the checkpoint's own threshold"):
        model_threshold({"threshold": None, "centreline_threshold": 0.8}, {"threshold": 0.8})
    cfg.load({"segment": {"threshold": None, "centreline_threshold": 0.85}})  # checked once the model is known
    with pytest.raises(ValueError, match="centreline_threshold"):
        cfg.load({"segment": {"threshold": 0.5, "centreline_threshold": 0.6}})
