"""How ``segment.max_object_width_px`` changes a set's scores: validation to choose it, test to report it.

Run by hand::

    python benchmarks/object_width.py --data ../shared/data --dataset segroot_soybean --input-scale 3 \\
        --splits val,test --widths off,16,14,12,11,10,9,8,7

The shipped model's probability maps are computed once per image (at ``--input-scale``; kept as
float16, so a few pixels at the threshold can differ from ``rootpipe evaluate``'s); every
(threshold, width) setting is then made into a mask by ``to_mask`` and scored as ``rootpipe evaluate``
scores (pooled pixel F1, precision and recall; per-image root length r², slope and R² about the 1:1
line, the same trait code on both masks; specks < 60 px removed). Writes a markdown table to stdout
and marks, per split, the width with the best pooled F1 at each threshold.
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import score_setting  # benchmarks/common.py, beside this script
from tqdm import tqdm

from rootpipe import config as cfg
from rootpipe.learn.annotations import load_pairs, read_pairs
from rootpipe.segmentation.segmenter import Segmenter
from rootpipe.traits import measure


def score_settings(probabilities: list, labels: list, thresholds, widths, min_area_px: int = 60) -> pd.DataFrame:
    """Pooled pixel scores and length agreement of every (threshold, width) setting.

    Parameters
    ----------
    probabilities : (H, W) root probability per image.
    labels : (H, W) annotation per image (1 root, 0 background, 255 unlabelled).
    thresholds : probabilities above which a pixel is root.
    widths : ``max_object_width_px`` values (px); None = off.
    """
    annotated = [measure(lab == 1)["total_length_mm"] for lab in labels]
    rows = [{"threshold": threshold, "max_object_width_px": "off" if width is None else width,
             **score_setting(probabilities, labels, annotated, threshold=threshold,
                             min_object_area_px=min_area_px, max_object_width_px=width)}
            for threshold, width in itertools.product(thresholds, widths)]
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="folder with pairs.csv")
    ap.add_argument("--dataset", default="segroot_soybean")
    ap.add_argument("--splits", default="val,test")
    ap.add_argument("--input-scale", type=float, default=3.0)
    ap.add_argument("--thresholds", default="0.5,0.7,0.9")
    ap.add_argument("--widths", default="off,16,14,12,11,10,9,8,7")
    ap.add_argument("--checkpoint", default=None, help="default: the shipped model")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    thresholds = [float(t) for t in a.thresholds.split(",")]
    widths = [None if w == "off" else float(w) for w in a.widths.split(",")]
    settings = cfg.load({"segment": {"checkpoint": a.checkpoint, "input_scale": a.input_scale}})["segment"]
    segmenter = Segmenter(settings, a.threads)
    tables = []
    for split in a.splits.split(","):
        pairs = read_pairs(a.data / "pairs.csv", split, a.dataset)
        start = time.perf_counter()
        probabilities, labels = [], []
        for rgb, lab in tqdm(load_pairs(pairs), total=len(pairs), desc=f"segment {split}", unit="img"):
            probabilities.append(segmenter(rgb).astype(np.float16))  # half the memory of a split
            labels.append(lab)
        table = score_settings(probabilities, labels, thresholds, widths)
        best = table.groupby("threshold")["F1"].transform("max") == table["F1"]
        tables.append(table.assign(split=split, n=len(pairs), best_at_threshold=np.where(best, "*", "")))
        print(f"{split}: {time.perf_counter() - start:.0f} s", flush=True)
    out = pd.concat(tables, ignore_index=True)
    print(out[["split", "n", *out.columns[:-3]]].assign(best=out["best_at_threshold"]).to_markdown(
        index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
