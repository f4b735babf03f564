"""Annotations and training inputs: every kind loads as drawn, and bad input is refused by name."""
import json
import os

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rootpipe import rsml
from rootpipe.annotations import UNLABELLED, load_labels, read_pairs
from rootpipe.atomic import atomic_path
from rootpipe.cli import main
from rootpipe.segment import checkpoint
from rootpipe.train import pool, train

from conftest import write_png


def test_rsml_centrelines_are_drawn_where_the_file_puts_them(tmp_path):
    # One horizontal root on row 10 from x = 5 to 45, one vertical root on column 50: (y, x) in the
    # file must land as (row, col), not transposed.
    horizontal = np.array([[10.0, 5.0], [10.0, 45.0]])
    vertical = np.array([[20.0, 50.0], [55.0, 50.0]])
    path = rsml.write_rsml([(horizontal, None), (vertical, None)], tmp_path / "a.rsml")
    labels = load_labels(path, "rsml_centrelines", (60, 70), rsml_width_px=3)
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1}
    assert labels[10, 5:46].all() and labels[9, 10:40].all() and labels[11, 10:40].all()
    assert not labels[13, 10:40].any()  # 3 px wide: rows 9-11 only
    assert labels[20:56, 50].all() and not labels[20:56, 53].any()


def test_a_broken_rsml_file_is_named(tmp_path):
    bad = tmp_path / "broken.rsml"
    bad.write_text("<rsml><scene><plant>")
    with pytest.raises(ValueError, match="broken.rsml is not valid RSML"):
        load_labels(bad, "rsml_centrelines", (10, 10))


def test_rootpainter_type_refuses_a_greyscale_mask(tmp_path):
    grey = np.zeros((64, 64), np.uint8)
    grey[10:14, 0] = 255  # read as RGB this would label whole rows as root
    with pytest.raises(ValueError, match="g.png is not an RGB"):
        load_labels(write_png(tmp_path / "g.png", grey), "rootpainter", (64, 64))


def test_a_jpeg_mask_is_not_widened_by_compression_noise(tmp_path):
    mask = np.zeros((96, 96), np.uint8)
    mask[20:76, 40:44] = 255
    mask[50:54, 10:90] = 255
    path = tmp_path / "m.jpg"
    Image.fromarray(mask).save(path, quality=75)
    noisy = np.asarray(Image.open(path))
    assert (noisy > 0).sum() > 1.15 * (mask > 0).sum()  # what "nonzero = root" would count
    labels = load_labels(path, "mask", (96, 96))
    assert np.array_equal(labels, load_labels(path, "mask_jpg_gt127", (96, 96)))
    assert abs(int(labels.sum()) - int((mask > 0).sum())) < 0.1 * (mask > 0).sum()


def _pairs_csv(tmp_path, rows):
    table = pd.DataFrame(rows, columns=["image", "annotation", "annotation_type", "split", "dataset"])
    table.to_csv(tmp_path / "pairs.csv", index=False)
    return tmp_path / "pairs.csv"


def test_read_pairs_names_what_the_csv_has(tmp_path):
    csv = _pairs_csv(tmp_path, [("a.png", "a_m.png", "mask", "train", "soy"),
                                ("b.png", "b_m.png", "mask", "test", "soy")])
    with pytest.raises(ValueError, match="no rows with split 'testing'.*test, train"):
        read_pairs(csv, "testing")
    with pytest.raises(ValueError, match="no rows with dataset 'Soy'.*soy"):
        read_pairs(csv, dataset="Soy")
    assert read_pairs(csv, "val", "soy", allow_empty=True).empty
    assert len(read_pairs(csv, "test", "soy")) == 1
    pd.read_csv(csv).drop(columns="dataset").to_csv(tmp_path / "nodataset.csv", index=False)
    with pytest.raises(ValueError, match="no dataset column"):
        read_pairs(tmp_path / "nodataset.csv", dataset="soy")
    blank = _pairs_csv(tmp_path, [("a.png", "a_m.png", "mask", "train", "soy"),
                                  ("b.png", None, "mask", "train", "soy")])
    with pytest.raises(ValueError, match="line\\(s\\) 3"):
        read_pairs(blank)


def _tiny_pairs(tmp_path, n=3, roots=True):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        img = rng.integers(40, 90, (96, 96, 3), dtype=np.uint8)
        mask = np.zeros((96, 96), np.uint8)
        if roots:
            img[:, 40:45] = 220
            mask[:, 40:45] = 255
        rows.append((str(write_png(tmp_path / f"i{i}.png", img)), str(write_png(tmp_path / f"m{i}.png", mask)),
                     "mask"))
    return pd.DataFrame(rows, columns=["image", "annotation", "annotation_type"])


@pytest.mark.parametrize("change, message", [
    ({"tile": 100}, "multiple of 32"),
    ({"steps_per_epoch": 0}, "--steps"),
    ({"root_fraction": 2.0}, "--root-fraction"),
    ({"out": "DIR"}, "is a folder"),
])
def test_bad_training_settings_are_refused_before_any_decoding(tmp_path, change, message):
    missing = pd.DataFrame({"image": ["nowhere.png"], "annotation": ["nowhere_m.png"], "annotation_type": ["mask"]})
    kwargs = {"epochs": 1, "steps_per_epoch": 1, "tile": 64, "out": tmp_path / "m.safetensors", **change}
    if kwargs["out"] == "DIR":
        kwargs["out"] = tmp_path
    out = kwargs.pop("out")
    with pytest.raises(ValueError, match=message):  # a decoding error would be FileNotFoundError
        train(missing, missing, out, progress=False, **kwargs)


def test_training_into_its_own_init_checkpoint_is_refused(tmp_path):
    init = tmp_path / "init.safetensors"
    checkpoint.new(init, encoder="mobilenet_v2")
    before = init.read_bytes()
    pairs = _tiny_pairs(tmp_path)
    with pytest.raises(ValueError, match="is the --init checkpoint"):
        train(pairs, pairs, init, init=str(init), epochs=1, steps_per_epoch=1, tile=64, progress=False)
    assert init.read_bytes() == before


def test_validation_without_roots_cannot_pick_an_empty_epoch(tmp_path, capsys):
    assert np.isnan(pool([{"tp": 0, "fp": 0, "fn": 0}])["f1"])  # not a perfect 1.0
    train_pairs, empty_val = _tiny_pairs(tmp_path / "t", 2), _tiny_pairs(tmp_path / "v", 1, roots=False)
    header = train(train_pairs, empty_val, tmp_path / "m.safetensors", epochs=2, steps_per_epoch=1, batch=2,
                   tile=64, progress=False)
    assert "no annotated root pixel" in capsys.readouterr().out
    assert header["scores"]["epoch"] == 2 and np.isnan(header["scores"]["validation"]["f1"])


def test_written_files_get_the_umask_mode_and_a_failed_rename_leaves_nothing(tmp_path):
    with atomic_path(tmp_path / "model.bin") as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)  # as safetensors creates its files
        os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "model.bin").stat().st_mode & 0o777 == 0o666 & ~umask
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep")
    with pytest.raises(OSError):
        with atomic_path(tmp_path / "taken") as tmp:
            tmp.write_text("a file cannot replace a folder")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert (tmp_path / "taken" / "x").read_text() == "keep"


def test_checkpoint_headers_that_cannot_build_a_network_are_refused(tmp_path):
    from safetensors.torch import save_file
    import torch

    for name, meta in (("notjson", "{'format': 1}"),
                       ("noencoder", json.dumps({"format": checkpoint.FORMAT, "architecture": "Unet"})),
                       ("list", json.dumps([1, 2]))):
        save_file({"w": torch.zeros(1)}, str(tmp_path / f"{name}.safetensors"),
                  metadata={checkpoint.HEADER_KEY: meta})
        with pytest.raises(checkpoint.NotACheckpoint, match=f"{name}.safetensors"):
            checkpoint.read_header(tmp_path / f"{name}.safetensors")
    with pytest.raises(ValueError, match="is a folder; give the .safetensors file"):
        checkpoint.read_header(tmp_path)
    with pytest.raises(ValueError, match="unknown smp encoder 'mobilenetv2'"):
        checkpoint.build_model({"architecture": "Unet", "encoder": "mobilenetv2"})


def test_evaluate_refuses_a_folder_as_out_before_scoring(tmp_path, capsys):
    csv = _pairs_csv(tmp_path, [("nowhere.png", "nowhere_m.png", "mask", "test", "soy")])
    code = main(["evaluate", "--pairs", str(csv), "--split", "test", "--out", str(tmp_path), "--quiet"])
    assert code == 2 and "is a folder" in capsys.readouterr().err
    code = main(["evaluate", "--pairs", str(csv), "--split", "testing", "--quiet"])
    assert code == 2 and "the split values there: test" in capsys.readouterr().err
