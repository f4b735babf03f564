"""segment.input_scale: tiles resampled before the network, its output back, without a shift."""
import cv2
import numpy as np
import pytest
import torch

from rootpipe.segmentation.checkpoint import DEFAULT_NORMALISATION
from rootpipe.segmentation.segmenter import DEFAULT_CHECKPOINT, Segmenter
from rootpipe.segmentation.unet import TilePredictor

HEADER = {"normalisation": DEFAULT_NORMALISATION}


class Darkness(torch.nn.Module):
    """A stand-in network: logits high where the first channel is dark; records its input sizes."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def forward(self, x):
        self.sizes.append(tuple(x.shape[-2:]))
        return -4.0 * x[:, :1]


def bar_tile() -> np.ndarray:
    tile = np.full((1, 96, 160, 3), 200, np.uint8)
    tile[0, 40:43, :] = 20  # a root 3 px wide, rows 40-42
    tile[0, :, 100:102] = 20  # and one 2 px wide, columns 100-101
    return tile


@pytest.mark.parametrize("scale", [2.0, 1.5, 0.5])
def test_network_sees_resampled_tiles_and_output_comes_back_in_place(scale):
    net = Darkness()
    plain = TilePredictor(Darkness(), HEADER, precision="fp32")(bar_tile())[0]
    scaled = TilePredictor(net, HEADER, precision="fp32", input_scale=scale)(bar_tile())[0]
    assert net.sizes == [(round(96 * scale / 32) * 32, round(160 * scale / 32) * 32)]
    assert scaled.shape == plain.shape == (96, 160)
    # the bars come back where they are: the column profile away from the vertical bar peaks on
    # rows 40-42, the row profile on columns 100-101
    assert 40 <= int(np.argmax(scaled[:, 10])) <= 42
    assert 100 <= int(np.argmax(scaled[70])) <= 101
    if scale > 1:  # upsampling loses nothing: the same mask as without it
        assert np.array_equal(scaled > 0.5, plain > 0.5)


def test_input_scale_must_be_positive():
    with pytest.raises(ValueError, match="input_scale"):
        TilePredictor(Darkness(), HEADER, precision="fp32", input_scale=0)


@pytest.mark.skipif(not DEFAULT_CHECKPOINT.exists(), reason="no shipped model")
def test_fine_roots_are_found_more_often_when_the_network_sees_them_wider():
    # A synthetic window shrunk to 0.35x: roots 1-3 px wide, narrower than any the model learnt.
    from rootpipe.synthetic import generate_campaign

    _, rgb, mask, _ = next(iter(generate_campaign(n_series=1, n_timepoints=1, image_size=(768, 1024), seed=4)))
    small = cv2.resize(rgb, None, fx=0.35, fy=0.35, interpolation=cv2.INTER_AREA)
    truth = cv2.resize(mask.astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA) > 0
    settings = {"method": "unet", "checkpoint": None, "tile_px": 256, "overlap_px": 32, "batch_tiles": 1,
                "device": "cpu", "precision": "fp32", "tta": False}
    recall = {}
    for scale in (1.0, 2.5):
        found = Segmenter({**settings, "input_scale": scale})(small) > 0.5
        recall[scale] = (found & truth).sum() / truth.sum()
    assert 1 - recall[2.5] < 0.5 * (1 - recall[1.0]), recall  # measured: misses 9 % -> 3 %


def test_methods_table_names_the_input_scale_only_when_set():
    from rootpipe.reporting.methods import methods

    def table(scale):
        attrs = [{"settings": {"method": "unet", "threshold": 0.5, "min_object_area_px": 60, "input_scale": scale}}]
        return dict(methods(attrs, {"pixel_size_mm": 0.05})[1].itertuples(index=False))

    assert float(table(2.0)["tiles resampled for the network by"]) == 2.0
    assert "tiles resampled for the network by" not in table(1.0)


def test_config_refuses_an_input_scale_out_of_range():
    import rootpipe.config as cfg

    assert cfg.load({"segment": {"input_scale": 2.5}})["segment"]["input_scale"] == 2.5
    assert cfg.load({})["segment"]["input_scale"] == 1.0
    for bad in (0, 8):
        with pytest.raises(ValueError, match="input_scale"):
            cfg.load({"segment": {"input_scale": bad}})


def test_methods_warn_of_a_model_scale_mismatch_unless_input_scale_matches_it():
    from rootpipe.reporting.methods import methods

    model = {"file": "m.safetensors", "sha256": "0" * 64, "architecture": "Unet", "encoder": "mobilenet_v2",
             "pixel_size_mm": 0.02}

    def rows(scale):
        attrs = [{"settings": {"method": "unet", "threshold": 0.5, "min_object_area_px": 60, "input_scale": scale},
                  "model": model}]
        return dict(methods(attrs, {"pixel_size_mm": 0.06})[1].itertuples(index=False))

    assert "segment.input_scale to 3" in rows(1.0)["model scale"]  # roots look a third as wide
    assert "model scale" not in rows(3.0)


def test_streamed_rows_match_the_whole_image_with_input_scale():
    # The segment stage streams big images band by band (Segmenter.rows); the factor lives in the
    # predictor, so bands and the whole image must give the same probabilities.
    from rootpipe.segmentation.tiling import predict_rows, predict_tiled

    rng = np.random.default_rng(0)
    image = rng.integers(100, 220, (300, 260, 3), dtype=np.uint8)
    image[120:124] = 20
    predictor = TilePredictor(Darkness(), HEADER, precision="fp32", input_scale=2.0)
    whole = predict_tiled(image, predictor, tile=128, overlap=32)
    streamed = np.zeros_like(whole)
    for y0, band in predict_rows(lambda a, b: image[a:b], image.shape[:2], predictor, tile=128, overlap=32):
        streamed[y0:y0 + len(band)] = band
    assert np.abs(streamed - whole).max() < 1e-5
    assert whole[121].mean() > 0.9 > whole[60].mean()  # the dark band came through, in place


class Shifted(Darkness):
    """Like Darkness, but its output lies 3 px to the right: a network that does not commute with flips."""

    def forward(self, x):
        return torch.roll(super().forward(x), 3, dims=-1)


def test_flip_tta_at_an_input_scale_commutes_with_flips():
    # segment.tta with segment.input_scale (what TILLMore's held-out photos pick): each flip is resampled and
    # brought back, so predicting a flipped tile is flipping the prediction, at the tile's own size.
    tile = bar_tile()
    flipped = tile[:, :, ::-1]
    tta = TilePredictor(Shifted(), HEADER, precision="fp32", tta=True, input_scale=2.5)
    plain = TilePredictor(Shifted(), HEADER, precision="fp32", input_scale=2.5)
    assert tta(tile).shape == (1, 96, 160)
    assert np.abs(tta(flipped) - tta(tile)[:, :, ::-1]).max() < 1e-4
    assert np.abs(plain(flipped) - plain(tile)[:, :, ::-1]).max() > 0.1  # without TTA it does not
