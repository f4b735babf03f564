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
