"""How ``segment.input_scale`` changes a set's scores: validation to choose it, test to report it.

Run by hand::

    python benchmarks/input_scale.py --data ../shared/data --dataset segroot_soybean --scales 1,1.5,2,2.5,3
    python benchmarks/input_scale.py --data ../shared/data --dataset tillmore_barley --splits heldout,test \\
        --scales 1,1.5,2,2.5,3,4 --thresholds 0.5,0.7,0.9 --border-px 40 --tta off,on --bootstrap 2000

Each image's probabilities are computed once per factor (kept as float16, so a few pixels at the
threshold can differ from ``rootpipe evaluate``'s); every threshold is then made into a mask by
``to_mask`` and scored as ``rootpipe evaluate`` scores: pooled pixel F1, precision and recall, and
per-image root length r², slope and R² about the 1:1 line (specks < 60 px removed). ``--tta on``
adds flip test-time augmentation (``segment.tta``: four flips averaged, 4x the time). ``heldout``
names the images of a set without a validation split that training holds out to validate it
(every 8th series of its ``train`` split; :func:`rootpipe.learn.pairs.held_out_rows`). RSML
centre-lines (TILLMore) leave the 6 px beside each stroke out of the pixel scores, as
``benchmarks/models.py`` does; ``--border-px`` leaves the edges out of both lengths. Per split,
``*`` marks the setting validation's rule picks: the highest length r² whose slope lies within 0.9-1.1.
``--bootstrap N`` then draws each split's images again with replacement N times and gives how often the
rule picks each setting: how firmly a few validation images choose. Writes markdown tables to stdout.
"""
from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import bootstrap_picks, score_setting, validation_pick  # benchmarks/common.py, beside this script
from tqdm import tqdm

from rootpipe import config as cfg
from rootpipe.learn.annotations import load_pairs, read_pairs
from rootpipe.learn.metrics import centreline_band
from rootpipe.learn.pairs import held_out_rows
from rootpipe.segmentation.segmenter import Segmenter
from rootpipe.traits import clear_border, measure

#: as benchmarks/models.py: pixels beside RSML centre-line strokes left out of the pixel scores
CENTRELINE_BAND_PX = 6


def split_pairs(pairs_csv: Path, split: str, dataset: str) -> pd.DataFrame:
    """The pairs of one split of ``dataset``; ``heldout``: the train split's series training holds out."""
    if split == "heldout":
        return held_out_rows(read_pairs(pairs_csv, "train", dataset))
    return read_pairs(pairs_csv, split, dataset)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="folder with pairs.csv")
    ap.add_argument("--dataset", default="segroot_soybean")
    ap.add_argument("--splits", default="val,test", help="splits of pairs.csv, or heldout")
    ap.add_argument("--scales", default="1,1.5,2,2.5,3")
    ap.add_argument("--thresholds", default="0.5")
    ap.add_argument("--border-px", type=int, default=0, help="edge left out of both lengths (px)")
    ap.add_argument("--tta", default="off", help="off, on or off,on: flip test-time augmentation")
    ap.add_argument("--checkpoint", default=None, help="default: the shipped model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bootstrap", type=int, default=0, metavar="N",
                    help="draws of each split's images for the share of picks per setting (0: none)")
    a = ap.parse_args()
    if set(a.tta.split(",")) - {"off", "on"}:
        ap.error(f"--tta takes off, on or off,on, not {a.tta!r}")
    thresholds = [float(t) for t in a.thresholds.split(",")]
    tables, predicted = [], {}
    for split in a.splits.split(","):
        pairs = split_pairs(a.data / "pairs.csv", split, a.dataset)
        labels, annotated = [], []
        for (_, lab), kind in zip(load_pairs(pairs), pairs["annotation_type"]):
            annotated.append(measure(clear_border(lab == 1, a.border_px))["total_length_mm"])
            labels.append(centreline_band(lab, CENTRELINE_BAND_PX) if kind == "rsml_centrelines" else lab)
        for tta, scale in itertools.product(a.tta.split(","), (float(s) for s in a.scales.split(","))):
            settings = cfg.load({"segment": {"checkpoint": a.checkpoint, "input_scale": scale,
                                             "tta": tta == "on"}})["segment"]
            segmenter = Segmenter(settings, a.threads)
            start = time.perf_counter()
            probabilities = [segmenter(rgb).astype(np.float16)  # half the memory of a split
                             for rgb, _ in tqdm(load_pairs(pairs), total=len(pairs), unit="img",
                                                desc=f"{split} at {scale:g}, tta {tta}")]
            seconds = time.perf_counter() - start
            for threshold in thresholds:
                row = score_setting(probabilities, labels, annotated, border_px=a.border_px, with_lengths=True,
                                    threshold=threshold, min_object_area_px=60)
                predicted.setdefault(split, {})[(tta, scale, threshold)] = row.pop("predicted_px")
                tables.append({"split": split, "n": len(pairs), "tta": tta, "input_scale": scale,
                               "threshold": threshold, **row, "seconds": seconds})
                print(tables[-1], flush=True)
        if a.bootstrap:
            shares = bootstrap_picks(predicted[split], annotated, draws=a.bootstrap)
            print(pd.DataFrame([{"split": split, "tta": k[0], "input_scale": k[1], "threshold": k[2],
                                 "share of draws": v} if k else
                                {"split": split, "tta": "(no slope within 0.9-1.1)", "share of draws": v}
                                for k, v in shares.items()]).to_markdown(index=False, floatfmt=".3f"))
    out = pd.DataFrame(tables)
    out["best"] = ""
    for _, rows in out.groupby("split", sort=False):
        pick = validation_pick(rows["length r²"], rows["length slope"])
        if pick is not None:
            out.loc[rows.index[pick], "best"] = "*"
    print(out.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
