"""The shipped U-Net through tiled inference: tiling independence, mixed precision, speed path."""
import numpy as np
import pytest

from rootpipe.segment import DEFAULT_CHECKPOINT
from rootpipe.segment import checkpoint
from rootpipe.segment.tiling import predict_tiled, tile_starts
from rootpipe.segment.unet import TilePredictor
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
    assert DEFAULT_CHECKPOINT.stat().st_size < 10 * 2**20
    assert {"architecture", "encoder", "normalisation", "tile_px", "training", "scores"} <= set(header)


def test_probability_does_not_depend_on_tiling(image, model):
    net, header = model
    predictor = TilePredictor(net, header, precision="fp32")
    whole = predict_tiled(image, predictor, tile=704, overlap=0)  # one tile: the whole image
    assert whole.max() > 0.9 and whole.min() < 0.1  # a real prediction, not a flat map
    wide = np.abs(whole - predict_tiled(image, predictor, tile=256, overlap=128))
    assert wide[16:-16, 16:-16].max() <= 0.02
    tiled = predict_tiled(image, predictor, tile=256, overlap=64)
    diff = np.abs(whole - tiled)
    # At 64 px overlap a few px (0.04 %, at root bases by the top edge) differ by more:
    # the network's context reaches further than 64 px there.
    assert np.percentile(diff[16:-16, 16:-16], 99.9) <= 0.02
    assert ((whole > 0.5) == (tiled > 0.5)).mean() >= 0.9999
    # No seam: rows and columns where tiles meet do not stand out.
    rows, cols = diff.mean(axis=1), diff.mean(axis=0)
    borders_y = {s + d for s in tile_starts(512, 256, 64)[1:] for d in (0, 255 - 64)}
    borders_x = {s + d for s in tile_starts(704, 256, 64)[1:] for d in (0, 255 - 64)}
    assert max(rows[list(borders_y)]) <= 3 * np.median(rows) + 1e-3
    assert max(cols[list(borders_x)]) <= 3 * np.median(cols) + 1e-3


@pytest.mark.parametrize("precision", ["bf16"])
def test_mixed_precision_masks_agree_with_fp32(image, model, precision):
    net, header = model
    fp32 = predict_tiled(image, TilePredictor(net, header, precision="fp32"), tile=256, overlap=64) > 0.5
    mixed = predict_tiled(image, TilePredictor(net, header, precision=precision), tile=256, overlap=64) > 0.5
    assert (fp32 == mixed).mean() >= 0.999
