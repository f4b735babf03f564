"""Tile: each image of a batch into an OME-Zarr (NGFF 0.5) multiscale image.

One zarr store per batch, one group per ``image_id``, levels ``s0``, ``s1``, …
(each half the size of the one before) stored as (c, y, x) uint8 in square
chunks. Zarr 3 has no locks, and two writers in one shard lose pixels: every
shard is written by one thread, in one piece.

An image up to ``band_px`` rows tall is one shard per level. A taller one is
stored in shards that are whole-width bands of rows (``band_px`` rows at ``s0``,
half that per level) and written one band at a time, so a 20,000 x 20,000 px
scan never needs more than a band or two in memory: uint8 TIFFs (strips or
tiles) are read band by band; other formats (PNG, JPEG, 16-bit images, which
are scaled by the whole image's percentile) are decoded whole first.

Inside a job, dask's threaded scheduler runs the images of a batch, and the
bands of a band-read TIFF, on the job's cores.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import zarr

from rootpipe.io.atomic import atomic_path
from rootpipe.io.decode import EXIF_ORIENTATION, TIFF_SUFFIXES, UnreadableImage, read_image, to_rgb8
from rootpipe.io.stores import BAND_PX, band_rows, create_banded, mark_collection, ome_multiscales, write_sharded


def pyramid(rgb: np.ndarray, levels: int) -> list[np.ndarray]:
    """Downsample by 2 per level with area averaging.

    Parameters
    ----------
    rgb : (H, W, 3) uint8 image.
    levels : number of levels including full resolution.

    Returns
    -------
    list of (H_k, W_k, 3) uint8 arrays, level k has size ceil(H / 2**k).
    """
    out = [rgb]
    for _ in range(1, levels):
        prev = out[-1]
        if min(prev.shape[:2]) < 2:
            break
        out.append(_half(prev))
    return out


def _half(prev: np.ndarray) -> np.ndarray:
    """Mean of each 2 x 2 block; an odd last row or column is repeated to make its block.

    Resizing an odd size straight to its half would stretch the image by up to half a pixel
    across it, so a level's pixels would not lie over the level above's.
    """
    h, w = prev.shape[:2]
    if h % 2 or w % 2:
        prev = cv2.copyMakeBorder(prev, 0, h % 2, 0, w % 2, cv2.BORDER_REPLICATE)
    return cv2.resize(prev, (prev.shape[1] // 2, prev.shape[0] // 2), interpolation=cv2.INTER_AREA)


def level_shapes(h: int, w: int, levels: int) -> list[tuple[int, int]]:
    """(H_k, W_k) of the levels :func:`pyramid` makes of an h x w image."""
    out = [(h, w)]
    for _ in range(1, levels):
        ph, pw = out[-1]
        if min(ph, pw) < 2:
            break
        out.append(((ph + 1) // 2, (pw + 1) // 2))
    return out


def write_image(root: zarr.Group, image_id: str, rgb: np.ndarray, chunk_px: int, levels: int,
                pixel_size_mm: float, band_px: int = BAND_PX) -> None:
    """Write one image's pyramid as a group of ``root``.

    An image up to ``band_px`` rows is one shard per level; a taller one is
    written band by band (:func:`create_image`, :func:`write_band`).
    """
    if rgb.shape[0] > band_px:
        create_image(root, image_id, rgb.shape[:2], chunk_px, levels, pixel_size_mm, band_px)
        rows = band_rows(band_px, chunk_px, levels)
        for y0 in range(0, rgb.shape[0], rows):
            write_band(root[image_id], y0, rgb[y0:y0 + rows])
        return
    group = root.create_group(image_id)
    arrays = pyramid(rgb, levels)
    group.attrs["ome"] = ome_multiscales(image_id, len(arrays), pixel_size_mm)
    for k, level in enumerate(arrays):
        chw = np.ascontiguousarray(np.moveaxis(level, -1, 0))
        write_sharded(group, f"s{k}", chw, chunk_px, ("c", "y", "x"))


def create_image(root: zarr.Group, image_id: str, shape: tuple[int, int], chunk_px: int,
                 levels: int, pixel_size_mm: float, band_px: int = BAND_PX) -> zarr.Group:
    """Create a tall image's group and empty levels, sharded in bands of rows."""
    group = root.create_group(image_id)
    shapes = level_shapes(*shape, levels)
    group.attrs["ome"] = ome_multiscales(image_id, len(shapes), pixel_size_mm)
    rows = band_rows(band_px, chunk_px, levels)
    for k, (h, w) in enumerate(shapes):
        create_banded(group, f"s{k}", (3, h, w), chunk_px, rows >> k, ("c", "y", "x"))
    return group


def write_band(group: zarr.Group, y0: int, rgb: np.ndarray) -> None:
    """Write rows ``y0:y0 + len(rgb)`` of ``s0`` and their share of every lower level.

    ``y0`` is a multiple of the shard height of ``s0`` (:func:`band_rows`, a
    multiple of ``2**(levels - 1)``), and ``rgb`` is one shard tall (or the rest of
    the image), so each band maps onto whole shards of every level,
    and its 2 x 2 means equal the whole image's.
    """
    names = [d["path"] for d in group.attrs["ome"]["multiscales"][0]["datasets"]]
    level = rgb
    for k, name in enumerate(names):
        if k:
            level = _half(level)
        arr = group[name]
        a = y0 >> k
        arr[:, a:a + level.shape[0], :] = np.moveaxis(level, -1, 0)


def _tiff_bands(path: Path):
    """(shape, read_rows) of a uint8 chunky TIFF readable band by band, else None."""
    import tifffile

    if path.suffix.lower() not in TIFF_SUFFIXES:
        return None
    try:
        tif = tifffile.TiffFile(path)
    except Exception:
        return None  # read_image records why
    if len(tif.pages) > 1:  # read_image picks the page
        tif.close()
        return None
    page = tif.pages[0]
    shape = page.shape
    chunky = len(shape) == 2 or (len(shape) == 3 and shape[-1] in (1, 2, 3, 4) and page.planarconfig == 1)
    # Rows as stored are rows as shown only for plain grey or RGB with the default orientation.
    orientation = page.tags.get(EXIF_ORIENTATION)
    as_shown = (page.photometric in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB)
                and (orientation is None or int(orientation.value) == 1))
    if page.dtype != np.uint8 or not chunky or not as_shown or min(shape[:2]) < 8:
        tif.close()
        return None
    source = zarr.open(page.aszarr(), mode="r")
    lock = threading.Lock()  # one file handle

    def read_rows(y0: int, y1: int) -> np.ndarray:
        with lock:
            return to_rgb8(source[y0:y1])

    return shape[:2], read_rows, tif


def _image_tasks(root: zarr.Group, row, chunk_px: int, levels: int, pixel_size_mm: float,
                 band_px: int, opened: list, bit_depth: int | None = None) -> list[Callable[[], None]]:
    """Zero-argument jobs that together write one image; each writes its own shards only.

    Files kept open for the jobs are appended to ``opened``.
    """
    banded = _tiff_bands(Path(row.path))
    if banded is not None and banded[0][0] > band_px:
        (h, w), read_rows, tif = banded
        opened.append(tif)
        group = create_image(root, row.image_id, (h, w), chunk_px, levels, pixel_size_mm, band_px)
        rows = band_rows(band_px, chunk_px, levels)
        return [lambda y0=y0: write_band(group, y0, read_rows(y0, min(y0 + rows, h)))
                for y0 in range(0, h, rows)]
    if banded is not None:
        banded[2].close()

    def whole() -> None:
        try:
            rgb = to_rgb8(read_image(row.path), bit_depth)
        except UnreadableImage as exc:
            raise UnreadableImage(f"{row.path} (image {row.image_id}): {exc}. It was readable when ingested: "
                                  "if it was replaced or damaged since, restore it, or move it out of "
                                  "input_dir and run again") from exc
        write_image(root, row.image_id, rgb, chunk_px, levels, pixel_size_mm, band_px)

    return [whole]


def run(batch, out_store: str | Path, chunk_px: int = 512, levels: int = 3,
               pixel_size_mm: float = 1.0, threads: int = 1, progress: bool = False,
               band_px: int = BAND_PX, bit_depth: int | None = None) -> None:
    """Decode every image of a batch and write the batch's zarr store atomically.

    Parameters
    ----------
    batch : the batch list (``image_id``, ``path``).
    out_store : the ``{batch}.zarr`` folder to create.
    threads : cores to use (dask threads over images and bands).
    band_px : images taller than this are stored and written in bands of rows.
    bit_depth : the camera's bits for images deeper than 8 bits (see :func:`rootpipe.io.decode.to_rgb8`).
    """
    import contextlib

    import dask
    from dask.diagnostics import ProgressBar

    with atomic_path(out_store) as tmp:
        root = zarr.open_group(tmp, mode="w")
        root.attrs["rootpipe"] = {"stage": "tile", "images": list(batch["image_id"]),
                                  "files": [Path(p).name for p in batch["path"]]}
        mark_collection(root, list(batch["image_id"]))
        with contextlib.ExitStack() as stack:
            opened: list = []
            stack.callback(lambda: [f.close() for f in opened])
            jobs = [dask.delayed(job)() for row in batch.itertuples()
                    for job in _image_tasks(root, row, chunk_px, levels, pixel_size_mm, band_px, opened,
                                            bit_depth)]
            if progress:
                stack.enter_context(ProgressBar())
            with dask.config.set(scheduler="threads", num_workers=max(1, threads)):
                dask.compute(*jobs)
