"""Annotations and training inputs: every kind loads as drawn, and bad input is refused by name."""
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import write_png
from PIL import Image

from rootpipe.cli import main
from rootpipe.io import rsml
from rootpipe.io.atomic import atomic_path
from rootpipe.learn.annotations import load_labels, read_pairs
from rootpipe.learn.metrics import pool
from rootpipe.learn.train import train
from rootpipe.segmentation import checkpoint


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
    import torch
    from safetensors.torch import save_file

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


def _drawn(shape=(40, 50)):
    """A mask with one 3 px root along row 20 (about 6 % of the pixels)."""
    root = np.zeros(shape, bool)
    root[19:22, 5:45] = True
    return root


@pytest.mark.parametrize("form", ["grey01", "grey255", "green_on_black", "blue_on_black", "black_on_transparent",
                                  "white_on_transparent_white", "resampling_noise"])
def test_masks_in_every_common_form_read_as_drawn(tmp_path, form):
    root = _drawn()
    rgba = np.zeros((*root.shape, 4), np.uint8)
    arrays = {
        "grey01": root.astype(np.uint8),
        "grey255": root.astype(np.uint8) * 255,
        "green_on_black": np.stack([np.zeros_like(root), root, np.zeros_like(root)], -1).astype(np.uint8) * 255,
        "blue_on_black": np.stack([np.zeros_like(root), np.zeros_like(root), root], -1).astype(np.uint8) * 255,
        "resampling_noise": (root * 255 + np.random.default_rng(0).integers(0, 3, root.shape)).clip(0, 255)
        .astype(np.uint8),
    }
    if form == "black_on_transparent":  # opaque black strokes on a transparent layer
        rgba[..., 3] = root * 255
        arrays[form] = rgba
    if form == "white_on_transparent_white":  # the background white too, but transparent
        rgba[..., :3] = 255
        rgba[..., 3] = root * 255
        arrays[form] = rgba
    labels = load_labels(write_png(tmp_path / "m.png", arrays[form]), "mask", root.shape)
    assert (labels == 1).sum() == root.sum() and (labels[root] == 1).all()


def test_masks_that_cannot_be_read_right_are_refused(tmp_path):
    from conftest import write_jpeg

    root = _drawn()
    with pytest.raises(ValueError, match="0/1 mask does not survive JPEG"):
        load_labels(write_jpeg(tmp_path / "m.jpg", root.astype(np.uint8)), "mask", root.shape)
    painted = np.zeros((*root.shape, 3), np.uint8)
    painted[root] = (255, 0, 0)
    painted[:5] = (0, 255, 0)
    with pytest.raises(ValueError, match="annotation type 'rootpainter'"):
        load_labels(write_png(tmp_path / "rp.png", painted), "mask", root.shape)


def test_training_refuses_annotations_without_roots_and_flags_inverted_ones(tmp_path, capsys):
    pairs = _tiny_pairs(tmp_path / "t", 2, roots=False)
    with pytest.raises(ValueError, match="no training annotation marks a root pixel"):
        train(pairs, pairs.iloc[:0], tmp_path / "m.safetensors", epochs=1, steps_per_epoch=1, tile=64,
              progress=False)
    pairs = _tiny_pairs(tmp_path / "u", 2)
    for path in pairs["annotation"]:  # inverted: black roots on white
        write_png(path, 255 - np.array(Image.open(path)))
    train(pairs, pairs.iloc[:0], tmp_path / "m.safetensors", epochs=1, steps_per_epoch=1, batch=2, tile=64,
          progress=False)
    assert "as root; inverted (black roots on white)?" in capsys.readouterr().out


def test_annotations_without_background_are_refused_or_flagged(tmp_path, capsys):
    pairs = _tiny_pairs(tmp_path, 2)
    painted = np.full((96, 96, 3), 255, np.uint8)  # RootPainter: white = unlabelled
    painted[:, 40:45] = (255, 0, 0)  # red root strokes, no green background anywhere
    write_png(pairs.loc[0, "annotation"], painted)
    red_only = pairs.iloc[:1].assign(annotation_type="rootpainter")
    with pytest.raises(ValueError, match="no training annotation marks a background pixel"):
        train(red_only, red_only.iloc[:0], tmp_path / "m.safetensors", epochs=1, steps_per_epoch=1, tile=64,
              progress=False)
    mixed = pd.concat([red_only, pairs.iloc[1:]])  # another annotation gives background: a warning
    train(mixed, mixed.iloc[:0], tmp_path / "m.safetensors", epochs=1, steps_per_epoch=1, batch=2, tile=64,
          progress=False)
    out = capsys.readouterr().out
    assert f"annotation {red_only.iloc[0]['annotation']} marks roots (red) but no background" in out
    assert "inverted" not in out


def test_an_image_in_both_training_and_validation_is_refused(tmp_path):
    pairs = _tiny_pairs(tmp_path, 3)
    val = pairs.iloc[2:].copy()
    val["image"] = str(tmp_path / "." / Path(val.iloc[0]["image"]).name)  # the same file, spelt otherwise
    with pytest.raises(ValueError, match=r"1 image\(s\) are in both the training and the validation"):
        train(pairs, val, tmp_path / "m.safetensors", epochs=1, steps_per_epoch=1, tile=64, progress=False)


def test_folder_pairs_say_what_was_left_out(tmp_path, capsys):
    from rootpipe.learn.annotations import pairs_from_folder

    for stem in ("a", "b", "c"):
        write_png(tmp_path / "images" / f"{stem}.png", np.zeros((8, 8, 3), np.uint8))
    write_png(tmp_path / "masks" / "a.png", np.zeros((8, 8), np.uint8))
    write_png(tmp_path / "masks" / "z.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "images" / "a.xmp").write_text("<x/>")  # a sidecar, not an image
    assert list(pairs_from_folder(tmp_path)["image"]) == [str(tmp_path / "images" / "a.png")]
    err = capsys.readouterr().err
    assert "2 image(s) without a mask, left out: b.png, c.png" in err and "mask(s) without an image: z" in err
    write_png(tmp_path / "masks" / "a.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="a.png and a.tif .* both annotate a"):
        pairs_from_folder(tmp_path)


def test_a_split_written_with_a_capital_or_a_space_is_the_same_split(tmp_path):
    (tmp_path / "pairs.csv").write_text("image,annotation,annotation_type,split\n"
                                        "a.png,a_m.png,mask,train\nb.png,b_m.png,mask, Val\n")
    assert list(read_pairs(tmp_path / "pairs.csv", split="val")["image"]) == [str(tmp_path / "b.png")]


def test_evaluate_scores_the_configs_model_and_no_length_from_sparse_annotations(tmp_path, capsys):
    pairs = _tiny_pairs(tmp_path / "p", 3)
    for i, path in enumerate(pairs["annotation"]):  # the first one sparse: only half the root painted
        if i == 0:
            painted = np.zeros((96, 96, 4), np.uint8)
            painted[:48, 40:45] = (255, 0, 0, 255)
            write_png(path, painted)
    csv = tmp_path / "pairs.csv"
    pairs.assign(annotation_type=["rootpainter", "mask", "mask"], split="test").to_csv(csv, index=False)
    out = tmp_path / "scores.csv"
    config = json.dumps({"segment": {"method": "classical"}})
    assert main(["evaluate", "--pairs", str(csv), "--config", config, "--out", str(out), "--quiet"]) == 0
    assert "evaluate: method classical" in capsys.readouterr().err
    scores = pd.read_csv(out)
    assert scores["sparse"].tolist() == [True, False, False]
    assert scores.loc[0, ["predicted_length_px", "annotated_length_px"]].isna().all()
    assert scores.loc[1:, "annotated_length_px"].notna().all()


def test_a_fine_tune_keeps_its_models_pixel_size(tmp_path):
    from rootpipe.segmentation import checkpoint

    pairs = _tiny_pairs(tmp_path, 3)
    kwargs = dict(epochs=1, steps_per_epoch=1, batch=2, tile=64, progress=False,
                  model_kwargs={"decoder_channels": [32, 16, 16, 8, 8]})
    train(pairs.iloc[:2], pairs.iloc[2:], tmp_path / "a.safetensors", pixel_size_mm=0.05, **kwargs)
    train(pairs.iloc[:2], pairs.iloc[2:], tmp_path / "b.safetensors", init=str(tmp_path / "a.safetensors"),
          **{k: v for k, v in kwargs.items() if k != "model_kwargs"})
    assert checkpoint.read_header(tmp_path / "b.safetensors")["pixel_size_mm"] == 0.05


def test_training_images_read_at_the_campaigns_bit_depth(tmp_path):
    import cv2

    from rootpipe.learn.annotations import load_pairs

    deep = np.full((40, 40), 900, np.uint16)  # a 12-bit camera's soil ...
    deep[:, 18:22] = 3000  # ... and root, in a 16-bit PNG
    cv2.imwrite(str(tmp_path / "i.png"), deep)
    write_png(tmp_path / "m.png", (deep > 1000).astype(np.uint8) * 255)
    pairs = pd.DataFrame({"image": [str(tmp_path / "i.png")], "annotation": [str(tmp_path / "m.png")],
                          "annotation_type": ["mask"]})
    by_own_max = load_pairs(pairs)[0][0]
    at_14_bits = load_pairs(pairs, bit_depth=14)[0][0]
    assert at_14_bits[0, 20, 0] == round(3000 * 255 / 16383) and by_own_max[0, 20, 0] > 4 * at_14_bits[0, 20, 0] - 5


def test_training_on_several_datasets_validates_each_and_records_the_licence(tmp_path, capsys):
    from rootpipe.segmentation import checkpoint

    a, b = _tiny_pairs(tmp_path / "a", 3), _tiny_pairs(tmp_path / "b", 3)
    table = pd.concat([a.assign(dataset="a", split=["train", "train", "val"], series=["s0", "s1", "s2"]),
                       b.assign(dataset="b", split="train", series=["t0", "t1", "t2"])])  # b: no val split
    csv = tmp_path / "pairs.csv"
    table.to_csv(csv, index=False)
    out = tmp_path / "g.safetensors"
    assert main(["train", "--pairs", str(csv), "--dataset", "a,b", "--epochs", "1", "--steps", "1", "--batch",
                 "2", "--tile", "64", "--augmentation", "lab", "--licence", "GPL-3.0-only", "--out", str(out),
                 "--quiet"]) == 0
    assert "b has no 'val' split; 1 image(s) of 1 series" in capsys.readouterr().err
    header = checkpoint.read_header(out)
    assert header["training"]["licence"] == "GPL-3.0-only"
    assert header["training"]["n_train_images"] == 4 and header["training"]["n_val_images"] == 2
    validation = header["scores"]["validation"]
    assert {"f1_a", "f1_b", "f1_pooled"} <= set(validation)
    assert validation["f1"] == pytest.approx((validation["f1_a"] + validation["f1_b"]) / 2, abs=1e-3)
    assert main(["train", "--out", str(out)]) == 2
    assert "give the training images" in capsys.readouterr().err


def test_evaluate_gives_each_image_a_confidence(tmp_path):
    pairs = _tiny_pairs(tmp_path / "p", 3)
    csv = tmp_path / "pairs.csv"
    pairs.assign(split="test").to_csv(csv, index=False)
    out = tmp_path / "scores.csv"
    assert main(["evaluate", "--pairs", str(csv), "--method", "classical", "--out", str(out), "--quiet"]) == 0
    scores = pd.read_csv(out)
    assert scores["confidence"].between(0, 1).all() and scores["confidence"].lt(1).any()


def test_evaluate_leaves_the_border_out_of_both_lengths(tmp_path):
    from rootpipe import config
    from rootpipe.learn.evaluate import evaluate

    pairs = _tiny_pairs(tmp_path, 2)  # a root from the top edge to the bottom one, 96 px
    settings = config.load({"segment": {"method": "classical"}})["segment"]
    whole, _ = evaluate(pairs, settings, progress=False)
    inner, _ = evaluate(pairs, settings, progress=False, border_px=10)
    for side in ("annotated_length_px", "predicted_length_px"):
        assert (whole[side] - inner[side]).to_numpy() == pytest.approx([20, 20], abs=2)
    # rootpipe evaluate measures as the campaign's config does
    csv, out = tmp_path / "pairs.csv", tmp_path / "scores.csv"
    pairs.assign(split="test").to_csv(csv, index=False)
    assert main(["evaluate", "--pairs", str(csv), "--method", "classical", "--config", '{"border_px": 10}',
                 "--out", str(out), "--quiet"]) == 0
    assert pd.read_csv(out)["annotated_length_px"].to_numpy() == pytest.approx(inner["annotated_length_px"])


def test_a_set_without_validation_split_holds_out_whole_series():
    from rootpipe.learn.pairs import held_out_rows

    rows = pd.DataFrame({"series": [f"s{i:02d}" for i in range(17) for _ in range(2)], "image": range(34)})
    held = held_out_rows(rows)
    assert sorted(held["series"].unique()) == ["s00", "s08", "s16"]  # every 8th series, by name
    assert len(held) == 6  # both images of each: no series is split between training and validation
