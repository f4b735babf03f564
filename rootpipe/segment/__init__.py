"""Segment: root probability and mask for every image of a batch.

Reads a batch's image store, writes ``segmentation/{batch}.zarr`` with, per
``image_id``, ``probability`` (uint8, 255 = certain root) and ``mask``
(uint8, 1 = root). The model is loaded once per job, and the next image is
read while the current one is computed.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import zarr

from ..atomic import atomic_path
from ..tile import read_image_level, write_sharded
from .tiling import predict_tiled


DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "default.safetensors"


def model_path(settings: dict) -> Path:
    """The checkpoint a ``unet`` segmentation uses: the configured one, else the shipped model."""
    return Path(settings.get("checkpoint") or DEFAULT_CHECKPOINT)


def make_segmenter(settings: dict, threads: int = 1):
    """A function (H, W, 3) uint8 -> (H, W) float32 probability, per ``settings['method']``."""
    method = settings["method"]
    if method == "classical":
        from .classical import probability

        sigmas = tuple(settings["ridge_sigmas_px"])
        return lambda rgb: probability(rgb, sigmas)
    if method == "unet":
        import torch

        from . import checkpoint
        from .unet import TilePredictor, pick_device

        torch.set_num_threads(max(1, threads))
        device = pick_device(settings["device"])
        model, header = checkpoint.load(model_path(settings), device=device)
        predictor = TilePredictor(model, header, device=device, precision=settings["precision"])
        return lambda rgb: predict_tiled(rgb, predictor, tile=settings["tile_px"],
                                         overlap=settings["overlap_px"],
                                         batch_tiles=settings["batch_tiles"])
    raise ValueError(f"unknown segment.method {method!r}")


def to_mask(probability: np.ndarray, threshold: float = 0.5, min_object_area_px: int = 0) -> np.ndarray:
    """Threshold a probability map and drop connected specks smaller than ``min_object_area_px``."""
    import cv2

    mask = (probability > threshold).astype(np.uint8)
    if min_object_area_px > 0:
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        small = stats[:, cv2.CC_STAT_AREA] < min_object_area_px
        small[0] = True  # background
        mask = (~small[labels]).astype(np.uint8)
    return mask


def read_probability(store: str | Path, image_id: str) -> np.ndarray:
    return zarr.open_group(store, mode="r")[image_id]["probability"][:]


def read_mask(store: str | Path, image_id: str) -> np.ndarray:
    return zarr.open_group(store, mode="r")[image_id]["mask"][:]


def segment_batch(images_store: str | Path, out_store: str | Path, settings: dict, threads: int = 1,
                  progress: bool = False) -> None:
    """Segment every image of a batch store into ``out_store`` (written atomically)."""
    from tqdm import tqdm

    image_ids = list(zarr.open_group(images_store, mode="r").attrs["rootpipe"]["images"])
    read = lambda image_id: read_image_level(images_store, image_id, 0)  # noqa: E731

    with atomic_path(out_store) as tmp:
        root = zarr.open_group(tmp, mode="w")
        root.attrs["rootpipe"] = {"stage": "segment", "images": image_ids,
                                  "settings": {k: settings[k] for k in sorted(settings)}}
        segmenter = make_segmenter(settings, threads)
        with ThreadPoolExecutor(1) as reader:  # decode image k+1 while image k is computed
            pending = reader.submit(read, image_ids[0]) if image_ids else None
            for k, image_id in enumerate(tqdm(image_ids, desc=f"segment {Path(out_store).stem}",
                                              unit="img", disable=not progress)):
                rgb = pending.result()
                if k + 1 < len(image_ids):
                    pending = reader.submit(read, image_ids[k + 1])
                prob = segmenter(rgb)
                prob_u8 = np.round(np.clip(prob, 0, 1) * 255).astype(np.uint8)
                mask = to_mask(prob, settings["threshold"], settings["min_object_area_px"])
                group = root.create_group(image_id)
                for name, array in (("probability", prob_u8), ("mask", mask)):
                    write_sharded(group, name, array, 1024, ("y", "x"))
