"""Annotations for training and evaluation, as label images.

Every kind becomes one (H, W) uint8 label image: 1 = root, 0 = background,
255 = unlabelled (ignored by the loss and by the scores).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from rootpipe.io.decode import UnreadableImage, read_image, to_rgb8

ROOT, BACKGROUND, UNLABELLED = 1, 0, 255
JPEG_SUFFIXES = (".jpg", ".jpeg")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
KINDS = ("mask", "mask_png_rgba_ch0", "mask_jpg_gt127", "rsml_centrelines", "rootpainter")


def _binary(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, ROOT, BACKGROUND).astype(np.uint8)


def load_labels(path: str | Path, kind: str, shape: tuple[int, int], rsml_width_px: float = 4.0) -> np.ndarray:
    """Label image of one annotation file.

    Parameters
    ----------
    path : annotation file.
    kind : ``mask`` (any binary image: grey or the brightest colour channel above half
        its maximum; with transparency, the opaque pixels), ``mask_png_rgba_ch0`` (root = 255 in channel 0),
        ``mask_jpg_gt127`` (JPEG
        mask, root > 127), ``rsml_centrelines`` (RSML polylines in px, drawn as strokes of
        ``rsml_width_px``), ``rootpainter`` (RootPainter's sparse annotation: red = root,
        green = background, anything else unlabelled).
    shape : (H, W) of the image it annotates.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown annotation type {kind!r} for {path}; expected one of {KINDS}")
    if kind == "rsml_centrelines":
        from xml.etree.ElementTree import ParseError

        from rootpipe.io.rsml import read_rsml, render_mask

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
    if kind == "mask_png_rgba_ch0":
        root = (array[..., 0] if array.ndim == 3 else array) == 255
    elif kind == "mask_jpg_gt127":
        root = (array[..., 0] if array.ndim == 3 else array) > 127
    else:  # "mask"
        root = _mask_root(array, path)
    return _check_shape(_binary(root), path, shape)


def _mask_root(array: np.ndarray, path) -> np.ndarray:
    """Root pixels of a binary mask in any common form.

    Grey or colour (roots drawn in any colour: the brightest channel), 0/1, 0/255 or
    16-bit; with transparency, the opaque pixels are the drawing. Cut at half the
    mask's maximum: JPEG and resampling leave faint values around every edge, which
    "nonzero" would count as root.
    """
    if array.ndim == 3:
        has_alpha = array.shape[-1] in (2, 4)
        colour = array[..., :3] if array.shape[-1] >= 3 else array[..., :1]
        if colour.shape[-1] == 3:
            rgb = colour.astype(np.int32)
            red = (rgb[..., 0] > 127) & (rgb[..., 1] < 64) & (rgb[..., 2] < 64)
            green = (rgb[..., 1] > 127) & (rgb[..., 0] < 64) & (rgb[..., 2] < 64)
            if red.any() and green.any():
                raise ValueError(f"annotation {path} has red and green strokes, as a RootPainter annotation "
                                 "(red = root, green = background): give it annotation type 'rootpainter'")
        alpha = array[..., -1] if has_alpha else None
        if alpha is not None and alpha.min() < alpha.max():
            return alpha > alpha.max() / 2
        array = colour.max(axis=-1)
    top = array.max()
    if Path(path).suffix.lower() in JPEG_SUFFIXES and 0 < top < 64:
        raise ValueError(f"annotation {path} is a JPEG mask with values up to {top}: a 0/1 mask does not "
                         "survive JPEG compression; save it as PNG (or with roots at 255)")
    return array > top / 2 if top > 0 else np.zeros(array.shape, bool)


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
        values = table[column].astype(str)
        if column == "split":  # Val, " val" and val are one split: a spreadsheet's capital must not drop it
            table = table[values.str.strip().str.lower() == str(value).strip().lower()]
        else:
            table = table[values == str(value)]
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
    images = [p for p in sorted((folder / "images").glob("*"))
              if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    masks = {}
    for p in sorted((folder / "masks").glob("*")) if (folder / "masks").is_dir() else []:
        if p.is_file() and (p.suffix.lower() in IMAGE_SUFFIXES or p.suffix.lower() == ".rsml"):
            if p.stem in masks:
                raise ValueError(f"{masks[p.stem].name} and {p.name} in {folder / 'masks'} both annotate "
                                 f"{p.stem}: keep one")
            masks[p.stem] = p
    rows = [(str(p), str(masks[p.stem]), kind) for p in images if p.stem in masks]
    lonely = [p.name for p in images if p.stem not in masks]
    unused = sorted(set(masks) - {p.stem for p in images})
    if not rows:
        raise ValueError(f"no image in {folder / 'images'} has a same-stem mask in {folder / 'masks'} (images "
                         f"e.g. {[p.name for p in images[:3]]}, "
                         f"masks e.g. {[m.name for m in list(masks.values())[:3]]})"
                         "; a mask is named as its image, with any image extension (img001.png for img001.jpg, "
                         "not img001_mask.png)")
    if lonely or unused:
        print(f"annotations: {len(rows)} image/mask pairs in {folder}; "
              + "; ".join(part for part in (
                  f"{len(lonely)} image(s) without a mask, left out: {', '.join(lonely[:5])}" if lonely else "",
                  f"{len(unused)} mask(s) without an image: {', '.join(unused[:5])}" if unused else "") if part),
              file=sys.stderr)
    return pd.DataFrame(rows, columns=["image", "annotation", "annotation_type"])


def load_pairs(pairs: pd.DataFrame, rsml_width_px: float = 4.0,
               bit_depth: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Decode every pair into (rgb uint8 (H, W, 3), labels uint8 (H, W)).

    ``bit_depth``: as the config's, so that 16-bit images read as the segment stage reads them.
    """
    out = []
    for row in pairs.itertuples():
        try:
            rgb = to_rgb8(read_image(row.image), bit_depth)
        except UnreadableImage as exc:
            raise ValueError(f"image {row.image}: {exc}") from None
        out.append((rgb, load_labels(row.annotation, row.annotation_type, rgb.shape[:2], rsml_width_px)))
    return out


def check_labels(data: list, annotations) -> None:
    """Refuse training annotations that mark no root; warn about implausible ones.

    A mask that is mostly root is almost always inverted (black roots on white) or an
    image given as its own annotation (columns swapped), and would train a model that
    calls everything root.
    """
    names = list(annotations)
    if not any((lab == ROOT).any() for _, lab in data):
        unlabelled = all((lab == UNLABELLED).all() for _, lab in data)
        raise ValueError(f"no training annotation marks a {'labelled' if unlabelled else 'root'} pixel "
                         f"({len(names)} file(s), e.g. {names[0]}): check the annotation files and "
                         "their annotation type")
    if not any((lab == BACKGROUND).any() for _, lab in data):
        raise ValueError(f"no training annotation marks a background pixel ({len(names)} file(s), e.g. "
                         f"{names[0]}): a model trained on roots alone calls everything root. In RootPainter "
                         "annotations paint background green as well as roots red")
    for (_, lab), name in zip(data, names):
        labelled = lab != UNLABELLED
        fraction = (lab == ROOT).sum() / max(1, labelled.sum())
        if fraction == 1 and not labelled.all():  # sparse strokes on roots only
            print(f"train: warning: annotation {name} marks roots (red) but no background (green): it "
                  "teaches the model nothing about what is not root; paint some soil green", flush=True)
        elif fraction > 0.5:
            print(f"train: warning: annotation {name} marks {fraction:.0%} of its labelled pixels as root; "
                  "inverted (black roots on white)? image and annotation swapped?", flush=True)
