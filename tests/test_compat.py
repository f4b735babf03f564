"""rootpipe/compat.py: a results folder from another rootpipe is carried forward or refused, knowingly;
`rootpipe train` takes its defaults from the config schema and its flags override the config."""
import json

import pytest

from rootpipe import cli
from rootpipe.compat import LAYOUT_FILE, RESULTS_LAYOUT, check_results_layout


def test_a_new_results_folder_records_its_layout(tmp_path):
    assert check_results_layout(tmp_path / "results", "9.9") is None
    record = json.loads((tmp_path / "results" / LAYOUT_FILE).read_text())
    assert record == {"layout": RESULTS_LAYOUT, "rootpipe": "9.9"}


def test_a_folder_from_before_layouts_were_recorded_is_carried_forward_with_a_note(tmp_path):
    (tmp_path / "traits.parquet").write_bytes(b"made by an older rootpipe")
    note = check_results_layout(tmp_path, "9.9")
    assert "earlier rootpipe" in note and "carried forward" in note
    assert check_results_layout(tmp_path, "9.9") is None  # recorded now: said once


def test_a_folder_of_a_newer_layout_is_refused_with_the_upgrade_command(tmp_path):
    (tmp_path / LAYOUT_FILE).write_text(json.dumps({"layout": RESULTS_LAYOUT + 1, "rootpipe": "99.0"}))
    with pytest.raises(ValueError, match="newer rootpipe.*pip install --upgrade rootpipe"):
        check_results_layout(tmp_path, "9.9")
    assert json.loads((tmp_path / LAYOUT_FILE).read_text())["layout"] == RESULTS_LAYOUT + 1  # left as it was


def test_an_unreadable_layout_record_names_the_file(tmp_path):
    (tmp_path / LAYOUT_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=f"{LAYOUT_FILE} cannot be read"):
        check_results_layout(tmp_path, "9.9")


def _train_args(*argv):
    return cli.parser().parse_args(["train", "--out", "m.safetensors", *argv])


def test_train_defaults_come_from_the_schema_and_the_config_then_the_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config/config.yaml here: the schema's defaults alone
    settings = cli._train_settings(_train_args("--pairs", "p.csv"))
    picked = lambda s: (s["epochs"], s["lr"], s["augmentation"], s["tile_px"])
    assert picked(settings) == (10, 0.002, "full", 256)
    config = tmp_path / "train.yaml"
    config.write_text("train:\n  epochs: 3\n  lr: 0.0005\n  augmentation: lab\n  pairs: from_config.csv\n")
    settings = cli._train_settings(_train_args("--config", str(config), "--epochs", "7", "--tile", "128"))
    assert picked(settings) == (7, 0.0005, "lab", 128)
    assert settings["pairs"] == "from_config.csv"
    # --folder trains on the folder alone: the config's pairs do not join it
    assert cli._train_settings(_train_args("--config", str(config), "--folder", "f"))["pairs"] is None
    # a boolean key is a --flag / --no-flag pair
    assert cli._train_settings(_train_args("--pairs", "p.csv"))["pick_threshold"] is False
    assert cli._train_settings(_train_args("--pairs", "p.csv", "--pick-threshold"))["pick_threshold"] is True
    config.write_text("train:\n  pick_threshold: true\n")
    assert cli._train_settings(_train_args("--config", str(config), "--no-pick-threshold"))["pick_threshold"] is False


def test_a_train_flag_outside_the_schema_is_refused_by_the_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="augmentation"):
        cli._train_settings(_train_args("--pairs", "p.csv", "--augmentation", "heavy"))
    with pytest.raises(ValueError, match="lab_fraction"):
        cli._train_settings(_train_args("--pairs", "p.csv", "--lab-fraction", "1.5"))
