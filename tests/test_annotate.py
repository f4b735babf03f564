"""The annotation loop on a small campaign: export for RootPainter and napari, read corrections back,
fine-tune and score (rootpipe annotate)."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from rootpipe.learn import annotate, rootpainter
from rootpipe.learn.annotations import BACKGROUND, ROOT, UNLABELLED, load_labels


class Bright:
    """A stand-in network: probability = brightness, so the bright drawn roots come out as roots."""

    name = "bright"

    def __call__(self, tiles):
        return (tiles.astype(np.float32).mean(axis=-1) / 255) ** 2


def _scene(k: int) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(k)
    img = (rng.random((160, 192, 3)) * 50 + 40).astype(np.uint8)
    for _ in range(3):
        cv2.line(img, (int(rng.integers(0, 192)), 0), (int(rng.integers(0, 192)), 159), (235, 225, 215), 5)
    return img


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """results/ as a run leaves it, for 6 images of 3 series on 2 days (one batch)."""
    from rootpipe import config as cfg
    from rootpipe.stages.segment import run as segment
    from rootpipe.stages.tile import run as tile

    root = tmp_path_factory.mktemp("campaign")
    results = root / "results"
    rows = []
    for k in range(6):
        series, day = f"T{k % 3}", f"2026-05-0{1 + k // 3}"
        path = root / f"{series}_{day}.png"
        Image.fromarray(_scene(k)).save(path)
        rows.append({"image_id": f"{series}_{day}", "path": str(path), "file": path.name, "series": series,
                     "timestamp": pd.Timestamp(day), "batch": "b1", "total_length_mm": 10.0 + k,
                     "segmentation_confidence": [0.9, 0.5, 0.6, 0.4, 0.95, 0.7][k]})
    frame = pd.DataFrame(rows)
    tile(frame[["image_id", "path"]], results / "images" / "b1.zarr", chunk_px=128, levels=1)
    settings = cfg.load({"segment": {"method": "unet", "tile_px": 128, "overlap_px": 32, "threshold": 0.5}})["segment"]
    segment(results / "images" / "b1.zarr", results / "segmentation" / "b1.zarr", settings, predictor=Bright())
    frame.drop(columns="path").to_parquet(results / "traits.parquet")
    return results


def test_choose_images_takes_the_least_confident_spread_over_series_and_days():
    traits = pd.DataFrame({"image_id": list("abcdef"), "series": ["s1", "s1", "s1", "s2", "s2", "s3"],
                           "timestamp": pd.to_datetime(["2026-05-01", "2026-05-01", "2026-05-08", "2026-05-01",
                                                        "2026-05-08", "2026-05-01"]),
                           "segmentation_confidence": [0.1, 0.2, 0.3, 0.9, 0.8, 0.95]})
    least = lambda n, **kw: annotate.choose_images(traits, n, rank="confidence", **kw)["image_id"].tolist()  # noqa: E731
    assert least(3) == ["a", "e", "f"]  # one of s1 (its least sure), then the other series: not b, c (s1 again)
    assert least(5) == ["a", "c", "e", "d", "f"]
    assert "a" not in least(3, exclude=["a"])
    with pytest.raises(ValueError, match="segmentation_confidence"):
        annotate.choose_images(traits.drop(columns="segmentation_confidence"), 3)
    with pytest.raises(ValueError, match="rank"):
        annotate.choose_images(traits, 3, rank="random")


def test_choose_images_spreads_over_the_season_not_only_the_least_confident_sessions():
    # 8 series seen on 4 days; the model is least sure early on (seedlings, little root): the 4
    # least confident images are all of the first day, but the picks take one of each period.
    days = pd.to_datetime(["2026-05-01", "2026-05-15", "2026-06-01", "2026-06-15"])
    traits = pd.DataFrame([{"image_id": f"s{s}d{d}", "series": f"s{s}", "timestamp": days[d],
                            "segmentation_confidence": 0.5 + 0.1 * d + 0.01 * s} for s in range(8) for d in range(4)])
    picked = annotate.choose_images(traits, 4)
    assert sorted(picked["timestamp"]) == list(days)
    assert picked["image_id"].iloc[0] == "s0d0"  # still the least confident first
    assert picked["series"].nunique() == 4
    # two periods of a 2-day campaign, 6 picks: 3 of each, not the 6 least confident of day 1
    two = traits[traits["timestamp"].isin(days[:2])]
    assert annotate.choose_images(two, 6)["timestamp"].value_counts().tolist() == [3, 3]


def test_export_says_so_when_every_image_is_exported_already(campaign, tmp_path):
    annotate.export(campaign, tmp_path / "ann", n=6, progress=False)
    assert annotate.choose_images(pd.read_parquet(campaign / "traits.parquet"), 3,
                                  exclude=[f"T{k % 3}_2026-05-0{1 + k // 3}" for k in range(6)]).empty
    with pytest.raises(ValueError, match="no image .* left to export"):
        annotate.export(campaign, tmp_path / "ann", n=2, progress=False)
    assert len(json.loads((tmp_path / "ann" / "export.json").read_text())["images"]) == 6


def test_choose_images_by_doubt_takes_the_most_root_length_in_doubt_first():
    traits = pd.DataFrame({"image_id": list("abcd"), "series": ["s1", "s2", "s3", "s4"],
                           "timestamp": pd.to_datetime(["2026-05-01"] * 4),
                           "segmentation_confidence": [0.5, 0.8, 0.9, 0.6],
                           "total_length_mm": [2.0, 100.0, 500.0, 40.0]})
    # in doubt: a 1 mm, b 20, c 50, d 16: the least confident image (a, almost no root) comes last
    assert annotate.choose_images(traits, 4, rank="doubt")["image_id"].tolist() == ["c", "b", "d", "a"]
    assert annotate.choose_images(traits, 4)["image_id"].tolist() == ["a", "d", "b", "c"]  # least confident


def test_export_writes_a_rootpainter_project_and_pairs_from_the_campaigns_masks(campaign, tmp_path):
    from rootpipe.io.stores import read_mask

    record = annotate.export(campaign, tmp_path / "ann", n=3, name="trial", progress=False)
    chosen = [i["image_id"] for i in record["images"]]
    assert chosen[0] == "T0_2026-05-02" and len(set(chosen)) == 3  # least confident first (0.4)
    sync = tmp_path / "ann" / "rootpainter"
    info = json.loads((sync / "projects/trial/trial.seg_proj").read_text())
    assert info["dataset"] == "trial" and info["location"] == "projects/trial"
    assert info["file_names"] == [f"{i}.png" for i in chosen]
    for folder in rootpainter.FOLDERS:
        assert (sync / "projects/trial" / folder).is_dir()
    for image_id in chosen:
        mask = read_mask(campaign / "segmentation/b1.zarr", image_id)
        seg = np.asarray(Image.open(sync / "projects/trial/segmentations" / f"{image_id}.png"))
        assert seg.shape == (*mask.shape, 4) and np.array_equal(seg[..., 3] > 0, mask > 0) and mask.any()
        assert np.array_equal(np.asarray(Image.open(tmp_path / "ann/pairs/masks" / f"{image_id}.png")) > 0, mask > 0)
        assert np.asarray(Image.open(sync / "datasets/trial" / f"{image_id}.png")).shape == (*mask.shape, 3)
    # A second round adds new images to the same project.
    again = annotate.export(campaign, tmp_path / "ann", n=2, progress=False)
    assert len(again["images"]) == 5 and again["round"] == 2
    assert len(json.loads((sync / "projects/trial/trial.seg_proj").read_text())["file_names"]) == 5


def test_corrections_are_collected_and_rootpainter_strokes_read_back_pixel_exact(campaign, tmp_path):
    out = tmp_path / "ann"
    record = annotate.export(campaign, out, n=4, name="trial", progress=False)
    with pytest.raises(ValueError, match="no corrected annotation"):
        annotate.collect(out)  # nothing painted, no mask changed: the model's own output is no lesson
    ids = [i["image_id"] for i in record["images"]]
    root = np.zeros((160, 192), bool)
    root[10:40, 20:24] = True
    background = np.zeros_like(root)
    background[100:120, 50:150] = True
    painted = rootpainter.annotation_png(root, background)
    Image.fromarray(painted).save(out / "rootpainter/projects/trial/annotations/train" / f"{ids[0]}.png")
    fixed = np.zeros((160, 192), np.uint8)
    fixed[:, 90:96] = 255
    for image_id in ids[1:]:
        Image.fromarray(fixed).save(out / "pairs/masks" / f"{image_id}.png")
    train, held = annotate.collect(out)
    assert len(train) + len(held) == 4 and len(held) == 1 and (train["annotation_type"] == "rootpainter").sum() == 1
    labels = load_labels(train.loc[train["annotation_type"] == "rootpainter", "annotation"].iloc[0], "rootpainter",
                         root.shape)
    expected = np.full(root.shape, UNLABELLED, np.uint8)
    expected[background] = BACKGROUND
    expected[root] = ROOT
    np.testing.assert_array_equal(labels, expected)


def _rootpainter_trainer(tmp_path_factory):
    """RootPainter's trainer package (its own readers), beside rootpipe's environment, or None."""
    target = tmp_path_factory.mktemp("rpt")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                           "root-painter-trainer==0.3.3"], capture_output=True, text=True)
    return None if done.returncode else target / "root_painter_trainer"


def test_rootpainters_own_reader_finds_the_exported_image_and_the_painted_annotation(campaign, tmp_path,
                                                                                    tmp_path_factory):
    package = _rootpainter_trainer(tmp_path_factory)
    if package is None:
        pytest.skip("root-painter-trainer could not be installed (no package index)")
    out = tmp_path / "ann"
    record = annotate.export(campaign, out, n=1, name="trial", progress=False)
    image_id = record["images"][0]["image_id"]
    root = np.zeros((160, 192), bool)
    root[5:60, 30:34] = True
    background = np.zeros_like(root)
    background[120:150, :] = True
    annotation_dir = out / "rootpainter/projects/trial/annotations/train"
    Image.fromarray(rootpainter.annotation_png(root, background)).save(annotation_dir / f"{image_id}.png")
    sys.path.insert(0, str(package))
    try:
        import im_utils  # RootPainter's trainer module, as its training loop loads an image and its annotation

        image, annot, fname = im_utils.load_train_image_and_annot(
            str(out / "rootpainter/datasets/trial"), str(annotation_dir))
    finally:
        sys.path.remove(str(package))
    exported = np.asarray(Image.open(out / "pairs/images" / f"{image_id}.png"))
    assert fname == f"{image_id}.png" and np.array_equal(image, exported)
    # RootPainter's datasets.py: foreground is channel 0 of the annotation, background channel 1.
    assert np.array_equal(annot[:, :, 0], root) and np.array_equal(annot[:, :, 1], background & ~root)


def test_import_fine_tunes_the_campaigns_model_and_scores_it_on_held_back_annotations(campaign, tmp_path):
    out = tmp_path / "ann"
    record = annotate.export(campaign, out, n=3, name="trial", progress=False)
    for item in record["images"]:
        truth = (_scene(0)[..., 0] > 200).astype(np.uint8) * 255  # any correction will do here
        Image.fromarray(truth).save(out / "pairs/masks" / f"{item['image_id']}.png")
    scores = annotate.import_round(out, tmp_path / "m.safetensors", steps=2, epochs=1, batch=2, tile=128,
                                   progress=False)
    assert (tmp_path / "m.safetensors").exists() and scores["train_pairs"] == 2 and scores["held_back"] == 1
    assert {"pooled_f1", "length_r2_identity"} <= set(scores["before"]) and "pooled_f1" in scores["after"]
    assert json.loads((out / "import-round-1.json").read_text())["checkpoint"] == str(tmp_path / "m.safetensors")
    # the fine-tune keeps the centre-line recall term of the model it started from
    from rootpipe.segmentation.checkpoint import read_header

    started = read_header(scores["init"])["training"]["skeleton_weight"]
    assert started > 0 and scores["skeleton_weight"] == started
    assert read_header(tmp_path / "m.safetensors")["training"]["skeleton_weight"] == started
    assert read_header(tmp_path / "m.safetensors")["training"]["steps_per_epoch"] == 2
    # a later round has more annotations: as many passes over each as round 1 had
    record = json.loads((out / annotate.EXPORT_FILE).read_text())
    (out / annotate.EXPORT_FILE).write_text(json.dumps({**record, "round": 2}))
    again = annotate.import_round(out, tmp_path / "m2.safetensors", init=tmp_path / "m.safetensors", steps=2,
                                  epochs=1, batch=2, tile=128, progress=False)
    assert again["steps_per_epoch"] == 4 and again["lr"] == pytest.approx(scores["lr"] / 2)
    assert read_header(tmp_path / "m2.safetensors")["training"]["steps_per_epoch"] == 4


def test_napari_loads_an_exported_pair_with_the_mask_as_labels_of_the_images_shape(campaign, tmp_path):
    pytest.importorskip("napari")
    from napari.components import ViewerModel

    record = annotate.export(campaign, tmp_path / "ann", n=1, progress=False)
    image_id = record["images"][0]["image_id"]
    viewer = ViewerModel()
    labels = annotate.open_in_napari(viewer, tmp_path / "ann", image_id)
    assert [type(layer).__name__ for layer in viewer.layers] == ["Image", "Labels"]
    assert labels.data.shape == viewer.layers[0].data.shape[:2] == (160, 192) and labels.data.any()
    labels.data[:] = 0  # the user erases everything: saved back, it is a correction
    annotate.save_labels(labels, tmp_path / "ann", image_id)
    assert not np.asarray(Image.open(tmp_path / "ann/pairs/masks" / f"{image_id}.png")).any()
