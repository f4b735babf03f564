"""Tiled inference: overlapping tiles blended with a smooth window.

The window falls to (almost) zero at tile borders, so each pixel's
probability is dominated by tiles that see it far from their edges; the
result then hardly depends on where tile borders fall, and no seam shows.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets (px) of tiles covering ``length`` px with at least ``overlap`` px overlap."""
    if length <= tile:
        return [0]
    stride = tile - overlap
    n = -(-(length - tile) // stride) + 1
    # Spread the tiles evenly so the last one ends exactly at the border.
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def ramp(tile: int, overlap: int) -> np.ndarray:
    """(tile,) float32 weights: 1 in the middle, a raised-cosine ramp over ``overlap`` px each end."""
    ramp = np.ones(tile, np.float32)
    if overlap > 0:
        x = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        edge = 0.5 - 0.5 * np.cos(np.pi * x)
        ramp[:overlap] = edge
        ramp[-overlap:] = edge[::-1]
    return np.maximum(ramp, 1e-3)  # an image border covered by one tile only still gets weight


def blend_window(tile_h: int, tile_w: int, overlap_h: int, overlap_w: int) -> np.ndarray:
    """(tile_h, tile_w) float32 blending weights."""
    return np.outer(ramp(tile_h, overlap_h), ramp(tile_w, overlap_w))


def predict_tiled(image: np.ndarray, predict: Callable[[np.ndarray], np.ndarray], tile: int = 512,
                  overlap: int = 64, batch_tiles: int = 4, multiple: int = 32) -> np.ndarray:
    """Probability map of a whole image from a tile-wise predictor.

    Parameters
    ----------
    image : (H, W, C) array.
    predict : maps a (N, tile, tile, C) batch to (N, tile, tile) probabilities in [0, 1].
    tile, overlap : tile edge and minimum overlap (px).
    batch_tiles : tiles per call of ``predict``.
    multiple : tile edges the network accepts are multiples of this (px).

    Returns
    -------
    (H, W) float32 probabilities.
    """
    h, w = image.shape[:2]
    # Images smaller than a tile are padded (reflected) up to a size the network accepts.
    tile_h = min(tile, -(-h // multiple) * multiple)
    tile_w = min(tile, -(-w // multiple) * multiple)
    pad_h, pad_w = max(0, tile_h - h), max(0, tile_w - w)
    if pad_h or pad_w:
        mode = "reflect" if pad_h < h and pad_w < w else "edge"
        image = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode=mode)
    H, W = image.shape[:2]
    ov_h, ov_w = min(overlap, tile_h // 2), min(overlap, tile_w // 2)
    window = blend_window(tile_h, tile_w, ov_h, ov_w)
    acc = np.zeros((H, W), np.float32)
    weight = np.zeros((H, W), np.float32)
    starts = [(y, x) for y in tile_starts(H, tile_h, ov_h) for x in tile_starts(W, tile_w, ov_w)]
    for i in range(0, len(starts), batch_tiles):
        group = starts[i:i + batch_tiles]
        tiles = np.stack([image[y:y + tile_h, x:x + tile_w] for y, x in group])
        probs = predict(tiles)
        for (y, x), p in zip(group, probs):
            acc[y:y + tile_h, x:x + tile_w] += p * window
            weight[y:y + tile_h, x:x + tile_w] += window
    return (acc / weight)[:h, :w]
