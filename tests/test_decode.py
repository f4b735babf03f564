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


def test_16_bit_colour_png_keeps_its_low_byte(tmp_path, rng):
    import cv2

    deep = rng.integers(0, 4096, (30, 20, 3), dtype=np.uint16)  # 12-bit data: Pillow keeps 0..15
    cv2.imwrite(str(tmp_path / "d.png"), deep[..., ::-1])  # OpenCV writes BGR
    assert np.array_equal(read_image(tmp_path / "d.png"), deep)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_turns_the_image_as_viewers_show_it(tmp_path, rng, orientation):
    from PIL import Image, ImageOps

    rgb = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[274] = orientation
    Image.fromarray(rgb).save(tmp_path / "a.png", exif=exif)
    with Image.open(tmp_path / "a.png") as im:
        shown = np.asarray(ImageOps.exif_transpose(im))
    assert np.array_equal(read_image(tmp_path / "a.png"), shown)
    tifffile.imwrite(tmp_path / "a.tif", rgb, photometric="rgb", extratags=[(274, 3, 1, orientation, True)])
    assert np.array_equal(read_image(tmp_path / "a.tif"), shown)


def test_tiff_colour_spaces(tmp_path, rng):
    index = rng.integers(0, 4, (30, 20), dtype=np.uint8)
    colours = np.zeros((3, 256), np.uint16)
    colours[:, :4] = [[0, 65535, 0, 30000], [0, 0, 65535, 30000], [0, 0, 0, 30000]]
    tifffile.imwrite(tmp_path / "pal.tif", index, photometric="palette", colormap=colours)
    assert np.array_equal(read_image(tmp_path / "pal.tif"), np.moveaxis(colours[:, index], 0, -1))
    grey = rng.integers(0, 255, (30, 20), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "white.tif", 255 - grey, photometric="miniswhite")
    assert np.array_equal(read_image(tmp_path / "white.tif"), grey)
    tifffile.imwrite(tmp_path / "cmyk.tif", rng.integers(0, 255, (30, 20, 4), dtype=np.uint8),
                     photometric="separated")
    with pytest.raises(UnreadableImage, match="SEPARATED.*RGB"):
        read_image(tmp_path / "cmyk.tif")


def test_nan_pixels_are_refused(tmp_path, rng):
    values = rng.random((30, 20)).astype(np.float32)
    values[3, 4] = np.nan
    tifffile.imwrite(tmp_path / "f.tif", values)
    with pytest.raises(UnreadableImage, match="1 pixels are NaN"):
        read_image(tmp_path / "f.tif")


@pytest.mark.parametrize("bits", [10, 12, 14, 16])
def test_bit_depth_does_not_change_the_8_bit_image(rng, bits):
    # The same low-contrast scene saved as 8 bits and at a deeper bit depth gives one image.
    scene8 = rng.integers(90, 160, (30, 20, 3), dtype=np.uint8)
    scene8[0, 0] = 200  # the deep file's brightest pixel decides its bit depth
    deep = (scene8.astype(np.float64) * (2 ** bits - 1) / 255).round().astype(np.uint16)
    assert np.abs(to_rgb8(deep).astype(int) - scene8).max() <= 1


def test_a_multi_page_tiff_gives_its_largest_page_and_a_stack_is_refused(tmp_path, rng):
    image = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    with tifffile.TiffWriter(tmp_path / "thumb_first.tif") as tif:
        tif.write(image[::4, ::4], photometric="rgb")  # a thumbnail first, as some scanners write
        tif.write(image, photometric="rgb")
    assert np.array_equal(read_image(tmp_path / "thumb_first.tif"), image)
    tifffile.imwrite(tmp_path / "stack.tif", rng.integers(0, 255, (3, 60, 80), dtype=np.uint8),
                     photometric="minisblack")
    with pytest.raises(UnreadableImage, match="a stack of 3 images of 80x60 px"):
        read_image(tmp_path / "stack.tif")
