import cv2
import numpy as np
import pandas as pd
import pytest

from rootpipe.stages.track import run
from rootpipe.tracking.compare import _gained_lost
from rootpipe.tracking.register import register, translation, warp
from rootpipe.tracking.series import default_group_by, summarise_groups, track_series
from rootpipe.traits import skeleton_length_map


def translate(image, shift_y, shift_x):
    """``image`` moved by whole pixels, 0 where uncovered."""
    return warp(image, translation(shift_y, shift_x), image.shape[:2])


def length_change(previous_mask, current_mask, matrix, tolerance_px=3.0):
    """Root length gained and lost (px) between two registered masks."""
    previous_length = skeleton_length_map(previous_mask)[1]
    current_length = skeleton_length_map(current_mask)[1]
    return _gained_lost(previous_mask, current_mask, previous_length, current_length, matrix, tolerance_px)


def roots(shape=(200, 240), extra=False):
    m = np.zeros(shape, np.uint8)
    cv2.line(m, (40, 20), (60, 180), 1, 5)
    cv2.line(m, (150, 20), (120, 170), 1, 4)
    if extra:
        cv2.line(m, (50, 100), (110, 110), 1, 3)  # a new lateral, from the first root
    return m


@pytest.mark.parametrize("dy,dx", [(0, 0), (4, -3), (-6, 5)])
def test_translation_is_recovered(dy, dx):
    ref = cv2.GaussianBlur(roots().astype(np.float32), (0, 0), 1.5)
    moved = translate(ref, dy, dx)
    r = register(ref, moved)
    assert r["shift_y_px"] == pytest.approx(dy, abs=0.5) and r["shift_x_px"] == pytest.approx(dx, abs=0.5)
    assert r["quality"] > 0.3


def test_registration_leaves_its_inputs_alone():
    ref = cv2.GaussianBlur(roots().astype(np.float32), (0, 0), 1.5)
    moved = translate(ref, 4, -3)
    before = ref.copy(), moved.copy()
    first = register(ref, moved)
    assert np.array_equal(ref, before[0]) and np.array_equal(moved, before[1])
    again = register(ref, moved)
    assert (again["shift_y_px"], again["shift_x_px"]) == (first["shift_y_px"], first["shift_x_px"])


def test_new_lateral_is_gained_and_nothing_lost_despite_a_shift():
    before = roots()
    after = translate(roots(extra=True), 5, -4)
    gained, lost = length_change(before, after, translation(5, -4), tolerance_px=3)
    lateral = np.hypot(60, 10) - 2.5  # the part outside the parent root
    assert gained == pytest.approx(lateral, rel=0.1)
    assert lost < 3


def test_disappearing_root_is_lost():
    gained, lost = length_change(roots(extra=True), roots(), translation(0, 0))
    assert gained < 3 and lost == pytest.approx(np.hypot(60, 10) - 2.5, rel=0.1)


def test_series_table_flags_and_rates():
    masks = {"a": roots(), "b": roots(extra=True), "c": roots(extra=True)}
    frames = pd.DataFrame({"series": "s", "image_id": ["a", "b", "c"],
                           "timestamp": pd.to_datetime(["2026-05-01", "2026-05-08", "2026-05-08"]),
                           "total_length_mm": [10.0, 13.5, 13.5]})
    table, roots_table = track_series(frames, masks.__getitem__, lambda i: masks[i].astype(np.float32), 0.05)
    assert list(table["timepoint"]) == [1, 2, 3]
    assert table["growth_rate_mm_per_day"].iloc[1] == pytest.approx(0.5)
    assert np.isnan(table["growth_rate_mm_per_day"].iloc[2])
    assert "same timestamp" in table["note"].iloc[2]
    assert table["length_gained_mm"].iloc[1] > 0


def _series(masks, dates):
    return pd.DataFrame({"series": "s", "image_id": list(masks),
                         "timestamp": pd.to_datetime(dates), "total_length_mm": 1.0})


def test_rsml_of_a_series_carries_each_roots_id_through_time(tmp_path):
    """The track stage's RSML (traits.rsml): a root seen twice has one root_id in both files."""
    import xml.etree.ElementTree as ET

    from rootpipe.stages.track import write_tracked_rsml

    masks = {"a": roots(), "b": translate(roots(extra=True), 3, 2)}
    written = {}
    track_series(_series(masks, ["2026-05-01", "2026-05-08"]), masks.__getitem__,
                 lambda i: masks[i].astype(np.float32), 0.1,
                 on_frame=lambda frame, mask, ids: written.setdefault(frame.image_id, write_tracked_rsml(
                     tmp_path / f"{frame.image_id}.rsml", mask, ids, 0.1, {}, file_key=frame.image_id)))

    def ids(path):
        tree = ET.parse(path).getroot()
        return [int(r.find("properties/root_id").get("value")) for r in tree.iter("root")]

    first, second = ids(written["a"]), ids(written["b"])
    assert len(first) == 2 and len(set(first)) == 2 and 0 not in first  # the two primaries
    assert set(first) < set(second) and len(set(second) - set(first)) == 1  # and the new lateral
    assert "root_id" in [d.findtext("label") for d in ET.parse(written["b"]).getroot().iter("property-definition")]


def test_roots_keep_their_id_and_a_new_lateral_gets_a_new_one():
    masks = {"a": roots(), "b": translate(roots(extra=True), 3, 2)}
    growth, table = track_series(_series(masks, ["2026-05-01", "2026-05-08"]), masks.__getitem__,
                                 lambda i: masks[i].astype(np.float32), 1.0)
    first = set(table.loc[table["timepoint"] == 1, "root_id"])
    second = set(table.loc[table["timepoint"] == 2, "root_id"])
    assert len(first) == 2 and first < second and len(second - first) == 1
    new_root = table[table["root_id"].isin(second - first)].iloc[0]
    assert new_root["length_mm"] == pytest.approx(np.hypot(60, 10), rel=0.1)
    assert new_root["first_seen"] == pd.Timestamp("2026-05-08")
    assert growth["n_new_tips"].iloc[1] == 1
    # The two primaries: same ids, about the same length, elongation ~0.
    old = table[table["root_id"].isin(first)]
    assert old.groupby("root_id")["length_mm"].agg(lambda v: abs(v.iloc[-1] - v.iloc[0])).max() < 6


def test_edge_cases_give_a_row_and_a_note_not_a_crash():
    blank = np.zeros((200, 240), np.uint8)
    masks = {"a": roots(), "b": blank, "c": roots(extra=True), "d": np.zeros((100, 100), np.uint8)}
    growth, _ = track_series(_series(masks, ["2026-05-01", "2026-05-08", "2026-05-15", "2026-05-22"]),
                             masks.__getitem__, lambda i: masks[i].astype(np.float32), 1.0)
    assert len(growth) == 4
    assert not growth["registration_ok"].iloc[1] and "registration flagged" in growth["note"].iloc[1]
    assert "image size changed" in growth["note"].iloc[3]
    assert np.isnan(growth["length_change_mm"].iloc[3]) and np.isnan(growth["growth_rate_mm_per_day"].iloc[3])
    single, roots_single = track_series(_series({"a": roots()}, ["2026-05-01"]), lambda i: roots(),
                                        lambda i: roots().astype(np.float32), 1.0)
    assert len(single) == 1 and single["note"].iloc[0] == "first timepoint"
    assert len(roots_single) == 2


def test_rigid_registration_recovers_a_rotation():
    ref = cv2.GaussianBlur(roots(extra=True).astype(np.float32), (0, 0), 2)
    rot = cv2.getRotationMatrix2D((120, 100), 2.0, 1.0).astype(np.float32)
    moved = cv2.warpAffine(ref, rot, (240, 200))
    result = register(ref, moved, "rigid")
    assert not result["error"] and result["quality"] > 0.8
    np.testing.assert_allclose(result["matrix"][:, :2], rot[:, :2], atol=0.01)
    np.testing.assert_allclose(result["matrix"][:, 2], rot[:, 2], atol=1.0)


def test_smoothing_damps_one_bad_session_but_keeps_real_loss():
    from rootpipe.tracking.series import smooth_lengths

    growth = pd.DataFrame({"series": "s", "timestamp": pd.date_range("2026-05-01", periods=6, freq="7D"),
                           "total_length_mm": [10.0, 20.0, 2.0, 30.0, 25.0, 20.0]})
    smoothed = smooth_lengths(growth, 3).to_numpy()
    assert smoothed[2] == 20.0  # the dropout session
    assert smoothed[-1] < smoothed[-3]  # a real decline stays a decline
    assert smoothed[0] == 10.0 and smoothed[-1] == 20.0  # the ends are not pulled towards their neighbours
    rising = growth.assign(total_length_mm=[10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    assert smooth_lengths(rising, 3).to_numpy()[-1] == 60.0  # a one-sided window gave 55


def test_missing_session_gives_the_rate_over_the_longer_interval_and_is_reported(tmp_path):
    from rootpipe.stages.report import render

    masks = {"a": roots(), "c": roots(extra=True)}
    frames = _series(masks, ["2026-05-01", "2026-05-15"]).assign(total_length_mm=[10.0, 17.0])
    growth, _ = track_series(frames, masks.__getitem__, lambda i: masks[i].astype(np.float32), 1.0)
    assert growth["growth_rate_mm_per_day"].iloc[1] == pytest.approx(0.5)
    other = growth.assign(series="t", timestamp=pd.to_datetime(["2026-05-01", "2026-05-08"]))
    both = pd.concat([growth, other], ignore_index=True)
    manifest = pd.DataFrame({"status": ["accepted"], "series": ["s"], "session": ["2026-05-01"],
                             "batch": ["b"], "timestamp": pd.to_datetime(["2026-05-01"]), "path": ["x"],
                             "reason": [None]})
    page = render(manifest, pd.DataFrame(columns=["image_id", "series", "timestamp"]), both, tmp_path, 0)
    assert "Series missing an imaging round" in page and "s: 2026-05-08" in page
    assert "t: 2026-05-15" not in page  # after t's last image: not a gap in t's series


@pytest.mark.parametrize("n_cached", [1, 2, 3])
def test_resuming_after_cached_timepoints_equals_tracking_all_at_once(n_cached, tmp_path):
    masks = {"a": roots(), "b": translate(roots(extra=True), 3, 2), "c": np.zeros((200, 240), np.uint8),
             "d": translate(roots(extra=True), -2, 4)}
    frames = _series(masks, ["2026-05-01", "2026-05-08", "2026-05-15", "2026-05-22"])
    frames["total_length_mm"] = [10.0, 13.0, 0.0, 13.5]
    load, reference = masks.__getitem__, lambda i: masks[i].astype(np.float32)
    whole, whole_roots = track_series(frames, load, reference, 0.05)
    state = {}
    first, first_roots = track_series(frames.iloc[:n_cached], load, reference, 0.05, state=state)
    # as the track stage keeps them: parquet files and an npz
    first.to_parquet(tmp_path / "g.parquet")
    first_roots.to_parquet(tmp_path / "r.parquet")
    resume = {"growth": pd.read_parquet(tmp_path / "g.parquet"), "roots": pd.read_parquet(tmp_path / "r.parquet"),
              **state}
    resumed, resumed_roots = track_series(frames, load, reference, 0.05, resume=resume)
    pd.testing.assert_frame_equal(resumed, whole)
    pd.testing.assert_frame_equal(resumed_roots, whole_roots)
    assert whole_roots["root_id"].nunique() >= 3  # the lateral got its own id, then carried on


def test_two_images_of_one_series_on_one_day_are_one_series_in_the_summary():
    growth = pd.DataFrame({
        "series": ["s1", "s1", "s2"], "genotype": ["wt"] * 3,
        "timestamp": pd.to_datetime(["2026-05-01 09:00", "2026-05-01 17:00", "2026-05-01 09:00"]),
        "days": [0.0, 1 / 3, 0.0], "total_length_mm": [10.0, 14.0, 30.0], "length_change_mm": [np.nan, 4.0, np.nan],
        "growth_rate_mm_per_day": [np.nan, 12.0, np.nan], "length_gained_mm": np.nan, "length_lost_mm": np.nan})
    one = summarise_groups(growth[growth["series"] == "s1"], ["genotype"])
    assert one["n_series"].iloc[0] == 1 and np.isnan(one["total_length_mm_ci95_low"].iloc[0])
    both = summarise_groups(growth, ["genotype"])  # the day's last image stands for the series
    assert both["n_series"].iloc[0] == 2 and both["total_length_mm_mean"].iloc[0] == pytest.approx((14 + 30) / 2)


def test_the_summary_says_how_many_series_each_mean_is_over_and_keeps_lengths_above_zero():
    growth = pd.DataFrame({
        "series": ["a", "b", "c"], "genotype": "wt", "timestamp": pd.to_datetime(["2026-05-08"] * 3),
        "days": 7.0, "total_length_mm": [5.0, 60.0, 20.0], "length_change_mm": [1.0, 2.0, -3.0],
        "growth_rate_mm_per_day": [1 / 7, 2 / 7, -3 / 7],
        "length_gained_mm": [0.5, 40.0, np.nan], "length_lost_mm": [0.0, 1.0, np.nan]})  # c: registration failed
    row = summarise_groups(growth, ["genotype"]).iloc[0]
    assert row["n_series"] == 3 and row["total_length_mm_n"] == 3 and row["length_gained_mm_n"] == 2
    assert row["length_gained_mm_mean"] == pytest.approx(20.25)
    # Two series 0.5 and 40 mm apart: the t interval reaches far below zero, where no length lies.
    assert row["length_gained_mm_ci95_low"] == 0 and row["length_gained_mm_ci95_high"] > 200


def test_a_retake_hours_later_does_not_skew_the_days_rate_and_production(rng):
    # A week of growth (10 -> 24 mm), then a retake 8 h later reading 23 mm: the series' rate for
    # that day is the day's change over the time since the image before, not the mean of 2 and -3.
    mask = roots()
    frames = pd.DataFrame({"series": "s1", "image_id": list("abc"), "total_length_mm": [10.0, 24.0, 23.0],
                           "timestamp": pd.to_datetime(["2026-05-01 09:00", "2026-05-08 09:00",
                                                        "2026-05-08 17:00"])})
    growth, _ = track_series(frames, lambda i: mask, lambda i: mask.astype(np.float32), 0.05)
    assert growth["growth_rate_mm_per_day"].tolist()[1:] == pytest.approx([2.0, -3.0])
    growth["length_gained_mm"] = [np.nan, 14.0, 0.5]
    day = summarise_groups(growth.assign(genotype="wt"), ["genotype"]).set_index("imaging_round").loc["2026-05-08"]
    assert day["growth_rate_mm_per_day_mean"] == pytest.approx(13.0 / (7 + 1 / 3))
    assert day["length_gained_mm_mean"] == pytest.approx(14.5)
    assert day["total_length_mm_mean"] == 23.0


def test_group_by_takes_metadata_only_and_a_misspelt_column_is_refused(tmp_path):
    growth = pd.DataFrame({"series": ["s1"], "genotype": ["wt"], "tube": ["T1"], "note": ["first timepoint"],
                           "registration_ok": [pd.NA], "timestamp": pd.to_datetime(["2026-05-01"]),
                           "imaging_round": ["2026-05-01"]})  # one value per series so far, yet not a group
    config = {"track": {"group_by": []}, "series_fields": ["tube"], "timestamp_fields": ["date"]}
    assert default_group_by(growth.astype({"registration_ok": object}), config) == ["genotype"]
    growth.drop(columns=["note", "registration_ok", "imaging_round"]).to_parquet(tmp_path / "traits.parquet")
    with pytest.raises(ValueError, match="track.group_by names \\['genotpye'\\].*genotype"):
        run(tmp_path / "traits.parquet", tmp_path / "growth.parquet",
            {"track": {"group_by": ["genotpye"]}, "results_dir": str(tmp_path), "pixel_size_mm": 0.05})


def test_report_labels_and_numbers_read_as_written():
    from rootpipe.reporting.figures import group_label
    from rootpipe.reporting.page import number, table

    assert group_label(("mutA", np.nan)) == "mutA / (missing)" and group_label("WT") == "WT"
    assert [number(v) for v in (1234.5, 104.84, 26.876, 0.00606)] == ["1234.5", "104.8", "26.88", "0.00606"]
    page = table(pd.DataFrame({"n_new_tips": pd.array([None, 3], dtype="Int64"), "registration_ok": [None, True]}))
    assert "NA" not in page and "None" not in page and "<td>3</td>" in page


def test_series_metadata_leaves_out_the_time_fields():
    from rootpipe.tracking.series import series_metadata

    # One session so far: each series has one date, as a genotype has one value.
    traits = pd.DataFrame({"series": ["a", "b"], "date": ["2026-05-01", "2026-05-01"],
                           "genotype": ["WT", "mutA"], "total_length_mm": [1.0, 2.0]})
    assert list(series_metadata(traits, ["date"]).columns) == ["series", "genotype"]


def test_report_of_a_first_session_has_no_empty_rate_panels(tmp_path):
    from rootpipe.reporting.figures import series_figures

    masks = {"a": roots()}
    growth, _ = track_series(_series(masks, ["2026-05-01"]).assign(total_length_mm=[10.0]),
                             masks.__getitem__, lambda i: masks[i].astype(np.float32), 1.0)
    figs = series_figures(growth)
    for name in ("series_rate", "series_gained_lost"):
        texts = [t.get_text() for t in figs[name].axes[0].texts]
        assert texts and all("no interval yet" in t for t in texts)
    left, right = figs["series_length"].axes[0].get_xlim()
    assert right - left <= 7  # days around the one date, not years


def test_wide_intervals_do_not_squash_the_group_means():
    from rootpipe.reporting.figures import group_figures

    summary = pd.DataFrame({"genotype": "WT", "imaging_round": ["2026-05-01", "2026-05-08"], "n_series": 2,
                            "total_length_mm_mean": [10.0, 20.0], "total_length_mm_ci95_low": [-80.0, -260.0],
                            "total_length_mm_ci95_high": [100.0, 300.0]})  # t interval of two series
    for q in ("growth_rate_mm_per_day", "length_gained_mm", "length_lost_mm"):
        summary[[f"{q}_mean", f"{q}_ci95_low", f"{q}_ci95_high"]] = np.nan
    series = pd.DataFrame({"genotype": "WT", "imaging_round": ["2026-05-01", "2026-05-01", "2026-05-08", "2026-05-08"],
                           "total_length_mm": [8.0, 12.0, 16.0, 24.0], "growth_rate_mm_per_day": np.nan,
                           "length_gained_mm": np.nan, "length_lost_mm": np.nan})
    figs = group_figures(series, summary, ["genotype"])
    bottom, top = figs["group_total_length_mm"].axes[0].get_ylim()
    assert bottom == 0 and 24 < top <= 2.5 * 20 * 1.05  # every series' point shows, the bars run off


def _segment_attrs(sha="ab" * 32, threshold=0.5):
    return {"version": "0.1.0", "settings": {"method": "unet", "checkpoint": None, "threshold": threshold,
                                             "min_object_area_px": 60, "tile_px": 512, "overlap_px": 64},
            "resolved": {"batch_tiles": 1, "precision": "fp32", "device": "cpu"},
            "model": {"file": "default.safetensors", "sha256": sha, "architecture": "Unet",
                      "encoder": "mobilenet_v2", "trained_on": "synthetic campaigns", "validation_f1": 0.97}}


def test_methods_name_the_model_and_settings_behind_the_numbers():
    from rootpipe.stages.report import methods

    config = {"pixel_size_mm": 0.02, "traits": {"spur_factor": 2.0}, "track": {"registration": "rigid",
                                                                               "tolerance_px": 5}}
    text, table = methods([_segment_attrs(), _segment_attrs()], config)
    values = dict(zip(table["setting"], table["value"]))
    assert values["model SHA-256"] == "ab" * 32 and values["root probability threshold"] == "0.5"
    assert values["pixel size (mm)"] == "0.02" and values["track: registration"] == "rigid"
    assert "mobilenet_v2" in text and "abababababab" in text and "0.02 mm per pixel" in text
    assert "(rigid)" in text and "within 5 px" in text
    assert not table["value"].str.contains("WARNING").any()
    # batches made with another model or threshold are called out, not hidden behind the first
    _, mixed = methods([_segment_attrs(), _segment_attrs(sha="cd" * 32)], config)
    assert mixed["value"].str.contains("WARNING: the 2 batches were segmented with 2 different").any()
    # a model trained at another scale is called out
    other_scale = _segment_attrs()
    other_scale["model"]["pixel_size_mm"] = 0.1
    _, table = methods([other_scale], config)
    assert table["value"].str.contains("trained on images of 0.1 mm per pixel and this campaign's are 0.02").any()
    # stores written before the model was recorded say so rather than guess
    old = _segment_attrs()
    del old["model"], old["version"]
    _, table = methods([old], config)
    values = dict(zip(table["setting"], table["value"]))
    assert "not recorded" in values["model"] and "not recorded" in values["segmented with rootpipe"]


@pytest.mark.parametrize("width", [2, 3, 5])
@pytest.mark.parametrize("moved", [0, 1, 2])
def test_a_thin_root_that_moved_a_pixel_counts_only_its_new_tip(width, moved):
    before, after = np.zeros((300, 200), np.uint8), np.zeros((300, 200), np.uint8)
    cv2.line(before, (100, 20), (100, 220), 1, width)
    cv2.line(after, (100 + moved, 20), (100 + moved, 228), 1, width)  # 8 px longer, within the tolerance
    gained, lost = length_change(before, after, translation(0, 0), tolerance_px=3)
    assert 6 <= gained <= 12 and lost == 0  # not its whole 200 px


def _camera_moved(shift_x):
    """Two frames of one unchanged scene, the camera moved ``shift_x`` px, and their grey images."""
    scene = np.zeros((200, 340), np.uint8)
    cv2.line(scene, (10, 40), (200, 60), 1, 4)  # crosses the second frame's left edge
    cv2.line(scene, (150, 100), (260, 180), 1, 4)
    cv2.line(scene, (300, 30), (310, 170), 1, 4)  # only the second frame shows it
    texture = cv2.GaussianBlur(np.random.default_rng(0).random((200, 340)).astype(np.float32), (0, 0), 3)
    cut = {"a": np.s_[:, 0:240], "b": np.s_[:, shift_x:240 + shift_x]}
    masks = {k: np.ascontiguousarray(scene[c]) for k, c in cut.items()}
    grey = {k: texture[c] + scene[c] for k, c in cut.items()}
    frames = pd.DataFrame({"series": "s", "image_id": ["a", "b"], "total_length_mm": 1.0,
                           "timestamp": pd.to_datetime(["2026-05-01", "2026-05-08"])})
    return frames, masks, lambda i: grey[i] - cv2.GaussianBlur(grey[i], (0, 0), 15)


def test_a_camera_shift_makes_no_new_tips_and_no_elongation():
    frames, masks, grey = _camera_moved(80)
    growth, per_root = track_series(frames, masks.__getitem__, grey, 0.05)
    assert growth["shift_x_px"].iloc[1] == pytest.approx(-80, abs=1) and growth["registration_ok"].iloc[1]
    assert growth["n_new_tips"].iloc[1] == 0 and growth["length_gained_mm"].iloc[1] == 0
    again = per_root[per_root["timepoint"] == 2].dropna(subset=["elongation_rate_mm_per_day"])
    assert len(again) == 2  # both roots seen twice, one of them cut by the frame edge
    assert again["elongation_rate_mm_per_day"].abs().max() < 0.01


def test_a_young_lateral_keeps_its_id_as_it_grows():
    def with_lateral(length):
        mask = roots()
        if length:
            cv2.line(mask, (50, 100), (50 + length, 100 + length // 6), 1, 3)
        return mask

    masks = {"a": with_lateral(0), "b": with_lateral(10), "c": with_lateral(60)}
    frames = pd.DataFrame({"series": "s", "image_id": list(masks), "total_length_mm": 1.0,
                           "timestamp": pd.date_range("2026-05-01", periods=3, freq="7D")})
    growth, per_root = track_series(frames, masks.__getitem__,
                                    lambda i: cv2.GaussianBlur(masks[i].astype(np.float32), (0, 0), 2), 1.0)
    assert growth["n_new_tips"].tolist()[1:] == [1, 0]  # new at b, the same lateral at c
    assert per_root.groupby("timepoint")["root_id"].nunique().tolist() == [2, 3, 3]


def test_a_rotation_about_the_centre_is_no_shift():
    image = cv2.GaussianBlur(np.random.default_rng(1).random((600, 800)).astype(np.float32), (0, 0), 4)
    turned = cv2.warpAffine(image, cv2.getRotationMatrix2D((399.5, 299.5), 3.0, 1.0), (800, 600))
    r = register(image, turned, "rigid")
    assert r["quality"] > 0.9 and abs(r["shift_y_px"]) < 1 and abs(r["shift_x_px"]) < 1  # was (18, -13)


def test_group_by_a_time_field_is_refused_before_tracking(tmp_path):
    traits = pd.DataFrame({"series": ["s1", "s1"], "genotype": ["wt", "wt"], "date": ["2026-05-01", "2026-05-08"],
                           "timestamp": pd.to_datetime(["2026-05-01", "2026-05-08"])})
    traits.to_parquet(tmp_path / "traits.parquet")
    with pytest.raises(ValueError, match=r"\['date'\], which is not a column with one value per series"):
        run(tmp_path / "traits.parquet", tmp_path / "growth.parquet",
            {"track": {"group_by": ["date"]}, "results_dir": str(tmp_path), "pixel_size_mm": 0.05,
             "timestamp_fields": ["date"]})


def _weekly(series_days):
    """Growth rows of series imaged weekly from their own first day: {series: first day}."""
    rows = []
    for series, first in series_days.items():
        for week in range(3):
            rows.append({"series": series, "genotype": "wt",
                         "timestamp": pd.Timestamp(first) + pd.Timedelta(weeks=week),
                         "days": 7.0 * week, "total_length_mm": 10.0 + 7 * week,
                         "length_change_mm": np.nan if week == 0 else 7.0,
                         "growth_rate_mm_per_day": np.nan if week == 0 else 1.0,
                         "length_gained_mm": np.nan, "length_lost_mm": np.nan})
    return pd.DataFrame(rows)


def test_tubes_imaged_on_mondays_and_tuesdays_share_each_weeks_imaging_round(tmp_path):
    from rootpipe.stages.report import render

    growth = _weekly({"A": "2026-05-04", "B": "2026-05-05"})  # a Monday and a Tuesday
    summary = summarise_groups(growth, ["genotype"])
    assert list(summary["imaging_round"]) == ["2026-05-04", "2026-05-11", "2026-05-18"]
    assert (summary["n_series"] == 2).all() and summary["total_length_mm_mean"].tolist() == [10.0, 17.0, 24.0]
    manifest = pd.DataFrame({"status": ["accepted"], "series": ["A"], "session": ["2026-05-04"], "batch": ["b"],
                             "timestamp": pd.to_datetime(["2026-05-04"]), "path": ["x"], "reason": [None]})
    page = render(manifest, pd.DataFrame(columns=["image_id", "series", "timestamp"]),
                  growth.assign(image_id="i", shift_y_px=np.nan, shift_x_px=np.nan, registration_quality=np.nan,
                                registration_ok=pd.NA, note=""), tmp_path, 0)
    assert "Series missing an imaging round" not in page
    daily = _weekly({"A": "2026-05-04"}).assign(timestamp=pd.date_range("2026-05-04", periods=3), days=[0, 1, 2])
    assert list(summarise_groups(daily, ["genotype"])["imaging_round"]) == ["2026-05-04", "2026-05-05", "2026-05-06"]


def test_report_shows_names_as_written_and_methods_tell_a_version_from_a_setting(tmp_path):
    from rootpipe.reporting.figures import png, series_figures
    from rootpipe.stages.report import methods

    growth = _weekly({"a$^$b": "2026-05-04", "_ctrl": "2026-05-04"})
    figure = series_figures(growth)["series_length"]
    # '$^$' was parsed as maths (and crashed the report), '_ctrl' left out of the legend
    assert sorted(t.get_text() for t in figure.axes[0].get_legend().get_texts()) == [r"a\$^\$b", "\u200b_ctrl"]
    assert png(figure).startswith(b"\x89PNG")
    upgraded = _segment_attrs()
    upgraded["version"] = "0.2.0"
    _, table = methods([_segment_attrs(), upgraded], {"pixel_size_mm": 0.05})
    values = dict(zip(table["setting"], table["value"]))
    assert "WARNING" not in " ".join(table["value"]) and values["segmented with rootpipe"] == "0.1.0, 0.2.0"
    _, table = methods([_segment_attrs(), _segment_attrs(threshold=0.7)], {"pixel_size_mm": 0.05})
    assert table["value"].str.contains(r"\(differing: threshold\)").any()


def test_methods_give_the_threshold_the_checkpoint_chose_where_the_config_left_it_null():
    from rootpipe.stages.report import methods

    attrs = _segment_attrs(threshold=None)
    attrs["resolved"]["threshold"] = 0.8  # what the segment stage used: the checkpoint's own
    text, table = methods([attrs], {"pixel_size_mm": 0.05})
    assert dict(zip(table["setting"], table["value"]))["root probability threshold"] == "0.8"
    assert "probability above 0.8 were classed as root" in text


def test_an_imaging_round_never_joins_two_sessions_of_one_series():
    from rootpipe.tracking.series import imaging_rounds

    # The peanut campaign: some windows are imaged at every session, others at every third. Once
    # 2016-07-14 arrived, the median interval rose and half of it swallowed 06-01 into 05-26's round,
    # rewriting the summary of sessions already reported.
    days = ["2016-05-26", "2016-06-01", "2016-06-08", "2016-06-16", "2016-06-30"]
    rows = [(s, d) for s in ("L01", "L02") for d in days] + [(s, d) for s in ("L03", "L04", "L05", "L06")
                                                              for d in ("2016-05-26", "2016-06-16")]
    growth = pd.DataFrame(rows, columns=["series", "timestamp"]).astype({"timestamp": "datetime64[ns]"})
    before = imaging_rounds(growth)
    assert before.nunique() == 5
    later = pd.DataFrame({"series": ["L01", "L02", "L03", "L04", "L05", "L06"],
                          "timestamp": pd.to_datetime(["2016-07-14"] * 6)})
    after = imaging_rounds(pd.concat([growth, later], ignore_index=True))
    assert after.nunique() == 6 and after.iloc[:len(growth)].tolist() == before.tolist()


def test_a_snapshot_campaigns_report_leaves_out_growth_and_its_gallery_shows_the_extremes(tmp_path):
    from rootpipe.stages.report import gallery_sample, methods, render

    traits = pd.DataFrame({"series": [f"p{i:02d}" for i in range(20)], "image_id": [f"i{i}" for i in range(20)],
                           "timestamp": pd.Timestamp("2024-06-20"), "total_length_mm": np.arange(20.0) + 10})
    traits.loc[17, "total_length_mm"] = 400.0  # a frame taken for roots: the image to look at
    picked = gallery_sample(traits, 4)
    assert {"i17", "i0"} <= set(picked["image_id"]) and len(picked) == 4
    growth = traits[["series", "image_id", "timestamp", "total_length_mm"]].assign(
        registration_ok=pd.NA, note="", shift_y_px=np.nan, shift_x_px=np.nan, registration_quality=np.nan)
    manifest = traits.assign(status="accepted", reason=None, session="2024-06-20", batch="b", path="x")
    page = render(manifest, traits.iloc[:0], growth, tmp_path, 0)
    assert "growth needs a second timepoint" in page
    assert "Registration flags" not in page and "Growth table" not in page
    attrs = [{"settings": {"method": "classical", "threshold": 0.5, "min_object_area_px": 60}}]
    assert "registered" not in methods(attrs, {"pixel_size_mm": 0.1}, timecourse=False)[0]
    assert "registered" in methods(attrs, {"pixel_size_mm": 0.1})[0]


def test_report_date_axes_span_the_campaign_with_two_timepoints():
    """Two timepoints: the rate and gained/lost panels hold one point each, and still show days, not years."""
    import matplotlib.dates as mdates

    from rootpipe.reporting.figures import group_figures, series_figures
    from rootpipe.tracking.series import summarise_groups

    masks = {"a": roots(), "b": translate(roots(extra=True), 3, 2)}
    growth, _ = track_series(_series(masks, ["2026-05-01", "2026-05-08"]), masks.__getitem__,
                             lambda i: masks[i].astype(np.float32), 1.0)
    assert growth["growth_rate_mm_per_day"].notna().sum() == 1
    growth["imaging_round"] = growth["timestamp"].dt.strftime("%Y-%m-%d")
    figs = {**series_figures(growth), **group_figures(growth, summarise_groups(growth, []), [])}
    assert len(figs) == 7
    for ax in (f.axes[0] for f in figs.values()):
        low, high = (mdates.num2date(v).replace(tzinfo=None) for v in ax.get_xlim())
        assert low <= pd.Timestamp("2026-05-01") and high >= pd.Timestamp("2026-05-08")
        assert (high - low).days <= 14
