"""Tile: each image of a batch into an OME-Zarr (NGFF 0.5) multiscale image.

One zarr store per batch, one group per ``image_id``, levels ``s0``, ``s1``, …
(each half the size of the one before) stored as (c, y, x) uint8 in square
chunks. Each level of each image is one shard, written by one thread only:
zarr 3 has no locks, and two writers in one shard lose pixels.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import zarr

from .atomic import atomic_path
from .decode import read_image, to_rgb8


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
        size = ((prev.shape[1] + 1) // 2, (prev.shape[0] + 1) // 2)  # cv2 wants (w, h)
        out.append(cv2.resize(prev, size, interpolation=cv2.INTER_AREA))
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


def write_sharded(group: zarr.Group, name: str, data: np.ndarray, chunk_px: int,
                  dimension_names: tuple[str, ...]) -> None:
    """Write ``data`` as one shard of square ``chunk_px`` chunks over its last two axes."""
    lead = data.shape[:-2]
    chunk = (*lead, min(chunk_px, data.shape[-2]), min(chunk_px, data.shape[-1]))
    shard = (*lead, _round_up(data.shape[-2], chunk[-2]), _round_up(data.shape[-1], chunk[-1]))
    group.create_array(name, data=data, chunks=chunk, shards=shard, dimension_names=dimension_names)


def write_image(root: zarr.Group, image_id: str, rgb: np.ndarray, chunk_px: int, levels: int,
                pixel_size_mm: float) -> None:
    """Write one image's pyramid as a group of ``root``; one shard per level."""
    group = root.create_group(image_id)
    arrays = pyramid(rgb, levels)
    group.attrs["ome"] = ome_multiscales(image_id, len(arrays), pixel_size_mm)
    for k, level in enumerate(arrays):
        chw = np.ascontiguousarray(np.moveaxis(level, -1, 0))
        write_sharded(group, f"s{k}", chw, chunk_px, ("c", "y", "x"))


def level_names(group: zarr.Group) -> list[str]:
    """Level paths of a multiscale group, finest first, as its metadata names them."""
    return [d["path"] for d in group.attrs["ome"]["multiscales"][0]["datasets"]]


def read_image_level(store: str | Path, image_id: str, level: int = 0) -> np.ndarray:
    """Read one pyramid level (the coarsest if ``level`` is beyond it) as (H, W, 3) uint8."""
    group = zarr.open_group(store, mode="r")[image_id]
    names = level_names(group)
    return np.moveaxis(group[names[min(level, len(names) - 1)]][:], 0, -1)


def tile_batch(batch, out_store: str | Path, chunk_px: int = 512, levels: int = 3,
               pixel_size_mm: float = 1.0, threads: int = 1, progress: bool = False) -> None:
    """Decode every image of a batch and write the batch's zarr store atomically.

    Parameters
    ----------
    batch : the batch list (``image_id``, ``path``).
    out_store : the ``{batch}.zarr`` folder to create.
    """
    from tqdm import tqdm

    with atomic_path(out_store) as tmp:
        root = zarr.open_group(tmp, mode="w")
        root.attrs["rootpipe"] = {"stage": "tile", "images": list(batch["image_id"])}

        def one(row) -> None:
            rgb = to_rgb8(read_image(row.path))
            write_image(root, row.image_id, rgb, chunk_px, levels, pixel_size_mm)

        with ThreadPoolExecutor(max(1, threads)) as pool:
            jobs = pool.map(one, batch.itertuples())
            for _ in tqdm(jobs, total=len(batch), desc=f"tile {Path(out_store).stem}", unit="img",
                          disable=not progress):
                pass
