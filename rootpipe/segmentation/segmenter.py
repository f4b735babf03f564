"""The segmenter a configuration asks for (U-Net or classical), and the mask it
makes of a probability map: threshold, speck and wide-object removal, faint centre-lines.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from rootpipe.segmentation.tiling import predict_rows, predict_tiled

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "models" / "default.safetensors"
#: the mask threshold of a segmentation whose config and checkpoint name none (classical, older checkpoints)
DEFAULT_THRESHOLD = 0.5


def model_path(settings: dict) -> Path:
    """The checkpoint a ``unet`` segmentation uses: the configured one, else the shipped model."""
    return Path(settings.get("checkpoint") or DEFAULT_CHECKPOINT)


def resolved_settings(settings: dict) -> dict:
    """``settings`` with ``auto`` batch size and precision replaced by what this machine uses."""
    settings = dict(settings)
    if settings.get("method") == "unet":
        from rootpipe.segmentation.unet import default_batch_tiles, pick_device, resolve_precision

        device = pick_device(settings.get("device", "auto"))
        if settings.get("batch_tiles") in (None, "auto"):
            settings["batch_tiles"] = default_batch_tiles(device)
        settings["precision"] = resolve_precision(device, settings.get("precision", "auto"))
    return settings


def model_threshold(settings: dict, header: dict | None) -> float:
    """The mask threshold a segmentation uses: the config's, else the checkpoint's own, else 0.5.

    A checkpoint's ``threshold`` is the one its validation images chose (``rootpipe train
    --pick-threshold``): how sure a network is of a root's edge depends on how it was trained.

    Raises
    ------
    ValueError
        If ``centreline_threshold`` is not below the threshold found.
    """
    threshold = settings.get("threshold")
    if threshold is None:
        threshold = (header or {}).get("threshold", DEFAULT_THRESHOLD)
    centreline = settings.get("centreline_threshold")
    if centreline is not None and centreline >= threshold:
        source = "the checkpoint's own threshold" if settings.get("threshold") is None else "segment.threshold"
        raise ValueError(f"segment.centreline_threshold {centreline} must be below {source} ({threshold}): "
                         "lower it, or null to turn it off")
    return float(threshold)


class Segmenter:
    """Probability maps from ``settings['method']``, whole images or streamed by rows.

    ``segmenter(rgb)`` maps (H, W, 3) uint8 to (H, W) float32 probabilities;
    :meth:`rows` streams an image (read by rows) band by band, for the U-Net.
    ``segmenter.settings["threshold"]`` is the mask threshold (:func:`model_threshold`).
    """

    def __init__(self, settings: dict, threads: int = 1, predictor=None):
        self.settings = settings = resolved_settings(settings)
        method = settings["method"]
        self.streams = method == "unet"
        self.model = None  # what the checkpoint is, for the methods section (see checkpoint.describe)
        header = None
        if method == "unet" and predictor is not None:
            # a stand-in for the network (benchmarks/segment.py --predictor null): the stage's own cost
            self.predictor, self.model = predictor, {"predictor": getattr(predictor, "name", repr(predictor))}
            self._whole = lambda rgb: predict_tiled(rgb, self.predictor, **self._tiling())
        elif method == "classical":
            from rootpipe.segmentation.classical import probability

            sigmas = tuple(settings["ridge_sigmas_px"])
            self._whole = lambda rgb: probability(rgb, sigmas)
        elif method == "unet":
            import torch

            from rootpipe.segmentation import checkpoint
            from rootpipe.segmentation.unet import TilePredictor, pick_device

            torch.set_num_threads(max(1, threads))
            device = pick_device(settings["device"])
            path = model_path(settings)
            model, header = checkpoint.load(path, device=device)
            self.model = checkpoint.describe(path, header)
            self.settings["device"] = device
            self.predictor = TilePredictor(model, header, device=device, precision=settings["precision"],
                                           tta=settings["tta"], input_scale=settings.get("input_scale", 1.0))
            self._whole = lambda rgb: predict_tiled(rgb, self.predictor, **self._tiling())
        else:
            raise ValueError(f"unknown segment.method {method!r}")
        settings["threshold"] = model_threshold(settings, header)

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


def to_mask(probability: np.ndarray, threshold: float = 0.5, min_object_area_px: int = 0,
            centreline_threshold: float | None = None, max_object_width_px: float | None = None) -> np.ndarray:
    """Threshold a probability map and drop connected specks smaller than ``min_object_area_px``.

    With ``centreline_threshold`` (a probability below ``threshold``) or ``max_object_width_px``, see
    :func:`finish_mask`.
    """
    faint = None if centreline_threshold is None else (probability > centreline_threshold).astype(np.uint8)
    return finish_mask((probability > threshold).astype(np.uint8), min_object_area_px, faint, max_object_width_px)


def finish_mask(mask: np.ndarray, min_object_area_px: int, faint: np.ndarray | None = None,
                max_object_width_px: float | None = None) -> np.ndarray:
    """Remove specks and too-wide objects from a thresholded uint8 mask; add the centre-lines of ``faint`` objects.

    ``faint`` is the mask at ``segment.centreline_threshold``, a lower probability. Its objects
    (specks removed too) add their 1 px centre-lines, thinned as the trait code thins: a faint root
    the network is unsure of then counts in root length, and the outlines stay as tight as
    ``threshold`` makes them, where a lower ``threshold`` would widen them. The added lines' diameter
    reads as 1 px.

    ``max_object_width_px`` (``segment.max_object_width_px``) drops the objects, of both masks, wider
    on average than that (:func:`remove_wide`).
    """
    if min_object_area_px > 0:
        mask = remove_specks(mask, min_object_area_px)
    if max_object_width_px is not None:
        mask = remove_wide(mask, max_object_width_px)
    if faint is not None:
        from rootpipe.skeleton import thin

        if min_object_area_px > 0:
            faint = remove_specks(faint, min_object_area_px)
        if max_object_width_px is not None:
            faint = remove_wide(faint, max_object_width_px)
        mask[thin(faint)] = 1
    return mask


def remove_wide(mask: np.ndarray, max_object_width_px: float) -> np.ndarray:
    """A uint8 0/1 mask without its 8-connected objects wider on average than ``max_object_width_px``.

    An object's mean width (px) is its area over its centre-line length, as the trait code measures
    length (:func:`rootpipe.traits.skeleton_length_map`). Reflections along a tube's frame, soil
    clods and condensation are marked as wide bands or blobs; roots, alone or in a tangle, stay as
    wide as they are. A campaign sets it above its thickest roots as the masks draw them.

    Memory: about 10 bytes per pixel while the centre-line is measured, as the traits stage needs.
    """
    import cv2

    from rootpipe.traits import skeleton_length_map

    # Memory: the centre-line's pixels and lengths are kept sparse before the int32 labels exist.
    _, length_px = skeleton_length_map(mask)
    where = np.flatnonzero(length_px)
    lengths = length_px.ravel()[where]
    del length_px
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    length = np.bincount(labels.ravel()[where], weights=lengths, minlength=n)
    keep = (stats[:, cv2.CC_STAT_AREA] <= max_object_width_px * np.maximum(length, 1)).astype(np.uint8)
    keep[0] = 0  # background
    return keep[labels]


def remove_specks(mask: np.ndarray, min_object_area_px: int) -> np.ndarray:
    """A uint8 0/1 mask without its 8-connected objects smaller than ``min_object_area_px``.

    Memory: the int32 labels (4 bytes per pixel) and the new mask (1 byte).
    """
    import cv2

    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    keep = (stats[:, cv2.CC_STAT_AREA] >= min_object_area_px).astype(np.uint8)
    keep[0] = 0  # background
    return keep[labels]
