"""The segment stage on a CUDA device: the same masks as fp32 on the CPU, fast precisions agreeing.

Run by ``benchmarks/gpu_check.sh`` on a GPU machine; skipped where no CUDA device is.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(scope="module")
def image():
    import tempfile
    from pathlib import Path

    from rootpipe.io.decode import read_image, to_rgb8
    from rootpipe.synthetic import make_campaign

    with tempfile.TemporaryDirectory() as tmp:
        make_campaign(tmp, n_series=1, n_timepoints=2, image_size=(768, 1024), seed=3)
        path = sorted(Path(tmp, "images").iterdir())[-1]
        return to_rgb8(read_image(path))


def _segment(image, device, precision):
    from rootpipe.config import load
    from rootpipe.segmentation.segmenter import Segmenter

    settings = load(None)["segment"]
    settings.update(method="unet", device=device, precision=precision)
    return Segmenter(settings, threads=2)(image)


def test_cuda_fp32_matches_cpu(image):
    cpu = _segment(image, "cpu", "fp32")
    gpu = _segment(image, "cuda", "fp32")
    # cuDNN picks other convolution algorithms: tiny differences, same masks
    assert np.abs(cpu - gpu).max() < 1e-3
    assert ((cpu > 0.5) == (gpu > 0.5)).mean() >= 0.9999


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_cuda_mixed_precision_masks_agree_with_fp32(image, precision):
    fp32 = _segment(image, "cuda", "fp32") > 0.5
    mixed = _segment(image, "cuda", precision) > 0.5
    assert (fp32 == mixed).mean() >= 0.999
