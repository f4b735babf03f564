"""How ``segment.input_scale`` changes a set's scores: validation to choose it, test to report it.

Run by hand::

    python benchmarks/input_scale.py --data ../shared/data --dataset segroot_soybean --scales 1,1.5,2,2.5,3

For each split and factor: pooled pixel F1, precision and recall, and per-image root length r²,
slope and R² about the 1:1 line, as ``rootpipe evaluate`` scores them (the config's threshold and
speck removal). Writes a markdown table to stdout.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from rootpipe import config as cfg
from rootpipe.learn.annotations import read_pairs
from rootpipe.learn.evaluate import evaluate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True, help="folder with pairs.csv")
    ap.add_argument("--dataset", default="segroot_soybean")
    ap.add_argument("--splits", default="val,test")
    ap.add_argument("--scales", default="1,1.5,2,2.5,3")
    ap.add_argument("--checkpoint", default=None, help="default: the shipped model")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    rows = []
    for split in a.splits.split(","):
        pairs = read_pairs(a.data / "pairs.csv", split, a.dataset)
        for scale in (float(s) for s in a.scales.split(",")):
            settings = cfg.load({"segment": {"checkpoint": a.checkpoint, "input_scale": scale}})["segment"]
            start = time.perf_counter()
            _, s = evaluate(pairs, settings, threads=a.threads, progress=False)
            rows.append({"split": split, "n": s["n_images"], "input_scale": scale, "F1": s["pooled_f1"],
                         "precision": s["pooled_precision"], "recall": s["pooled_recall"],
                         "length r²": s["length_r2"], "length slope": s["length_slope"],
                         "length R² about 1:1": s["length_r2_identity"],
                         "seconds": time.perf_counter() - start})
            print(rows[-1], flush=True)
    print(pd.DataFrame(rows).to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
