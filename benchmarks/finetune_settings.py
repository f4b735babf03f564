"""Inference settings for a fine-tuned model, chosen on validation images: flips, threshold, centre-lines.

A fine-tune's three validation images cannot rank settings by root length (every setting measures
them at length R² ~0.99), so the settings are chosen on a larger validation set: the README's
fine-tune run on part of the ``train`` split, the rest held out beside ``val``. Run by hand::

    # 1. a pairs CSV whose val split adds the train images of tubes >= T046 (no tube in both)
    python benchmarks/finetune_settings.py cv-pairs --data ../shared/data --out build/cvsoy/pairs.csv
    # 2. the README's fine-tune on its train split (27 images)
    rootpipe train --pairs build/cvsoy/pairs.csv --dataset segroot_soybean \\
        --init rootpipe/models/default.safetensors --augmentation light --skeleton-weight 1 \\
        --epochs 6 --steps 250 --lr 4e-3 --threads 1 --out build/cvsoy/model-s0.safetensors
    # 3. the grid on its 17 validation images; the rule's pick is marked
    python benchmarks/finetune_settings.py grid --pairs build/cvsoy/pairs.csv --split val \\
        --checkpoint build/cvsoy/model-s0.safetensors
    # 4. the same grid for the README's model (all 41 + 3 images) on the test split
    python benchmarks/finetune_settings.py grid --pairs ../shared/data/pairs.csv --split test \\
        --checkpoint MODEL

The rule (fixed before any model was scored): keep the settings whose length R² about the 1:1 line
is >= 0.90 with slope 0.9-1.1 (root length is the phenotype), then take the highest pooled F1.
Scored as ``rootpipe evaluate`` scores (specks < 60 px removed, the same trait code on both masks).
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from common import score_setting  # benchmarks/common.py, beside this script

from rootpipe import config as cfg
from rootpipe.learn.annotations import load_pairs, read_pairs
from rootpipe.segmentation.segmenter import Segmenter
from rootpipe.traits import measure

DATASET = "segroot_soybean"
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)
CENTRELINES = (None, 0.5, 0.3, 0.1)


def cv_pairs(pairs: pd.DataFrame, data: Path, first_tube: int = 46) -> pd.DataFrame:
    """The dataset's train and val rows, train images of tubes >= ``first_tube`` moved to val; paths absolute."""
    rows = pairs[(pairs["dataset"] == DATASET) & pairs["split"].isin(["train", "val"])].copy()
    for column in ("image", "annotation"):
        rows[column] = rows[column].map(lambda p: str((data / p).resolve()))
    tube = rows["image"].str.extract(r"_T(\d+)_L")[0].astype(int)
    rows.loc[(rows["split"] == "train") & (tube >= first_tube), "split"] = "val"
    return rows


def grid(probabilities: dict, labels: list, min_area_px: int = 60) -> pd.DataFrame:
    """Pooled pixel scores and length agreement for every (tta, threshold, centre-line) setting.

    Parameters
    ----------
    probabilities : {tta (bool): [(H, W) root probability per image]}.
    labels : (H, W) annotation per image (1 root, 0 background, 255 unlabelled).
    """
    annotated = [measure(lab == 1)["total_length_mm"] for lab in labels]
    rows = []
    for tta, threshold, centreline in itertools.product(probabilities, THRESHOLDS, CENTRELINES):
        if centreline is not None and centreline >= threshold:
            continue
        rows.append({"tta": tta, "threshold": threshold, "centreline_threshold": centreline or "off",
                     **score_setting(probabilities[tta], labels, annotated, threshold=threshold,
                                     min_object_area_px=min_area_px, centreline_threshold=centreline)})
    return pd.DataFrame(rows)


def pick(table: pd.DataFrame) -> int | None:
    """Row index the rule chooses: length R² about 1:1 >= 0.90, slope 0.9-1.1, then the highest F1."""
    ok = table[(table["length R² about 1:1"] >= 0.90) & table["length slope"].between(0.9, 1.1)]
    return None if ok.empty else int(ok["F1"].idxmax())


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("cv-pairs")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("grid")
    p.add_argument("--pairs", type=Path, required=True)
    p.add_argument("--split", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.command == "cv-pairs":
        rows = cv_pairs(pd.read_csv(a.data / "pairs.csv"), a.data)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(a.out, index=False)
        print(rows.groupby("split").size().to_string())
        return
    pairs = read_pairs(a.pairs, a.split, DATASET)
    loaded = list(load_pairs(pairs))
    probabilities = {}
    for tta in (False, True):
        settings = cfg.load({"segment": {"checkpoint": a.checkpoint, "tta": tta}})["segment"]
        segmenter = Segmenter(settings, a.threads)
        probabilities[tta] = [segmenter(rgb).astype(np.float16) for rgb, _ in loaded]
    table = grid(probabilities, [lab for _, lab in loaded])
    chosen = pick(table)
    table["rule"] = ["<- chosen" if i == chosen else "" for i in table.index]
    print(f"{a.checkpoint}, {a.split} split, {len(loaded)} images")
    print(table.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
