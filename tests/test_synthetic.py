"""Tests of the synthetic campaign generator (rootpipe.synthetic).

Campaigns here are small (few series, reduced frames) so the file runs in a
few seconds; the properties checked do not depend on the frame size.
"""
import re

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage.morphology import skeletonize
from skimage.registration import phase_cross_correlation

from rootpipe import synthetic
from rootpipe.synthetic import FILENAME_PATTERN, MARGIN_PX, MAX_SHIFT_PX, make_campaign

SIZE = (384, 512)


def _read_mask(path):
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert mask is not None, path
    return mask


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """A 4-series x 3-timepoint campaign: (folder, lengths table)."""
    out = tmp_path_factory.mktemp("campaign")
    lengths = make_campaign(out, n_series=4, n_timepoints=3, image_size=SIZE, seed=3)
    return out, lengths


def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    kwargs = dict(n_series=2, n_timepoints=2, image_size=(256, 320))
    make_campaign(tmp_path / "a", seed=7, **kwargs)
    make_campaign(tmp_path / "b", seed=7, **kwargs)
    make_campaign(tmp_path / "c", seed=8, **kwargs)
    names = sorted(p.name for p in (tmp_path / "a" / "images").iterdir())
    assert len(names) == 4
    for sub in ("images", "truth"):
        for name in names:
            a = (tmp_path / "a" / sub / name).read_bytes()
            assert a == (tmp_path / "b" / sub / name).read_bytes()
            assert a != (tmp_path / "c" / sub / name).read_bytes()
    for table in ("lengths.csv", "roots.csv"):
        assert ((tmp_path / "a" / "truth" / table).read_bytes()
                == (tmp_path / "b" / "truth" / table).read_bytes())


def test_files_and_tables(campaign):
    out, lengths = campaign
    images = sorted(p.name for p in (out / "images").glob("*.png"))
    masks = sorted(p.name for p in (out / "truth").glob("*.png"))
    assert len(images) == 4 * 3 and images == masks
    assert sorted(lengths["file"]) == images
    for name in images:
        m = re.fullmatch(FILENAME_PATTERN + r"\.png", name)
        assert m, name
        row = lengths.set_index("file").loc[name]
        assert (row["tube"], row["window"], row["date"]) == (m["tube"], m["window"], m["date"])
        assert row["series"] == f"{m['tube']}_{m['window']}"
    assert lengths.groupby("series")["date"].apply(list).map(
        lambda d: d == ["2026-05-01", "2026-05-08", "2026-05-15"]).all()
    assert lengths.equals(pd.read_csv(out / "truth" / "lengths.csv"))
    assert np.allclose(lengths["true_length_mm"], lengths["true_length_px"] * 0.05)

    meta = pd.read_csv(out / "metadata.csv")
    assert list(meta.columns) == ["tube", "window", "genotype", "treatment"]
    assert len(meta) == 4 and not meta.duplicated(["tube", "window"]).any()
    assert set(meta["tube"] + "_" + meta["window"]) == set(lengths["series"])
    assert set(meta["genotype"]) == {"WT", "mutA"} and set(meta["treatment"]) == {"control", "drought"}

    image = cv2.imread(str(out / "images" / images[0]), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint8 and image.shape == (*SIZE, 3)
    mask = _read_mask(out / "truth" / images[0])
    assert mask.dtype == np.uint8 and mask.shape == SIZE
    assert set(np.unique(mask)) <= {0, 255}


def test_roots_table_adds_up_to_lengths(campaign):
    out, lengths = campaign
    roots = pd.read_csv(out / "truth" / "roots.csv")
    assert list(roots.columns) == ["file", "series", "date", "root_id", "parent_id", "length_px",
                                   "centreline_length_px"]
    total = roots.groupby("file")["length_px"].sum()
    assert np.allclose(total[lengths["file"]].to_numpy(), lengths["true_length_px"], rtol=1e-9)
    assert (roots["length_px"] >= 0).all()
    # Every series has one or more primaries and some laterals.
    per_series = roots.drop_duplicates(["series", "root_id"])
    assert (per_series.groupby("series")["parent_id"].apply(lambda p: (p < 0).sum()) >= 1).all()
    assert (per_series.groupby("series")["parent_id"].apply(lambda p: (p >= 0).sum()) >= 3).all()


def test_roots_grow(campaign):
    _, lengths = campaign
    for series, g in lengths.sort_values("date").groupby("series"):
        px = g["true_length_px"].to_numpy()
        assert (np.diff(px) >= 0).all(), series
        assert px[-1] > 1.5 * px[0] > 0, series


def test_laterals_grow_only_from_existing_parent():
    shape, duration = (512, 640), 21.0
    for series in range(3):
        roots = synthetic.make_root_system(11, series, shape, duration)
        times = np.linspace(-10, duration, 40)
        visible = np.array([synthetic.visible_lengths(roots, t) for t in times])
        for k, root in enumerate(roots):
            if root.parent_id < 0:
                continue
            parent = roots[root.parent_id]
            # Branch point: the parent's vertex where the lateral starts.
            i = np.argmin(np.hypot(*(parent.xy - root.xy[0]).T))
            assert np.hypot(*(parent.xy[i] - root.xy[0])) < 1e-9
            grown = visible[:, k] > 0
            assert grown.any()
            assert (visible[grown, root.parent_id] >= parent.s[i]).all()


def test_some_roots_disappear(tmp_path):
    lengths = make_campaign(tmp_path, n_series=3, n_timepoints=4, image_size=(256, 320),
                            seed=5, p_disappear=0.5)
    roots = pd.read_csv(tmp_path / "truth" / "roots.csv").sort_values("date")
    dropped = 0
    for _, g in roots.groupby(["series", "root_id"]):
        seen = np.maximum.accumulate(g["length_px"].to_numpy() > 0)
        dropped += int((seen & (g["length_px"].to_numpy() == 0)).any())
    assert dropped >= 1
    # A vanished root is gone from the mask too: the truth still matches the table.
    assert np.allclose(roots.groupby("file")["length_px"].sum()[lengths["file"]].to_numpy(),
                       lengths["true_length_px"])


def test_mask_is_consistent_with_true_length(campaign):
    out, lengths = campaign
    for row in lengths.itertuples():
        mask = _read_mask(out / "truth" / row.file) > 0
        # Short roots at the first visit are dominated by their round caps.
        if row.true_length_px < 400:
            continue
        assert 2.0 < mask.sum() / row.true_length_px < 15.0, row.file
        skeleton = skeletonize(mask).sum()
        assert abs(skeleton - row.true_length_px) < 0.25 * row.true_length_px, row.file


def test_roots_stay_inside_the_frame(campaign):
    out, lengths = campaign
    band = MARGIN_PX - MAX_SHIFT_PX - 2
    for name in lengths["file"]:
        mask = _read_mask(out / "truth" / name) > 0
        inner = mask[band:-band, band:-band]
        assert mask.sum() == inner.sum() > 0, name
    assert lengths[["shift_y_px", "shift_x_px"]].abs().to_numpy().max() <= MAX_SHIFT_PX


def test_camera_shift_is_recorded(campaign):
    out, lengths = campaign
    moved = 0
    for series, g in lengths.sort_values("date").groupby("series"):
        g = g.reset_index(drop=True)
        assert (g.loc[0, "shift_y_px"], g.loc[0, "shift_x_px"]) == (0, 0)
        for k in (1, 2):
            ref = _read_mask(out / "truth" / g.loc[k - 1, "file"]).astype(float)
            mov = _read_mask(out / "truth" / g.loc[k, "file"]).astype(float)
            found, _, _ = phase_cross_correlation(mov, ref)
            want = (g.loc[k, "shift_y_px"] - g.loc[k - 1, "shift_y_px"],
                    g.loc[k, "shift_x_px"] - g.loc[k - 1, "shift_x_px"])
            assert np.abs(np.asarray(found) - want).max() <= 1, (series, k, found, want)
            moved += want != (0, 0)
    assert moved >= 4  # the check above is not vacuous


def test_roots_are_lighter_than_soil(campaign):
    out, lengths = campaign
    for name in lengths["file"]:
        grey = cv2.imread(str(out / "images" / name), cv2.IMREAD_GRAYSCALE).astype(float)
        mask = _read_mask(out / "truth" / name) > 0
        assert grey[mask].mean() > grey[~mask].mean() + 50, name


def test_soil_changes_a_little_between_visits(campaign):
    out, lengths = campaign
    g = lengths[lengths["series"] == lengths["series"].iloc[0]].sort_values("date")
    a, b = (cv2.imread(str(out / "images" / f), cv2.IMREAD_GRAYSCALE).astype(float)
            for f in g["file"].iloc[:2])
    ma, mb = (_read_mask(out / "truth" / f) > 0 for f in g["file"].iloc[:2])
    dy, dx = g[["shift_y_px", "shift_x_px"]].iloc[1]
    # Undo the camera shift and compare soil only, away from the borders.
    b_back = np.roll(b, (-dy, -dx), axis=(0, 1))
    soil = ~(ma | np.roll(mb, (-dy, -dx), axis=(0, 1)))
    soil[:MARGIN_PX] = soil[-MARGIN_PX:] = False
    soil[:, :MARGIN_PX] = soil[:, -MARGIN_PX:] = False
    r = np.corrcoef(a[soil], b_back[soil])[0, 1]
    assert 0.5 < r < 0.995  # the same soil, but a fresh picture of it


@pytest.mark.parametrize("bad", [dict(n_series=0), dict(image_size=(100, 100)), dict(interval_days=0),
                                 dict(interval_days=1.5), dict(p_disappear=1.5), dict(seed=-1)])
def test_bad_arguments_are_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        make_campaign(tmp_path / "demo", **bad)
    assert not (tmp_path / "demo").exists()  # refused before any folder is made


def test_a_campaign_is_not_written_over_another(tmp_path):
    small = dict(image_size=(192, 256), seed=4)
    first = make_campaign(tmp_path, n_series=2, n_timepoints=2, **small)
    again = make_campaign(tmp_path, n_series=2, n_timepoints=2, **small)  # the same one: written again
    pd.testing.assert_frame_equal(first, again)
    with pytest.raises(ValueError, match="already holds 4 files .* remove"):
        make_campaign(tmp_path, n_series=1, n_timepoints=2, **small)  # would leave 2 stale images among its 2
    assert len(list((tmp_path / "images").glob("*.png"))) == 4
    stamp = (tmp_path / "images" / first["file"][0]).stat().st_mtime_ns
    reused = make_campaign(tmp_path, n_series=2, n_timepoints=2, reuse=True, **small)
    pd.testing.assert_frame_equal(first, reused)
    assert (tmp_path / "images" / first["file"][0]).stat().st_mtime_ns == stamp  # not written again
