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
            import tifffile

            with tifffile.TiffFile(path) as tif:
                array = tif.pages[0].asarray()
        else:
            from PIL import Image

            with Image.open(path) as im:
                im.load()  # raises on truncated data, unlike Image.open alone
                if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                    array = np.asarray(im).astype(np.uint16, copy=False)
                elif im.mode in ("1", "L", "RGB", "RGBA", "LA"):
                    array = np.asarray(im)
                else:
                    array = np.asarray(im.convert("RGB"))
    except UnreadableImage:
        raise
    except Exception as exc:  # every decoder failure is a recorded rejection
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UnreadableImage(f"cannot decode: {reason}") from exc
    return _check_shape(np.asarray(array))


def _check_shape(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] not in (3, 4):
        array = np.moveaxis(array, 0, -1)  # planar TIFF (C, H, W)
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (1, 2, 3, 4)):
        raise UnreadableImage(f"unsupported image shape {array.shape}")
    if min(array.shape[:2]) < 8:
        raise UnreadableImage(f"image too small ({array.shape[0]}x{array.shape[1]} px)")
    if array.dtype.kind not in "uib" and array.dtype.kind != "f":
        raise UnreadableImage(f"unsupported pixel type {array.dtype}")
    return array


def to_rgb8(array: np.ndarray) -> np.ndarray:
    """Convert a decoded image to (H, W, 3) uint8.

    Grey images are repeated over three channels and alpha is dropped, so
    every model sees the same input layout. Deeper than 8 bits is scaled by
    the image's own 99.9th percentile: 12-bit cameras write into 16-bit
    containers and a fixed /257 would leave such images nearly black.
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
    values = array.astype(np.float32)
    low = float(values.min())
    high = float(np.percentile(values, 99.9))
    if high <= low:
        high = low + 1.0
    return np.clip((values - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
