"""Annotations for training and evaluation, as label images.

Every kind becomes one (H, W) uint8 label image: 1 = root, 0 = background,
255 = unlabelled (ignored by the loss and by the scores).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .decode import UnreadableImage, read_image

ROOT, BACKGROUND, UNLABELLED = 1, 0, 255
JPEG_SUFFIXES = (".jpg", ".jpeg")
KINDS = ("mask", "mask_png_rgba_ch0", "mask_jpg_gt127", "rsml_centrelines", "rootpainter")


def _binary(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, ROOT, BACKGROUND).astype(np.uint8)


def load_labels(path: str | Path, kind: str, shape: tuple[int, int], rsml_width_px: float = 4.0) -> np.ndarray:
    """Label image of one annotation file.

    Parameters
    ----------
    path : annotation file.
    kind : ``mask`` (any binary image, nonzero = root; in a JPEG file, above half its
        maximum), ``mask_png_rgba_ch0`` (root = 255 in channel 0), ``mask_jpg_gt127`` (JPEG
        mask, root > 127), ``rsml_centrelines`` (RSML polylines in px, drawn as strokes of
        ``rsml_width_px``), ``rootpainter`` (RootPainter's sparse annotation: red = root,
        green = background, anything else unlabelled).
    shape : (H, W) of the image it annotates.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown annotation type {kind!r} for {path}; expected one of {KINDS}")
    if kind == "rsml_centrelines":
        from xml.etree.ElementTree import ParseError

        from .rsml import read_rsml, render_mask

        try:
            roots = read_rsml(path)
        except ParseError as exc:
            raise ValueError(f"annotation {path} is not valid RSML (XML): {exc}") from None
        return _check_shape(_binary(render_mask(roots, shape, rsml_width_px)), path, shape)
    try:
        array = read_image(path)
    except UnreadableImage as exc:
        raise ValueError(f"annotation {path}: {exc}") from None
    if kind == "rootpainter":
        if array.ndim != 3 or array.shape[-1] < 3:
            raise ValueError(f"annotation {path} is not an RGB(A) image, so it cannot be a RootPainter "
                             "annotation (red = root, green = background); for a binary mask use "
                             "annotation type 'mask'")
        rgb = array[..., :3].astype(np.int16)
        labels = np.full(array.shape[:2], UNLABELLED, np.uint8)
        labels[(rgb[..., 0] > 127) & (rgb[..., 1] < 128)] = ROOT
        labels[(rgb[..., 1] > 127) & (rgb[..., 0] < 128)] = BACKGROUND
        return _check_shape(labels, path, shape)
    channel = array[..., 0] if array.ndim == 3 else array
    if kind == "mask_png_rgba_ch0":
        root = channel == 255
    elif kind == "mask_jpg_gt127" or Path(path).suffix.lower() in JPEG_SUFFIXES:
        # JPEG compression leaves faint non-zero noise around every edge: nonzero would widen
        # each root by a pixel or two, so a lossy mask is cut at half its range.
        root = channel > (127 if kind == "mask_jpg_gt127" else channel.max() / 2)
    else:  # "mask"
        root = channel > 0
    return _check_shape(_binary(root), path, shape)


def _check_shape(labels: np.ndarray, path, shape: tuple[int, int]) -> np.ndarray:
    if labels.shape != tuple(shape):
        raise ValueError(f"annotation {path} is {labels.shape[1]}x{labels.shape[0]} px but its image is "
                         f"{shape[1]}x{shape[0]} px")
    return labels


def read_pairs(pairs_csv: str | Path, split: str | None = None, dataset: str | None = None,
               allow_empty: bool = False) -> pd.DataFrame:
    """Image/annotation pairs from a CSV (``image``, ``annotation``, ``annotation_type``, ``split``).

    Relative paths are taken relative to the CSV's folder. ``split`` and ``dataset``
    select rows; a selection with no rows is an error naming the values the CSV does
    have, unless ``allow_empty`` (an optional validation split).
    """
    pairs_csv = Path(pairs_csv)
    try:
        table = pd.read_csv(pairs_csv)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{pairs_csv} is empty; expected a header line with image, annotation, "
                         "annotation_type, split") from None
    missing = {"image", "annotation", "annotation_type"} - set(table.columns)
    if missing:
        raise ValueError(f"{pairs_csv} lacks the column(s) {sorted(missing)}")
    for column, value in (("dataset", dataset), ("split", split)):
        if value is None:
            continue
        if column not in table.columns:
            raise ValueError(f"{pairs_csv} has no {column} column, but {column} {value!r} was asked for")
        known = sorted(table[column].dropna().astype(str).unique())
        table = table[table[column].astype(str) == str(value)]
        if table.empty and not allow_empty:
            scope = f" in dataset {dataset!r}" if column == "split" and dataset is not None else ""
            raise ValueError(f"{pairs_csv} has no rows with {column} {value!r}{scope}; "
                             f"the {column} values there: {', '.join(known) or 'none'}")
    blank = table[["image", "annotation", "annotation_type"]].isna().any(axis=1)
    if blank.any():
        lines = ", ".join(str(i + 2) for i in table.index[blank][:5])  # +2: header line, 1-based
        raise ValueError(f"{pairs_csv}: blank image, annotation or annotation_type on line(s) {lines}")
    for column in ("image", "annotation"):
        table[column] = [str(p if Path(p).is_absolute() else pairs_csv.parent / p) for p in table[column]]
    return table.reset_index(drop=True)


def pairs_from_folder(folder: str | Path, kind: str = "mask") -> pd.DataFrame:
    """Pairs from ``folder/images/NAME.*`` and ``folder/masks/NAME.*`` (same stem)."""
    folder = Path(folder)
    if not (folder / "images").is_dir():
        raise ValueError(f"{folder / 'images'} is not a folder; --folder expects FOLDER/images/ and "
                         "FOLDER/masks/ with same-stem files")
    masks = {p.stem: p for p in (folder / "masks").glob("*") if p.is_file()}
    rows = [(str(p), str(masks[p.stem]), kind) for p in sorted((folder / "images").glob("*"))
            if p.stem in masks]
    if not rows:
        raise ValueError(f"no image in {folder / 'images'} has a same-stem mask in {folder / 'masks'}")
    return pd.DataFrame(rows, columns=["image", "annotation", "annotation_type"])
