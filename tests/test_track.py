import cv2
import numpy as np
import pandas as pd
import pytest

from rootpipe.track import length_change, register, register_translation, track_series, translate, translation


def roots(shape=(200, 240), extra=False):
    m = np.zeros(shape, np.uint8)
    cv2.line(m, (40, 20), (60, 180), 1, 5)
    cv2.line(m, (150, 20), (120, 170), 1, 4)
    if extra:
        cv2.line(m, (60, 100), (110, 110), 1, 3)  # a new lateral
    return m


@pytest.mark.parametrize("dy,dx", [(0, 0), (4, -3), (-6, 5)])
def test_translation_is_recovered(dy, dx):
    ref = cv2.GaussianBlur(roots().astype(np.float32), (0, 0), 1.5)
    moved = translate(ref, dy, dx)
    sy, sx, quality = register_translation(ref, moved)
    assert sy == pytest.approx(dy, abs=0.5) and sx == pytest.approx(dx, abs=0.5)
    assert quality > 0.3


def test_new_lateral_is_gained_and_nothing_lost_despite_a_shift():
    before = roots()
    after = translate(roots(extra=True), 5, -4)
    gained, lost = length_change(before, after, translation(5, -4), tolerance_px=3)
    lateral = np.hypot(50, 10) - 3  # the part outside the parent root's tolerance band
    assert gained == pytest.approx(lateral, rel=0.2)
    assert lost < 3


def test_disappearing_root_is_lost():
    gained, lost = length_change(roots(extra=True), roots(), translation(0, 0))
    assert gained < 3 and lost == pytest.approx(np.hypot(50, 10) - 3, rel=0.2)


def test_series_table_flags_and_rates():
    masks = {"a": roots(), "b": roots(extra=True), "c": roots(extra=True)}
    frames = pd.DataFrame({"series": "s", "image_id": ["a", "b", "c"],
                           "timestamp": pd.to_datetime(["2026-05-01", "2026-05-08", "2026-05-08"]),
                           "total_length_mm": [10.0, 13.5, 13.5]})
    table = track_series(frames, masks.__getitem__, lambda i: masks[i].astype(np.float32), 0.05)
    assert list(table["timepoint"]) == [1, 2, 3]
    assert table["growth_rate_mm_per_day"].iloc[1] == pytest.approx(0.5)
    assert np.isnan(table["growth_rate_mm_per_day"].iloc[2])
    assert "same timestamp" in table["note"].iloc[2]
    assert table["length_gained_mm"].iloc[1] > 0
