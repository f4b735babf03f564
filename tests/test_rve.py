"""RhizoVision Explorer compatible tables: column names, units, values."""

import numpy as np
import pandas as pd
import pytest

from rootpipe import traits
from rootpipe.io import rve

# RVE 2.x batch-mode header, "broken roots", lengths in mm, four diameter
# ranges (MainUI::writeHeader), as analysis scripts read it.
RVE_BROKEN_HEADER = (
    "File.Name,Region.of.Interest,Number.of.Root.Tips,Number.of.Branch.Points,"
    "Total.Root.Length.mm,Branching.frequency.per.mm,Network.Area.mm2,"
    "Average.Diameter.mm,Median.Diameter.mm,Maximum.Diameter.mm,Perimeter.mm,"
    "Volume.mm3,Surface.Area.mm2,Computation.Time.s,"
    "Root.Length.Diameter.Range.1.mm,Root.Length.Diameter.Range.2.mm,"
    "Root.Length.Diameter.Range.3.mm,Root.Length.Diameter.Range.4.mm,"
    "Projected.Area.Diameter.Range.1.mm2,Projected.Area.Diameter.Range.2.mm2,"
    "Projected.Area.Diameter.Range.3.mm2,Projected.Area.Diameter.Range.4.mm2,"
    "Surface.Area.Diameter.Range.1.mm2,Surface.Area.Diameter.Range.2.mm2,"
    "Surface.Area.Diameter.Range.3.mm2,Surface.Area.Diameter.Range.4.mm2,"
    "Volume.Diameter.Range.1.mm3,Volume.Diameter.Range.2.mm3,"
    "Volume.Diameter.Range.3.mm3,Volume.Diameter.Range.4.mm3")


def traits_table():
    """Two images at 0.1 mm/px: a 9 px bar (0.9 mm) and a 3 px + 25 px pair."""
    a = np.zeros((100, 300), bool)
    a[40:49, 20:280] = True
    b = np.zeros((200, 300), bool)
    b[20:23, 20:280] = True
    b[100:125, 20:280] = True
    rows = [{"image_id": "id_a", "file": "a.png", **traits.measure(a, 0.1)},
            {"image_id": "id_b", "file": "b.png", **traits.measure(b, 0.1)}]
    return pd.DataFrame(rows)


def test_broken_roots_columns_are_rves():
    table = rve.to_rve_table(traits_table())
    assert ",".join(table.columns) == RVE_BROKEN_HEADER
    assert list(table["File.Name"]) == ["a.png", "b.png"]
    assert list(table["Region.of.Interest"]) == ["Full", "Full"]  # as RVE writes a whole image


def test_values_and_units_carry_over():
    t = traits_table()
    table = rve.to_rve_table(t)
    for rve_name, ours in rve.BROKEN_ROOTS:
        if ours in t.columns:
            assert np.array_equal(table[rve_name].to_numpy(), t[ours].to_numpy()), rve_name
    assert table["Computation.Time.s"].isna().all()
    assert table["Number.of.Root.Tips"].tolist() == [2, 4]
    # Range 2 is 0.5-1 mm: the 0.9 mm bar; image b has 0.3 mm and 2.5 mm roots.
    lengths = table[[f"Root.Length.Diameter.Range.{k}.mm" for k in range(1, 5)]]
    assert lengths.loc[0, "Root.Length.Diameter.Range.2.mm"] == pytest.approx(26, abs=0.2)
    assert lengths.loc[1, "Root.Length.Diameter.Range.1.mm"] == pytest.approx(26, abs=0.2)
    assert lengths.loc[1, "Root.Length.Diameter.Range.4.mm"] == pytest.approx(26, abs=0.2)
    assert np.allclose(lengths.sum(axis=1), table["Total.Root.Length.mm"])
    volumes = table[[f"Volume.Diameter.Range.{k}.mm3" for k in range(1, 5)]]
    assert np.allclose(volumes.sum(axis=1), table["Volume.mm3"])


def test_csv_is_what_rve_writes(tmp_path):
    path = rve.write_rve_csv(traits_table(), tmp_path / "features.csv")
    lines = path.read_text().splitlines()
    assert lines[0] == RVE_BROKEN_HEADER
    assert lines[1].startswith("a.png,Full,2,0,")
    assert ",NA," in lines[1]  # computation time, as RVE writes NaN
    back = pd.read_csv(path)
    assert back.shape == (2, len(RVE_BROKEN_HEADER.split(",")))


def test_ranges_follow_the_tables_classes():
    a = np.zeros((60, 300), bool)
    a[20:29, 20:280] = True
    t = pd.DataFrame([{"image_id": "x", **traits.measure(a, 0.1, (0.5,))}])
    table = rve.to_rve_table(t)
    assert [c for c in table.columns if c.startswith("Root.Length")] == [
        "Root.Length.Diameter.Range.1.mm", "Root.Length.Diameter.Range.2.mm"]
    assert table["File.Name"].tolist() == ["x"]
    with pytest.raises(ValueError):
        rve.to_rve_table(t.drop(columns=[c for c in t.columns if "_diam_" in c]))


def test_whole_root_mode():
    t = traits_table()
    table = rve.to_rve_table(t, mode="whole")
    assert list(table.columns[:6]) == [
        "File.Name", "Region.of.Interest", "Median.Number.of.Roots",
        "Maximum.Number.of.Roots", "Number.of.Root.Tips", "Total.Root.Length.mm"]
    assert "Width-to-Depth.Ratio" in table.columns
    assert table["Steep.Angle.Frequency"].tolist() == t["steep_angle_fraction"].tolist()
    assert table["Convex.Area.mm2"].tolist() == t["convex_hull_area_mm2"].tolist()
    assert table["Holes"].isna().all()
    with pytest.raises(ValueError):
        rve.to_rve_table(t, mode="crown")


def test_metadata_is_what_rve_loads(tmp_path):
    """RVE's metadata.csv keys: root type, pixels per mm, one line per diameter range."""
    path = rve.write_rve_metadata(tmp_path / "m.csv", mode="whole", pixel_size_mm=0.04,
                                  diameter_classes_mm=[2.0, 5.0], version="9.9", features_file="f.csv")
    rows = [line.split(", ") for line in path.read_text().splitlines()]
    as_dict = {r[0]: r[1:] for r in rows}
    assert as_dict["Root type"] == ["Whole root"]
    assert float(as_dict["Number of Pixels per mm"][0]) == 25
    assert [as_dict[f"Diameter Range {k}"] for k in (1, 2, 3)] == [["0", "2"], ["2", "5"], ["5", "above"]]


def test_the_rve_preset_gives_rves_default_ranges():
    from rootpipe import config
    from rootpipe.traits import diameter_class_labels

    settings = config.load({"traits": {"diameter_classes_mm": "rve"}})
    assert settings["traits"]["diameter_classes_mm"] == [2.0, 5.0]
    assert len(diameter_class_labels(settings["traits"]["diameter_classes_mm"])) == 3  # RVE's Range.1-3
