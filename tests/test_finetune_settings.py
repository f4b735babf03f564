"""benchmarks/finetune_settings.py: the grid scores as evaluate does, and the rule picks by length, then F1."""
import numpy as np
import pandas as pd
from conftest import load_benchmark

fs = load_benchmark("finetune_settings")


def _image(seed: int):
    """A 3 px bar annotated as root; the probability map has a faint 1 px halo on each side and a faint root."""
    labels = np.zeros((128, 160), np.uint8)
    labels[40:43, 20 + seed:140] = 1
    p = np.zeros(labels.shape, np.float32)
    p[40:43, 20 + seed:140] = 0.95
    p[39, 20 + seed:140] = p[43, 20 + seed:140] = 0.6  # too wide at thresholds below 0.6
    labels[90, 30:30 + 40 * (seed + 1)] = 1  # a faint 1 px root of another length per image
    p[89:92, 30:30 + 40 * (seed + 1)] = 0.55
    return p, labels


def test_grid_and_rule():
    images = [_image(s) for s in range(3)]
    table = fs.grid({False: [p for p, _ in images]}, [lab for _, lab in images], min_area_px=0)
    row = table.set_index(["threshold", "centreline_threshold"])
    # at 0.5 the halo costs precision; above 0.6 the outlines are exact but the faint root is lost ...
    assert row.loc[(0.5, "off"), "precision"] < row.loc[(0.7, "off"), "precision"] == 1.0
    assert row.loc[(0.7, "off"), "length slope"] < 0.8
    # ... and centre-lines of the 0.5 objects bring its length back at the tight outlines
    assert abs(row.loc[(0.7, 0.5), "length slope"] - 1) < 0.1
    chosen = table.loc[fs.pick(table)]
    assert chosen["length R² about 1:1"] >= 0.9 and 0.9 <= chosen["length slope"] <= 1.1
    ok = table[(table["length R² about 1:1"] >= 0.9) & table["length slope"].between(0.9, 1.1)]
    assert chosen["F1"] == ok["F1"].max() and chosen["centreline_threshold"] != "off"


def test_rule_refuses_when_no_setting_keeps_lengths():
    table = pd.DataFrame({"F1": [0.7, 0.6], "length R² about 1:1": [0.5, 0.95], "length slope": [1.0, 1.3]})
    assert fs.pick(table) is None
