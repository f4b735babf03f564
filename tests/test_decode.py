import numpy as np
import pytest
import tifffile

from rootpipe.decode import UnreadableImage, read_image, to_rgb8

from conftest import write_jpeg, write_png


def test_png_jpeg_rgb_grey_rgba(tmp_path, rng):
    rgb = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    assert np.array_equal(read_image(write_png(tmp_path / "a.png", rgb)), rgb)
    grey = rgb[..., 0]
    assert read_image(write_png(tmp_path / "g.png", grey)).shape == (40, 50)
    rgba = np.dstack([rgb, np.full((40, 50), 255, np.uint8)])
    out = to_rgb8(read_image(write_png(tmp_path / "rgba.png", rgba)))
    assert np.array_equal(out, rgb)
    assert read_image(write_jpeg(tmp_path / "a.jpg", rgb)).shape == (40, 50, 3)


def test_tiff_16bit_bigtiff_and_planar(tmp_path, rng):
    deep = rng.integers(0, 4095, (30, 20), dtype=np.uint16)  # a 12-bit camera in a 16-bit file
    tifffile.imwrite(tmp_path / "d.tif", deep)
    tifffile.imwrite(tmp_path / "big.tif", deep, bigtiff=True)
    assert np.array_equal(read_image(tmp_path / "d.tif"), deep)
    assert np.array_equal(read_image(tmp_path / "big.tif"), deep)
    rgb8 = to_rgb8(deep)
    assert rgb8.dtype == np.uint8 and rgb8.shape == (30, 20, 3)
    assert rgb8.max() >= 250, "12-bit data must be stretched, not divided by 257"
    planar = rng.integers(0, 255, (3, 30, 20), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "p.tif", planar, photometric="rgb", planarconfig="separate")
    assert read_image(tmp_path / "p.tif").shape == (30, 20, 3)


def test_bad_files_give_a_reason(tmp_path, bad_files):
    names = bad_files(tmp_path, "zero", "trunc", "text")
    with pytest.raises(UnreadableImage, match="empty"):
        read_image(tmp_path / names["zero"])
    with pytest.raises(UnreadableImage, match="truncated"):
        read_image(tmp_path / names["truncated"])
    with pytest.raises(UnreadableImage, match="cannot decode"):
        read_image(tmp_path / names["text"])
