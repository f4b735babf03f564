"""Growth tracking on real minirhizotron time series: annotated peanut windows (PlantRootSeg, tube T064).

Library calls only (no Snakemake): the annotation masks go through
:func:`rootpipe.tracking.series.track_series`, registered on themselves, lengths from
:func:`rootpipe.traits.measure` (1 mm/px: the pixel size is not published).

These windows are re-imaged, but not in the same place: the camera lands up to
~130 px (a quarter of the 552 px frame height) away from where it was the session
before, so ``max_shift_px`` is set to 150 here (the shipped 50 flags most
intervals of this tube). Registering the annotation masks (straight strokes,
re-drawn each session) works on some windows and not on others; see
``docs/growth.md``. The two windows below are ones where it works, and the test
pins that it keeps finding the camera's real motion there, which is checked
against a phase correlation of the grey images themselves. The last test segments the
validation windows with the shipped model, for the report's note on a round that loses length.
"""
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rootpipe.tracking.register import register
from rootpipe.tracking.series import track_series
from rootpipe.traits import measure

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PEANUT = DATA / "plantrootseg" / "peanut"
WINDOWS = ["T064_L063", "T064_L065"]  # 6 sessions each, 2016-05-26 to 2016-07-14
MAX_SHIFT_PX = 150.0

pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(not PEANUT.is_dir(), reason=f"{DATA} (shared real data) is absent"),
]


def annotation(path: Path) -> np.ndarray:
    """``mask_png_rgba_ch0``: root where channel 0 is 255."""
    a = np.asarray(Image.open(path))
    return ((a[..., 0] if a.ndim == 3 else a) == 255).astype(np.uint8)


def gray(path: Path) -> np.ndarray:
    return cv2.cvtColor(np.asarray(Image.open(path).convert("RGB")), cv2.COLOR_RGB2GRAY).astype(np.float32)


@pytest.fixture(scope="module")
def windows():
    pairs = pd.read_csv(DATA / "pairs.csv")
    pairs = pairs[(pairs["dataset"] == "plantrootseg_peanut") & pairs["series"].isin(WINDOWS)]
    # Time from the file name (..._T064_L063_2016.06.30_153926_...), as the workflow's pattern reads it.
    stamp = pairs["image"].str.extract(r"_(\d{4}\.\d{2}\.\d{2})_(\d{6})_")
    frames = pd.DataFrame({
        "series": pairs["series"].to_numpy(), "image_id": pairs["image"].map(lambda p: Path(p).stem).to_numpy(),
        "timestamp": pd.to_datetime(stamp[0] + " " + stamp[1], format="%Y.%m.%d %H%M%S").to_numpy(),
        "image": pairs["image"].to_numpy(), "annotation": pairs["annotation"].to_numpy()})
    masks = {r.image_id: annotation(DATA / r.annotation) for r in frames.itertuples()}
    frames["total_length_mm"] = [measure(masks[i], 1.0)["total_length_mm"] for i in frames["image_id"]]
    out = {}
    for series, group in frames.groupby("series"):
        growth, roots = track_series(group, masks.__getitem__, lambda i: masks[i].astype(np.float32), 1.0,
                                     max_shift_px=MAX_SHIFT_PX)
        out[series] = (group.sort_values("timestamp", ignore_index=True), growth, roots)
    return out


def test_the_windows_are_time_series(windows):
    assert set(windows) == set(WINDOWS)
    for frames, _, _ in windows.values():
        assert frames["timestamp"].dt.normalize().nunique() >= 3


def test_one_row_per_image_in_time_order(windows):
    for frames, growth, _ in windows.values():
        assert len(growth) == len(frames)
        assert list(growth["image_id"]) == list(frames["image_id"])
        assert list(growth["timepoint"]) == list(range(1, len(frames) + 1))
        assert growth["days"].is_monotonic_increasing and growth["days"].iloc[0] == 0
        assert np.allclose(growth["total_length_mm"], frames["total_length_mm"])
        assert growth["total_length_mm"].gt(0).all()  # every session has annotated roots


def test_gained_and_lost_are_non_negative_and_measured_only_when_registered(windows):
    for _, growth, _ in windows.values():
        later = growth.iloc[1:]
        ok = later["registration_ok"].astype(bool).to_numpy()
        for column in ("length_gained_mm", "length_lost_mm"):
            assert later.loc[ok, column].notna().all() and (later.loc[ok, column] >= 0).all()
            assert later.loc[~ok, column].isna().all()
        assert later.loc[~ok, "note"].str.contains("registration flagged").all()
        assert later["length_change_mm"].notna().all()  # net change needs no registration


def test_registration_is_ok_for_most_intervals(windows):
    ok = sum(int(g["registration_ok"].iloc[1:].astype(bool).sum()) for _, g, _ in windows.values())
    n = sum(len(g) - 1 for _, g, _ in windows.values())
    assert ok >= 0.6 * n, f"registration_ok for {ok} of {n} intervals"


def test_accepted_shifts_are_the_cameras_real_motion(windows):
    """Where the grey images register confidently, the mask registration lands within 20 px of them.

    The shifts themselves are not small (tens of px, up to ~110 px here); a wrong
    registration of these sparse masks is typically off by 50-270 px.
    """
    checked = 0
    for frames, growth, _ in windows.values():
        path = dict(zip(frames["image_id"], frames["image"]))
        for k in range(1, len(growth)):
            row = growth.iloc[k]
            if not row["registration_ok"]:
                continue
            assert abs(row["shift_y_px"]) <= MAX_SHIFT_PX and abs(row["shift_x_px"]) <= MAX_SHIFT_PX
            ref = register(gray(DATA / path[growth["image_id"].iloc[k - 1]]), gray(DATA / path[row["image_id"]]))
            if ref["quality"] < 0.3:
                continue
            checked += 1
            off = np.hypot(row["shift_y_px"] - ref["shift_y_px"], row["shift_x_px"] - ref["shift_x_px"])
            assert off < 20, f"{row['image_id']}: mask shift {row['shift_y_px']:.1f}, {row['shift_x_px']:.1f} px, " \
                             f"image shift {ref['shift_y_px']:.1f}, {ref['shift_x_px']:.1f} px"
    assert checked >= 4


def test_roots_table_covers_every_session(windows):
    for frames, _, roots in windows.values():
        assert set(roots["image_id"]) == set(frames["image_id"])
        assert (roots["length_mm"] > 0).all()
        assert (roots["first_seen"] <= roots["last_seen"]).all()


def test_the_grey_session_is_noted_from_the_models_masks_and_not_from_the_annotations():
    """The last session (2016-07-14) is grey and blurred: the shipped model misses most of its roots,
    so most validation windows seem to lose length at once, which the report notes; the annotation
    masks show no such round."""
    from rootpipe import config as cfg
    from rootpipe.learn.annotations import load_pairs, read_pairs
    from rootpipe.segmentation.segmenter import Segmenter, to_mask
    from rootpipe.stages.report import rounds_with_losses
    from rootpipe.tracking.series import imaging_rounds

    pairs = read_pairs(DATA / "pairs.csv", "val", "plantrootseg_peanut")
    settings = cfg.load({})["segment"]
    segmenter = Segmenter(settings, 2)
    lengths = {"predicted": [], "annotated": []}
    for rgb, labels in load_pairs(pairs):
        mask = to_mask(segmenter(rgb), segmenter.settings["threshold"], settings["min_object_area_px"])
        lengths["predicted"].append(measure(mask.astype(bool))["total_length_mm"])
        lengths["annotated"].append(measure(labels == 1)["total_length_mm"])
    flagged = {}
    for side, values in lengths.items():
        growth = pd.DataFrame({"series": pairs["series"].to_numpy(), "timestamp": pd.to_datetime(pairs["date"]),
                               "total_length_mm": values}).sort_values(["series", "timestamp"])
        growth["length_change_mm"] = growth.groupby("series")["total_length_mm"].diff()
        flagged[side] = rounds_with_losses(growth, imaging_rounds(growth))["imaging_round"].tolist()
    assert flagged == {"predicted": ["2016-07-14"], "annotated": []}
