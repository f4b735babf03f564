"""RSML export and import: round trips, plain-XML readers, RootNav splines."""

import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from rootpipe import traits
from rootpipe.io import rsml


def rsml_metadata(path) -> dict:
    """The ``<metadata>`` entries with text, as strings (plain xml.etree)."""
    import xml.etree.ElementTree as ET

    meta = next(e for e in ET.parse(path).getroot().iter() if e.tag.rpartition("}")[2] == "metadata")
    return {c.tag.rpartition("}")[2]: c.text.strip() for c in meta if c.text and c.text.strip()}


def capsule(shape, p0, p1, w):
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(float)
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    t = np.clip(((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / (d @ d), 0, 1)
    return np.hypot(yy - p0[0] - t * d[0], xx - p0[1] - t * d[1]) <= w / 2


def network():
    """Two root objects: a Y of 5 px roots and a curved 9 px root; a dot."""
    m = np.zeros((300, 400), bool)
    for a, b in [((40.3, 100.2), (140.3, 100.2)), ((140.3, 100.2), (240.1, 30.4)),
                 ((140.3, 100.2), (250.2, 170.6))]:
        m |= capsule(m.shape, a, b, 5)
    yy, xx = np.mgrid[0:300, 0:400]
    ang = np.arctan2(yy - 150.3, xx - 200.7)
    m |= (np.abs(np.hypot(yy - 150.3, xx - 200.7) - 120) <= 4.5) & (ang > -1.2) & (ang < 1.2)
    m[280:283, 20:23] = True
    return m


def plain_xml_lengths(path):
    """Polyline lengths and diameter samples read with ElementTree alone."""
    lengths, diameters = [], []
    for root in ET.parse(path).getroot().iter("root"):
        pts = np.array([[float(p.get("x")), float(p.get("y"))]
                        for p in root.find("geometry").find("polyline").iter("point")])
        lengths.append(np.hypot(*np.diff(pts, axis=0).T).sum())
        fn = root.find("functions").find("function")
        assert fn.get("name") == "diameter" and fn.get("domain") == "polyline"
        diameters.append([float(s.get("value")) for s in fn.iter("sample")])  # RSML 1.0: the value attribute
        assert len(diameters[-1]) == len(pts)
    return np.array(lengths), diameters


def test_write_then_read_back(tmp_path):
    m = network()
    px = 0.05
    res = traits.measure_all(m, px)
    path = rsml.write_rsml(res.paths, tmp_path / "img.rsml",
                           plant_ids=res.branches["component_id"],
                           labels=[rsml.BRANCH_TYPE_LABELS[t]
                                   for t in res.branches["branch_type"]],
                           image_name="img", pixel_size_mm=px)
    measured = res.traits["total_length_mm"]

    # rootpipe's reader
    roots = rsml.read_rsml(path)
    assert len(roots) == len(res.paths) == len(res.branches)
    assert sum(rsml.polyline_length(r.yx) for r in roots) * px == pytest.approx(measured, rel=0.01)
    assert sum(rsml.polyline_length(r.yx) for r in roots) * px == pytest.approx(measured, rel=1e-4)
    assert sorted(int(r.root_id) for r in roots) == list(res.branches["branch_id"])
    for root in roots:
        yx, d = res.paths[int(root.root_id)]
        assert np.allclose(root.yx, yx, atol=6e-4)
        assert np.allclose(root.diameter, d, atol=6e-4)
    # one plant per connected root object, named by the table's component_id
    assert len({r.plant_id for r in roots}) == res.traits["n_components"] == 3
    component = dict(zip(res.branches["branch_id"], res.branches["component_id"]))
    assert all(r.plant_id == str(component[int(r.root_id)]) for r in roots)
    meta = rsml_metadata(path)
    assert meta["unit"] == "mm" and float(meta["resolution"]) == pytest.approx(1 / px)
    assert meta["version"] == "1.0" and meta["file-key"] == "img"

    # plain xml.etree, knowing only RSML
    lengths, diameters = plain_xml_lengths(path)
    assert lengths.sum() * px == pytest.approx(measured, rel=0.01)
    mean_d = np.average([np.mean(d) for d in diameters], weights=lengths) * px
    assert mean_d == pytest.approx(res.traits["mean_diameter_mm"], rel=0.1)


def test_empty_mask_writes_an_empty_scene(tmp_path):
    res = traits.measure_all(np.zeros((20, 20), bool))
    path = rsml.write_rsml(res.paths, tmp_path / "empty.rsml")
    assert rsml.read_rsml(path) == []
    assert ET.parse(path).getroot().find("scene") is not None


def test_write_rejects_mismatched_plants(tmp_path):
    paths = [(np.zeros((2, 2)), None)]
    with pytest.raises(ValueError):
        rsml.write_rsml(paths, tmp_path / "x.rsml", plant_ids=[0, 1])


ROOTNAV = """<?xml version="1.0" encoding="utf-8"?>
<rsml xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <metadata><version>1.0</version><unit>pixel</unit><resolution>xxx dpi</resolution></metadata>
  <scene>
    <plant ID="1" label="barley">
      <root ID="1.1" label="primary">
        <geometry>
          <rootnavspline controlpointseparation="50" tension="0.5">
            <point x="10" y="10" /><point x="60" y="10" /><point x="110" y="10" />
          </rootnavspline>
        </geometry>
      </root>
      <root ID="1.2" label="primary">
        <geometry>
          <rootnavspline controlpointseparation="50" tension="0.5">
            <point x="10" y="10" /><point x="40" y="60" /><point x="20" y="110" />
          </rootnavspline>
        </geometry>
      </root>
    </plant>
  </scene>
</rsml>
"""

NESTED = """<?xml version="1.0"?>
<r:rsml xmlns:r="urn:example">
  <r:scene><r:plant id="p">
    <r:root id="main">
      <r:geometry><r:polyline><r:point x="0" y="0"/><r:point x="0" y="30"/></r:polyline></r:geometry>
      <r:functions><r:function name="diameter" domain="polyline">
        <r:sample value="2"/><r:sample value="1"/></r:function></r:functions>
      <r:root id="lateral">
        <r:geometry><r:polyline><r:point x="0" y="10"/><r:point x="40" y="40"/></r:polyline></r:geometry>
      </r:root>
    </r:root>
  </r:plant></r:scene>
</r:rsml>
"""


def test_reads_rootnav_splines(tmp_path):
    path = tmp_path / "rootnav.rsml"
    path.write_text(ROOTNAV)
    straight, curved = rsml.read_rsml(path)
    # Collinear control points: the spline is the straight line.
    assert straight.length == pytest.approx(100.0)
    assert np.allclose(straight.yx[:, 0], 10.0)
    # A curved spline passes through its control points, 50 points per span.
    assert curved.yx.shape == (2 * 51 + 1, 2)
    for xy in [(10, 10), (40, 60), (20, 110)]:
        assert np.min(np.hypot(*(curved.yx[:, ::-1] - xy).T)) == pytest.approx(0)
    control = rsml.read_rsml(path, splines="control")[1]
    assert control.length == pytest.approx(np.hypot(30, 50) + np.hypot(20, 50))
    assert curved.length > control.length
    assert (straight.root_id, straight.plant_id, straight.label) == ("1.1", "1", "primary")
    assert straight.diameter is None
    assert rsml_metadata(path)["unit"] == "pixel"


def test_reads_nested_roots_namespaces_and_sample_attributes(tmp_path):
    path = tmp_path / "nested.rsml"
    path.write_text(NESTED)
    main, lateral = rsml.read_rsml(path)
    assert (main.root_id, main.parent_id) == ("main", None)
    assert (lateral.root_id, lateral.parent_id, lateral.plant_id) == ("lateral", "main", "p")
    assert np.array_equal(main.diameter, [2.0, 1.0])
    assert lateral.length == pytest.approx(50.0)
    assert np.array_equal(main.yx[-1], [30.0, 0.0])  # (y, x)


def test_render_mask_draws_round_capped_strokes():
    line = np.array([[10.3, 5.0], [10.3, 50.0]])
    m = rsml.render_mask([line], (30, 60), 4.0)
    # pixel centres within 2 px of the segment: rows 9-12, and round caps
    # reaching 1-2 px beyond the end points (columns 4-51)
    rows, cols = np.nonzero(m)
    assert (rows.min(), rows.max()) == (9, 12)
    assert (cols.min(), cols.max()) == (4, 51)
    assert m[9:13, 4].sum() == 4 and m[9:13, 3].sum() == 0
    # tip to tip: the segment plus about a stroke radius at each end
    assert traits.measure(m)["total_length_mm"] == pytest.approx(45 + 4, abs=1.0)


def test_written_rsml_keeps_the_rsml_schemas_rules(tmp_path):
    """The rules of RSML 1.0's XML schema (RSMLValidator's rsml.xsd) that rootpipe's files once broke."""
    m = np.zeros((40, 40), bool)
    m[5:30, 10:13] = True
    m[35, 35] = True  # a one-pixel root: one point, which a polyline may not be
    res = traits.measure_all(m, 0.05)
    path = rsml.write_rsml(res.paths, tmp_path / "img.rsml", pixel_size_mm=0.05)
    tree = ET.parse(path).getroot()
    meta = tree.find("metadata")
    for required in ("version", "unit", "resolution", "last-modified", "software", "user", "file-key"):
        assert meta.find(required) is not None and meta.find(required).text, required
    for element in [*tree.iter("plant"), *tree.iter("root")]:
        assert "id" in element.attrib and "ID" not in element.attrib
    for line in tree.iter("polyline"):
        assert len(line.findall("point")) >= 2
    samples = list(tree.iter("sample"))
    assert samples and all(s.get("value") is not None and not (s.text or "").strip() for s in samples)
    assert len(rsml.read_rsml(path)) == len(res.paths)


@pytest.mark.skipif(not os.environ.get("RSML_XSD"), reason="set RSML_XSD to RSMLValidator's rsml.xsd to run")
def test_rsml_files_validate_against_the_rsml_schema(tmp_path):
    """The RSML rootpipe writes (branches; plants with nested laterals; with root ids) against the XSD.

    The schema is RootSystemML/RSMLValidator's ``rsml.xsd``; it is not copied here: give its path.
    """
    import cv2
    import xmlschema

    from rootpipe.stages.track import write_tracked_rsml
    from rootpipe.traits import branch_paths

    schema = xmlschema.XMLSchema(os.environ["RSML_XSD"])
    mask = np.zeros((200, 240), np.uint8)
    cv2.line(mask, (40, 20), (60, 180), 1, 5)
    cv2.line(mask, (50, 100), (110, 110), 1, 3)
    mask[150, 200] = 1  # a dot: a one-point root is written as two points
    paths = branch_paths(mask, pixel_size_mm=0.1)
    plain = rsml.write_rsml([(p.yx, p.diameter_px) for p in paths], tmp_path / "plain.rsml", pixel_size_mm=0.1)
    ids = np.zeros(mask.shape, np.int64)
    ids[mask > 0] = 3
    tracked = write_tracked_rsml(tmp_path / "tracked.rsml", mask, ids, 0.1, {}, image_name="a.png", file_key="a")
    nested = rsml.write_rsml(path=tmp_path / "nested.rsml", pixel_size_mm=0.1,
                             **traits.rsml_arguments(traits.root_hierarchy(branch_paths(_plants()))))
    for path in (plain, tracked, nested):
        schema.validate(str(path))


def _plants():
    """A primary root with a lateral each side (one with a lateral of its own), a second plant, a ring."""
    import cv2

    m = np.zeros((300, 300), np.uint8)
    cv2.line(m, (150, 10), (150, 280), 1, 5)
    cv2.line(m, (150, 100), (250, 160), 1, 3)
    cv2.line(m, (150, 180), (60, 240), 1, 3)  # a little longer than the primary below the junction
    cv2.line(m, (200, 130), (220, 90), 1, 2)
    cv2.line(m, (30, 30), (60, 120), 1, 3)
    cv2.circle(m, (250, 250), 20, 1, 2)
    return m


def test_hierarchy_reads_plants_primaries_and_laterals_off_the_skeleton():
    paths = traits.branch_paths(_plants())
    roots = traits.root_hierarchy(paths)
    assert sorted(b for r in roots for b in r.branches) == list(range(len(paths)))  # each branch once
    total = sum(rsml.polyline_length(p.yx) for p in paths)
    assert sum(rsml.polyline_length(r.yx) for r in roots) == pytest.approx(total, rel=1e-9)
    primaries = [r for r in roots if r.order == 1]
    assert len(primaries) == 3 and len({r.plant for r in roots}) == 3  # two plants and the ring
    main = max(primaries, key=lambda r: rsml.polyline_length(r.yx))
    assert main.yx[0][0] < 12 and main.yx[-1][0] > 275 and np.ptp(main.yx[:, 1]) < 6  # straight down, top first
    laterals = [r for r in roots if r.parent == roots.index(main)]
    assert len(laterals) == 2 and all(r.order == 2 for r in laterals)
    assert [r.order for r in roots if r.parent >= 0 and roots[r.parent].order == 2] == [3]
    for r in laterals:  # each starts at its junction on the primary
        assert abs(r.yx[0][1] - 150) < 6


def test_nested_rsml_reads_back_with_parents_and_keeps_the_branch_ids(tmp_path):
    paths = traits.branch_paths(_plants())
    roots = traits.root_hierarchy(paths)
    path = rsml.write_rsml(path=tmp_path / "p.rsml", pixel_size_mm=0.1, **traits.rsml_arguments(roots))
    back = rsml.read_rsml(path)
    assert len(back) == len(roots)
    by_id = {r.root_id: r for r in back}
    for k, r in enumerate(roots):
        assert by_id[str(k)].parent_id == (None if r.parent < 0 else str(r.parent))
        assert np.allclose(by_id[str(k)].yx, r.yx, atol=1e-3)
    # Plain ElementTree, as RSML tools walk a file: plant > root > nested root, properties by name.
    tree = ET.parse(path).getroot()
    nested = [(outer.get("id"), inner.get("id")) for outer in tree.iter("root") for inner in outer.findall("root")]
    assert sorted(nested) == sorted((str(r.parent), str(k)) for k, r in enumerate(roots) if r.parent >= 0)
    labels = {d.findtext("label"): d.findtext("type") for d in tree.iter("property-definition")}
    assert labels["order"] == "integer" and labels["branch_ids"] == "string"
    first = tree.find("scene/plant/root")
    assert first.get("label") == "primary" and first.find("properties/branch_ids").get("value")
