"""Traits stage: measure every mask of a batch with :func:`rootpipe.traits.measure`."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import zarr

from .atomic import atomic_path
from .traits import measure


def measure_batch(segmentation_store: str | Path, out: str | Path, pixel_size_mm: float,
                  settings: dict, threads: int = 1, progress: bool = False) -> pd.DataFrame:
    """One row of traits per image of a segmentation store, written to ``out`` (parquet).

    Parameters
    ----------
    settings : the config's ``traits`` section (cleaning sizes in mm²).
    """
    from tqdm import tqdm

    root = zarr.open_group(segmentation_store, mode="r")
    image_ids = list(root.attrs["rootpipe"]["images"])

    def one(image_id: str) -> dict:
        mask = root[image_id]["mask"][:]
        return {"image_id": image_id, **measure(mask, pixel_size_mm, **settings)}

    with ThreadPoolExecutor(max(1, threads)) as pool:
        rows = list(tqdm(pool.map(one, image_ids), total=len(image_ids), unit="img",
                         desc=f"traits {Path(segmentation_store).stem}", disable=not progress))
    table = pd.DataFrame(rows, columns=None if rows else ["image_id"])
    with atomic_path(out) as tmp:
        table.to_parquet(tmp, index=False)
    return table
