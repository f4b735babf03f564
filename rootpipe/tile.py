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

from .atomic import atomic_path
from .decode import EXIF_ORIENTATION, TIFF_SUFFIXES, UnreadableImage, read_image, to_rgb8

#: Rows of ``s0`` per shard of a tall image (rounded up to ``chunk_px * 2**(levels - 1)``).
BAND_PX = 4096


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


def ome_multiscales(name: str, n_levels: int, pixel_size_mm: float, channels: int = 3) -> dict:
    """The NGFF 0.5 ``ome`` attribute for a (c, y, x) multiscale image."""
    datasets = [
        {"path": f"s{k}", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0, pixel_size_mm * 2**k, pixel_size_mm * 2**k]}]}
        for k in range(n_levels)
    ]
    return {
        "version": "0.5",
        "multiscales": [{
            "name": name,
            "axes": [{"name": "c", "type": "channel"},
                     {"name": "y", "type": "space", "unit": "millimeter"},
                     {"name": "x", "type": "space", "unit": "millimeter"}],
            "datasets": datasets,
        }],
        "omero": {"channels": [{"label": c, "color": col, "window": {"start": 0, "end": 255, "min": 0, "max": 255}}
                               for c, col in zip("RGB"[:channels], ["FF0000", "00FF00", "0000FF"])]},
    }


def _round_up(n: int, k: int) -> int:
    return -(-n // k) * k


#: array attribute of rootpipe's stores: every chunk is stored, all-zero ones too (zarr leaves
#: those out by default), so a chunk file that is missing is damage, never an empty region
ALL_CHUNKS_STORED = "rootpipe_all_chunks_stored"
EVERY_CHUNK = {"config": {"write_empty_chunks": True}, "attributes": {ALL_CHUNKS_STORED: True}}


def checked(array: zarr.Array, store: str | Path, image_id: str) -> zarr.Array:
    """``array``, after checking that none of its chunks is missing (ValueError naming the store).

    zarr reads a missing chunk as zeros: a mask with a deleted chunk file would be measured as
    an image with fewer roots, and growth would show a loss that never happened. Stores made
    before rootpipe stored every chunk are not checked.
    """
    if array.attrs.get(ALL_CHUNKS_STORED):
        # Counted in shards, the files on disk (zarr 3.1; pinned below 3.2): inner-chunk counts
        # include the padding of edge shards beyond the array.
        expected, stored = array._nshards, array._nshards_initialized
        if stored < expected:
            raise ValueError(f"{store}: image {image_id} is missing {expected - stored} of the {expected} chunk "
                             f"files of its {array.basename} array (deleted or lost): delete {store} and run "
                             "again; it is made anew from the images")
    return array


def create_banded(group: zarr.Group, name: str, shape: tuple[int, ...], chunk_px: int,
                  band_rows: int | None, dimension_names: tuple[str, ...]) -> zarr.Array:
    """An empty uint8 array of square ``chunk_px`` chunks over its last two axes.

    Its shards are whole-width bands of ``band_rows`` rows (a multiple of the
    chunk), or the whole array when it is no taller than that (or ``band_rows``
    is None): write each shard in one piece, by one writer.
    """
    lead, (h, w) = shape[:-2], shape[-2:]
    chunk = (*lead, min(chunk_px, h), min(chunk_px, w))
    rows = _round_up(h, chunk[-2])
    if band_rows is not None and h > band_rows:
        rows = _round_up(band_rows, chunk[-2])
    shard = (*lead, rows, _round_up(w, chunk[-1]))
    return group.create_array(name, shape=shape, dtype=np.uint8, chunks=chunk, shards=shard,
                              dimension_names=dimension_names, fill_value=0, **EVERY_CHUNK)


def write_sharded(group: zarr.Group, name: str, data: np.ndarray, chunk_px: int,
                  dimension_names: tuple[str, ...]) -> None:
    """Write ``data`` as one shard of square ``chunk_px`` chunks over its last two axes."""
    lead = data.shape[:-2]
    chunk = (*lead, min(chunk_px, data.shape[-2]), min(chunk_px, data.shape[-1]))
    shard = (*lead, _round_up(data.shape[-2], chunk[-2]), _round_up(data.shape[-1], chunk[-1]))
    group.create_array(name, data=data, chunks=chunk, shards=shard, dimension_names=dimension_names, **EVERY_CHUNK)


class BandWriter:
    """Write an array's rows top to bottom, one whole shard at a time.

    Rows come in any number per :meth:`write`; they are held until a shard
    (a band of rows, see :func:`create_banded`) is complete, then written in
    one piece. Memory: at most one shard plus the rows handed in.
    """

    def __init__(self, array: zarr.Array):
        self.array = array
        self.rows = array.shards[-2] if array.shards else array.shape[-2]
        self.parts: list[np.ndarray] = []
        self.y0 = 0  # first row not yet written
        self.held = 0

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` (..., n, W) below those written so far."""
        self.parts.append(rows)
        self.held += rows.shape[-2]
        h = self.array.shape[-2]
        while self.held >= min(self.rows, h - self.y0) and self.y0 < h:
            self._flush(min(self.rows, h - self.y0))

    def _flush(self, n: int) -> None:
        data = np.concatenate(self.parts, axis=-2) if len(self.parts) > 1 else self.parts[0]
        self.array[..., self.y0:self.y0 + n, :] = data[..., :n, :]
        rest = data[..., n:, :]
        self.parts = [rest] if rest.shape[-2] else []
        self.held -= n
        self.y0 += n

    def close(self) -> None:
        if self.y0 != self.array.shape[-2] or self.held:
            raise ValueError(f"{self.array.path}: {self.y0} of {self.array.shape[-2]} rows written")


def band_rows(band_px: int, chunk_px: int, levels: int) -> int:
    """Rows of ``s0`` per band: ``band_px`` rounded up so every level's band is whole chunks."""
    return _round_up(band_px, chunk_px * 2 ** max(0, levels - 1))


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


def read_image_level(store: str | Path, image_id: str, level: int = 0) -> np.ndarray:
    """Read one pyramid level (the coarsest if ``level`` is beyond it) as (H, W, 3) uint8."""
    group = zarr.open_group(store, mode="r")[image_id]
    names = level_names(group)
    return np.moveaxis(checked(group[names[min(level, len(names) - 1)]], store, image_id)[:], 0, -1)


def level_names(group: zarr.Group) -> list[str]:
    """Level paths of a multiscale group, finest first, as its metadata names them."""
    return [d["path"] for d in group.attrs["ome"]["multiscales"][0]["datasets"]]


def tile_batch(batch, out_store: str | Path, chunk_px: int = 512, levels: int = 3,
               pixel_size_mm: float = 1.0, threads: int = 1, progress: bool = False,
               band_px: int = BAND_PX, bit_depth: int | None = None) -> None:
    """Decode every image of a batch and write the batch's zarr store atomically.

    Parameters
    ----------
    batch : the batch list (``image_id``, ``path``).
    out_store : the ``{batch}.zarr`` folder to create.
    threads : cores to use (dask threads over images and bands).
    band_px : images taller than this are stored and written in bands of rows.
    bit_depth : the camera's bits for images deeper than 8 bits (see :func:`rootpipe.decode.to_rgb8`).
    """
    import contextlib

    import dask
    from dask.diagnostics import ProgressBar

    with atomic_path(out_store) as tmp:
        root = zarr.open_group(tmp, mode="w")
        root.attrs["rootpipe"] = {"stage": "tile", "images": list(batch["image_id"]),
                                  "files": [Path(p).name for p in batch["path"]]}
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
