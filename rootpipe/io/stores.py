"""The image and segmentation zarr stores: the one module that knows their layout.

``images/{batch}.zarr`` (tile stage): one group per ``image_id``, an OME-Zarr (NGFF 0.5)
multiscale image, levels ``s0``, ``s1``, ... of (c, y, x) uint8 in square chunks.
``segmentation/{batch}.zarr`` (segment stage): one group per ``image_id``, an NGFF image of
``probability`` (uint8, 255 = certain root) with the mask as its NGFF label ``labels/mask``
(level ``0``, uint8, 1 = root), (y, x), at the image's pixel size in mm. Both stores' roots
carry the ``bioformats2raw.layout`` marker and list their images in ``OME/`` (``series``), so
OME-Zarr readers (ome-zarr-py, napari) find every image. Segmentation stores written before
the mask was a label hold it at ``{image_id}/mask`` (:func:`mask_array` reads both;
:mod:`rootpipe.compat`).

Zarr 3 has no locks, and two writers in one shard lose pixels: every shard is
written by one writer, in one piece (:func:`create_banded`, :class:`BandWriter`).
Every chunk is stored, so a missing chunk file is damage (:func:`checked`).
docs/architecture.md describes the layout for users.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import zarr

#: the file Snakemake leaves in every directory output as its time (zarr warns of it when listing a group)
SNAKEMAKE_MARKER = ".snakemake_timestamp"


def drop_snakemake_markers(results_dir: str | Path) -> int:
    """Take Snakemake's marker files out of the stores, each store keeping its own time.

    Snakemake reads a directory output's time from the marker when there is one and from the
    directory itself when not. The directory keeps the time it had with the marker in it (set when
    Snakemake made the marker, a moment before it stamped it), which is also the time the track
    stage's cache signatures recorded: the next run sees the same times and re-runs nothing.
    Returns how many were removed.
    """
    removed = 0
    for marker in Path(results_dir).glob(f"*/*.zarr/{SNAKEMAKE_MARKER}"):
        stamp = marker.parent.stat().st_mtime_ns
        marker.unlink()
        os.utime(marker.parent, ns=(stamp, stamp))
        removed += 1
    return removed


#: Rows of ``s0`` per shard of a tall image (rounded up to ``chunk_px * 2**(levels - 1)``).
BAND_PX = 4096


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


#: where the mask lies in an image's segmentation group: an NGFF label of the probability image
MASK_PATH = "labels/mask/0"
#: colour of the mask label in viewers (RGBA)
MASK_RGBA = [255, 80, 0, 255]


def mark_collection(root: zarr.Group, image_ids: list[str]) -> None:
    """Mark a batch store as a collection of NGFF images (bioformats2raw layout, ``OME/series``)."""
    root.attrs["ome"] = {"version": "0.5", "bioformats2raw.layout": 3}
    root.create_group("OME").attrs["ome"] = {"version": "0.5", "series": list(image_ids)}


def pixel_size_of(group: zarr.Group) -> float:
    """The pixel size (mm) of level 0 of an NGFF multiscale image group."""
    scale = group.attrs["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    return float(scale[-1])


def _yx_multiscales(name: str, path: str, pixel_size_mm: float) -> list[dict]:
    axes = [{"name": a, "type": "space", "unit": "millimeter"} for a in ("y", "x")]
    return [{"name": name, "axes": axes, "datasets": [{"path": path, "coordinateTransformations": [
        {"type": "scale", "scale": [pixel_size_mm, pixel_size_mm]}]}]}]


def _segmentation_attrs(image_id: str, pixel_size_mm: float) -> dict[str, dict]:
    """The NGFF attributes of an image's segmentation groups, by path within its group."""
    return {
        "": {"ome": {"version": "0.5", "multiscales": _yx_multiscales(image_id, "probability", pixel_size_mm)}},
        "labels": {"ome": {"version": "0.5", "labels": ["mask"]}},
        "labels/mask": {"ome": {
            "version": "0.5", "multiscales": _yx_multiscales(f"{image_id} mask", "0", pixel_size_mm),
            "image-label": {"colors": [{"label-value": 1, "rgba": MASK_RGBA}]}}},
    }


def create_segmentation(root: zarr.Group, image_id: str, shape: tuple[int, int], band_px: int,
                        pixel_size_mm: float) -> tuple[zarr.Array, zarr.Array]:
    """An image's empty ``probability`` and mask arrays, as an NGFF image and its label."""
    attrs = _segmentation_attrs(image_id, pixel_size_mm)
    # Attributes given at creation: each group's metadata is written once.
    group = root.create_group(image_id, attributes=attrs[""])
    probability = create_banded(group, "probability", shape, 1024, band_px, ("y", "x"))
    label = group.create_group("labels", attributes=attrs["labels"]).create_group(
        "mask", attributes=attrs["labels/mask"])
    return probability, create_banded(label, "0", shape, 1024, band_px, ("y", "x"))


class SegmentationLayout:
    """Creates each image's segmentation group (:func:`create_segmentation`), fast.

    The first image of a shape is created node by node; its arrays' metadata is then reused, and
    every later image of that shape has its five nodes written in one concurrent call
    (``zarr.create_hierarchy``): about 3 ms an image instead of 12, off the writers' path.
    """

    def __init__(self, root: zarr.Group):
        self.root, self.arrays = root, {}

    def create(self, image_id: str, shape: tuple[int, int], band_px: int,
               pixel_size_mm: float) -> tuple[zarr.Array, zarr.Array]:
        key = (tuple(shape), band_px)
        if key not in self.arrays:
            probability, mask = create_segmentation(self.root, image_id, shape, band_px, pixel_size_mm)
            self.arrays[key] = (probability.metadata, mask.metadata)
            return probability, mask
        from zarr.core.group import GroupMetadata

        probability, mask = self.arrays[key]
        prefix = f"{self.root.path}/{image_id}".lstrip("/")
        nodes = {f"{prefix}/{path}".rstrip("/"): GroupMetadata(attributes=attrs)
                 for path, attrs in _segmentation_attrs(image_id, pixel_size_mm).items()}
        nodes.update({f"{prefix}/probability": probability, f"{prefix}/{MASK_PATH}": mask})
        made = dict(zarr.create_hierarchy(store=self.root.store, nodes=nodes))
        config = EVERY_CHUNK["config"]
        return (made[f"{prefix}/probability"].with_config(config),
                made[f"{prefix}/{MASK_PATH}"].with_config(config))


def mask_array(group: zarr.Group) -> zarr.Array:
    """An image's mask array in its segmentation group (the NGFF label, or where older stores kept it)."""
    try:
        return group[MASK_PATH]
    except KeyError:
        return group["mask"]


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
            what = array.path.split("/labels/")[-1].split("/")[0] if "/labels/" in array.path else array.basename
            raise ValueError(f"{store}: image {image_id} is missing {expected - stored} of the {expected} chunk "
                             f"files of its {what} array (deleted or lost): delete {store} and run "
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


def read_image_level(store: str | Path, image_id: str, level: int = 0) -> np.ndarray:
    """Read one pyramid level (the coarsest if ``level`` is beyond it) as (H, W, 3) uint8."""
    group = zarr.open_group(store, mode="r")[image_id]
    names = level_names(group)
    return np.moveaxis(checked(group[names[min(level, len(names) - 1)]], store, image_id)[:], 0, -1)


def level_names(group: zarr.Group) -> list[str]:
    """Level paths of a multiscale group, finest first, as its metadata names them."""
    return [d["path"] for d in group.attrs["ome"]["multiscales"][0]["datasets"]]


def read_probability(store: str | Path, image_id: str) -> np.ndarray:
    return checked(zarr.open_group(store, mode="r")[image_id]["probability"], store, image_id)[:]


def read_mask(store: str | Path, image_id: str) -> np.ndarray:
    return checked(mask_array(zarr.open_group(store, mode="r")[image_id]), store, image_id)[:]
