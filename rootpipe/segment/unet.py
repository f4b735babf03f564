"""U-Net inference: a loaded smp network as a tile predictor."""
from __future__ import annotations

import numpy as np


def pick_device(name: str = "auto") -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def autocast_dtype(device: str, precision: str = "auto"):
    """Mixed precision: bf16 on CPU, fp16 on GPU, unless fp32 is asked for."""
    import torch

    if precision == "fp32":
        return None
    if precision == "auto":
        return torch.float16 if device.startswith("cuda") else torch.bfloat16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


class TilePredictor:
    """Callable mapping (N, h, w, 3) uint8 tiles to (N, h, w) float32 root probabilities.

    One instance per job: the model is loaded once and reused for every image.
    """

    def __init__(self, model, header: dict, device: str = "cpu", precision: str = "auto"):
        import torch

        self.torch = torch
        self.device = device
        self.model = model.to(device).to(memory_format=torch.channels_last).eval()
        norm = header["normalisation"]
        self.mean = torch.tensor(norm["mean"], device=device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(norm["std"], device=device).view(1, 3, 1, 1) * 255.0
        self.dtype = autocast_dtype(device, precision)

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(tiles)).to(self.device)
            x = x.permute(0, 3, 1, 2).float()
            x = ((x - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
            device_type = "cuda" if self.device.startswith("cuda") else "cpu"
            with torch.autocast(device_type, dtype=self.dtype or torch.float32,
                                enabled=self.dtype is not None):
                logits = self.model(x)
            return torch.sigmoid(logits.float())[:, 0].cpu().numpy()
