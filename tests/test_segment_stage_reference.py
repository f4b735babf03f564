"""The segment stage's outputs stay bitwise what they were when its CPU work was reorganised.

``tests/data/segment_reference.npz`` was written by the stage before its writers, blending and
conversions were reworked (issue 24), for one image through a predictor that is a plain numpy
function of the tile (so the reference holds on any CPU: no network, whose float results depend on
the machine's kernels). Any change of tiling, blending order, rounding, thresholds or speck
removal shows here as a changed pixel.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

REFERENCE = Path(__file__).parent / "data" / "segment_reference.npz"
# overlap, faint centre-lines, speck removal and an odd-sized image all in play
SETTINGS = {"method": "unet", "tile_px": 128, "overlap_px": 40, "batch_tiles": 3, "precision": "fp32",
            "threshold": 0.55, "centreline_threshold": 0.35, "min_object_area_px": 12}


class Ramp:
    """A stand-in network: each tile's probability a smooth function of its pixels and its position."""

    name = "ramp"

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        grey = tiles.astype(np.float32).mean(axis=-1) / 255
        yy, xx = np.mgrid[0:tiles.shape[1], 0:tiles.shape[2]].astype(np.float32)
        # differs between tiles covering the same pixel, so the blending weights matter
        edge = 0.15 * np.sin(yy / 17) * np.cos(xx / 23)
        return np.clip(grey + edge[None], 0, 1).astype(np.float32) ** 2


def scene() -> np.ndarray:
    rng = np.random.default_rng(7)
    img = (rng.random((301, 357, 3)) * 60 + 40).astype(np.uint8)
    import cv2

    for _ in range(9):
        cv2.line(img, (int(rng.integers(0, 357)), 0), (int(rng.integers(0, 357)), 300), (230, 220, 210),
                 int(rng.integers(1, 7)))
    return img


class RampOnDevice(Ramp):
    """The same stand-in answering as the U-Net's predictor does: torch tensors on its device, so the
    blending, thresholds and the uint8 step run as torch operations (on a GPU: there)."""

    name = "ramp-on-device"
    device = "cpu"
    blend_on_device = True  # as the U-Net's predictor on a GPU: the torch path, run here on the CPU

    def on_device(self, tiles: np.ndarray):
        import torch

        return torch.from_numpy(self(tiles)).to(self.device)


@pytest.mark.parametrize("predictor", [Ramp, RampOnDevice])
def test_stage_outputs_are_bitwise_the_reference(tmp_path, predictor, monkeypatch):
    from rootpipe import config as cfg
    from rootpipe.segmentation import tiling

    torch_blends = []  # which path blended: the torch one for the on-device predictor
    real = tiling._Torch
    monkeypatch.setattr(tiling, "_Torch", lambda device: torch_blends.append(device) or real(device))
    from rootpipe.io.stores import read_mask, read_probability
    from rootpipe.stages.segment import run
    from rootpipe.stages.tile import run as tile

    Image.fromarray(scene()).save(tmp_path / "a.png")
    tile(pd.DataFrame({"image_id": ["a"], "path": [str(tmp_path / "a.png")]}), tmp_path / "images.zarr",
         chunk_px=128, levels=1)
    run(tmp_path / "images.zarr", tmp_path / "seg.zarr", cfg.load({"segment": SETTINGS})["segment"], threads=2,
        predictor=predictor())
    reference = np.load(REFERENCE)
    probability, mask = read_probability(tmp_path / "seg.zarr", "a"), read_mask(tmp_path / "seg.zarr", "a")
    assert probability.dtype == np.uint8 and mask.dtype == np.uint8
    assert 0 < mask.sum() < mask.size and len(np.unique(probability)) > 50  # a reference that tests something
    np.testing.assert_array_equal(probability, reference["probability"])
    np.testing.assert_array_equal(mask, reference["mask"])
    assert bool(torch_blends) == (predictor is RampOnDevice)


def test_every_image_of_a_batch_is_an_ngff_image_with_every_chunk_stored(tmp_path):
    """The first image of a shape is made node by node, the others in one concurrent write: both alike."""
    import zarr
    from ome_zarr_models.v05.image import Image as NgffImage

    from rootpipe import config as cfg
    from rootpipe.io.stores import ALL_CHUNKS_STORED, mask_array
    from rootpipe.stages.segment import run
    from rootpipe.stages.tile import run as tile

    paths = []
    for k in range(3):
        image = np.full((300, 356, 3), 60, np.uint8) if k == 2 else scene()  # the last: no root at all
        Image.fromarray(image).save(tmp_path / f"{k}.png")
        paths.append(str(tmp_path / f"{k}.png"))
    tile(pd.DataFrame({"image_id": ["a", "b", "c"], "path": paths}), tmp_path / "images.zarr", chunk_px=128, levels=1)
    run(tmp_path / "images.zarr", tmp_path / "seg.zarr", cfg.load({"segment": SETTINGS})["segment"],
        predictor=Ramp(), band_px=128)
    root = zarr.open_group(tmp_path / "seg.zarr", mode="r")
    for image_id in ("a", "b", "c"):
        NgffImage.from_zarr(root[image_id])
        assert root[image_id].attrs["ome"]["multiscales"][0]["name"] == image_id
        for array in (root[image_id]["probability"], mask_array(root[image_id])):
            assert array.attrs[ALL_CHUNKS_STORED] and array._nshards_initialized == array._nshards
    np.testing.assert_array_equal(mask_array(root["a"])[:], mask_array(root["b"])[:])
    assert not mask_array(root["c"])[:].any()


def test_quantise_is_the_same_on_numpy_and_torch_at_every_rounding_edge():
    import torch

    from rootpipe.segmentation.tiling import quantise

    edges = (np.arange(256, dtype=np.float32) + 0.5) / 255  # x.5 after scaling: half to even
    band = np.concatenate([edges, np.float32([-0.2, 0.0, 0.55, 0.35, 1.0, 1.3])])
    band = np.concatenate([band, np.random.default_rng(0).random(1000, dtype=np.float32)]).reshape(2, -1)
    on_numpy = quantise(band.copy(), 0.55, 0.35)
    on_torch = quantise(torch.from_numpy(band.copy()), 0.55, 0.35)
    for a, b in zip(on_numpy, on_torch):
        assert a.dtype == b.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
    assert on_numpy[2].max() == 255 and on_numpy[2].min() == 0 and quantise(band, 0.5)[1] is None
