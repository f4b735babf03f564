"""Big images in bands: banded tile stores and streamed segmentation equal the whole-image ones."""
import cv2
import numpy as np
import pandas as pd
import pytest
import tifffile
import zarr
from conftest import write_png

from rootpipe import config as cfg
from rootpipe.io.stores import mask_array
from rootpipe.segmentation import checkpoint
from rootpipe.segmentation.segmenter import to_mask
from rootpipe.segmentation.tiling import blend_window, predict_rows, predict_tiled, tile_starts
from rootpipe.segmentation.unet import TilePredictor
from rootpipe.stages.segment import run as segment_batch
from rootpipe.stages.tile import pyramid
from rootpipe.stages.tile import run as tile_batch


def _roots(shape, seed=0):
    """An image with bright root-like lines on textured soil."""
    rng = np.random.default_rng(seed)
    img = rng.integers(40, 90, (*shape, 3), dtype=np.uint8)
    for _ in range(12):
        pts = np.cumsum(rng.normal(0, 40, (20, 2)), axis=0) + rng.uniform(0, min(shape), 2)
        cv2.polylines(img, [pts[:, ::-1].astype(np.int32)], False, (200, 190, 170), int(rng.integers(2, 7)))
    return img


@pytest.fixture(scope="module")
def rgb():
    return _roots((3000, 2000))


@pytest.mark.parametrize("kind", ["strips", "tiles", "png"])
def test_banded_tile_store_equals_the_whole_image_one(tmp_path, rgb, kind):
    path = tmp_path / ("img.png" if kind == "png" else "img.tif")
    if kind == "png":
        write_png(path, rgb)
    elif kind == "strips":
        tifffile.imwrite(path, rgb, rowsperstrip=100)
    else:
        tifffile.imwrite(path, rgb, tile=(256, 256), compression="zlib")
    batch = pd.DataFrame({"image_id": ["a"], "path": [str(path)]})
    tile_batch(batch, tmp_path / "banded.zarr", chunk_px=128, levels=3, band_px=500, threads=2)
    banded = zarr.open_group(tmp_path / "banded.zarr", mode="r")["a"]
    expected = pyramid(rgb, 3)
    for k, level in enumerate(expected):
        arr = banded[f"s{k}"]
        # Shards are whole-width bands: 512 rows at s0 (500 rounded up to 128 * 2**2), halved per level.
        assert arr.shards == (3, 512 >> k, -(-level.shape[1] // 128) * 128)
        np.testing.assert_array_equal(np.moveaxis(arr[:], 0, -1), level)


def test_a_turned_tiff_is_not_read_band_by_band_as_stored(tmp_path, rgb):
    # An orientation tag turns the whole image: bands of stored rows would be the wrong rows.
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, rgb[:1200, :900], rowsperstrip=100, extratags=[(274, 3, 1, 6, True)])
    batch = pd.DataFrame({"image_id": ["a"], "path": [str(path)]})
    tile_batch(batch, tmp_path / "t.zarr", chunk_px=128, levels=1, band_px=500)
    s0 = zarr.open_group(tmp_path / "t.zarr", mode="r")["a"]["s0"]
    np.testing.assert_array_equal(np.moveaxis(s0[:], 0, -1), np.rot90(rgb[:1200, :900], -1))


def test_small_images_keep_one_shard_per_level(tmp_path, rgb):
    batch = pd.DataFrame({"image_id": ["a"], "path": [str(write_png(tmp_path / "a.png", rgb[:400, :300]))]})
    tile_batch(batch, tmp_path / "s.zarr", chunk_px=128, levels=2, band_px=500)
    s0 = zarr.open_group(tmp_path / "s.zarr", mode="r")["a"]["s0"]
    assert s0.shards == (3, 512, 384)


def _reference_predict_tiled(image, predict, tile, overlap, batch_tiles, multiple=32):
    """The whole-image algorithm: full-size accumulators, tiles in row-major order."""
    h, w = image.shape[:2]
    H, W = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    image = np.pad(image, ((0, H - h), (0, W - w), (0, 0)), mode="reflect")
    tile_h, tile_w = min(tile, H), min(tile, W)
    ov_h, ov_w = min(overlap, tile_h // 2), min(overlap, tile_w // 2)
    ys, xs = tile_starts(H, tile_h, ov_h, multiple), tile_starts(W, tile_w, ov_w, multiple)
    # Ramps over the smallest actual overlap of neighbouring tiles (at most half a tile).
    blend = lambda s, t, ov: ov if len(s) < 2 else int(min(t // 2, t - max(np.diff(s))))
    window = blend_window(tile_h, tile_w, blend(ys, tile_h, ov_h), blend(xs, tile_w, ov_w))
    acc = np.zeros((H, W), np.float32)
    weight = np.zeros((H, W), np.float32)
    starts = [(y, x) for y in ys for x in xs]
    for i in range(0, len(starts), batch_tiles):
        group = starts[i:i + batch_tiles]
        probs = predict(np.stack([image[y:y + tile_h, x:x + tile_w] for y, x in group]))
        for (y, x), p in zip(group, probs):
            acc[y:y + tile_h, x:x + tile_w] += p * window
            weight[y:y + tile_h, x:x + tile_w] += window
    return (acc / weight)[:h, :w]


def _context_model(tiles):
    """A predictor whose output depends on context, so tile borders matter."""
    grey = tiles.mean(axis=-1).astype(np.float32) / 255.0
    return np.stack([cv2.GaussianBlur(g, (0, 0), 6) for g in grey])


@pytest.mark.parametrize("shape,batch_tiles", [((3000, 2000), 4), ((1000, 700), 1), ((1013, 331), 7)])
def test_streamed_prediction_is_bitwise_the_whole_image_one(rgb, shape, batch_tiles):
    image = np.ascontiguousarray(rgb[:shape[0], :shape[1]])
    expected = _reference_predict_tiled(image, _context_model, 256, 64, batch_tiles)
    reads = []

    def read_rows(y0, y1):
        reads.append(y1 - y0)
        return image[y0:y1]

    bands = list(predict_rows(read_rows, shape, _context_model, 256, 64, batch_tiles))
    assert [y0 for y0, _ in bands] == list(np.cumsum([0] + [len(b) for _, b in bands[:-1]]))
    streamed = np.concatenate([b for _, b in bands])
    assert streamed.dtype == np.float32 and streamed.shape == shape
    np.testing.assert_array_equal(streamed, expected)
    np.testing.assert_array_equal(predict_tiled(image, _context_model, 256, 64, batch_tiles), expected)
    assert max(reads) <= 256  # one row of tiles at a time, never the whole image
    if shape == (3000, 2000):
        assert len(bands) > 5  # written as it goes, not at the end


def test_banded_segmentation_store_equals_the_whole_image_one(tmp_path, rgb):
    image = rgb[:2100, :300]
    tifffile.imwrite(tmp_path / "a.tif", image)
    batch = pd.DataFrame({"image_id": ["a"], "path": [str(tmp_path / "a.tif")]})
    tile_batch(batch, tmp_path / "images.zarr", chunk_px=128, levels=2, band_px=256)
    checkpoint.new(tmp_path / "m.safetensors", encoder="resnet18", tile_px=128)
    settings = cfg.load({"segment": {"method": "unet", "checkpoint": str(tmp_path / "m.safetensors"),
                                     "tile_px": 128, "overlap_px": 32, "precision": "fp32",
                                     "batch_tiles": 3, "threshold": 0.5, "min_object_area_px": 10}})["segment"]
    segment_batch(tmp_path / "images.zarr", tmp_path / "banded.zarr", settings, band_px=1000)
    segment_batch(tmp_path / "images.zarr", tmp_path / "whole.zarr", settings, band_px=4096)
    banded = zarr.open_group(tmp_path / "banded.zarr", mode="r")["a"]
    whole = zarr.open_group(tmp_path / "whole.zarr", mode="r")["a"]
    banded, whole = ({"probability": g["probability"], "mask": mask_array(g)} for g in (banded, whole))
    assert banded["mask"].shards == (1024, 300) and whole["mask"].shards == (3072, 300)
    for name in ("probability", "mask"):
        np.testing.assert_array_equal(banded[name][:], whole[name][:])
    # ... and both are the whole-image prediction, thresholded and cleaned.
    net, header = checkpoint.load(tmp_path / "m.safetensors")
    prob = predict_tiled(image, TilePredictor(net, header, precision="fp32"), 128, 32, 3)
    np.testing.assert_array_equal(whole["probability"][:], np.round(np.clip(prob, 0, 1) * 255).astype(np.uint8))
    np.testing.assert_array_equal(whole["mask"][:], to_mask(prob, 0.5, 10))
    assert 0 < whole["mask"][:].sum() < whole["mask"][:].size
