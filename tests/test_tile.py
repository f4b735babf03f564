import numpy as np
import pandas as pd
import zarr
from conftest import write_png

from rootpipe.io.stores import read_image_level
from rootpipe.stages.tile import run as tile_batch


def test_batch_store_is_ome_zarr_with_pyramid_and_one_shard_per_image(tmp_path, rng):
    rgb = rng.integers(0, 255, (300, 420, 3), dtype=np.uint8)
    grey = rng.integers(0, 255, (100, 90), dtype=np.uint8)
    batch = pd.DataFrame({"image_id": ["a", "b"],
                          "path": [str(write_png(tmp_path / "a.png", rgb)), str(write_png(tmp_path / "b.png", grey))]})
    store = tmp_path / "batch.zarr"
    tile_batch(batch, store, chunk_px=128, levels=3, pixel_size_mm=0.05, threads=2)
    assert np.array_equal(read_image_level(store, "a", 0), rgb)
    assert np.array_equal(read_image_level(store, "b", 0), np.repeat(grey[..., None], 3, -1))
    group = zarr.open_group(store, mode="r")["a"]
    ome = group.attrs["ome"]
    assert ome["version"] == "0.5"
    datasets = ome["multiscales"][0]["datasets"]
    assert [d["path"] for d in datasets] == ["s0", "s1", "s2"]
    assert datasets[1]["coordinateTransformations"][0]["scale"] == [1.0, 0.1, 0.1]
    assert group["s1"].shape == (3, 150, 210) and group["s2"].shape == (3, 75, 105)
    s0 = group["s0"]
    assert s0.chunks == (3, 128, 128)
    assert s0.shards == (3, 384, 512)  # the whole image in one shard: one writer per shard
    assert not list(tmp_path.glob(".batch.zarr.tmp-*"))


def test_failed_tiling_leaves_no_store(tmp_path):
    batch = pd.DataFrame({"image_id": ["x"], "path": [str(tmp_path / "missing.png")]})
    store = tmp_path / "batch.zarr"
    try:
        tile_batch(batch, store)
    except FileNotFoundError:
        pass
    assert not store.exists() and not list(tmp_path.glob(".batch.zarr.tmp-*"))


def test_an_image_damaged_since_ingest_is_named_with_the_fix(tmp_path, rng):
    import pytest

    from rootpipe.io.decode import UnreadableImage

    path = write_png(tmp_path / "T01_L01.png", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:200])  # truncated after ingest accepted it
    batch = pd.DataFrame({"image_id": ["T01_L01_x"], "path": [str(path)]})
    with pytest.raises(UnreadableImage, match=r"T01_L01.png \(image T01_L01_x\): cannot decode.*restore it"):
        tile_batch(batch, tmp_path / "b.zarr")


def test_each_pyramid_level_lies_over_the_level_above_at_odd_sizes():
    from rootpipe.stages.tile import pyramid

    rgb = np.zeros((101, 75, 3), np.uint8)
    rgb[:, 70] = 200  # a vertical line near the right edge of an odd width
    rgb[100, :] = 120  # the odd last row
    half = pyramid(rgb, 2)[1]
    assert half.shape == (51, 38, 3)
    # Column 70 is block 35's left column: half of that block, nothing in the columns beside it.
    np.testing.assert_array_equal(half[:50, 35, 0], 100)
    assert half[:50, [34, 36], 0].max() == 0
    # The last row is repeated into its own block, not stretched over the rows above.
    assert half[50, 0, 0] == 120 and half[49, 0, 0] == 0
