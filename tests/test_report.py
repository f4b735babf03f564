"""The report's parts on drawn roots: pictures (diameter classes, gained and lost roots) and QC flags."""
import numpy as np
import pandas as pd
import pytest

from rootpipe.reporting import pictures
from rootpipe.reporting.page import image_table, qc_flags
from rootpipe.tracking.compare import change_maps
from rootpipe.tracking.register import translation
from rootpipe.traits import branch_paths, skeleton_length_map


def test_feature_image_colours_each_root_by_its_diameter_class():
    mask = np.zeros((200, 200), np.uint8)
    mask[20:180, 40:44] = 1    # 4 px = 0.4 mm at 0.1 mm/px: class 0-0.5 mm
    mask[20:180, 140:155] = 1  # 15 px = 1.5 mm: class 1-2 mm
    paths = branch_paths(mask, pixel_size_mm=0.1)
    rgb = np.full((200, 200, 3), 128, np.uint8)
    image = pictures.feature_image(rgb, mask.shape, paths, 0.1, (0.5, 1.0, 2.0), max_px=200)
    thin, thick = image[50:150, 35:50].reshape(-1, 3), image[50:150, 140:156].reshape(-1, 3)
    colour = lambda k: np.all(np.abs(thin.astype(int) - pictures.CLASS_COLOURS[k]) < 10, axis=1)  # noqa: E731
    assert colour(0).sum() > 50 and not np.any(np.all(np.abs(thin.astype(int) - pictures.CLASS_COLOURS[2]) < 10, 1))
    assert np.all(np.abs(thick.astype(int) - pictures.CLASS_COLOURS[2]) < 10, axis=1).sum() > 50
    assert image[100, 80].max() <= 128 * 0.35 + 1  # the image darkened under the skeleton
    assert pictures.class_of(np.array([0.5, 0.51, 2.5]), (0.5, 1.0, 2.0)).tolist() == [0, 1, 3]  # RVE's edges


def test_change_maps_mark_the_new_branch_as_gained_and_the_vanished_root_as_lost():
    before = np.zeros((160, 200), np.uint8)
    before[10:150, 50:55] = 1      # a root that stays
    before[10:80, 150:155] = 1     # a root that disappears
    after = np.zeros_like(before)
    after[12:152, 53:58] = 1       # the same root, camera moved by (2, 3) px
    after[83:88, 58:120] = 1       # a new lateral
    (_, length_before), (skeleton, length_after) = skeleton_length_map(before), skeleton_length_map(after)
    gained, lost = change_maps(before, after, length_before, length_after, translation(2, 3), 3.0)
    assert gained.any() and lost.any()
    gy, gx = np.nonzero(gained)
    assert gx.min() >= 57 and (gy >= 82).all() and (gy <= 89).all()      # on the lateral only
    ly, lx = np.nonzero(lost)
    assert (lx >= 149).all() and (lx <= 156).all()                         # on the vanished root only
    assert length_after[gained].sum() == pytest.approx(120 - 58, abs=6)    # the lateral's length, px
    picture = pictures.change_image(np.zeros((160, 200, 3), np.uint8), skeleton, gained, lost, max_px=200)
    assert (picture == pictures.GAINED).all(axis=2).sum() > 30 and (picture == pictures.LOST).all(axis=2).sum() > 30


def test_qc_flags_name_what_to_look_at_and_flagged_images_come_first():
    traits = pd.DataFrame({"image_id": ["a1", "a2", "a3", "b1"], "series": ["a", "a", "a", "b"],
                           "file": ["a1.png", "a2.png", "a3.png", "b1.png"],
                           "timestamp": pd.to_datetime(["2026-05-01", "2026-05-08", "2026-05-15", "2026-05-01"]),
                           "total_length_mm": [10.0, 20.0, 5.0, 0.0], "segmentation_confidence": [0.9, 0.6, 0.9, 0.95]})
    growth = traits[["image_id", "series", "timestamp", "total_length_mm"]].assign(
        length_change_mm=[np.nan, 10.0, -15.0, np.nan], registration_ok=[pd.NA, False, True, pd.NA],
        note=["first timepoint", "registration flagged: quality", "", "first timepoint"])
    flags = dict(zip(traits["image_id"], qc_flags(traits, growth)))
    assert flags == {"a1": "", "a2": "low confidence; registration flagged", "a3": "length fell > 30%",
                     "b1": "no root found"}
    assert image_table(traits, growth)["file"].tolist()[-1] == "a1.png"  # the one unflagged image last


def _growth(lengths: dict) -> pd.DataFrame:
    """A growth table: series -> root length (mm) at each of the weekly imaging days."""
    days = pd.date_range("2026-05-01", periods=len(next(iter(lengths.values()))), freq="7D")
    rows = [{"series": s, "timestamp": d, "total_length_mm": v} for s, vs in lengths.items() for d, v in zip(days, vs)]
    growth = pd.DataFrame(rows)
    growth["length_change_mm"] = growth.groupby("series")["total_length_mm"].diff()
    return growth


def test_a_round_where_most_series_lose_length_at_once_is_noted():
    from rootpipe.stages.report import _notes, rounds_with_losses
    from rootpipe.tracking.series import imaging_rounds

    # Round 3: three of four series lose 40-60 % (as the peanut windows' grey session does); one grows.
    growth = _growth({"a": [10, 12, 6], "b": [20, 22, 13], "c": [5, 6, 2.5], "d": [8, 9, 11]})
    flagged = rounds_with_losses(growth, imaging_rounds(growth))
    assert flagged[["imaging_round", "n_series", "n_lost"]].values.tolist() == [["2026-05-15", 4, 3]]
    assert any("2026-05-15 (3 of 4 series)" in note for note in _notes(growth))


def test_losses_in_half_the_series_or_fewer_or_from_no_root_are_not_noted():
    from rootpipe.stages.report import _notes, rounds_with_losses
    from rootpipe.tracking.series import imaging_rounds

    # Two of four lose more than 30 % (roots do die back); series e had no root to lose.
    growth = _growth({"a": [10, 12, 6], "b": [20, 22, 13], "c": [5, 6, 5], "d": [8, 9, 11], "e": [0, 0, 0]})
    assert rounds_with_losses(growth, imaging_rounds(growth)).empty
    # A loss of exactly 30 % (the per-image flag's) does not count; nor do rounds with fewer than
    # three series judged.
    quarter = _growth({"a": [10, 7], "b": [10, 7], "c": [10, 7]})
    assert rounds_with_losses(quarter, imaging_rounds(quarter)).empty
    two = _growth({"a": [8, 1], "b": [8, 1]})
    assert rounds_with_losses(two, imaging_rounds(two)).empty
    assert not any("lost more than" in note for note in _notes(growth))
