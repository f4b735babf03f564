"""Scores of the shipped model and the classical baseline, synthetic held-out and real test splits.

Run by hand: ``python benchmarks/models.py [--data ../shared/data] [--out docs/segmentation.md]``.
Real images are read from ``--data`` and never copied.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from rootpipe import config as cfg
from rootpipe.annotations import read_pairs
from rootpipe.evaluate import evaluate
from rootpipe.segment import DEFAULT_CHECKPOINT
from rootpipe.synthetic import make_campaign

DATASETS = ["plantrootseg_peanut", "plantrootseg_switchgrass", "segroot_soybean"]


def synthetic_pairs(folder: Path, seed: int) -> pd.DataFrame:
    truth = make_campaign(folder, n_series=4, n_timepoints=3, image_size=(768, 1024), seed=seed)
    return pd.DataFrame({"image": [str(folder / "images" / f) for f in truth["file"]],
                         "annotation": [str(folder / "truth" / f) for f in truth["file"]],
                         "annotation_type": "mask"})


def grey_copies(pairs: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """The same images as 8-bit greyscale PNGs (what many scanners and NIR cameras write)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for image in pairs["image"]:
        out = folder / Path(image).name
        cv2.imwrite(str(out), cv2.imread(image, cv2.IMREAD_GRAYSCALE))
        images.append(str(out))
    return pairs.assign(image=images)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    methods = {"unet (shipped)": {"method": "unet", "checkpoint": a.checkpoint},
               "classical": {"method": "classical"}}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        held_out = synthetic_pairs(Path(tmp) / "held_out", 2000)
        sets = {"synthetic held-out (seed 2000)": held_out,
                "synthetic held-out, greyscale": grey_copies(held_out, Path(tmp) / "grey")}
        if (a.data / "pairs.csv").exists():
            test = read_pairs(a.data / "pairs.csv", "test")
            sets.update({f"{d} test": test[test["dataset"] == d] for d in DATASETS})
        for name, pairs in sets.items():
            for method, seg in methods.items():
                settings = cfg.load({"segment": seg})["segment"]
                start = time.perf_counter()
                _, s = evaluate(pairs, settings, threads=a.threads, progress=False)
                rows.append({"images": name, "method": method, "n": s["n_images"], "F1": s["pooled_f1"],
                             "IoU": s["pooled_iou"], "precision": s["pooled_precision"],
                             "recall": s["pooled_recall"], "length R²": s["length_r2"],
                             "length slope": s["length_slope"], "seconds": time.perf_counter() - start})
                print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    text = table.to_markdown(index=False, floatfmt=".3f") if hasattr(table, "to_markdown") else table.to_string()
    print(text)
    if a.out:
        a.out.write_text(replace_table(a.out.read_text(), text) if a.out.exists() else text + "\n")


def replace_table(document: str, table: str) -> str:
    """``document`` with its first table headed ``| images`` replaced by ``table`` (appended if none)."""
    lines = document.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("| images")), None)
    if start is None:
        return document.rstrip("\n") + "\n\n" + table + "\n"
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join([*lines[:start], *table.splitlines(), *lines[end:]]) + "\n"


if __name__ == "__main__":
    main()
