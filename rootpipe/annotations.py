"""Annotations for training and evaluation, as label images.

Every kind becomes one (H, W) uint8 label image: 1 = root, 0 = background,
255 = unlabelled (ignored by the loss and by the scores).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from .decode import read_image

ROOT, BACKGROUND, UNLABELLED = 1, 0, 255
KINDS = ("mask", "mask_png_rgba_ch0", "mask_jpg_gt127", "rsml_centrelines", "rootpainter")


def _binary(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, ROOT, BACKGROUND).astype(np.uint8)


def render_centrelines(polylines, shape: tuple[int, int], width_px: float = 4.0) -> np.ndarray:
    """Draw centre-lines ((n, 2) arrays of x, y px) as strokes of ``width_px`` onto a (H, W) mask."""
    mask = np.zeros(shape, np.uint8)
    for line in polylines:
        points = np.round(np.asarray(line, np.float64)[:, :2] * 16).astype(np.int32)  # 4 fractional bits
        if len(points):
            cv2.polylines(mask, [points.reshape(-1, 1, 2)], False, 1, max(1, round(width_px)),
                          lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def load_labels(path: str | Path, kind: str, shape: tuple[int, int], rsml_width_px: float = 4.0) -> np.ndarray:
    """Label image of one annotation file.

    Parameters
    ----------
    path : annotation file.
    kind : ``mask`` (any binary image, nonzero = root), ``mask_png_rgba_ch0`` (root = 255 in
        channel 0), ``mask_jpg_gt127`` (JPEG mask, root > 127), ``rsml_centrelines`` (RSML
        polylines rendered at ``rsml_width_px``), ``rootpainter`` (RootPainter's sparse
        annotation: red = root, green = background, anything else unlabelled).
    shape : (H, W) of the image it annotates.
    """
    if kind == "rsml_centrelines":
        from .rsml import read_rsml

        polylines = [root["points"] for root in read_rsml(path)]
        labels = _binary(render_centrelines(polylines, shape, rsml_width_px))
    else:
        array = read_image(path)
        if kind == "rootpainter":
            rgb = array[..., :3].astype(np.int16)
            labels = np.full(array.shape[:2], UNLABELLED, np.uint8)
            labels[(rgb[..., 0] > 127) & (rgb[..., 1] < 128)] = ROOT
            labels[(rgb[..., 1] > 127) & (rgb[..., 0] < 128)] = BACKGROUND
        elif kind == "mask_png_rgba_ch0":
            labels = _binary((array[..., 0] if array.ndim == 3 else array) == 255)
        elif kind == "mask_jpg_gt127":
            labels = _binary((array[..., 0] if array.ndim == 3 else array) > 127)
        elif kind == "mask":
            labels = _binary((array[..., 0] if array.ndim == 3 else array) > 0)
        else:
            raise ValueError(f"unknown annotation type {kind!r}; expected one of {KINDS}")
    if labels.shape != tuple(shape):
        raise ValueError(f"annotation {path} is {labels.shape[1]}x{labels.shape[0]} px but its image is "
                         f"{shape[1]}x{shape[0]} px")
    return labels


def read_pairs(pairs_csv: str | Path, split: str | None = None) -> pd.DataFrame:
    """Image/annotation pairs from a CSV (``image``, ``annotation``, ``annotation_type``, ``split``).

    Relative paths are taken relative to the CSV's folder.
    """
    pairs_csv = Path(pairs_csv)
    table = pd.read_csv(pairs_csv)
    missing = {"image", "annotation", "annotation_type"} - set(table.columns)
    if missing:
        raise ValueError(f"{pairs_csv} lacks the column(s) {sorted(missing)}")
    if split is not None:
        if "split" not in table.columns:
            raise ValueError(f"{pairs_csv} has no split column, but split {split!r} was asked for")
        table = table[table["split"] == split]
    for column in ("image", "annotation"):
        table[column] = [str(p if Path(p).is_absolute() else pairs_csv.parent / p) for p in table[column]]
    return table.reset_index(drop=True)


def pairs_from_folder(folder: str | Path, kind: str = "mask") -> pd.DataFrame:
    """Pairs from ``folder/images/NAME.*`` and ``folder/masks/NAME.*`` (same stem)."""
    folder = Path(folder)
    masks = {p.stem: p for p in (folder / "masks").glob("*") if p.is_file()}
    rows = [(str(p), str(masks[p.stem]), kind) for p in sorted((folder / "images").glob("*"))
            if p.stem in masks]
    if not rows:
        raise ValueError(f"no image in {folder / 'images'} has a same-stem mask in {folder / 'masks'}")
    return pd.DataFrame(rows, columns=["image", "annotation", "annotation_type"])
