import pytest

from rootpipe import config


def test_defaults_are_filled_including_nested_sections():
    c = config.load({})
    assert c["segment"]["tile_px"] == 512 and c["batch_size"] == 50


def test_invalid_values_name_the_key():
    with pytest.raises(ValueError, match="segment.tile_px"):
        config.load({"segment": {"tile_px": 100}})
    with pytest.raises(ValueError, match="Additional properties"):
        config.load({"batchsize": 3})


def test_dpi_gives_pixel_size():
    assert config.pixel_size_mm(config.load({"dpi": 254, "pixel_size_mm": None})) == pytest.approx(0.1)


def test_shipped_config_is_valid():
    c = config.load(config.SCHEMA_PATH.parents[2] / "config" / "config.yaml")
    assert c["series_fields"] == ["tube", "window"]


def test_a_stage_slice_with_the_campaigns_fields_loads_and_the_whole_config_is_checked():
    # The track rule passes series_fields and timestamp_fields but not filename_pattern: the slice
    # must load, and the check of fields against the pattern belongs to the whole config.
    fields = {"series_fields": ["plant"], "timestamp_fields": ["date", "time"]}
    sliced = config.load(fields)
    with pytest.raises(ValueError, match="no named group for \\['plant', 'time'\\]"):
        config.check_filename_fields(sliced)
    config.check_filename_fields(config.load(
        {**fields, "filename_pattern": r"(?P<plant>P\d+)_(?P<date>\d+)_(?P<time>\d+)"}))
    with pytest.raises(ValueError, match="not a valid regular expression"):
        config.load({"filename_pattern": r"(?P<tube>T\d+"})


@pytest.mark.parametrize("change, key", [
    ({"traits": {"diameter_classes_mm": [2.0, 0.5]}}, "traits.diameter_classes_mm"),
    ({"segment": {"device": "gpu"}}, "segment.device"),
    ({"track": {"max_shift": 50}}, "max_shift"),
])
def test_values_a_job_would_refuse_are_refused_up_front(change, key):
    with pytest.raises(ValueError, match=key):
        config.load(change)


def test_a_campaign_may_not_set_both_pixel_size_and_dpi():
    with pytest.raises(ValueError, match="both pixel_size_mm \\(0.05\\) and dpi \\(600\\) are set"):
        config.check_campaign({"pixel_size_mm": 0.05, "dpi": 600})
    assert config.pixel_size_mm(config.check_campaign({"dpi": 600})) == 25.4 / 600  # the default stays out of it


def test_rootpipe_run_names_a_bad_config_without_a_traceback(tmp_path, capsys):
    from rootpipe.cli import main

    bad = tmp_path / "campaign.yaml"
    bad.write_text("segment:\n  treshold: 0.3\n")
    assert main(["run", "--configfile", str(bad), "-n"]) == 2
    assert "rootpipe run: error: invalid rootpipe configuration" in capsys.readouterr().err


def test_a_metadata_table_that_is_not_there_is_named_before_snakemake_starts(tmp_path, capsys, monkeypatch):
    from rootpipe.cli import main

    (tmp_path / "images").mkdir()
    (tmp_path / "campaign.yaml").write_text("input_dir: images\nmetadata_csv: demo/metadata.csv\n")  # a copied config
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--configfile", "campaign.yaml", "-n"]) == 2
    err = capsys.readouterr().err
    assert "metadata_csv demo/metadata.csv does not exist" in err and "metadata_csv: null" in err


def test_yaml_mistakes_are_named_with_their_line(tmp_path, capsys):
    from rootpipe.cli import main

    tab = tmp_path / "tab.yaml"
    tab.write_text("results_dir: r\nsegment:\n\tmethod: classical\n")
    assert main(["run", "--configfile", str(tab), "-n"]) == 2
    assert "is not valid YAML, line 3, column 1" in capsys.readouterr().err
    twice = tmp_path / "twice.yaml"
    twice.write_text("pixel_size_mm: 0.02\nresults_dir: r\npixel_size_mm: 0.05\n")  # plain YAML keeps 0.05
    with pytest.raises(ValueError, match="'pixel_size_mm' is given twice \\(lines 1 and 3\\)"):
        config.load(twice)
    listed = tmp_path / "listed.yaml"
    listed.write_text("- input_dir: images\n")
    assert main(["run", "--configfile", str(listed), "-n"]) == 2
    assert "holds no settings" in capsys.readouterr().err


def test_unnamed_groups_in_the_pattern_are_refused():
    with pytest.raises(ValueError, match="groups without a name"):
        config.load({"filename_pattern": r"(?P<tube>T\d+)_(?P<window>L\d+)_(?P<date>\d{4}-\d\d-\d\d)(\.png|\.jpg)"})
    config.load({"filename_pattern": r"(?P<tube>T\d+)_(?P<window>L\d+)_(?P<date>\d{4}-\d\d-\d\d)(?:\.png|\.jpg)"})


@pytest.mark.parametrize("name", ["status", "batch", "session", "n_tips"])
def test_pattern_groups_named_like_rootpipes_columns_are_refused(name):
    # status would stop every file being decoded; batch or session be overwritten (and grouped by)
    pattern = rf"(?P<{name}>B\d)_(?P<tube>T\d+)_(?P<date>\d{{4}}-\d\d-\d\d)"
    with pytest.raises(ValueError, match=rf"filename_pattern names group\(s\) \['{name}'\]"):
        config.check_campaign({"filename_pattern": pattern, "series_fields": ["tube"], "timestamp_fields": ["date"]})


def test_a_group_by_typo_is_caught_from_the_metadata_header(tmp_path):
    (tmp_path / "meta.csv").write_text("\ufefftube,window, genotype\nT01,L01,WT\n")
    campaign = {"metadata_csv": str(tmp_path / "meta.csv"), "track": {"group_by": ["genotype"]}}
    config.check_campaign(dict(campaign))
    with pytest.raises(ValueError, match="track.group_by names \\['genotpye'\\]"):
        config.check_campaign({**campaign, "track": {"group_by": ["genotpye"]}})
    for timed in ("date", "series"):  # refused at the start, not after every image is segmented
        with pytest.raises(ValueError, match=f"track.group_by names \\['{timed}'\\]: the series name"):
            config.check_campaign({**campaign, "track": {"group_by": [timed]}})


def test_a_stage_run_by_hand_on_a_campaign_file_gets_the_campaign_checks(tmp_path, capsys):
    import json

    from rootpipe.cli import main

    (tmp_path / "meta.csv").write_text("tube,window,genotype\nT01,L01,WT\n")
    campaign = {"input_dir": str(tmp_path), "results_dir": str(tmp_path / "results"),
                "metadata_csv": str(tmp_path / "meta.csv"), "track": {"group_by": ["genotpye"]}}
    (tmp_path / "campaign.yaml").write_text(json.dumps(campaign))  # JSON is YAML
    assert main(["ingest", "--config", str(tmp_path / "campaign.yaml"), "--quiet"]) == 2
    assert "track.group_by names ['genotpye']" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()  # refused before ingest wrote anything


def test_a_run_from_the_wrong_folder_claims_nothing(tmp_path, monkeypatch, capsys):
    from rootpipe.cli import main

    (tmp_path / "campaign.yaml").write_text(f"input_dir: images\nresults_dir: {tmp_path / 'results'}\n")
    monkeypatch.chdir(tmp_path)  # no images/ here
    assert main(["run", "--configfile", "campaign.yaml", "-n"]) == 2
    err = capsys.readouterr().err
    assert f"input_dir images ({tmp_path / 'images'}: relative paths start from" in err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("content, message", [
    ("not a model\n", "segment.checkpoint: model.pt is not a safetensors file"),
    (None, "segment.checkpoint model.pt does not exist"),
])
def test_a_bad_checkpoint_stops_the_run_before_any_job(tmp_path, monkeypatch, capfd, content, message):
    from rootpipe.cli import main

    (tmp_path / "images").mkdir()
    if content:
        (tmp_path / "model.pt").write_text(content)
    (tmp_path / "campaign.yaml").write_text("input_dir: images\nresults_dir: results\npixel_size_mm: 0.05\n"
                                            "segment:\n  checkpoint: model.pt\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--configfile", "campaign.yaml", "-n"]) != 0
    out = capfd.readouterr()
    assert message in out.out + out.err


def test_version_is_printed(capsys):
    from rootpipe import __version__
    from rootpipe.cli import main

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"rootpipe {__version__}"


def test_segment_batches_per_job_groups_segment_jobs_on_slurm_only_when_asked():
    from rootpipe.run import gpu_job_groups

    settings = config.load({"segment_batches_per_job": 8})
    assert gpu_job_groups(settings, []) == ["--groups", "segment=gpu", "--group-components", "gpu=8"]
    assert gpu_job_groups(config.load({}), []) == []  # the default: the profile's per-batch groups
    assert gpu_job_groups(settings, ["--groups", "segment=mine"]) == []  # the command line's own wins
    with pytest.raises(ValueError, match="segment_batches_per_job"):
        config.load({"segment_batches_per_job": 0})


def test_every_setting_is_documented_in_the_config_readme():
    from pathlib import Path

    schema = config.load_schema()["properties"]
    keys = [f"{k}.{kk}" if "properties" in v else k
            for k, v in schema.items() for kk in (v.get("properties") or [None])]
    documented = (Path(__file__).resolve().parents[1] / "config" / "README.md").read_text()
    assert [k for k in keys if f"`{k}`" not in documented] == []
