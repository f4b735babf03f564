import numpy as np
import pytest

from rootpipe.segmentation.confidence import segmentation_confidence


def test_sharp_map_is_confident_and_a_blurred_one_is_not():
    sharp = np.zeros((64, 64), np.float32)
    sharp[20:30, :] = 0.98
    blurred = sharp.copy()
    blurred[10:20, :] = 0.5  # a band the model is unsure of, as wide as the root
    assert segmentation_confidence(sharp) == 1.0
    assert segmentation_confidence(blurred) == pytest.approx(0.5)


def test_stored_uint8_gives_the_float_maps_confidence():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, (100, 100)).astype(np.float32)
    stored = np.round(p * 255).astype(np.uint8)  # as the segment stage stores it
    assert segmentation_confidence(stored) == pytest.approx(segmentation_confidence(p), abs=0.01)


def test_rootless_image_has_nothing_undecided_and_valid_limits_the_count():
    assert segmentation_confidence(np.zeros((8, 8), np.uint8)) == 1.0
    p = np.zeros((8, 8), np.float32)
    p[0, :] = 0.5  # undecided, but only along the edge
    valid = np.zeros((8, 8), bool)
    valid[2:6, 2:6] = True
    assert segmentation_confidence(p) == 0.0
    assert segmentation_confidence(p, valid) == 1.0


def test_report_lists_the_least_confident_first_and_advises_a_fine_tune_only_when_unsure():
    import pandas as pd

    from rootpipe.reporting.page import OUT_OF_DOMAIN_CONFIDENCE
    from rootpipe.stages.report import confidence_summary, render

    traits = pd.DataFrame({"file": [f"im{i}.png" for i in range(12)], "series": "a",
                           "image_id": [str(i) for i in range(12)],
                           "timestamp": pd.date_range("2026-05-01", periods=12),
                           "total_length_mm": 10.0, "segmentation_confidence": np.linspace(0.99, 0.88, 12)})
    sure = confidence_summary(traits, n=3)
    page = sure["table"]
    assert page.index("im11.png") < page.index("im10.png") < page.index("im9.png")
    assert "im0.png" not in page and not sure["unsure"]
    unsure = traits.assign(segmentation_confidence=np.linspace(0.3, OUT_OF_DOMAIN_CONFIDENCE - 0.01, 12))
    assert confidence_summary(unsure)["unsure"]
    assert confidence_summary(traits.drop(columns="segmentation_confidence")) is None  # an older campaign's
    # On the page: the advice only when unsure, and the unsure images flagged in the table of every image.
    manifest = traits.assign(status="accepted", reason=None, session="s", batch="b", path="x")
    growth = traits[["image_id", "timestamp", "total_length_mm"]].assign(  # a snapshot: one image a series
        series=traits["image_id"], registration_ok=pd.NA, note="", shift_y_px=np.nan, shift_x_px=np.nan,
        registration_quality=np.nan)
    assert "fine-tune the model" not in render(manifest, traits, growth, "unused", 0)
    page = render(manifest, unsure, growth, "unused", 0)
    assert "fine-tune the model" in page and page.count("low confidence") == 12
