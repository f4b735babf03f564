"""Segment: root probability and mask for every image of a batch.

Reads a batch's image store, writes ``segmentation/{batch}.zarr`` with, per
``image_id``, ``probability`` (uint8, 255 = certain root) and ``mask``
(uint8, 1 = root). The model is loaded once per job. Images are streamed by
rows of tiles (image rows read a row ahead, probabilities written shard by
shard), and one writer thread stores the outputs while the next rows and
images are computed; see :func:`segment_batch`.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import zarr

from .. import __version__
from ..atomic import atomic_path
from ..tile import BAND_PX, BandWriter, checked, create_banded, level_names
from .tiling import predict_rows, predict_tiled


DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "default.safetensors"


def model_path(settings: dict) -> Path:
    """The checkpoint a ``unet`` segmentation uses: the configured one, else the shipped model."""
    return Path(settings.get("checkpoint") or DEFAULT_CHECKPOINT)


def resolved_settings(settings: dict) -> dict:
    """``settings`` with ``auto`` batch size and precision replaced by what this machine uses."""
    settings = dict(settings)
    if settings.get("method") == "unet":
        from .unet import default_batch_tiles, pick_device, resolve_precision

        device = pick_device(settings.get("device", "auto"))
        if settings.get("batch_tiles") in (None, "auto"):
            settings["batch_tiles"] = default_batch_tiles(device)
        settings["precision"] = resolve_precision(device, settings.get("precision", "auto"))
    return settings


class Segmenter:
    """Probability maps from ``settings['method']``, whole images or streamed by rows.

    ``segmenter(rgb)`` maps (H, W, 3) uint8 to (H, W) float32 probabilities;
    :meth:`rows` streams an image (read by rows) band by band, for the U-Net.
    """

    def __init__(self, settings: dict, threads: int = 1):
        self.settings = settings = resolved_settings(settings)
        method = settings["method"]
        self.streams = method == "unet"
        self.model = None  # what the checkpoint is, for the methods section (see checkpoint.describe)
        if method == "classical":
            from .classical import probability

            sigmas = tuple(settings["ridge_sigmas_px"])
            self._whole = lambda rgb: probability(rgb, sigmas)
        elif method == "unet":
            import torch

            from . import checkpoint
            from .unet import TilePredictor, pick_device

            torch.set_num_threads(max(1, threads))
            device = pick_device(settings["device"])
            path = model_path(settings)
            model, header = checkpoint.load(path, device=device)
            self.model = checkpoint.describe(path, header)
            self.settings["device"] = device
            self.predictor = TilePredictor(model, header, device=device, precision=settings["precision"],
                                           tta=settings["tta"])
            self._whole = lambda rgb: predict_tiled(rgb, self.predictor, **self._tiling())
        else:
            raise ValueError(f"unknown segment.method {method!r}")

    def _tiling(self) -> dict:
        s = self.settings
        return {"tile": s["tile_px"], "overlap": s["overlap_px"], "batch_tiles": s["batch_tiles"]}

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        return self._whole(rgb)

    def rows(self, read_rows, shape: tuple[int, int]):
        """Yield (y0, (rows, W) float32 probabilities) bands of an image read by ``read_rows(y0, y1)``."""
        if self.streams:
            yield from predict_rows(read_rows, shape, self.predictor, **self._tiling())
        else:  # the classical filter normalises by whole-image statistics
            yield 0, self._whole(read_rows(0, shape[0]))


def make_segmenter(settings: dict, threads: int = 1) -> Segmenter:
    """A function (H, W, 3) uint8 -> (H, W) float32 probability, per ``settings['method']``."""
    return Segmenter(settings, threads)


def to_mask(probability: np.ndarray, threshold: float = 0.5, min_object_area_px: int = 0,
            centreline_threshold: float | None = None) -> np.ndarray:
    """Threshold a probability map and drop connected specks smaller than ``min_object_area_px``.

    With ``centreline_threshold`` (a probability below ``threshold``), see :func:`finish_mask`.
    """
    faint = None if centreline_threshold is None else (probability > centreline_threshold).astype(np.uint8)
    return finish_mask((probability > threshold).astype(np.uint8), min_object_area_px, faint)


def finish_mask(mask: np.ndarray, min_object_area_px: int, faint: np.ndarray | None = None) -> np.ndarray:
    """Remove specks from a thresholded uint8 mask; add the centre-lines of ``faint`` objects.

    ``faint`` is the mask at ``segment.centreline_threshold``, a lower probability. Its objects
    (specks removed too) add their 1 px centre-lines, thinned as the trait code thins: a faint root
    the network is unsure of then counts in root length, and the outlines stay as tight as
    ``threshold`` makes them, where a lower ``threshold`` would widen them. The added lines' diameter
    reads as 1 px.
    """
    if min_object_area_px > 0:
        mask = remove_specks(mask, min_object_area_px)
    if faint is not None:
        from ..traits import thin

        if min_object_area_px > 0:
            faint = remove_specks(faint, min_object_area_px)
        mask[thin(faint)] = 1
    return mask


def remove_specks(mask: np.ndarray, min_object_area_px: int) -> np.ndarray:
    """A uint8 0/1 mask without its 8-connected objects smaller than ``min_object_area_px``.

    Memory: the int32 labels (4 bytes per pixel) and the new mask (1 byte).
    """
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = (stats[:, cv2.CC_STAT_AREA] >= min_object_area_px).astype(np.uint8)
    keep[0] = 0  # background
    return keep[labels]


def read_probability(store: str | Path, image_id: str) -> np.ndarray:
    return checked(zarr.open_group(store, mode="r")[image_id]["probability"], store, image_id)[:]


def read_mask(store: str | Path, image_id: str) -> np.ndarray:
    return checked(zarr.open_group(store, mode="r")[image_id]["mask"], store, image_id)[:]


def _write_mask(array: zarr.Array, mask: np.ndarray, min_object_area_px: int, faint: np.ndarray | None) -> None:
    """Finish a whole uint8 mask (:func:`finish_mask`), then store it one shard at a time."""
    mask = finish_mask(mask, min_object_area_px, faint)
    rows = array.shards[0]
    for y0 in range(0, mask.shape[0], rows):
        array[y0:y0 + rows] = mask[y0:y0 + rows]


def segment_batch(images_store: str | Path, out_store: str | Path, settings: dict, threads: int = 1,
                  progress: bool = False, band_px: int = BAND_PX) -> None:
    """Segment every image of a batch store into ``out_store`` (written atomically).

    The U-Net streams each image by rows of tiles (see
    :func:`rootpipe.segment.tiling.predict_rows`): image rows are read a row of
    tiles ahead, probabilities are written band by band, and only the uint8
    mask is held whole (removing specks needs its connected components). One
    writer thread stores each image's outputs while the next is computed; it is
    the only writer of every shard.
    """
    from tqdm import tqdm

    images = zarr.open_group(images_store, mode="r")
    image_ids = list(images.attrs["rootpipe"]["images"])
    threshold, min_area = settings["threshold"], settings["min_object_area_px"]
    centreline = settings.get("centreline_threshold")

    with atomic_path(out_store) as tmp, ThreadPoolExecutor(1) as writer:
        root = zarr.open_group(tmp, mode="w")
        segmenter = make_segmenter(settings, threads)
        resolved = segmenter.settings
        root.attrs["rootpipe"] = {"stage": "segment", "images": image_ids, "version": __version__,
                                  # source file names, for RSML (older tile stores lack them)
                                  "files": images.attrs["rootpipe"].get("files"),
                                  "settings": {k: settings[k] for k in sorted(settings)},
                                  "resolved": {k: resolved[k] for k in ("batch_tiles", "precision", "device")
                                               if k in resolved},
                                  "model": segmenter.model}
        pending: list = []

        def submit(fn, *args) -> None:
            pending.append(writer.submit(fn, *args))
            while len(pending) > 4:  # bounded: the writer may lag a few bands, not an image
                pending.pop(0).result()

        for image_id in tqdm(image_ids, desc=f"segment {Path(out_store).stem}", unit="img",
                             disable=not progress):
            level = checked(images[image_id][level_names(images[image_id])[0]], images_store, image_id)
            h, w = level.shape[-2:]
            group = root.create_group(image_id)
            arrays = {name: create_banded(group, name, (h, w), 1024, band_px, ("y", "x"))
                      for name in ("probability", "mask")}
            probability = BandWriter(arrays["probability"])
            mask = np.empty((h, w), np.uint8)
            faint = None if centreline is None else np.empty((h, w), np.uint8)

            def read_rows(y0, y1, level=level, image_id=image_id):
                try:
                    return np.moveaxis(level[:, y0:y1, :], 0, -1)
                except Exception as exc:  # a damaged chunk: checksum, codec, a missing file
                    raise ValueError(f"cannot read image {image_id} (rows {y0}-{y1}) from {images_store}: "
                                     f"{exc}. The store is damaged: delete {images_store} and run again "
                                     "(it is tiled anew from the source images)") from exc
            for y0, band in segmenter.rows(read_rows, (h, w)):
                np.greater(band, threshold, out=mask[y0:y0 + len(band)])
                if faint is not None:
                    np.greater(band, centreline, out=faint[y0:y0 + len(band)])
                np.clip(band, 0, 1, out=band)
                np.multiply(band, 255, out=band)
                np.round(band, out=band)
                submit(probability.write, band.astype(np.uint8))
            submit(probability.close)
            # Speck removal runs in the writer thread too, while the next image is computed.
            submit(_write_mask, arrays["mask"], mask, min_area, faint)
        for future in pending:
            future.result()
