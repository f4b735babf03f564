"""RootPainter's project layout, written and read as its GUI and trainer expect.

A RootPainter *sync directory* holds ``datasets/{dataset}/`` (the images) and
``projects/{name}/`` with ``{name}.seg_proj`` (JSON: ``name``, ``dataset``,
``original_model_file``, ``location``, ``file_names``), ``annotations/train``,
``annotations/val``, ``segmentations``, ``models``, ``messages`` and ``logs``. An
annotation is an RGBA PNG named as its image (stem + ``.png``): red (255, 0, 0) paints root,
green (0, 255, 0) background, transparent is unlabelled; RootPainter reads root from the red
channel and background from the green one. A segmentation is an RGBA PNG, (0, 255, 255, 178)
where the model says root, transparent elsewhere.
"""
from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import numpy as np

#: the colours RootPainter's brushes paint with (RGBA), and its segmentations' colour
ROOT_RGBA = (255, 0, 0, 180)
BACKGROUND_RGBA = (0, 255, 0, 180)
SEGMENTATION_RGBA = (0, 255, 255, 178)
FOLDERS = ("annotations/train", "annotations/val", "segmentations", "models", "messages", "logs")


def segmentation_png(mask: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8: RootPainter's segmentation image of a binary mask."""
    out = np.zeros((*mask.shape, 4), np.uint8)
    out[mask.astype(bool)] = SEGMENTATION_RGBA
    return out


def annotation_png(root: np.ndarray, background: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8: a RootPainter annotation painting ``root`` red and ``background`` green."""
    out = np.zeros((*root.shape, 4), np.uint8)
    out[background.astype(bool)] = BACKGROUND_RGBA
    out[root.astype(bool)] = ROOT_RGBA
    return out


def project_dir(sync_dir: str | Path, name: str) -> Path:
    return Path(sync_dir) / "projects" / name


def create_project(sync_dir: str | Path, name: str, file_names: list[str], model_file: str | None = None) -> Path:
    """Make project ``name`` over dataset ``name`` (its images already in ``datasets/{name}``);
    returns the ``.seg_proj`` file. ``file_names`` keep their order (RootPainter's annotation order)."""
    project = project_dir(sync_dir, name)
    for folder in FOLDERS:
        (project / folder).mkdir(parents=True, exist_ok=True)
    info = {"name": name, "dataset": name, "original_model_file": model_file or "random weights",
            "location": str(PurePosixPath("projects", name)), "file_names": list(file_names)}
    path = project / f"{name}.seg_proj"
    path.write_text(json.dumps(info, indent=4))
    return path


def read_project(seg_proj: str | Path) -> dict:
    """The project file, with ``sync_dir``, ``dataset_dir`` and ``project_dir`` resolved beside it."""
    seg_proj = Path(seg_proj)
    info = json.loads(seg_proj.read_text())
    sync_dir = seg_proj.parent.parent.parent
    return {**info, "sync_dir": sync_dir, "dataset_dir": sync_dir / "datasets" / info["dataset"],
            "project_dir": seg_proj.parent}


def annotations(seg_proj: str | Path) -> list[tuple[Path, Path, str]]:
    """(image, annotation, split) for every annotation of the project, split ``train`` or ``val``;
    the image is the dataset file with the annotation's stem (any extension), as RootPainter finds it."""
    info = read_project(seg_proj)
    images = {p.stem: p for p in info["dataset_dir"].iterdir() if p.is_file()}
    out = []
    for split in ("train", "val"):
        for path in sorted((info["project_dir"] / "annotations" / split).glob("*.png")):
            if path.stem not in images:
                raise ValueError(f"annotation {path} has no image {path.stem}.* in {info['dataset_dir']}")
            out.append((images[path.stem], path, split))
    return out
