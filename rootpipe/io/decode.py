"""Decode campaign images (JPEG, PNG, TIFF incl. 16-bit and BigTIFF) to arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np

TIFF_SUFFIXES = {".tif", ".tiff"}


class UnreadableImage(ValueError):
    """An image file that cannot be decoded; the message is the reason recorded."""


def read_image(path: str | Path) -> np.ndarray:
    """Fully decode one image file.

    Parameters
    ----------
    path : path to a JPEG, PNG or TIFF file.

    Returns
    -------
    ndarray
        (H, W) or (H, W, C) array in the file's own dtype (uint8, uint16, ...).

    Raises
    ------
    UnreadableImage
        For an empty, truncated, corrupt or unsupported file, with the reason.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise UnreadableImage("empty file (0 bytes)")
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            array = _read_tiff(path)
        else:
            array = _read_pil(path)
    except UnreadableImage:
        raise
    except Exception as exc:  # every decoder failure is a recorded rejection
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableImage(f"cannot decode: {reason}") from exc
    return _check_shape(np.asarray(array))


def declared_size(path: str | Path) -> tuple[int, int]:
    """(height, width) px an image file declares in its header, without decoding any pixel.

    For a TIFF, the page :func:`read_image` would read (the largest).
    """
    path = Path(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                page = max(tif.pages, key=lambda p: p.imagelength * p.imagewidth)
                return int(page.imagelength), int(page.imagewidth)
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None
        with Image.open(path) as im:
            return int(im.size[1]), int(im.size[0])
    except Exception as exc:  # the decoder's reason, as read_image gives it
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableImage(f"cannot decode: {reason}") from exc


def check_declared_size(path: str | Path, max_megapixels: float) -> None:
    """Refuse an image whose header declares more than ``max_megapixels`` (UnreadableImage).

    A few hundred bytes of PNG can declare 40,000 x 40,000 px: decoded, 4.8 GB. The limit is
    checked before decoding, so such a file costs nothing but its rejection.
    """
    h, w = declared_size(path)
    if h * w > max_megapixels * 1e6:
        raise UnreadableImage(f"image declares {w} x {h} px ({h * w / 1e6:.0f} MP), over max_image_megapixels "
                              f"({max_megapixels:g} MP): raise max_image_megapixels in the config if it is a real "
                              "capture and the jobs' memory allows (about 4 bytes per pixel in the tile job)")


def _read_pil(path: Path) -> np.ndarray:
    """JPEG, PNG and the rest of what Pillow reads, turned as the EXIF orientation says."""
    from PIL import Image

    # Pillow refuses images over 179 MP as "decompression bombs"; a 600 dpi rhizobox scan is
    # bigger, and the files are the campaign's own.
    Image.MAX_IMAGE_PIXELS = None
    with Image.open(path) as im:
        frames = getattr(im, "n_frames", 1)
        if frames > 1:  # as a TIFF stack: which frame is the capture is not ours to guess
            raise UnreadableImage(f"an animation of {frames} frames ({im.format}): save one image per file")
        im.load()  # raises on truncated data, unlike Image.open alone
        orientation = im.getexif().get(EXIF_ORIENTATION, 1)
        if _png_colour_depth(path) == 16:
            # Pillow keeps only the high byte of 16-bit colour and grey+alpha PNGs; OpenCV keeps
            # all 16 bits (grey+alpha comes as four channels, grey repeated).
            import cv2

            array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            array = array[..., [2, 1, 0, 3][:array.shape[-1]]]  # BGR(A) -> RGB(A)
        elif im.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(im).astype(np.uint16, copy=False)
        elif im.mode in ("1", "L", "RGB", "RGBA", "LA"):
            array = np.asarray(im)
        else:
            array = np.asarray(im.convert("RGB"))
    return orient(array, orientation)


def _png_colour_depth(path: Path) -> int | None:
    """Bit depth of a colour (RGB, RGBA) or grey+alpha PNG from its header; None for anything else."""
    with open(path, "rb") as f:
        head = f.read(26)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 26 or head[25] not in (2, 4, 6):
        return None
    return head[24]


def _read_tiff(path: Path) -> np.ndarray:
    """The image of a TIFF (see :func:`_main_page`) in RGB or grey as displayed (photometric and
    orientation applied)."""
    import tifffile
    from tifffile import PHOTOMETRIC

    with tifffile.TiffFile(path) as tif:
        page = _main_page(tif)
        photometric = page.photometric
        if photometric not in (PHOTOMETRIC.MINISBLACK, PHOTOMETRIC.MINISWHITE, PHOTOMETRIC.RGB,
                               PHOTOMETRIC.PALETTE, PHOTOMETRIC.YCBCR):
            raise UnreadableImage(f"unsupported TIFF colour space {photometric.name}: export the image as "
                                  "RGB or greyscale")
        array = page.asarray()
        # Fewer bits than the container holds (4-bit grey in bytes, 12 bits declared in 16):
        # white is 2**bits - 1, not the container's maximum.
        bits = int(page.bitspersample)
        declared = 2 ** bits - 1 if array.dtype.kind == "u" and bits < array.dtype.itemsize * 8 else None
        orientation_tag = page.tags.get(EXIF_ORIENTATION)
        orientation = int(orientation_tag.value) if orientation_tag is not None else 1
        if photometric == PHOTOMETRIC.PALETTE:
            colormap = page.colormap
            if colormap is None:
                raise UnreadableImage("palette TIFF without a colour map")
            array = np.moveaxis(colormap[:, array], 0, -1)  # indices -> (H, W, 3) colours
            if colormap.max() <= 255:
                array = array.astype(np.uint8)
        elif photometric == PHOTOMETRIC.MINISWHITE:  # 0 is white: invert to the usual sense
            if array.dtype == bool:
                array = ~array
            elif declared:
                array = declared - np.minimum(array, declared)
            elif array.dtype.kind in "ui":
                array = np.iinfo(array.dtype).max - array
            else:
                array = np.nanmax(array) - array
        if declared and photometric != PHOTOMETRIC.PALETTE:
            array = np.rint(np.minimum(array, declared) * (255.0 / declared)).astype(np.uint8)
        elif photometric == PHOTOMETRIC.PALETTE and array.dtype == np.uint16:
            array = np.rint(array / 257.0).astype(np.uint8)  # TIFF colour maps are 16-bit by definition
    return orient(array, orientation)


def _main_page(tif):
    """The image of a TIFF: its one page, or the largest of several (a thumbnail or a reduced
    copy beside it). Several pages of the largest size are a stack that names no one image."""
    pages = list(tif.pages)
    if len(pages) == 1:
        return pages[0]
    area = [p.imagelength * p.imagewidth for p in pages]
    largest = [p for p, a in zip(pages, area) if a == max(area)]
    if len(largest) > 1:
        raise UnreadableImage(f"a stack of {len(largest)} images of {largest[0].imagewidth}x"
                              f"{largest[0].imagelength} px: save one image per file")
    return largest[0]


#: EXIF/TIFF tag of the orientation in which a camera held the image
EXIF_ORIENTATION = 274


def orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a decoded image as its EXIF/TIFF orientation tag (1-8) says, so that it lies as viewers show it.

    Cameras store the sensor's rows and say how the camera was held; a campaign whose images
    differ only in that tag must still give images of one size and one orientation.
    """
    turns = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
             5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
             7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: np.rot90(a, 1)}
    turn = turns.get(int(orientation))
    return array if turn is None else np.ascontiguousarray(turn(array))


def _check_shape(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] not in (3, 4):
        array = np.moveaxis(array, 0, -1)  # planar TIFF (C, H, W)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 2, 3, 4)):
        raise UnreadableImage(f"unsupported image shape {array.shape}")
    if min(array.shape[:2]) < 8:
        raise UnreadableImage(f"image too small ({array.shape[0]}x{array.shape[1]} px)")
    if array.dtype.kind not in "uib" and array.dtype.kind != "f":
        raise UnreadableImage(f"unsupported pixel type {array.dtype}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        finite = np.isfinite(array)
        bad = int(np.count_nonzero(~(finite.all(axis=-1) if array.ndim == 3 else finite)))  # pixels, not values
        raise UnreadableImage(f"{bad} pixels are NaN or infinite: export the image without them")
    return array


def transparency_reason(array: np.ndarray, white: float) -> str | None:
    """Why an image with an alpha channel cannot be measured as it is, or None.

    What lies under transparent pixels is not what a viewer shows (often black, which a
    segmenter reads as soil or as roots); flattening it silently would measure hidden pixels.
    """
    if array.ndim != 3 or array.shape[-1] not in (2, 4):
        return None
    hidden = int(np.count_nonzero(array[..., -1] < white / 2))
    if not hidden:
        return None
    return (f"{hidden} pixels ({hidden / (array.shape[0] * array.shape[1]):.1%}) are transparent: what lies "
            "under them is not the picture; export the image without transparency (flattened)")


def white_level(array: np.ndarray) -> float:
    """The pixel value that stands for full brightness in a decoded image.

    255 for 8 bits and 1 for a 1-bit image. Cameras write 10, 12 or 14 bits into 16-bit
    containers, so deeper integers are taken at the smallest even bit depth that holds the
    image's largest value (at least 8: 8-bit data in a 16-bit file stays 8-bit). Float images
    within [0, 1] are taken at 1, others at their maximum.
    """
    if array.dtype == bool:
        return 1.0
    if array.dtype == np.uint8:
        return 255.0
    top = float(array.max(initial=0))
    if array.dtype.kind == "f":
        return 1.0 if top <= 1.0 else top
    bits = max(8, int(top).bit_length())
    bits += bits % 2
    return float(2 ** bits - 1)


def to_rgb8(array: np.ndarray, bit_depth: int | None = None) -> np.ndarray:
    """Convert a decoded image to (H, W, 3) uint8.

    Grey images are repeated over three channels and alpha is dropped, so
    every model sees the same input layout. Deeper than 8 bits is scaled
    from its :func:`white_level` to 255: a 12-bit camera's image in a 16-bit
    file gives what the same pixels saved as 8 bits give (a fixed /257 would
    leave it nearly black), and no image is stretched by its own contrast,
    which would make traits depend on the file's bit depth. ``bit_depth`` (the config's)
    fixes the white level of integer images deeper than 8 bits at ``2**bit_depth - 1`` for
    every image alike, where an image's own brightest value could pick another.
    """
    if array.ndim == 3:
        if array.shape[-1] in (2, 4):
            array = array[..., :-1]  # drop alpha
        if array.shape[-1] == 1:
            array = array[..., 0]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    deep = array.dtype.kind in "ui" and array.dtype.itemsize > 1
    scale = np.float32(255.0 / (2 ** bit_depth - 1 if bit_depth and deep else white_level(array)))
    return np.clip(np.rint(array.astype(np.float32) * scale), 0, 255).astype(np.uint8)
