import os

import numpy as np
import pandas as pd
import pytest
from conftest import write_png

from rootpipe import config as cfg
from rootpipe.stages import ingest


def campaign(tmp_path, dates=("2026-05-01", "2026-05-08"), series=("T01_L01", "T01_L02"), seed=0):
    rng = np.random.default_rng(seed)
    folder = tmp_path / "images"
    for date in dates:
        for s in series:
            write_png(folder / f"{s}_{date}.png", rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    (tmp_path / "meta.csv").write_text("tube,window,genotype\nT01,L01,WT\nT01,L02,mutA\n")
    return cfg.load({"input_dir": str(folder), "results_dir": str(tmp_path / "results"),
                     "metadata_csv": str(tmp_path / "meta.csv"), "batch_size": 50})


def test_manifest_columns_ids_batches_and_metadata(tmp_path):
    config = campaign(tmp_path)
    m = ingest.run(config, progress=False)
    assert (m["status"] == "accepted").all()
    assert set(m["series"]) == {"T01_L01", "T01_L02"}
    assert set(m["batch"]) == {"2026-05-01-001", "2026-05-08-001"}
    assert m.loc[m["series"] == "T01_L02", "genotype"].eq("mutA").all()
    assert m["image_id"].str.match(r"T01_L0[12]_20260508T000000_[0-9a-f]{8}|"
                                   r"T01_L0[12]_20260501T000000_[0-9a-f]{8}").all()
    assert pd.api.types.is_datetime64_any_dtype(m["timestamp"])
    batch = ingest.read_batch(tmp_path / "results/batches/2026-05-01-001.tsv")
    assert len(batch) == 2 and set(batch["image_id"]) <= set(m["image_id"])


def test_new_timepoint_keeps_ids_and_old_batch_files(tmp_path):
    config = campaign(tmp_path)
    first = ingest.run(config, progress=False)
    old_batch = tmp_path / "results/batches/2026-05-01-001.tsv"
    os.utime(old_batch, (1, 1))  # a recognisable mtime: a rewrite would change it
    new_image = np.random.default_rng(5).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    write_png(tmp_path / "images/T01_L01_2026-05-15.png", new_image)
    second = ingest.run(config, progress=False)
    assert set(first["image_id"]) < set(second["image_id"])
    assert old_batch.stat().st_mtime == 1
    assert (tmp_path / "results/batches/2026-05-15-001.tsv").exists()


def test_batches_are_capped(tmp_path):
    config = campaign(tmp_path, series=[f"T01_L{i:02d}" for i in range(1, 8)])
    config["metadata_csv"] = None
    config["batch_size"] = 3
    m = ingest.run(config, progress=False)
    sizes = m.groupby("batch").size()
    assert sizes.max() == 3 and len(sizes) == 6  # 7 images per day -> 3 + 3 + 1


def test_a_late_or_deleted_image_changes_only_its_own_batch(tmp_path):
    config = campaign(tmp_path, dates=("2026-05-01",), series=[f"T01_L{i:02d}" for i in range(2, 9)])
    config["metadata_csv"] = None
    config["batch_size"] = 3
    first = ingest.run(config, progress=False)
    files = sorted((tmp_path / "results/batches").glob("*.tsv"))
    before = {p.name: p.read_text() for p in files}
    # a late image sorting first: re-chunking the session would shift every batch by one
    write_png(tmp_path / "images/T01_L01_2026-05-01.png",
              np.random.default_rng(9).integers(0, 255, (32, 48, 3), dtype=np.uint8))
    second = ingest.run(config, progress=False)
    assert {p.name: p.read_text() for p in files} == before
    late = second.set_index("file").loc["T01_L01_2026-05-01.png", "batch"]
    assert late == "2026-05-01-004"
    # a deleted image changes its own batch only
    (tmp_path / "images/T01_L05_2026-05-01.png").unlink()
    ingest.run(config, progress=False)
    after = {p.name: p.read_text() for p in files}
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {first.set_index("file").loc["T01_L05_2026-05-01.png", "batch"] + ".tsv"}
    # a smaller batch_size splits the session afresh
    config["batch_size"] = 2
    sizes = ingest.run(config, progress=False).groupby("batch").size()
    assert sizes.max() == 2 and len(sizes) == 4  # 7 images


def test_rejects_are_recorded_not_fatal(tmp_path, bad_files):
    config = campaign(tmp_path)
    names = bad_files(tmp_path / "images", "T02_L01_2026-05-01", "T02_L02_2026-05-01", "T02_L03_2026-05-01")
    (tmp_path / "images/notes_2026.png").write_bytes((tmp_path / "images/T01_L01_2026-05-01.png").read_bytes())
    m = ingest.run(config, progress=False)
    reasons = m.set_index("file")["reason"]
    assert "empty" in reasons[names["zero"]]
    assert "truncated" in reasons[names["truncated"]]
    assert "cannot decode" in reasons[names["text"]]
    assert "does not match filename_pattern" in reasons["notes_2026.png"]
    assert (m["status"] == "accepted").sum() == 4
    assert m.loc[m["status"] == "rejected", "batch"].isna().all()


def test_duplicate_copy_is_rejected(tmp_path):
    config = campaign(tmp_path)
    src = tmp_path / "images/T01_L01_2026-05-01.png"
    (tmp_path / "images/sub").mkdir()
    (tmp_path / "images/sub/T01_L01_2026-05-01.png").write_bytes(src.read_bytes())
    m = ingest.run(config, progress=False)
    dup = m[m["reason"].fillna("").str.startswith("duplicate of")]
    assert len(dup) == 1 and (m["status"] == "accepted").sum() == 4


def test_unchanged_files_are_not_decoded_again(tmp_path, monkeypatch):
    config = campaign(tmp_path)
    ingest.run(config, progress=False)
    calls = []
    real = ingest.check_file
    monkeypatch.setattr(ingest, "check_file", lambda p, **kw: calls.append(p) or real(p, **kw))
    new_image = np.random.default_rng(5).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    write_png(tmp_path / "images/T01_L01_2026-05-15.png", new_image)
    ingest.run(config, progress=False)
    assert [os.path.basename(p) for p in calls] == ["T01_L01_2026-05-15.png"]


def test_pattern_errors_name_the_problem(tmp_path):
    config = campaign(tmp_path)
    config["series_fields"] = ["plant"]
    with pytest.raises(ValueError, match="no named group for \\['plant'\\]"):
        ingest.run(config, progress=False)
    config = campaign(tmp_path)
    config["input_dir"] = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="input_dir"):
        ingest.run(config, progress=False)


def test_an_empty_folder_and_a_campaign_with_nothing_accepted_say_why(tmp_path):
    config = campaign(tmp_path, dates=())
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="holds no file ending in .png"):
        ingest.run(config, progress=False)
    config = campaign(tmp_path)
    config["timestamp_format"] = "%d.%m.%Y"
    with pytest.raises(ValueError, match="no image of the 4 .* was accepted.*cannot parse timestamp"):
        ingest.run(config, progress=False)
    assert not (tmp_path / "results/manifest.parquet").exists()


def test_a_retake_and_a_copy_under_another_date_are_rejected(tmp_path):
    config = campaign(tmp_path)
    images = tmp_path / "images"
    retake = np.random.default_rng(7).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    write_png(images / "T01_L01_2026-05-08_retake.png", retake)
    (images / "0").mkdir()  # sorts before the original's path: the later date must still lose
    (images / "0/T01_L02_2026-05-15.png").write_bytes((images / "T01_L02_2026-05-08.png").read_bytes())
    m = ingest.run(config, progress=False).set_index("file")
    assert m.loc["T01_L01_2026-05-08_retake.png", "status"] == "rejected"
    assert "same series and time as" in m.loc["T01_L01_2026-05-08_retake.png", "reason"]
    assert m.loc["T01_L02_2026-05-15.png", "reason"].startswith("the same bytes as")
    assert (m["status"] == "accepted").sum() == 4
    assert not m.loc[m["status"] == "accepted"].duplicated(["series", "timestamp"]).any()


def test_decode_checks_survive_a_deleted_manifest_and_name_rejections_do_not_go_stale(tmp_path, monkeypatch):
    config = campaign(tmp_path)
    write_png(tmp_path / "images/T01-L03-2026-05-01.png",
              np.random.default_rng(5).integers(0, 255, (32, 48, 3), dtype=np.uint8))
    first = ingest.run(config, progress=False).set_index("file")
    assert "does not match" in first.loc["T01-L03-2026-05-01.png", "reason"]
    # Snakemake deletes a job's outputs before running it: the checks must not live only there.
    (tmp_path / "results/manifest.parquet").unlink()
    calls = []
    real = ingest.check_file
    monkeypatch.setattr(ingest, "check_file", lambda p, **kw: calls.append(p) or real(p, **kw))
    config["filename_pattern"] = r"(?P<tube>T\d+)[_-](?P<window>L\d+)[_-](?P<date>\d{4}-\d{2}-\d{2})"
    second = ingest.run(config, progress=False).set_index("file")
    assert calls == []
    assert second.loc["T01-L03-2026-05-01.png", "status"] == "accepted"


def test_series_without_a_metadata_row_are_named(tmp_path, capsys):
    config = campaign(tmp_path)
    (tmp_path / "meta.csv").write_text("tube,window,genotype\nT01,L01,WT\n")
    m = ingest.run(config, progress=False)
    out = capsys.readouterr().out
    assert "no row for series T01_L02" in out and "match no image" not in out
    assert m.loc[m["series"] == "T01_L02", "genotype"].isna().all()
    (tmp_path / "meta.csv").write_text("tube,window,genotype\nT01,L01,WT\nT01,L20,mutA\n")  # L02 mistyped
    ingest.run(config, progress=False)
    assert "Rows that match no image: tube=T01, window=L20 (a typo?)" in capsys.readouterr().out
    (tmp_path / "meta.csv").write_text("Tube,window,genotype\nT01,L01,WT\nT02,L01,mutA\n")
    with pytest.raises(ValueError, match="\\['Tube'\\] differ from file-name fields only in case"):
        ingest.run(config, progress=False)


def test_metadata_values_stay_as_written(tmp_path, capsys):
    # "NA" (a treatment code), "None" (no treatment applied) are values, not missing cells;
    # read as missing they would pool with the blank one.
    config = campaign(tmp_path, series=("T01_L01", "T01_L02", "T01_L03"))
    (tmp_path / "meta.csv").write_text("tube,window,genotype,treatment\nT01,L01,NA,None\n"
                                       "T01,L02,null,n/a\nT01,L03,WT,\n")
    m = ingest.run(config, progress=False).drop_duplicates("series").set_index("series")
    assert m.loc["T01_L01", ["genotype", "treatment"]].tolist() == ["NA", "None"]
    assert m.loc["T01_L02", ["genotype", "treatment"]].tolist() == ["null", "n/a"]
    assert pd.isna(m.loc["T01_L03", "treatment"])
    assert "empty cells in treatment (1 row)" in capsys.readouterr().out


def test_metadata_from_a_spreadsheet_export(tmp_path):
    config = campaign(tmp_path)
    # spaces around names and values, Excel's empty trailing rows and columns, a BOM
    (tmp_path / "meta.csv").write_bytes("\ufefftube , window,genotype,\r\nT01 ,L01, WT,\r\nT01,L02,mutA,\r\n"
                                        ",,,\r\n,,,\r\n"
                                        .encode("utf-8"))
    m = ingest.run(config, progress=False).drop_duplicates("series").set_index("series")
    assert m.loc["T01_L01", "genotype"] == "WT" and m.loc["T01_L02", "genotype"] == "mutA"
    (tmp_path / "meta.csv").write_text("tube,window,genotype\nT01,L01,Müller\n", encoding="cp1252")
    with pytest.raises(ValueError, match="meta.csv is not UTF-8 text: save it as 'CSV UTF-8"):
        ingest.run(config, progress=False)
    (tmp_path / "meta.csv").write_text("tube,window,genotype\nT01,L01,WT,extra\nT01,L02,mutA\n")
    with pytest.raises(ValueError, match="meta.csv cannot be read as CSV .*double quotes"):
        ingest.run(config, progress=False)


@pytest.mark.parametrize("column", ["status", "days", "n_tips", "total_length_mm", "length_mm_diam_0-0.5mm",
                                    "imaging_round", "length_gained_mm_n"])
def test_metadata_columns_named_like_results_are_refused(tmp_path, column):
    config = campaign(tmp_path)
    (tmp_path / "meta.csv").write_text(f"tube,window,{column}\nT01,L01,5\nT01,L02,6\n")
    with pytest.raises(ValueError, match=f"\\['{column}'\\] are names rootpipe uses"):
        ingest.run(config, progress=False)


def test_metadata_matching_no_image_stops_with_both_keys(tmp_path):
    config = campaign(tmp_path)
    (tmp_path / "meta.csv").write_text("tube,window,genotype\nT1,L01,WT\nT1,L02,mutA\n")  # T1, not T01
    with pytest.raises(ValueError, match="row for none of the images .*'tube': 'T1'.*'tube': 'T01'"):
        ingest.run(config, progress=False)


def test_series_names_that_clean_to_one_name_are_refused(tmp_path):
    config = campaign(tmp_path, series=("Müller_L01", "Möller_L01"))
    config["metadata_csv"] = None
    config["filename_pattern"] = r"(?P<tube>[^_]+)_(?P<window>L\d+)_(?P<date>\d{4}-\d{2}-\d{2})"
    with pytest.raises(ValueError, match="'Möller_L01' and 'Müller_L01' would all become 'M-ller_L01'"):
        ingest.run(config, progress=False)


def test_timestamps_without_a_format_are_iso_only(tmp_path):
    config = campaign(tmp_path, dates=("2026-05-01", "2026-05-08 13-45", "08.05.2026"))
    config.update(metadata_csv=None, timestamp_format=None,
                  filename_pattern=r"(?P<tube>T\d+)_(?P<window>L\d+)_(?P<date>\d[\d.: -]*\d)")
    m = ingest.run(config, progress=False).set_index("file")
    assert (m.loc["T01_L01_2026-05-01.png", "timestamp"] == pd.Timestamp("2026-05-01"))
    # read as 5 August by pandas' guess when it came first; now rejected, saying what to set
    assert m.loc["T01_L01_08.05.2026.png", "reason"].startswith("cannot parse timestamp '08.05.2026' as ISO 8601")
    assert "set timestamp_format" in m.loc["T01_L01_08.05.2026.png", "reason"]


def test_a_blank_capture_is_rejected(tmp_path):
    config = campaign(tmp_path)
    write_png(tmp_path / "images/T01_L01_2026-05-15.png", np.full((32, 48, 3), 3, np.uint8))  # lights off
    write_png(tmp_path / "images/T01_L02_2026-05-15.png", np.full((32, 48, 3), 255, np.uint8))  # overexposed
    dim = np.random.default_rng(3).integers(0, 12, (32, 48, 3), dtype=np.uint8)  # dark, but an image
    write_png(tmp_path / "images/T01_L03_2026-05-15.png", dim)
    m = ingest.run(config, progress=False).set_index("file")
    assert m.loc["T01_L01_2026-05-15.png", "reason"].startswith("blank image (every pixel near 3)")
    assert m.loc["T01_L02_2026-05-15.png", "reason"].startswith("blank image (every pixel near 255)")
    assert m.loc["T01_L03_2026-05-15.png", "status"] == "accepted"


def test_blank_colour_and_transparent_captures_are_rejected_too(tmp_path):
    config = campaign(tmp_path)
    black = np.zeros((32, 48, 4), np.uint8)
    black[..., 3] = 255  # opaque alpha: no contrast in the picture
    write_png(tmp_path / "images/T01_L01_2026-05-15.png", black)
    write_png(tmp_path / "images/T01_L02_2026-05-15.png", np.full((32, 48, 3), (200, 150, 100), np.uint8))
    m = ingest.run(config, progress=False).set_index("file")
    assert m.loc["T01_L01_2026-05-15.png", "reason"].startswith("blank image")
    assert m.loc["T01_L02_2026-05-15.png", "reason"].startswith("blank image")


def test_images_scaled_from_different_bit_depths_are_pointed_out(tmp_path, capsys):
    import tifffile

    config = campaign(tmp_path)
    rng = np.random.default_rng(5)
    tifffile.imwrite(tmp_path / "images/T01_L01_2026-05-15.tif", rng.integers(0, 16000, (32, 48), dtype=np.uint16))
    tifffile.imwrite(tmp_path / "images/T01_L02_2026-05-15.tif", rng.integers(0, 3000, (32, 48), dtype=np.uint16))
    m = ingest.run(config, progress=False).set_index("file")
    assert m.loc["T01_L01_2026-05-15.tif", "bit_depth"] == 14 and m.loc["T01_L02_2026-05-15.tif", "bit_depth"] == 12
    out = capsys.readouterr().out
    assert "scaled from different bit depths (12 bits: 1 image(s), 14 bits: 1 image(s)" in out
    assert "bit_depth: 14" in out
    ingest.run({**config, "bit_depth": 14}, progress=False)
    assert "different bit depths" not in capsys.readouterr().out


def test_a_campaign_across_a_daylight_saving_change_is_read_at_wall_clock_time(tmp_path):
    rng = np.random.default_rng(2)
    for stamp in ("2026-03-28_1000+0100", "2026-03-30_1000+0200"):
        write_png(tmp_path / f"images/T01_L01_{stamp}.png", rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    config = cfg.load({"input_dir": str(tmp_path / "images"), "results_dir": str(tmp_path / "results"),
                       "filename_pattern": r"(?P<tube>T\d+)_(?P<window>L\d+)_(?P<date>[\d_+-]+)",
                       "timestamp_format": "%Y-%m-%d_%H%M%z"})
    m = ingest.run(config, progress=False)  # mixed UTC offsets crashed pandas before
    assert (m["status"] == "accepted").all()
    assert list(m["timestamp"]) == [pd.Timestamp("2026-03-28 10:00"), pd.Timestamp("2026-03-30 10:00")]
    assert list(m["session"]) == ["2026-03-28", "2026-03-30"]


def test_extensions_are_found_with_or_without_their_dot(tmp_path):
    for name in ("a.png", "b.TIF", "c.ome.tif", "d.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert list(ingest.scan(tmp_path, ["png", ".tif"])["file"]) == ["a.png", "b.TIF", "c.ome.tif"]
    assert list(ingest.scan(tmp_path, [".ome.tif"])["file"]) == ["c.ome.tif"]


def test_a_thumbnail_is_rejected_as_too_small(tmp_path):
    config = campaign(tmp_path)
    rng = np.random.default_rng(3)
    write_png(tmp_path / "images/T01_L01_2026-05-15.png", rng.integers(0, 255, (10, 12, 3), dtype=np.uint8))
    write_png(tmp_path / "images/T01_L02_2026-05-15.png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    m = ingest.run(config, progress=False).set_index("file")
    assert m.loc["T01_L01_2026-05-15.png", "reason"].startswith("image is only 12 x 10 px")
    assert m.loc["T01_L02_2026-05-15.png", "status"] == "accepted"


def test_checks_cached_by_an_earlier_version_are_made_again(tmp_path, capsys):
    # A campaign ingested before blank captures were rejected: its cache says the blank one is fine.
    config = campaign(tmp_path)
    write_png(tmp_path / "images/T01_L01_2026-05-15.png", np.full((32, 48, 3), 3, np.uint8))
    ingest.run(config, progress=False)
    cache = tmp_path / "results" / ingest.CHECKS_CACHE
    old = pd.read_parquet(cache).drop(columns="check_version")
    old["status"], old["reason"] = "accepted", None
    old.to_parquet(cache)
    m = ingest.run(config, progress=False).set_index("file")
    assert "checking every image again" in capsys.readouterr().out
    assert m.loc["T01_L01_2026-05-15.png", "reason"].startswith("blank image")
    assert (pd.read_parquet(cache)["check_version"] == ingest.CHECK_VERSION).all()


def test_deep_images_are_judged_blank_at_their_own_bit_depth(tmp_path):
    import tifffile

    config = campaign(tmp_path)
    rng = np.random.default_rng(4)
    # A 12-bit camera's normal, low-contrast frame: not blank though its spread is small in 16 bits.
    tifffile.imwrite(tmp_path / "images/T01_L01_2026-05-15.tif",
                     rng.normal(2000, 60, (32, 48)).clip(0, 4095).astype(np.uint16))
    tifffile.imwrite(tmp_path / "images/T01_L02_2026-05-15.tif",
                     rng.normal(2000, 5, (32, 48)).clip(0, 4095).astype(np.uint16))  # a failed capture
    m = ingest.run(config, progress=False).set_index("file")
    assert m.loc["T01_L01_2026-05-15.tif", "status"] == "accepted"
    assert m.loc["T01_L02_2026-05-15.tif", "reason"].startswith("blank image")


def test_a_broken_link_is_rejected_and_the_rest_ingested(tmp_path):
    config = campaign(tmp_path)
    os.symlink(tmp_path / "gone.png", tmp_path / "images/T01_L01_2026-05-15.png")
    m = ingest.run(config, progress=False).set_index("file")
    assert m.loc["T01_L01_2026-05-15.png", "reason"] == (
        f"cannot read: No such file or directory (a link to {tmp_path / 'gone.png'}, which does not exist)")
    assert (m["status"] == "accepted").sum() == 4


def test_a_rerun_with_nothing_new_writes_the_same_manifest_bytes(tmp_path):
    # Snakemake compares small outputs by checksum: equal bytes spare collect, track and report.
    config = campaign(tmp_path)
    ingest.run(config, progress=False)
    first = (tmp_path / "results/manifest.parquet").read_bytes()
    ingest.run(config, progress=False)
    assert (tmp_path / "results/manifest.parquet").read_bytes() == first


def test_a_shared_hash_is_not_taken_for_a_copy_unless_the_bytes_agree(tmp_path, monkeypatch):
    import tifffile

    config = campaign(tmp_path)
    rng = np.random.default_rng(8)
    for stem in ("T02_L01_2026-05-01", "T02_L02_2026-05-01"):  # same size, different pixels
        tifffile.imwrite(tmp_path / f"images/{stem}.tif", rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    real = ingest.check_file
    # a collision
    monkeypatch.setattr(ingest, "check_file", lambda p, **kw: {**real(p, **kw), "content_hash": "0000beef"})
    m = ingest.run(config, progress=False).set_index("file")
    assert (m.loc[["T02_L01_2026-05-01.tif", "T02_L02_2026-05-01.tif"], "status"] == "accepted").all()


def test_linked_folders_are_followed_once(tmp_path):
    config = campaign(tmp_path)
    elsewhere = tmp_path / "disk2/session3"
    elsewhere.mkdir(parents=True)
    write_png(elsewhere / "T01_L01_2026-05-15.png", np.random.default_rng(9).integers(0, 255, (32, 48, 3), np.uint8))
    os.symlink(elsewhere, tmp_path / "images/session3")
    os.symlink(tmp_path / "images", tmp_path / "images/loop")  # a link back up must not loop
    m = ingest.run(config, progress=False)
    assert (m["status"] == "accepted").sum() == 5 and len(m) == 5


def test_a_series_with_images_minutes_apart_is_warned_of(tmp_path, capsys):
    rng = np.random.default_rng(3)
    folder = tmp_path / "images"
    for day in ("2016.05.26", "2016.06.01"):
        for k, window in enumerate(("L01", "L02", "L03")):  # a tube's windows, imaged 30 s apart
            write_png(folder / f"T064_{window}_{day}_1537{20 + 30 * k // 60}{30 * k % 60:02d}.png",
                      rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    settings = {"input_dir": str(folder), "results_dir": str(tmp_path / "results"),
                "filename_pattern": r"(?P<tube>T\d+)_(?P<window>L\d+)_(?P<date>[\d.]+)_(?P<time>\d{6})",
                "timestamp_fields": ["date", "time"], "timestamp_format": "%Y.%m.%d %H%M%S"}
    ingest.run(cfg.load({**settings, "series_fields": ["tube"]}), progress=False)  # the window left out
    out = capsys.readouterr().out
    assert "warning: 1 series have images less than 5 minutes apart (e.g. T064:" in out
    assert "add the file-name field that tells them apart to series_fields (now ['tube'])" in out
    ingest.run(cfg.load({**settings, "series_fields": ["tube", "window"]}), progress=False)
    assert "minutes apart" not in capsys.readouterr().out


def test_a_format_that_reads_only_some_names_warns_that_those_may_be_wrong(tmp_path, capsys):
    rng = np.random.default_rng(4)
    for day in ("2016.05.26", "2016.06.01", "2016.06.08"):
        write_png(tmp_path / "images" / f"T01_L01_{day}.png", rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    config = cfg.load({"input_dir": str(tmp_path / "images"), "results_dir": str(tmp_path / "results"),
                       "filename_pattern": r"(?P<tube>T\d+)_(?P<window>L\d+)_(?P<date>\d{4}\.\d\d\.\d\d)",
                       "timestamp_format": "%Y.%d.%m"})  # day and month swapped
    m = ingest.run(config, progress=False)
    assert (m["status"] == "accepted").sum() == 2  # 06-01 and 06-08 read as 6 January and 6 August
    out = capsys.readouterr().out
    assert "could not read the timestamps of 1 names but read 2" in out and "read as 2016-01-06" in out


def test_an_optional_series_field_left_empty_adds_no_separator(tmp_path):
    rng = np.random.default_rng(5)
    for name in ("409_2024-06-20.png", "409R_2024-06-20.png"):  # a plant and its replicate
        write_png(tmp_path / "images" / name, rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    config = cfg.load({"input_dir": str(tmp_path / "images"), "results_dir": str(tmp_path / "results"),
                       "filename_pattern": r"^(?P<plant>\d+)(?P<rep>R?)_(?P<date>\d{4}-\d{2}-\d{2})",
                       "series_fields": ["plant", "rep"]})
    m = ingest.run(config, progress=False)
    assert sorted(m["series"]) == ["409", "409_R"] and m["image_id"].str.startswith(("409_2024", "409_R_")).all()
