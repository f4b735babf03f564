"""benchmarks/object_width.py: a width limit drops a wide false object, scored as evaluate scores."""
import numpy as np
from conftest import load_benchmark

ow = load_benchmark("object_width")


def _image(seed: int):
    """A 4 px root of another length per image, annotated, and a 16 px glare band the model marks too."""
    labels = np.zeros((160, 200), np.uint8)
    labels[20:24, 10:60 + 40 * seed] = 1
    p = np.where(labels == 1, 0.95, 0.0).astype(np.float32)
    p[60:150, 150:166] = 0.8
    return p, labels


def test_width_limit_removes_the_glare_and_keeps_the_roots():
    images = [_image(s) for s in range(3)]
    table = ow.score_settings([p for p, _ in images], [lab for _, lab in images], [0.5], [None, 8.0, 3.0])
    row = table.set_index("max_object_width_px")
    assert row.loc["off", "precision"] < 0.6 and row.loc["off", "recall"] == 1.0
    assert row.loc[8.0, "F1"] == 1.0  # the band is gone, the roots stay
    assert abs(row.loc[8.0, "length slope"] - 1) < 0.02 and row.loc["off", "length slope"] > 1.3
    assert row.loc[3.0, "recall"] == 0.0  # a limit below the roots' width removes them too


def test_border_px_leaves_the_edge_out_of_the_predicted_length():
    from rootpipe.traits import measure

    common = load_benchmark("common")
    images = []
    for n in (40, 60, 80):  # one root per image, of another length each, and a rim the model marks
        labels = np.zeros((100, 100), np.uint8)
        labels[50:54, 10:10 + n] = 1
        p = np.where(labels == 1, 0.95, 0.0).astype(np.float32)
        p[:, 0:4] = 0.9
        images.append((p, labels))
    probabilities, labels = [p for p, _ in images], [lab for _, lab in images]
    lengths = [measure(lab == 1)["total_length_mm"] for lab in labels]
    kept = common.score_setting(probabilities, labels, lengths, threshold=0.5)
    cleared = common.score_setting(probabilities, labels, lengths, border_px=8, threshold=0.5)
    assert kept["length slope"] > 1.5  # the 100 px rim counted
    assert abs(cleared["length slope"] - 1) < 0.05 and cleared["length r²"] > 0.99
