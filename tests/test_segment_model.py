"""The shipped U-Net through tiled inference: tiling independence, mixed precision, speed path."""
import numpy as np
import pytest

from rootpipe.segmentation import checkpoint
from rootpipe.segmentation.segmenter import DEFAULT_CHECKPOINT
from rootpipe.segmentation.tiling import predict_tiled, tile_starts
from rootpipe.segmentation.unet import TilePredictor
from rootpipe.synthetic import generate_campaign

pytestmark = pytest.mark.skipif(not DEFAULT_CHECKPOINT.exists(), reason="no shipped model")


@pytest.fixture(scope="module")
def image():
    _, rgb, mask, _ = next(iter(generate_campaign(n_series=1, n_timepoints=3, image_size=(512, 704), seed=11)))
    return rgb


@pytest.fixture(scope="module")
def model():
    return checkpoint.load(DEFAULT_CHECKPOINT)


def test_shipped_model_is_small_and_described():
    header = checkpoint.read_header(DEFAULT_CHECKPOINT)
    assert DEFAULT_CHECKPOINT.stat().st_size < 25 * 2**20
    assert {"architecture", "encoder", "normalisation", "tile_px", "training", "scores"} <= set(header)


def test_shipped_model_names_its_training_data_and_licence_and_has_a_card():
    # Weights derived from licensed images carry the strictest training licence; SegRoot
    # soybean (no licence) must never be among them.
    training = checkpoint.read_header(DEFAULT_CHECKPOINT)["training"]
    sets = ("plantrootseg_peanut", "plantrootseg_switchgrass", "tillmore_barley", "synthetic")
    assert all(s in training["data"] for s in sets) and "segroot" not in training["data"]
    assert training["licence"] == "AGPL-3.0-only"
    card = (DEFAULT_CHECKPOINT.parent / "default.md").read_text()
    assert "AGPL-3.0" in card and "GPL-3.0" in card and "SegRoot" in card
    assert "| images" in card  # the score table


def test_probability_does_not_depend_on_tiling(image, model):
    net, header = model
    predictor = TilePredictor(net, header, precision="fp32")
    whole = predict_tiled(image, predictor, tile=704, overlap=0)  # one tile: the whole image
    assert whole.max() > 0.9 and whole.min() < 0.1  # a real prediction, not a flat map
    tiled = predict_tiled(image, predictor, tile=256, overlap=64)
    diff = np.abs(whole - tiled)
    # Interior: at least one overlap (64 px) from the image border, where every tile sees as
    # much context as the whole image does. The generalist model reads wider context than the
    # synthetic-only one did (trained at 0.5-2x scale): at 256 px tiles 0.02 % of the mask's
    # pixels flip (measured 0.9998 agreement, a few pixels' probability moved by up to 0.5); at
    # the stage's 512 px tiles 0.004 % (largest change 0.14 with the third-run model, 0.08 with the
    # second's; 93 interior pixels move by more than 0.05). The bounds are the stage's.
    assert ((whole > 0.5) == (tiled > 0.5)).mean() >= 0.999
    stage = predict_tiled(image, predictor, tile=512, overlap=64)
    assert np.abs(whole - stage)[64:-64, 64:-64].max() <= 0.15
    assert ((whole > 0.5) == (stage > 0.5)).mean() >= 0.9999
    # No seam: rows and columns where tiles start or end do not stand out.
    rows, cols = diff.mean(axis=1), diff.mean(axis=0)
    for profile, length in ((rows, 512), (cols, 704)):
        starts = tile_starts(length, 256, 64, align=32)
        borders = sorted({s for s in starts[1:]} | {s + 255 for s in starts[:-1]})
        assert len(borders) >= 4
        assert profile[borders].max() <= 3 * np.median(profile) + 1e-3


def test_tiles_start_on_the_network_grid():
    # A tile out of phase with the encoder's 32 px pooling grid predicts
    # differently however much context it has (0.59 at root bases with the
    # shipped model), so tiled inference only starts tiles on that grid.
    for length in (512, 704, 1024, 4096 + 96):
        starts = tile_starts(length, 256, 64, align=32)
        assert all(s % 32 == 0 for s in starts) and starts[-1] == length - 256
        assert all(b - a <= 256 - 64 for a, b in zip(starts, starts[1:]))
    with pytest.raises(ValueError):
        tile_starts(700, 256, 64, align=32)


@pytest.mark.parametrize("precision", ["bf16"])
def test_mixed_precision_masks_agree_with_fp32(image, model, precision):
    net, header = model
    fp32 = predict_tiled(image, TilePredictor(net, header, precision="fp32"), tile=256, overlap=64) > 0.5
    mixed = predict_tiled(image, TilePredictor(net, header, precision=precision), tile=256, overlap=64) > 0.5
    assert (fp32 == mixed).mean() >= 0.999


def test_flip_tta_commutes_with_flips(model):
    """With the four-flip average, predicting a flipped tile is flipping the prediction."""
    from rootpipe.segmentation.unet import TilePredictor

    net, header = model
    rng = np.random.default_rng(5)
    tile = rng.integers(0, 255, (1, 128, 160, 3), dtype=np.uint8)
    tile[0, 40:48, :, :] = 30  # a dark root-like bar
    plain, tta = (TilePredictor(net, header, precision="fp32", tta=t) for t in (False, True))
    flipped = tile[:, :, ::-1]
    assert np.abs(tta(flipped) - tta(tile)[:, :, ::-1]).max() < 1e-4
    assert np.abs(plain(flipped) - plain(tile)[:, :, ::-1]).max() > 1e-3  # without TTA it does not


@pytest.mark.parametrize("truth_threshold", [0.6, 0.8])
def test_pick_threshold_records_the_threshold_validation_scores_best(tmp_path, image, model, truth_threshold):
    # Labels drawn at a known threshold from the model's own probabilities: that threshold alone
    # reproduces them (F1 1), so the pick must be it, and the segmenter must then use it.
    from rootpipe import config as cfg
    from rootpipe.learn.train import pick_threshold
    from rootpipe.segmentation.segmenter import Segmenter

    net, header = model
    probability = predict_tiled(image, TilePredictor(net, header, precision="fp32"), tile=256, overlap=32)
    labels = (probability > truth_threshold).astype(np.uint8)
    assert 0.001 < labels.mean() < 0.5
    path = tmp_path / "model.safetensors"
    path.write_bytes(DEFAULT_CHECKPOINT.read_bytes())
    written = pick_threshold(path, [(image, labels)], "cpu", 256)
    assert written["threshold"] == truth_threshold == checkpoint.read_header(path)["threshold"]
    by_threshold = written["scores"]["validation_f1_by_threshold"]
    assert by_threshold[f"{truth_threshold:g}"] == 1.0 and min(by_threshold.values()) < 0.99
    settings = cfg.load({"segment": {"checkpoint": str(path), "threshold": None}})["segment"]
    assert cfg.load({})["segment"]["threshold"] == 0.5  # the default: campaigns made before keep their masks
    assert Segmenter(settings).settings["threshold"] == truth_threshold
    assert Segmenter({**settings, "threshold": 0.3}).settings["threshold"] == 0.3  # the config's wins
