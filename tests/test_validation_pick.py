"""benchmarks/common.py: validation's rule for a setting, and how firmly a few images make it."""
import numpy as np
import pytest
from conftest import load_benchmark

common = load_benchmark("common")


def test_the_rule_takes_the_best_ranking_among_settings_that_measure_within_ten_percent():
    # the first ranks best but halves every length; the third ranks worse than the second
    assert common.validation_pick([0.99, 0.95, 0.90], [0.5, 1.0, 1.05]) == 1
    assert common.validation_pick([0.99, np.nan], [0.5, 1.0]) is None


def test_bootstrap_shares_follow_how_clearly_the_images_separate_settings():
    rng = np.random.default_rng(1)
    annotated = rng.uniform(100, 1000, 12)
    exact, noisy = annotated.copy(), annotated * rng.normal(1, 0.1, 12)
    shares = common.bootstrap_picks({"exact": exact, "noisy": noisy, "half": annotated / 2}, annotated, draws=200)
    assert shares == {"exact": 1.0}  # it ranks and measures every draw best; "half" is never fair
    # two settings as good as each other split the draws, and the same seed repeats them
    other = annotated * rng.normal(1, 0.1, 12)
    close = common.bootstrap_picks({"a": noisy, "b": other}, annotated, draws=400, seed=3)
    assert set(close) == {"a", "b"} and sum(close.values()) == pytest.approx(1)
    assert close == common.bootstrap_picks({"a": noisy, "b": other}, annotated, draws=400, seed=3)
    # no fair slope in any draw: the draws say so instead of picking one
    assert common.bootstrap_picks({"half": annotated / 2}, annotated, draws=50) == {None: 1.0}


def test_score_setting_gives_each_images_predicted_length_when_asked():
    labels = [np.zeros((60, 80), np.uint8) for _ in range(3)]
    for n, lab in enumerate(labels):
        lab[30:34, 5:25 + 20 * n] = 1
    probabilities = [np.where(lab == 1, 0.9, 0.0).astype(np.float32) for lab in labels]
    annotated = [20.0, 40.0, 60.0]
    row = common.score_setting(probabilities, labels, annotated, with_lengths=True, threshold=0.5)
    assert np.diff(row["predicted_px"]) == pytest.approx([20, 20], abs=1.5)
    assert "predicted_px" not in common.score_setting(probabilities, labels, annotated, threshold=0.5)
