"""Traits stage: measure every mask of a batch with :mod:`rootpipe.traits`.

Per batch: one traits row per image (``traits/{batch}.parquet``), optionally one
row per skeleton branch of every image (``branches/{batch}.parquet``) and one
RSML file per image (``rsml/{batch}/{image_id}.rsml``).
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import zarr

from rootpipe.io.atomic import atomic_path
from rootpipe.io.rsml import write_rsml
from rootpipe.io.stores import checked, mask_array
from rootpipe.segmentation.confidence import segmentation_confidence
from rootpipe.traits import (
    branches,
    clear_border,
    measure,
    measure_all,
    measure_options,
    root_hierarchy,
    rsml_arguments,
)


def _run_threads(fn, items: list, threads: int, progress: bool, desc: str) -> list:
    """``[fn(x) for x in items]`` on dask's threaded scheduler with ``threads`` workers.

    The measurement's heavy parts (numba kernels, skan, OpenCV) release the GIL,
    so threads share one copy of the process and still use every core.
    """
    import dask
    from tqdm import tqdm

    bar = tqdm(total=len(items), unit="img", desc=desc, disable=not progress)

    def counted(x):
        out = fn(x)
        bar.update()
        return out

    with bar, dask.config.set(scheduler="threads", num_workers=max(1, threads)):
        return list(dask.compute(*[dask.delayed(counted)(x) for x in items]))


def run(segmentation_store: str | Path, out: str | Path, pixel_size_mm: float,
                  settings: dict, threads: int = 1, progress: bool = False, *,
                  branches_out: str | Path | None = None,
                  rsml_dir: str | Path | None = None, border_px: int = 0) -> pd.DataFrame:
    """One row of traits per image of a segmentation store, written to ``out`` (parquet).

    Parameters
    ----------
    segmentation_store : path of the batch's segmentation zarr.
    out : traits parquet, one row per image (``image_id`` + trait keys).
    pixel_size_mm : mm per pixel.
    settings : the config's ``traits`` section (cleaning sizes in mm², spur
        factor, ``diameter_classes_mm`` class edges); see :data:`rootpipe.traits.MEASURE_SETTINGS`.
    threads : images measured at once.
    progress : show a progress bar.
    branches_out : optional parquet of every image's branches, one row per branch
        (``image_id`` + :data:`rootpipe.traits.BRANCH_COLUMNS`).
    rsml_dir : optional folder, written as a whole (atomically), with one
        ``{image_id}.rsml`` per image: the branches' centre-lines and diameters,
        naming the source image file and, as ``file-key``, the ``image_id``.
    border_px : pixels along every edge left out (:func:`rootpipe.traits.clear_border`); the
        root length density is then over the area inside them.

    Beside the traits, each row has ``segmentation_confidence``
    (:func:`rootpipe.segmentation.confidence.segmentation_confidence` of the stored probability).

    Returns
    -------
    DataFrame
        The traits table.
    """
    root = zarr.open_group(segmentation_store, mode="r")
    image_ids = list(root.attrs["rootpipe"]["images"])
    # RSML names the image file; stores made before the file names were kept give the image_id
    files = dict(zip(image_ids, root.attrs["rootpipe"].get("files") or image_ids))
    opts = measure_options(settings)
    want_branches = branches_out is not None or rsml_dir is not None

    with contextlib.ExitStack() as stack:
        rsml_tmp = None
        if rsml_dir is not None:
            rsml_tmp = stack.enter_context(atomic_path(rsml_dir))
            rsml_tmp.mkdir(parents=True)

        def inside(traits: dict, shape: tuple[int, int]) -> dict:
            # measure() divides by the whole image's area; the margin holds no root by construction
            h, w = shape
            inner = (h - 2 * border_px) * (w - 2 * border_px)
            return {**traits, "root_length_density_mm_per_mm2":
                    traits["root_length_density_mm_per_mm2"] * (h * w) / inner}

        def confidence(image_id: str) -> dict:
            if "probability" not in root[image_id]:  # a mask made elsewhere: nothing to judge it by
                return {"segmentation_confidence": np.nan}
            probability = checked(root[image_id]["probability"], segmentation_store, image_id)
            h, w = probability.shape
            b = border_px
            return {"segmentation_confidence": segmentation_confidence(probability[b:h - b, b:w - b])}

        def one(image_id: str) -> tuple[dict, pd.DataFrame | None]:
            mask = clear_border(checked(mask_array(root[image_id]), segmentation_store, image_id)[:], border_px)
            started = time.perf_counter()
            if not want_branches:
                traits = inside(measure(mask, pixel_size_mm, **opts), mask.shape)
                # RVE's Computation.Time.s: the measuring, as RVE times its own
                return {"image_id": image_id, **traits, **confidence(image_id),
                        "computation_time_s": time.perf_counter() - started}, None
            result = measure_all(mask, pixel_size_mm, **opts)
            table = result.branches
            if rsml_tmp is not None:
                write_rsml(path=rsml_tmp / f"{image_id}.rsml", image_name=files[image_id], file_key=image_id,
                           pixel_size_mm=pixel_size_mm, **rsml_arguments(root_hierarchy(result.paths),
                                                                         table["component_id"].to_numpy()))
            table.insert(0, "image_id", image_id)
            return {"image_id": image_id, **inside(result.traits, mask.shape), **confidence(image_id),
                    "computation_time_s": time.perf_counter() - started}, table

        results = _run_threads(one, image_ids, threads, progress,
                               desc=f"traits {Path(segmentation_store).stem}")

    rows = [row for row, _ in results]
    table = pd.DataFrame(rows, columns=None if rows else ["image_id"])
    with atomic_path(out) as tmp:
        table.to_parquet(tmp, index=False)
    if branches_out is not None:
        parts = [b for _, b in results]
        if not parts:  # no images: an empty table with the columns' types
            empty = branches(np.zeros((1, 1), bool))
            empty.insert(0, "image_id", pd.Series(dtype=object))
            parts = [empty]
        table_b = pd.concat(parts, ignore_index=True)
        with atomic_path(branches_out) as tmp:
            table_b.to_parquet(tmp, index=False)
    return table
