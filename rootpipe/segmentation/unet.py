"""U-Net inference: a loaded smp network as a tile predictor."""
from __future__ import annotations

import functools

import numpy as np


def pick_device(name: str = "auto") -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    kind = name.split(":")[0]
    if kind not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {name!r} is not one of auto, cpu, cuda, cuda:N, mps")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch {torch.__version__} sees no CUDA GPU here; "
                         "use auto or cpu")
    return name


@functools.cache
def cpu_has_amx() -> bool:
    """Whether the CPU multiplies bf16 matrices in hardware (AMX tiles).

    Without AMX, bf16 autocast on a CPU is no faster than fp32 for the shipped
    mobilenet_v2 U-Net (0.428 vs 0.431 s/MP on the 2-core development machine,
    AVX512-BF16) and loses precision, so ``auto`` keeps fp32 there.
    """
    try:
        with open("/proc/cpuinfo") as fh:
            return " amx_bf16" in fh.read()
    except OSError:
        return False


def resolve_precision(device: str, precision: str = "auto") -> str:
    """``auto`` made concrete: fp16 on CUDA, bf16 on a CPU with AMX, else fp32."""
    if precision != "auto":
        return precision
    if device.startswith("cuda"):
        return "fp16"
    return "bf16" if cpu_has_amx() else "fp32"


def autocast_dtype(device: str, precision: str = "auto"):
    """The autocast dtype for ``precision`` on ``device`` (None: plain fp32)."""
    import torch

    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[
        resolve_precision(device, precision)]


def default_batch_tiles(device: str) -> int:
    """Tiles per forward pass when the config leaves ``batch_tiles`` at ``auto``.

    On a CPU one 512 px tile already fills the cores: with freed memory held
    (:mod:`rootpipe.allocator`) 1, 2 and 4 tiles a pass ran the stage's tiles at the same
    speed (0.36-0.37 s/MP, 2 threads), and one needs the least memory; a GPU needs several
    tiles to be kept busy.
    """
    return 8 if device.startswith("cuda") else 1


class TilePredictor:
    """Callable mapping (N, h, w, 3) uint8 tiles to (N, h, w) float32 root probabilities.

    One instance per job: the model is loaded once and reused for every image.
    The network runs channels-last (faster for its depthwise and 1x1
    convolutions on CPU as on GPU) under :func:`autocast_dtype`.
    """

    def __init__(self, model, header: dict, device: str = "cpu", precision: str = "auto", tta: bool = False,
                 input_scale: float = 1.0):
        import torch

        self.torch = torch
        self.device = device
        if str(device).startswith("cpu"):
            from rootpipe.allocator import hold_freed_memory

            hold_freed_memory()  # activations reused, not page-faulted in each pass
        self.model = model.to(device).to(memory_format=torch.channels_last).eval()
        norm = header["normalisation"]
        self.mean = torch.tensor(norm["mean"], device=device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(norm["std"], device=device).view(1, 3, 1, 1) * 255.0
        self.precision = resolve_precision(device, precision)
        self.dtype = autocast_dtype(device, self.precision)
        if device.startswith("cuda") and self.dtype is None:
            # cuDNN runs fp32 convolutions as TF32 (10-bit mantissa) unless told not to:
            # probabilities then differ from the CPU's by up to 0.0015 (H100, shipped model).
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False
        # Flip test-time augmentation: the mean over the four flips of each tile (4x the compute).
        self.flips = [(), (-1,), (-2,), (-2, -1)] if tta else [()]
        # Tiles resampled by this factor before the network and its output back: fine roots a few
        # pixels wide look as wide to it as the roots it learnt (input_scale**2 the compute).
        if input_scale <= 0:
            raise ValueError(f"segment.input_scale must be above 0, not {input_scale}")
        self.input_scale = float(input_scale)

    @property
    def blend_on_device(self) -> bool:
        """Blend tiles where the model runs (a GPU); on the CPU numpy is faster (tiling.predict_rows)."""
        return not str(self.device).startswith("cpu")

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        return self.on_device(tiles).cpu().numpy()

    def on_device(self, tiles: np.ndarray):
        """(N, h, w) float32 probabilities as a torch tensor on the model's device."""
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(tiles)).to(self.device)
            x = x.permute(0, 3, 1, 2).float()
            x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
            h, w = x.shape[-2:]
            if self.input_scale != 1:
                # a size the encoder's five halvings divide
                size = tuple(max(32, round(n * self.input_scale / 32) * 32) for n in (h, w))
                x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False,
                                                    antialias=self.input_scale < 1)
                x = x.contiguous(memory_format=torch.channels_last)
            device_type = "cuda" if self.device.startswith("cuda") else "cpu"
            with torch.autocast(device_type, dtype=self.dtype or torch.float32,
                                enabled=self.dtype is not None):
                prob = sum(torch.sigmoid(self._flipped(x, dims).float()) for dims in self.flips)
            if self.input_scale != 1:
                # at 2x, bilinear without antialiasing is the mean of each pixel's 2 x 2 block
                prob = torch.nn.functional.interpolate(prob, size=(h, w), mode="bilinear", align_corners=False)
            return (prob / len(self.flips))[:, 0]

    def _flipped(self, x, dims: tuple):
        """The network's logits for ``x`` flipped along ``dims``, flipped back."""
        if not dims:
            return self.model(x)
        return self.model(x.flip(dims).contiguous(memory_format=self.torch.channels_last)).flip(dims)
