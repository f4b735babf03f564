"""Segment: root probability and mask for every image of a batch.

Reads a batch's image store, writes ``segmentation/{batch}.zarr`` with, per
``image_id``, ``probability`` (uint8, 255 = certain root) and ``mask``
(uint8, 1 = root). The model is loaded once per job. Images are streamed by
rows of tiles (image rows read a row ahead, probabilities written shard by
shard), and two writer threads (probabilities; masks) store the outputs while
the next rows and images are computed; see :func:`run`.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import zarr

from rootpipe import __version__
from rootpipe.io.atomic import atomic_path
from rootpipe.io.stores import (
    BAND_PX,
    BandWriter,
    SegmentationLayout,
    checked,
    level_names,
    mark_collection,
    pixel_size_of,
)
from rootpipe.segmentation.segmenter import Segmenter, finish_mask
from rootpipe.segmentation.tiling import quantise


class _LateBandWriter:
    """A :class:`BandWriter` of an image's probability array, made by the probability writer itself:
    the array is created there (``created``, a future of (probability, mask) arrays) before it writes."""

    def __init__(self, created):
        self.created, self.writer = created, None

    def _writer(self) -> BandWriter:
        if self.writer is None:
            self.writer = BandWriter(self.created.result()[0])
        return self.writer

    def write(self, rows: np.ndarray) -> None:
        self._writer().write(rows)

    def close(self) -> None:
        self._writer().close()


def _write_mask(created, mask: np.ndarray, min_object_area_px: int, faint: np.ndarray | None,
                max_object_width_px: float | None) -> None:
    """Finish a whole uint8 mask (:func:`finish_mask`), then store it one shard at a time in the mask
    array of ``created`` (a future of the image's (probability, mask) arrays)."""
    mask = finish_mask(mask, min_object_area_px, faint, max_object_width_px)
    array = created.result()[1]
    rows = array.shards[0]
    for y0 in range(0, mask.shape[0], rows):
        array[y0:y0 + rows] = mask[y0:y0 + rows]


#: settings the stage resolves on the machine and model it runs with, recorded beside the config's
RESOLVED = ("batch_tiles", "precision", "device", "threshold")


def run(images_store: str | Path, out_store: str | Path, settings: dict, threads: int = 1,
        progress: bool = False, band_px: int = BAND_PX, predictor=None) -> None:
    """Segment every image of a batch store into ``out_store`` (written atomically).

    The U-Net streams each image by rows of tiles (see
    :func:`rootpipe.segmentation.tiling.predict_rows`): image rows are read a row of
    tiles ahead, probabilities are written band by band, and only the uint8
    mask is held whole (removing specks needs its connected components). One
    writer thread stores each image's outputs while the next is computed; it is
    the only writer of every shard. ``predictor`` replaces the network (a benchmark's stand-in).
    """
    from tqdm import tqdm

    images = zarr.open_group(images_store, mode="r")
    image_ids = list(images.attrs["rootpipe"]["images"])
    min_area = settings["min_object_area_px"]
    centreline, max_width = settings.get("centreline_threshold"), settings.get("max_object_width_px")

    # Two writers, each the only one of its arrays' shards: probabilities (created first, with the
    # image's groups) and masks (speck removal too). Both work while the next rows are computed.
    with atomic_path(out_store) as tmp, ThreadPoolExecutor(1) as prob_writer, ThreadPoolExecutor(1) as mask_writer:
        root = zarr.open_group(tmp, mode="w")
        segmenter = Segmenter(settings, threads, predictor)
        resolved = segmenter.settings
        threshold = resolved["threshold"]  # the config's, else the checkpoint's own
        root.attrs["rootpipe"] = {"stage": "segment", "images": image_ids, "version": __version__,
                                  # source file names, for RSML (older tile stores lack them)
                                  "files": images.attrs["rootpipe"].get("files"),
                                  "settings": {k: settings[k] for k in sorted(settings)},
                                  "resolved": {k: resolved[k] for k in RESOLVED if k in resolved},
                                  "model": segmenter.model}
        mark_collection(root, image_ids)
        layout = SegmentationLayout(root)
        pending: list = []

        def submit(writer, fn, *args) -> None:
            pending.append(writer.submit(fn, *args))
            while len(pending) > 8:  # bounded: the writers may lag a few bands, not an image
                pending.pop(0).result()

        for image_id in tqdm(image_ids, desc=f"segment {Path(out_store).stem}", unit="img",
                             disable=not progress):
            level = checked(images[image_id][level_names(images[image_id])[0]], images_store, image_id)
            h, w = level.shape[-2:]
            created = prob_writer.submit(layout.create, image_id, (h, w), band_px, pixel_size_of(images[image_id]))
            pending.append(created)
            probability = _LateBandWriter(created)
            mask = np.empty((h, w), np.uint8)
            faint = None if centreline is None else np.empty((h, w), np.uint8)

            # An image of one shard is read in one call (the first rows asked for read it all): each
            # zarr read costs milliseconds besides its decoding, and the shard is decoded whole anyway.
            whole = {} if level.shards is not None and level.shards[-2] >= h else None

            def read_rows(y0, y1, level=level, image_id=image_id, whole=whole):
                try:
                    if whole is not None:
                        if "rgb" not in whole:
                            whole["rgb"] = np.moveaxis(level[:], 0, -1)
                        return whole["rgb"][y0:y1]
                    return np.moveaxis(level[:, y0:y1, :], 0, -1)
                except Exception as exc:  # a damaged chunk: checksum, codec, a missing file
                    raise ValueError(f"cannot read image {image_id} (rows {y0}-{y1}) from {images_store}: "
                                     f"{exc}. The store is damaged: delete {images_store} and run again "
                                     "(it is tiled anew from the source images)") from exc
            for y0, band in segmenter.rows(read_rows, (h, w)):
                # On the device the band was blended on (a GPU's floats never reach the host).
                band_mask, band_faint, band_probability = quantise(band, threshold, centreline)
                mask[y0:y0 + len(band_mask)] = band_mask
                if faint is not None:
                    faint[y0:y0 + len(band_faint)] = band_faint
                submit(prob_writer, probability.write, band_probability)
            submit(prob_writer, probability.close)
            # Speck (and wide-object) removal runs in the mask writer, while the next image is computed.
            submit(mask_writer, _write_mask, created, mask, min_area, faint, max_width)
        for future in pending:
            future.result()
