import numpy as np
import pytest
import tifffile
from conftest import write_jpeg, write_png

from rootpipe.io.decode import UnreadableImage, read_image, to_rgb8


def refused(path, match: str) -> None:
    """read_image refuses ``path`` with a message matching ``match``."""
    with pytest.raises(UnreadableImage, match=match):
        read_image(path)


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
    refused(tmp_path / names["zero"], "empty")
    refused(tmp_path / names["truncated"], "truncated")
    refused(tmp_path / names["text"], "cannot decode")


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
    # TIFF colour maps are 16-bit by definition: 65535 is full brightness, whatever the image holds
    assert np.array_equal(read_image(tmp_path / "pal.tif"),
                          np.rint(np.moveaxis(colours[:, index], 0, -1) / 257).astype(np.uint8))
    colours[:, :4] = np.array([10, 20, 40, 60]) * 257  # a dim palette stays dim
    tifffile.imwrite(tmp_path / "dim.tif", index, photometric="palette", colormap=colours)
    assert set(np.unique(read_image(tmp_path / "dim.tif"))) == {10, 20, 40, 60}
    grey = rng.integers(0, 255, (30, 20), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "white.tif", 255 - grey, photometric="miniswhite")
    assert np.array_equal(read_image(tmp_path / "white.tif"), grey)
    tifffile.imwrite(tmp_path / "cmyk.tif", rng.integers(0, 255, (30, 20, 4), dtype=np.uint8),
                     photometric="separated")
    refused(tmp_path / "cmyk.tif", "SEPARATED.*RGB")


def test_nan_pixels_are_refused(tmp_path, rng):
    values = rng.random((30, 20)).astype(np.float32)
    values[3, 4] = np.nan
    tifffile.imwrite(tmp_path / "f.tif", values)
    refused(tmp_path / "f.tif", "1 pixels are NaN")


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
    refused(tmp_path / "stack.tif", "a stack of 3 images of 80x60 px")


def test_tiffs_with_fewer_bits_than_their_container_are_scaled_from_their_own(tmp_path, rng):
    grey4 = rng.integers(0, 16, (30, 20), dtype=np.uint8)
    grey4[0, 0] = 15
    tifffile.imwrite(tmp_path / "g4.tif", grey4, photometric="minisblack", bitspersample=4)
    assert np.array_equal(read_image(tmp_path / "g4.tif"), np.rint(grey4 * 17.0).astype(np.uint8))
    grey12 = rng.integers(0, 4096, (30, 20), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "w12.tif", 4095 - grey12, photometric="miniswhite", bitspersample=12)
    expected = np.rint(grey12 * (255 / 4095)).astype(np.uint8)  # inverted against 4095, not 65535
    assert np.abs(read_image(tmp_path / "w12.tif").astype(int) - expected).max() <= 1


def test_a_16_bit_grey_and_alpha_png_keeps_its_low_bits(tmp_path, rng):
    import cv2

    grey = rng.integers(0, 4096, (30, 20), dtype=np.uint16)
    grey[0, 0] = 4095
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    # grey + alpha (PNG colour type 4) has no OpenCV writer: build its chunks by hand
    import struct
    import zlib

    raw = b"".join(b"\x00" + np.dstack([grey[y], np.full_like(grey[y], 65535)]).astype(">u2").tobytes()
                   for y in range(grey.shape[0]))
    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", 20, 30, 16, 4, 0, 0, 0)
    (tmp_path / "ga.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                      + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    assert np.array_equal(to_rgb8(read_image(tmp_path / "ga.png")), to_rgb8(read_image(tmp_path / "g.png")))


def test_a_configured_bit_depth_scales_every_image_alike(rng):
    dim = rng.integers(100, 3000, (30, 20), dtype=np.uint16)  # a dim frame of a 14-bit camera
    assert to_rgb8(dim).max() > 150  # taken as 12-bit by its brightest value: 4x too bright
    assert np.abs(to_rgb8(dim, bit_depth=14)[..., 0].astype(int) - np.rint(dim.astype(float) * 255 / 16383)).max() <= 1


def test_a_scan_over_pillows_bomb_limit_is_not_called_a_bomb(tmp_path):
    import struct
    import zlib

    chunk = lambda kind, data: (struct.pack(">I", len(data)) + kind + data
                                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    # a 14000 x 13000 grey PNG header (182 MP) whose pixel data is cut short
    header = struct.pack(">IIBBBBB", 14000, 13000, 8, 0, 0, 0, 0)
    (tmp_path / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                                       + chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b""))
    with pytest.raises(UnreadableImage) as error:
        read_image(tmp_path / "big.png")
    assert "bomb" not in str(error.value) and "exceeds limit" not in str(error.value)
