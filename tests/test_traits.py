"""Accuracy and contract tests for rootpipe.traits.

Geometry is rendered here, without anti-aliasing:

- *capsule*: the pixels whose centre lies within w/2 of a segment, i.e. a
  root with rounded tips. Its true length, tip to tip along the axis, is
  segment length + w (traits measures roots to their apex, not to the
  centre of the tip's rounding).
- *flat bar*: the pixels within w/2 of the segment's line and between its
  end points (square ends, as where a root leaves the image): length L.

Diameters are compared with the *digital* width of the band (root pixels
per unit length far from the ends), which for an oblique band differs from
the nominal w by up to ~0.6 px at 45 degrees because pixel centres lie on
diagonals 0.71 px apart. For axis-aligned bands both are w.
"""

import numpy as np
import pandas as pd
import pytest

from rootpipe import traits
from rootpipe.skeleton import skeleton_graph

CENTRE = np.array([200.3, 200.7])  # off-grid so widths render exactly


def _segment_distance(shape, p0, p1):
    """Distance of each pixel centre from segment p0-p1, and the position
    along it (0 at p0, 1 at p1, unclamped)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    t = ((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / (d @ d)
    tc = np.clip(t, 0, 1)
    dist = np.hypot(yy - p0[0] - tc * d[0], xx - p0[1] - tc * d[1])
    perp = np.abs((yy - p0[0]) * d[1] - (xx - p0[1]) * d[0]) / np.sqrt(d @ d)
    return dist, perp, t


def capsule(shape, p0, p1, w):
    dist, _, _ = _segment_distance(shape, p0, p1)
    return dist <= w / 2


def flat_bar(shape, p0, p1, w):
    _, perp, t = _segment_distance(shape, p0, p1)
    return (perp <= w / 2) & (t >= 0) & (t <= 1)


def line_ends(angle_deg, length, centre=CENTRE):
    th = np.deg2rad(angle_deg)
    d = np.array([np.sin(th), np.cos(th)]) * length / 2
    return centre - d, centre + d


def digital_width(angle_deg, w, window=200.0, shape=(400, 400)):
    """Root pixels per unit length of the infinite band through CENTRE."""
    p0, p1 = line_ends(angle_deg, window)
    _, perp, t = _segment_distance(shape, p0, p1)
    return np.count_nonzero((perp <= w / 2) & (t >= 0) & (t <= 1)) / window


def draw(shape, segments, w):
    m = np.zeros(shape, bool)
    for p0, p1 in segments:
        m |= capsule(shape, p0, p1, w)
    return m


def arc(shape, centre, rho, a0, a1, w):
    """Capsule-ended circular arc of radius rho from angle a0 to a1 (rad)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    dy, dx = yy - centre[0], xx - centre[1]
    ang = np.arctan2(dy, dx)
    d = np.where((ang >= a0) & (ang <= a1), np.abs(np.hypot(dy, dx) - rho),
                 np.inf)
    for a in (a0, a1):
        d = np.minimum(d, np.hypot(yy - centre[0] - rho * np.sin(a),
                                   xx - centre[1] - rho * np.cos(a)))
    return d <= w / 2


ANGLES = range(0, 91, 5)


# --------------------------------------------------------------------------
# length
# --------------------------------------------------------------------------

@pytest.mark.parametrize("w", [1, 3, 5, 9, 15])
@pytest.mark.parametrize("ends", ["rounded", "flat"])
def test_straight_line_length(w, ends):
    L = 300.0
    errors = []
    for angle in ANGLES:
        p0, p1 = line_ends(angle, L)
        if ends == "rounded":
            m, true = capsule((400, 400), p0, p1, w), L + w
        else:
            m, true = flat_bar((400, 400), p0, p1, w), L
        got = traits.measure(m)["total_length_mm"]
        errors.append(abs(got - true) / true)
    errors = np.array(errors)
    assert errors.mean() <= 0.01, errors
    assert errors.max() <= 0.03, errors


@pytest.mark.parametrize("rho", [150, 250, 400])
@pytest.mark.parametrize("w", [1, 5, 15])
def test_arc_length(rho, w):
    a0 = 0.1
    a1 = a0 + 450.0 / rho  # 450 px of centre line
    c = (rho + 30.3, rho + 30.7)
    m = arc((2 * rho + 60, 2 * rho + 60), c, rho, a0, a1, w)
    true = rho * (a1 - a0) + w
    got = traits.measure(m)["total_length_mm"]
    assert got == pytest.approx(true, rel=0.03)


def test_thin_line_is_not_counted_in_pixels():
    # A 45-degree one-pixel line of n pixels is (n - 1) * sqrt(2) between
    # its end pixel centres (+ half a pixel at each free end), not n.
    m = np.zeros((120, 120), bool)
    idx = np.arange(10, 110)
    m[idx, idx] = True
    got = traits.measure(m)["total_length_mm"]
    assert got == pytest.approx(99 * np.sqrt(2) + 1, rel=0.01)


def test_image_border_cuts_root():
    # A bar running off the image is measured up to the image edge.
    m = np.zeros((100, 200), bool)
    m[40:49, :] = True
    r = traits.measure(m)
    assert r["total_length_mm"] == pytest.approx(200, abs=1)
    assert r["n_tips"] == 2
    # A root cut lengthwise by the edge: only what is in the image counts.
    m = np.zeros((100, 200), bool)
    m[0:7, 20:180] = True
    r = traits.measure(m)
    assert r["mean_diameter_mm"] == pytest.approx(7, abs=0.5)
    assert r["total_length_mm"] == pytest.approx(160, abs=1)


# --------------------------------------------------------------------------
# diameter, surface, volume
# --------------------------------------------------------------------------

@pytest.mark.parametrize("w", range(1, 16))
def test_diameter_axis_aligned_bars(w):
    for m in (np.zeros((60, 300), bool), np.zeros((300, 60), bool)):
        if m.shape[0] == 60:
            m[20:20 + w, 30:270] = True
        else:
            m[30:270, 20:20 + w] = True
        r = traits.measure(m)
        assert abs(r["mean_diameter_mm"] - w) <= 0.5
        assert abs(r["median_diameter_mm"] - w) <= 0.5


@pytest.mark.parametrize("w", [3, 4, 5, 6, 8, 9, 10, 15])
@pytest.mark.parametrize("angle", [10, 30, 45, 60, 80])
def test_diameter_oblique_bars(w, angle):
    p0, p1 = line_ends(angle, 300)
    m = capsule((400, 400), p0, p1, w)
    true = digital_width(angle, w)
    got = traits.measure(m)["mean_diameter_mm"]
    assert abs(got - true) <= 0.5
    assert abs(got - w) <= 0.7  # nominal width, digitisation included


@pytest.mark.parametrize("w", [4, 7, 12])
@pytest.mark.parametrize("angle", [0, 30, 45])
def test_surface_and_volume_of_bars(w, angle):
    L = 300.0
    p0, p1 = line_ends(angle, L)
    m = flat_bar((400, 400), p0, p1, w)
    r = traits.measure(m)
    radius = digital_width(angle, w) / 2  # w / 2 at 0 degrees
    assert r["volume_mm3"] == pytest.approx(np.pi * radius ** 2 * L, rel=0.05)
    assert r["surface_area_mm2"] == pytest.approx(2 * np.pi * radius * L,
                                                  rel=0.05)


def test_junction_does_not_inflate_max_diameter():
    m = draw((300, 300), [((50.3, 50.2), (50.3, 250.6)),
                          ((50.3, 150.2), (250.3, 150.2))], 9)
    r = traits.measure(m)
    assert r["max_diameter_mm"] <= 9 + 0.5


@pytest.mark.parametrize("w", [3, 6, 9])
@pytest.mark.parametrize("turn", [60, 90, 120])
def test_sharp_bend_does_not_inflate_max_diameter(w, turn):
    # At a bend the shortest chord through the corner runs from the inner
    # to the outer corner (1.2 w at a right angle, 2 w at 120 degrees).
    th = np.deg2rad(turn)
    a, b = np.array([200.3, 100.7]), np.array([200.3, 200.2])
    c = b + 100 * np.array([np.sin(th), np.cos(th)])
    r = traits.measure(draw((420, 420), [(a, b), (b, c)], w))
    assert w - 0.5 <= r["max_diameter_mm"] <= w + 0.5


def test_max_diameter_keeps_a_thick_stretch():
    # A stretch 10 px wide and 40 px long on a 4 px root is real, not a
    # bend artefact: the local median must not remove it.
    m = draw((200, 300), [((100.3, 20.2), (100.3, 280.6))], 4)
    m |= draw((200, 300), [((100.3, 130.2), (100.3, 170.6))], 10)
    r = traits.measure(m)
    assert 9.5 <= r["max_diameter_mm"] <= 10.5
    assert r["median_diameter_mm"] == pytest.approx(4, abs=0.3)


# --------------------------------------------------------------------------
# topology
# --------------------------------------------------------------------------

Y = [((50.3, 150.2), (150.3, 150.2)), ((150.3, 150.2), (250.1, 60.4)),
     ((150.3, 150.2), (250.2, 240.6))]
T = [((50.3, 50.2), (50.3, 250.6)), ((50.3, 150.2), (250.3, 150.2))]
X = [((50.3, 50.2), (250.3, 250.6)), ((50.3, 250.2), (250.3, 50.6))]
X90 = [((150.3, 30.2), (150.3, 270.6)), ((30.3, 150.2), (270.3, 150.6))]
X_SHALLOW = [((50.3, 30.2), (250.3, 270.6)), ((50.3, 270.2), (250.3, 30.6))]


@pytest.mark.parametrize("w", [1, 3, 5, 9, 15])
@pytest.mark.parametrize("shape,tips,points", [
    (Y, 3, 1), (T, 3, 1),
    # Crossings: thinning may split them into two junctions a few px
    # apart; junctions closer than the root diameter are merged, so a
    # crossing is one branch point.
    (X, 4, 1), (X90, 4, 1), (X_SHALLOW, 4, 1)])
def test_tips_and_branch_points(w, shape, tips, points):
    r = traits.measure(draw((300, 300), shape, w))
    assert r["n_tips"] == tips
    assert r["n_branch_points"] == points
    assert r["n_components"] == 1


def test_y_length():
    w = 5
    r = traits.measure(draw((300, 300), Y, w))
    true = sum(np.hypot(*np.subtract(b, a)) for a, b in Y) + 3 * w / 2
    assert r["total_length_mm"] == pytest.approx(true, rel=0.01)


def test_spurs_from_outline_noise_are_pruned():
    # Bumps of up to 3 px on a 15 px root are not laterals. (Overlapping
    # bumps can enclose a pixel of background: fill such holes, as the
    # pipeline's cleaning would.)
    angle = 20
    p0, p1 = line_ends(angle, 300)
    m = capsule((400, 400), p0, p1, 15)
    side = np.array([np.cos(np.deg2rad(angle)), -np.sin(np.deg2rad(angle))])
    rng = np.random.default_rng(3)
    for tt in rng.uniform(0.1, 0.9, 12):
        q = p0 + tt * (p1 - p0) + rng.choice([-1, 1]) * 8 * side
        m |= capsule(m.shape, q, q + 0.01, rng.uniform(3, 5))
    r = traits.measure(m, fill_holes_area_mm2=10)
    assert r["n_tips"] == 2
    assert r["n_branch_points"] == 0
    assert r["total_length_mm"] == pytest.approx(315, rel=0.02)


def test_ring_is_one_cycle():
    rho, w = 60, 5
    yy, xx = np.mgrid[0:160, 0:160]
    m = np.abs(np.hypot(yy - 80.3, xx - 79.6) - rho) <= w / 2
    r = traits.measure(m)
    assert r["total_length_mm"] == pytest.approx(2 * np.pi * rho, rel=0.01)
    assert (r["n_tips"], r["n_branch_points"]) == (0, 0)
    assert list(traits.branches(m)["branch_type"]) == [3]
    # A one-pixel hole in a thick root: the skeleton goes round it in two
    # short junction-junction branches, which smoothing must not shrink
    # away; filling the hole gives a single tip-tip branch.
    bar = np.zeros((40, 200), bool)
    bar[10:25, 20:180] = True
    bar[17, 100] = False
    b = traits.branches(bar)
    loop = b[b["branch_type"] == 2]
    assert len(loop) == 2 and (loop["length_mm"] > 1.5).all()
    b = traits.branches(bar, fill_holes_area_mm2=2)
    assert list(b["branch_type"]) == [0]
    assert b["length_mm"].iloc[0] == pytest.approx(160, abs=0.5)


def test_short_thin_lateral_is_kept():
    # A 3 px wide lateral reaching 12 px beyond the surface of a 5 px root.
    m = capsule((300, 300), (150.3, 20.2), (150.3, 280.6), 5)
    m |= capsule(m.shape, (150.3, 150.2), (150.3 - 2.5 - 12 + 1.5, 150.2), 3)
    r = traits.measure(m)
    assert (r["n_tips"], r["n_branch_points"]) == (3, 1)


# --------------------------------------------------------------------------
# contract: units, scaling, length map, empty input, cleaning
# --------------------------------------------------------------------------

def _y_mask():
    return draw((300, 300), Y, 5)


def test_keys_and_types():
    r = traits.measure(_y_mask())
    assert list(r) == traits.trait_keys()
    for k, v in r.items():
        assert type(v) is (int if k.startswith("n_") else float), k
        assert np.isfinite(v)


def test_pixel_size_scaling_is_exact():
    m = _y_mask()
    a, b = traits.measure(m, 1.0), traits.measure(m, 0.1)
    assert b["total_length_mm"] == 0.1 * a["total_length_mm"]
    for k in ("mean_diameter_mm", "median_diameter_mm", "max_diameter_mm",
              "depth_mm", "width_mm"):
        assert b[k] == pytest.approx(0.1 * a[k], rel=1e-12), k
    for k in ("network_area_mm2", "surface_area_mm2", "convex_hull_area_mm2"):
        assert b[k] == pytest.approx(0.01 * a[k], rel=1e-12), k
    assert b["volume_mm3"] == pytest.approx(0.001 * a["volume_mm3"],
                                            rel=1e-12)
    assert b["branching_frequency_per_mm"] == pytest.approx(
        10 * a["branching_frequency_per_mm"], rel=1e-12)
    for k in ("n_tips", "n_branch_points", "n_components"):
        assert a[k] == b[k]


def test_length_map_sums_to_total_length():
    m = _y_mask()
    skel, length = traits.skeleton_length_map(m)
    assert skel.dtype == bool and length.dtype == np.float32
    assert skel.shape == length.shape == m.shape
    assert not (skel & ~m).any()
    assert np.array_equal(length != 0, skel)
    total = traits.measure(m)["total_length_mm"]
    assert length.sum(dtype=np.float64) == total
    assert length.sum() == pytest.approx(total, rel=1e-6)


def test_length_map_subsets_add_up():
    # The length of the skeleton left of x = 150 on a straight root is the
    # true length left of it (here: from the tip at x = 49.7 - 2.5).
    m = capsule((100, 300), (50.3, 49.7), (50.3, 250.3), 5)
    skel, length = traits.skeleton_length_map(m)
    left = length[:, :150].sum(dtype=np.float64)
    right = length[:, 150:].sum(dtype=np.float64)
    assert left + right == length.sum(dtype=np.float64)
    assert left == pytest.approx(149.5 - 47.2, abs=1.0)


def test_branches_table():
    m = _y_mask()
    b = traits.branches(m)
    assert list(b.columns) == traits.BRANCH_COLUMNS
    assert len(b) == 3
    assert sorted(b["branch_type"]) == [1, 1, 1]
    # Equal up to the float32 rounding of the per-pixel lengths.
    assert b["length_mm"].sum() == pytest.approx(
        traits.measure(m)["total_length_mm"], rel=1e-6)
    assert (b["mean_diameter_mm"] - 5).abs().max() <= 0.5
    for c in ("y0_px", "x0_px", "y1_px", "x1_px"):
        assert b[c].between(0, 299).all()
    b2 = traits.branches(m, 0.5)
    assert np.allclose(b2["length_mm"], 0.5 * b["length_mm"])


def test_empty_mask():
    m = np.zeros((50, 40), np.uint8)
    r = traits.measure(m)
    assert list(r) == traits.trait_keys()
    undefined = {*traits.UNDEFINED_WITHOUT_LENGTH, *traits.UNDEFINED_WITHOUT_AREA}
    assert undefined <= set(r) and all(np.isnan(r[k]) for k in undefined)  # no roots: no mean diameter
    assert all(v == 0 for k, v in r.items() if k not in undefined)
    b = traits.branches(m)
    assert isinstance(b, pd.DataFrame) and len(b) == 0
    assert list(b.columns) == traits.BRANCH_COLUMNS
    skel, length = traits.skeleton_length_map(m)
    assert skel.shape == (50, 40) and not skel.any() and not length.any()


def test_single_pixel_and_dot():
    m = np.zeros((20, 20), bool)
    m[5, 5] = True
    r = traits.measure(m)
    assert r["total_length_mm"] == pytest.approx(1.0)
    assert r["n_tips"] == 2 and r["n_branch_points"] == 0
    m[10:13, 10:13] = True
    r = traits.measure(m)
    assert r["n_components"] == 2
    assert r["total_length_mm"] == pytest.approx(4.0, abs=0.5)


def test_uint8_and_bool_agree():
    m = _y_mask()
    assert traits.measure(m.astype(np.uint8) * 255) == traits.measure(m)


def test_bounding_box_areas_and_hull():
    m = np.zeros((100, 100), bool)
    m[10:20, 10:60] = True  # L shape: 10x50 + 40x10
    m[20:60, 10:20] = True
    r = traits.measure(m, 0.5)
    assert r["network_area_mm2"] == pytest.approx((500 + 400) * 0.25)
    assert r["depth_mm"] == pytest.approx(50 * 0.5)
    assert r["width_mm"] == pytest.approx(50 * 0.5)
    # Hull of the pixel squares: the L's corners plus the diagonal.
    hull = 50 * 50 - 0.5 * 40 * 40
    assert r["convex_hull_area_mm2"] == pytest.approx(hull * 0.25)
    assert r["n_components"] == 1


def test_cleaning_removes_specks_and_fills_holes():
    m = np.zeros((100, 200), bool)
    m[40:51, 20:180] = True
    m[45, 100] = False                      # a 1 px hole
    m[5:7, 5:7] = True                      # a 4 px speck
    px = 0.1
    raw = traits.measure(m, px)
    clean = traits.measure(m, px, min_object_area_mm2=5 * px * px,
                           fill_holes_area_mm2=2 * px * px)
    assert raw["n_components"] == 2 and clean["n_components"] == 1
    assert clean["network_area_mm2"] == pytest.approx(11 * 160 * px * px)
    assert clean["n_branch_points"] == 0 and clean["n_tips"] == 2
    # Everything cleaned away: zeros (NaN where undefined without roots), not errors.
    gone = traits.measure(m, px, min_object_area_mm2=1e6)
    assert all(v == 0 or np.isnan(v) for v in gone.values()) and np.isnan(gone["mean_diameter_mm"])


def test_thin_matches_skimage():
    from skimage.morphology import thin
    rng = np.random.default_rng(0)
    for density in (0.3, 0.6, 0.9):
        x = rng.random((120, 130)) < density
        assert np.array_equal(traits.thin(x), thin(x))
    m = _y_mask()
    assert np.array_equal(traits.thin(m), thin(m))


def test_rejects_non_2d():
    with pytest.raises(ValueError):
        traits.measure(np.zeros((3, 4, 5), bool))


# --------------------------------------------------------------------------
# issue 4: mixed tubes, classes, outline, angles, density, paths, options
# --------------------------------------------------------------------------

def test_mixed_tubes_volume_and_surface():
    # Flat-ended tubes of four diameters at four angles, in one image.
    tubes = [(4, 0, (150.3, 150.7)), (7, 30, (150.3, 450.7)),
             (10, 60, (450.3, 150.7)), (14, 90, (450.3, 450.7))]
    L = 220.0
    m = np.zeros((600, 600), bool)
    volume = surface = 0.0
    for w, angle, centre in tubes:
        p0, p1 = line_ends(angle, L, np.array(centre))
        m |= flat_bar(m.shape, p0, p1, w)
        r = digital_width(angle, w) / 2
        volume += np.pi * r * r * L
        surface += 2 * np.pi * r * L
    got = traits.measure(m)
    assert got["n_components"] == 4
    assert got["volume_mm3"] == pytest.approx(volume, rel=0.05)
    assert got["surface_area_mm2"] == pytest.approx(surface, rel=0.05)


def _mixed_network():
    m = draw((300, 300), Y, 5)
    m |= capsule(m.shape, (20.3, 20.2), (20.3, 280.6), 11)
    m |= capsule(m.shape, (280.3, 20.2), (280.3, 200.6), 2)
    return m


def test_diameter_classes_sum_to_totals():
    m = _mixed_network()
    px = 0.1
    edges = (0.3, 0.6, 1.0)
    r = traits.measure(m, px, diameter_classes_mm=edges)
    labels = traits.diameter_class_labels(edges)
    assert labels == ["0-0.3mm", "0.3-0.6mm", "0.6-1mm", "over_1mm"]
    for prefix, total in traits.CLASS_QUANTITIES:
        parts = [r[f"{prefix}_diam_{c}"] for c in labels]
        assert sum(parts) == pytest.approx(r[total], rel=1e-9), prefix
    # 2 px (0.2 mm), 5 px (0.5 mm) and 11 px (1.1 mm) roots: one class each.
    length = [r[f"length_mm_diam_{c}"] for c in labels]
    assert length[0] == pytest.approx(0.1 * (180.4 + 2), rel=0.03)
    assert length[2] == 0.0
    assert length[3] == pytest.approx(0.1 * (260.4 + 11), rel=0.03)


def test_diameter_class_keys_and_validation():
    assert traits.trait_keys() == traits.trait_keys((0.5, 1.0, 2.0))
    assert traits.diameter_class_labels(()) == ["all"]
    r = traits.measure(_y_mask(), diameter_classes_mm=())
    assert r["length_mm_diam_all"] == r["total_length_mm"]
    assert list(r) == traits.trait_keys(())
    for bad in [(1.0, 0.5), (0.0, 1.0), (np.nan,), (1.0, 1.0)]:
        with pytest.raises(ValueError):
            traits.measure(_y_mask(), diameter_classes_mm=bad)


def test_new_traits_scale_with_pixel_size():
    m = _mixed_network()
    a, b = traits.measure(m, 1.0, ()), traits.measure(m, 0.1, ())
    assert b["perimeter_mm"] == pytest.approx(0.1 * a["perimeter_mm"], rel=1e-12)
    for k in ("projected_area_mm2", "projected_area_mm2_diam_all"):
        assert b[k] == pytest.approx(0.01 * a[k], rel=1e-12), k
    assert b["root_length_density_mm_per_mm2"] == pytest.approx(
        10 * a["root_length_density_mm_per_mm2"], rel=1e-12)
    for k in ("solidity", "width_depth_ratio", "mean_orientation_deg",
              "shallow_angle_fraction", "medium_angle_fraction",
              "steep_angle_fraction"):
        assert b[k] == a[k], k


def test_perimeter_of_bars_and_discs():
    m = np.zeros((60, 300), bool)
    m[20:31, 30:270] = True
    assert traits.measure(m)["perimeter_mm"] == pytest.approx(2 * (11 + 240),
                                                              rel=0.01)
    yy, xx = np.mgrid[0:200, 0:200]
    for radius in (6, 20, 60):
        disc = np.hypot(yy - 100.3, xx - 99.6) <= radius
        assert traits.measure(disc)["perimeter_mm"] == pytest.approx(
            2 * np.pi * radius, rel=0.02)
    # A ring: outer and inner border both count.
    d = np.hypot(yy - 100.3, xx - 99.6)
    ring = (d <= 60) & (d > 40)
    assert traits.measure(ring)["perimeter_mm"] == pytest.approx(
        2 * np.pi * 100, rel=0.02)
    for angle in (0, 20, 45, 70):
        p0, p1 = line_ends(angle, 300)
        bar = capsule((400, 400), p0, p1, 7)
        assert traits.measure(bar)["perimeter_mm"] == pytest.approx(
            600 + np.pi * 7, rel=0.01), angle


@pytest.mark.parametrize("angle,which", [(0, "shallow"), (25, "shallow"),
                                         (40, "medium"), (55, "medium"),
                                         (65, "steep"), (90, "steep")])
def test_angle_fractions_of_straight_roots(angle, which):
    p0, p1 = line_ends(angle, 300)
    r = traits.measure(capsule((400, 400), p0, p1, 5))
    assert r[f"{which}_angle_fraction"] == pytest.approx(1.0)
    assert r["mean_orientation_deg"] == pytest.approx(angle, abs=1.0)


def test_angle_fractions_are_length_weighted():
    m = np.zeros((400, 400), bool)
    m |= capsule(m.shape, (50.3, 20.2), (50.3, 320.6), 5)    # 305 px flat
    m |= capsule(m.shape, (100.3, 380.2), (200.3, 380.2), 5)  # 105 px steep
    r = traits.measure(m)
    assert r["shallow_angle_fraction"] == pytest.approx(305 / 410, abs=0.01)
    assert r["steep_angle_fraction"] == pytest.approx(105 / 410, abs=0.01)
    assert r["medium_angle_fraction"] == pytest.approx(0.0, abs=0.005)
    total = (r["shallow_angle_fraction"] + r["medium_angle_fraction"]
             + r["steep_angle_fraction"])
    assert total == pytest.approx(1.0)


def test_root_length_density_solidity_and_ratio():
    m = np.zeros((100, 250), bool)
    m[40:49, 25:225] = True  # a 9 x 200 px bar in a 100 x 250 px image
    px = 0.2
    r = traits.measure(m, px)
    assert r["root_length_density_mm_per_mm2"] == pytest.approx(
        200 * px / (100 * 250 * px * px), rel=0.01)
    assert r["solidity"] == pytest.approx(1.0)
    assert r["width_depth_ratio"] == pytest.approx(200 / 9)
    # The L shape of test_bounding_box_areas_and_hull.
    m = np.zeros((100, 100), bool)
    m[10:20, 10:60] = True
    m[20:60, 10:20] = True
    r = traits.measure(m)
    assert r["solidity"] == pytest.approx(900 / (2500 - 800))
    assert r["width_depth_ratio"] == 1.0


@pytest.mark.parametrize("name", ["Y", "ring", "dots", "mixed"])
def test_branch_paths_carry_the_branch_lengths(name):
    yy, xx = np.mgrid[0:200, 0:200]
    masks = {
        "Y": _y_mask(),
        "ring": np.abs(np.hypot(yy - 100.3, xx - 99.6) - 60) <= 2.5,
        "dots": np.pad(np.eye(3, dtype=bool), 5) | np.pad(
            np.ones((1, 1), bool), ((2, 10), (9, 3))),
        "mixed": _mixed_network(),
    }
    m = masks[name]
    paths = traits.branch_paths(m)
    b = traits.branches(m)
    assert len(paths) == len(b)
    for (yx, d), length, mean_d in zip(paths, b["length_mm"],
                                       b["mean_diameter_mm"]):
        assert yx.ndim == 2 and yx.shape[1] == 2 and d.shape == yx.shape[:1]
        assert np.hypot(*np.diff(yx, axis=0).T).sum() == pytest.approx(
            length, rel=1e-9, abs=1e-9)
        assert np.all(d > 0)
        assert np.median(d) == pytest.approx(mean_d, rel=0.25, abs=0.5)
    # Points lie on the root (tips on its edge, so within a pixel of it).
    from scipy.ndimage import binary_dilation
    near = binary_dilation(m, np.ones((3, 3), bool))
    yx = np.concatenate([p.yx for p in paths])
    iy, ix = np.round(yx).astype(int).T
    assert near[np.clip(iy, 0, m.shape[0] - 1),
                np.clip(ix, 0, m.shape[1] - 1)].all()
    assert m[iy.clip(0, m.shape[0] - 1), ix.clip(0, m.shape[1] - 1)].mean() > 0.6


def test_branch_paths_are_in_image_coordinates():
    m = np.zeros((100, 300), bool)
    m[60:65, 100:250] = True
    (yx, d), = traits.branch_paths(m)
    assert yx[:, 0] == pytest.approx(62, abs=0.01)
    assert sorted(yx[[0, -1], 1]) == pytest.approx([99.5, 249.5], abs=0.3)
    assert d == pytest.approx(5, abs=0.01)


def test_branches_angle_and_component():
    m = np.zeros((300, 300), bool)
    m |= capsule(m.shape, (50.3, 20.2), (50.3, 280.6), 5)
    m |= capsule(m.shape, (100.3, 150.2), (280.3, 150.2), 5)
    b = traits.branches(m)
    assert sorted(b["component_id"]) == [0, 1]
    flat = b.loc[b["y0_px"] < 60]
    assert flat["angle_deg"].iloc[0] == pytest.approx(0, abs=1)
    assert b.loc[b["y0_px"] >= 60, "angle_deg"].iloc[0] == pytest.approx(90, abs=1)


def test_spur_factor_is_a_keyword():
    # The bumps of test_spurs_from_outline_noise_are_pruned, on a 9 px root.
    p0, p1 = line_ends(0, 300)
    m = capsule((400, 400), p0, p1, 9)
    for x in (100.2, 150.7, 200.1):
        m |= capsule(m.shape, (200.3 - 4, x), (200.3 - 8, x), 3)
    assert traits.measure(m)["n_tips"] == 2
    kept = traits.measure(m, spur_factor=0)
    assert kept["n_tips"] == 5 and kept["n_branch_points"] == 3
    sk_default, _ = traits.skeleton_length_map(m)
    sk_none, _ = traits.skeleton_length_map(m, spur_factor=0)
    assert sk_none.sum() > sk_default.sum()


def test_measure_all_is_measure_branches_and_paths():
    m = _mixed_network()
    res = traits.measure_all(m, 0.1, (0.3,), fill_holes_area_mm2=0.05)
    assert res.traits == traits.measure(m, 0.1, (0.3,),
                                        fill_holes_area_mm2=0.05)
    pd.testing.assert_frame_equal(res.branches, traits.branches(
        m, 0.1, fill_holes_area_mm2=0.05))
    paths = traits.branch_paths(m, pixel_size_mm=0.1, fill_holes_area_mm2=0.05)
    assert len(res.paths) == len(paths)
    for (a, da), (b, db) in zip(res.paths, paths):
        assert np.array_equal(a, b) and np.array_equal(da, db)


def test_measure_batch_writes_traits_branches_and_rsml(tmp_path):
    import xml.etree.ElementTree as ET

    import zarr

    from rootpipe.io.rsml import polyline_length, read_rsml
    from rootpipe.stages.traits import run as measure_batch

    store = tmp_path / "seg.zarr"
    root = zarr.open_group(store, mode="w")
    masks = {"img_a": _mixed_network(), "img_b": np.zeros((50, 60), bool)}
    root.attrs["rootpipe"] = {"images": list(masks), "files": ["T1 day3.png", "T2 day3.tif"]}
    for image_id, mask in masks.items():
        root.create_group(image_id).create_array("mask", data=mask.astype(np.uint8))
    settings = {"min_object_area_mm2": 0.0, "fill_holes_area_mm2": 0.0,
                "diameter_classes_mm": [0.3, 0.6], "unrelated_key": True}
    out = tmp_path / "traits" / "b1.parquet"
    table = measure_batch(store, out, 0.1, settings, threads=2,
                          branches_out=tmp_path / "branches" / "b1.parquet",
                          rsml_dir=tmp_path / "rsml" / "b1")
    assert list(table["image_id"]) == ["img_a", "img_b"]
    assert "length_mm_diam_over_0.6mm" in table.columns
    assert pd.read_parquet(out).equals(table)
    b = pd.read_parquet(tmp_path / "branches" / "b1.parquet")
    assert list(b.columns) == ["image_id", *traits.BRANCH_COLUMNS]
    assert set(b["image_id"]) == {"img_a"}
    a_total = table.set_index("image_id").loc["img_a", "total_length_mm"]
    assert b["length_mm"].sum() == pytest.approx(a_total, rel=1e-6)
    files = sorted(p.name for p in (tmp_path / "rsml" / "b1").iterdir())
    assert files == ["img_a.rsml", "img_b.rsml"]
    roots = read_rsml(tmp_path / "rsml" / "b1" / "img_a.rsml")
    assert sum(polyline_length(r.yx) for r in roots) * 0.1 == pytest.approx(a_total, rel=1e-4)
    assert read_rsml(tmp_path / "rsml" / "b1" / "img_b.rsml") == []
    # RSML viewers find the image by its file name; file-key joins the tables.
    meta = ET.parse(tmp_path / "rsml" / "b1" / "img_a.rsml").getroot().find("metadata")
    assert meta.findtext("image/name") == "T1 day3.png"
    assert meta.findtext("file-key") == "img_a"
    # The old call still works and writes only the traits table.
    again = measure_batch(store, tmp_path / "t2.parquet", 0.1,
                          {"min_object_area_mm2": 0.0})
    assert list(again.columns) == ["image_id", *traits.trait_keys(), "segmentation_confidence", "computation_time_s"]
    assert again["segmentation_confidence"].isna().all()  # this store holds masks only


def test_fast_skan_graph_is_skans():
    import skan

    rng = np.random.default_rng(1)
    skeletons = [traits.thin(rng.random((120, 140)) < d) for d in (0.2, 0.4, 0.6)]
    skeletons.append(traits.thin(_mixed_network()))
    for sk in skeletons:
        a = skan.Skeleton(sk, keep_images=False)
        b = skeleton_graph(sk)
        for name in ("indptr", "indices", "data"):
            assert np.array_equal(getattr(a.graph, name), getattr(b.graph, name))
        assert np.array_equal(a.coordinates, b.coordinates)
        assert np.array_equal(a.degrees, b.degrees)
        assert np.array_equal(a.paths.indptr, b.paths.indptr)
        assert np.array_equal(a.paths.indices, b.paths.indices)
        assert np.array_equal(a.path_lengths(), b.path_lengths())


def test_measure_all_leaves_the_undefined_traits_of_an_empty_image_nan():
    # measure_all is what the workflow calls (it writes branches): a rootless image must not
    # read as diameter 0 and pull a plant's mean down
    empty = traits.measure_all(np.zeros((50, 40), bool), 0.1).traits
    assert np.isnan(empty["mean_diameter_mm"]) and np.isnan(empty["solidity"])
    assert np.isnan(empty["mean_orientation_deg"]) and empty["total_length_mm"] == 0


def test_a_diameter_on_a_class_edge_counts_in_the_class_below():
    bar = np.zeros((40, 200), bool)
    bar[10:13, 20:180] = True  # 3 px x 0.1 mm = 0.3 mm, computed as 0.30000000000000004
    t = traits.measure(bar, 0.1, (0.3,))
    assert t["length_mm_diam_0-0.3mm"] == pytest.approx(t["total_length_mm"]) and t["length_mm_diam_over_0.3mm"] == 0


def test_specks_alone_have_no_orientation():
    dots = np.zeros((30, 30), bool)
    dots[5, 5] = dots[15, 20] = dots[25, 8] = True
    t = traits.measure(dots, 0.1)
    assert t["total_length_mm"] > 0 and np.isnan(t["mean_orientation_deg"]) and np.isnan(t["steep_angle_fraction"])


def test_a_frame_along_the_edges_is_left_out_with_border_px(tmp_path):
    import zarr

    from rootpipe.stages.traits import run as measure_batch

    mask = np.zeros((200, 300), bool)
    mask[60:140, 148:152] = True  # a root, 80 px long, well inside
    frame = mask.copy()
    frame[2:6, :], frame[-6:-2, :], frame[:, 2:6], frame[:, -6:-2] = True, True, True, True  # a case's rim
    store = tmp_path / "seg.zarr"
    root = zarr.open_group(store, mode="w")
    root.attrs["rootpipe"] = {"images": ["root", "framed"]}
    for image_id, m in (("root", mask), ("framed", frame)):
        root.create_group(image_id).create_array("mask", data=m.astype(np.uint8))
    whole = measure_batch(store, tmp_path / "a.parquet", 0.1, {}).set_index("image_id")
    inner = measure_batch(store, tmp_path / "b.parquet", 0.1, {}, border_px=10).set_index("image_id")
    assert whole.loc["framed", "total_length_mm"] > 3 * whole.loc["root", "total_length_mm"]  # the rim counted
    assert inner.loc["framed", "total_length_mm"] == pytest.approx(whole.loc["root", "total_length_mm"])
    # the density is over the 180 x 280 px inside the border
    assert inner.loc["root", "root_length_density_mm_per_mm2"] == pytest.approx(
        whole.loc["root", "root_length_density_mm_per_mm2"] * (200 * 300) / (180 * 280))
    with pytest.raises(ValueError, match="border_px 100 leaves nothing of a 200 x 300 px image"):
        traits.clear_border(mask, 100)
