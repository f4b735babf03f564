"""Tiled inference: overlapping tiles blended with a smooth window.

The window falls to (almost) zero at tile borders, so each pixel's
probability is dominated by tiles that see it far from their edges; the
result then hardly depends on where tile borders fall, and no seam shows.

Tiles start on multiples of the network's total stride (32 px for the smp
U-Nets): a strided CNN is not shift-invariant, and a tile whose pooling grid is
out of phase with the whole image's grid predicts differently (up to 0.59 in
probability at thin root bases) however much context it has.

Images are streamed by rows of tiles (:func:`predict_rows`): only the tiles of
the current row(s) and an accumulator about (tile + stride) rows tall are held,
so a 20,000 x 20,000 px scan costs a few tiles' worth of memory. Every pixel
sums its tiles in the same order as a whole-image pass, so the result is
bitwise the same.

A predictor with an ``on_device`` method and ``blend_on_device`` set (the U-Net's
:class:`TilePredictor` on a GPU) is blended where it runs: its tiles stay torch tensors on the
device, the accumulator lives there, and only the finished bands leave it (as uint8,
:func:`quantise`), so a GPU's probabilities never cross to the host as float32. The same
elementwise float32 operations run in the same order on either backend, so the bands are
bitwise those of the numpy path (on a CPU numpy is the faster of the two).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterator

import numpy as np


def tile_starts(length: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start offsets (px) of tiles covering ``length`` px with at least ``overlap`` px overlap.

    With ``align`` > 1 every start is a multiple of ``align``; ``length - tile``
    must then be one too (pad the image first), so the last tile ends at the border.
    """
    if length <= tile:
        return [0]
    span = length - tile
    if align > 1 and span % align:
        raise ValueError(f"length - tile = {span} px is not a multiple of align = {align}")
    span_u = span // align  # in units of align
    stride_u = max(1, (tile - overlap) // align)
    n = -(-span_u // stride_u) + 1
    # Spread the tiles evenly so the last one ends exactly at the border; rounding
    # half up keeps every gap at most the stride.
    return [int(np.floor(i * span_u / (n - 1) + 0.5)) * align for i in range(n)]


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


def _padded_index(n: int, size: int, mode: str) -> np.ndarray:
    """Source index of each of ``n`` positions of an axis of ``size`` px padded at the end."""
    idx = np.arange(n)
    over = idx >= size
    idx[over] = 2 * (size - 1) - idx[over] if mode == "reflect" else size - 1
    return idx


def _blend_length(starts: list[int], tile: int, overlap: int) -> int:
    """Ramp length (px) along one axis: the smallest overlap of neighbouring tiles, at most half a tile."""
    if len(starts) < 2:
        return overlap
    return int(min(tile // 2, tile - max(np.diff(starts))))


class _Numpy:
    """The accumulator's few operations on numpy arrays."""

    @staticmethod
    def zeros(shape):
        return np.zeros(shape, np.float32)

    @staticmethod
    def asarray(a):
        return a

    @staticmethod
    def multiply(a, b, out):
        return np.multiply(a, b, out=out)

    @staticmethod
    def grow(a, rows):
        return np.pad(a, ((0, rows), (0, 0)))

    @staticmethod
    def copy(a):
        return a.copy()


class _Torch:
    """The same operations on torch tensors on ``device``."""

    def __init__(self, device):
        import torch

        self.torch, self.device = torch, device

    def zeros(self, shape):
        return self.torch.zeros(shape, dtype=self.torch.float32, device=self.device)

    def asarray(self, a):
        return self.torch.from_numpy(a).to(self.device)

    def multiply(self, a, b, out):
        return self.torch.mul(a, b, out=out)

    def grow(self, a, rows):
        return self.torch.cat([a, self.zeros((rows, a.shape[1]))])

    @staticmethod
    def copy(a):
        return a.clone()


def quantise(band, threshold: float, centreline: float | None = None):
    """A band of probabilities as the stage stores it: (mask, faint, probability) uint8 numpy rows.

    ``mask`` is ``band > threshold``, ``faint`` ``band > centreline`` (None without one), and
    ``probability`` ``round(clip(band, 0, 1) * 255)`` (half to even). ``band`` is a float32 numpy
    array (overwritten: it is a fresh band of :func:`predict_rows`) or torch tensor (converted where it
    lives; only uint8 leaves a device).
    """
    if isinstance(band, np.ndarray):
        # bool viewed as uint8 (no copy); the band itself becomes the probability (no allocation)
        mask = np.greater(band, threshold).view(np.uint8)
        faint = None if centreline is None else np.greater(band, centreline).view(np.uint8)
        np.clip(band, 0, 1, out=band)
        np.multiply(band, 255, out=band)
        np.round(band, out=band)
        return mask, faint, band.astype(np.uint8)
    import torch

    host = lambda t: t.to(torch.uint8).cpu().numpy()  # noqa: E731
    mask = host(band > threshold)
    faint = None if centreline is None else host(band > centreline)
    return mask, faint, host(torch.round(torch.clamp(band, 0, 1).mul_(255)))


def predict_rows(read_rows: Callable[[int, int], np.ndarray], shape: tuple[int, int],
                 predict: Callable[[np.ndarray], np.ndarray], tile: int = 512, overlap: int = 64,
                 batch_tiles: int = 4, multiple: int = 32, prefetch: bool = True
                 ) -> Iterator[tuple[int, np.ndarray]]:
    """Stream the probability map of an image, band by band, top to bottom.

    Parameters
    ----------
    read_rows : ``read_rows(y0, y1)`` returns image rows ``y0:y1`` as (y1 - y0, W, C).
    shape : (H, W) of the image (px).
    predict : maps a (N, tile, tile, C) batch to (N, tile, tile) probabilities in [0, 1]; if it
        has ``on_device`` (returning torch tensors on ``predict.device``) and ``blend_on_device``
        is true, that is called and the blending runs on the device.
    tile, overlap : tile edge and minimum overlap (px).
    batch_tiles : tiles per call of ``predict``.
    multiple : tile edges and starts are multiples of this (px): the network's total stride.
    prefetch : read the next row of tiles in a thread while this one is computed.

    Yields
    ------
    (y0, probabilities)
        Consecutive bands: (rows, W) float32 probabilities of rows ``y0:y0 + rows``: numpy
        arrays, or torch tensors on the predictor's device (see :func:`quantise`).
    """
    # Long on purpose: a streaming generator whose read-ahead, blending buffers and batch queue are one state.
    h, w = shape
    # The image is padded (reflected) up to a multiple of `multiple`, so that every
    # tile, the last ones included, starts on the network's grid.
    H, W = -(-h // multiple) * multiple, -(-w // multiple) * multiple
    tile_h, tile_w = min(tile, H), min(tile, W)
    pad_h, pad_w = H - h, W - w
    mode = "reflect" if pad_h < h and pad_w < w else "edge"
    col_index = _padded_index(W, w, mode) if pad_w else None
    ov_h, ov_w = min(overlap, tile_h // 2), min(overlap, tile_w // 2)
    ys = tile_starts(H, tile_h, ov_h, multiple)
    xs = tile_starts(W, tile_w, ov_w, multiple)
    # Tiles spread evenly overlap by more than asked; blending over the whole of the smallest
    # actual overlap gives less weight to each tile's edge, where it lacks context.
    # On a CPU numpy blends faster than torch's per-tile calls (0.018 against 0.033 s/MP,
    # docs/performance.md); the predictor says where to blend (TilePredictor: off the CPU).
    on_device = hasattr(predict, "on_device") and getattr(predict, "blend_on_device", False)
    xp = _Torch(predict.device) if on_device else _Numpy
    if on_device:
        predict = predict.on_device
    window = xp.asarray(blend_window(tile_h, tile_w, _blend_length(ys, tile_h, ov_h), _blend_length(xs, tile_w, ov_w)))
    starts = [(r, x) for r in range(len(ys)) for x in xs]

    last: list = [None]  # (y0, rows) of the last read: neighbouring rows of tiles share rows

    def read_padded(r: int) -> np.ndarray:
        y0 = ys[r]
        y1 = y0 + tile_h
        if y1 <= h:
            prev = last[0]
            if prev is not None and prev[0] < y0 < prev[0] + len(prev[1]) <= y1:
                # read only the rows the previous read did not have (reads run in order, in one thread)
                rows = np.concatenate([prev[1][y0 - prev[0]:], read_rows(prev[0] + len(prev[1]), y1)])
            else:
                rows = read_rows(y0, y1)
            last[0] = (y0, rows)
        else:
            idx = _padded_index(y1, h, mode)[y0:]
            lo = int(idx.min())
            rows = read_rows(lo, int(idx.max()) + 1)[idx - lo]
        return rows[:, col_index] if col_index is not None else rows

    # Image rows of each row of tiles still needed, read one row of tiles ahead.
    pool = ThreadPoolExecutor(1) if prefetch else None
    pending: dict[int, object] = {}

    def request(r: int) -> None:
        if r < len(ys) and r not in pending:
            pending[r] = pool.submit(read_padded, r) if pool else read_padded(r)

    def band(r: int) -> np.ndarray:
        value = pending[r]
        return value.result() if pool else value

    lo = 0  # first row not yet yielded; acc/weight hold rows lo:lo + len(acc)
    acc, weight, tmp = xp.zeros((tile_h, W)), xp.zeros((tile_h, W)), xp.zeros((tile_h, tile_w))
    try:
        request(0)
        for i in range(0, len(starts), batch_tiles):
            group = starts[i:i + batch_tiles]
            for r in sorted({r for r, _ in group}):
                request(r)
            request(group[-1][0] + 1)
            tiles = np.stack([band(r)[:, x:x + tile_w] for r, x in group])
            probs = predict(tiles)
            need = ys[group[-1][0]] + tile_h - lo
            if need > len(acc):  # a batch spanning more rows of tiles than the buffer holds
                acc, weight = xp.grow(acc, need - len(acc)), xp.grow(weight, need - len(weight))
            for (r, x), p in zip(group, probs):
                y = ys[r] - lo
                xp.multiply(p, window, tmp)
                acc[y:y + tile_h, x:x + tile_w] += tmp
                weight[y:y + tile_h, x:x + tile_w] += window
            # Rows above the next tile still to come are final.
            nxt = starts[i + batch_tiles][0] if i + batch_tiles < len(starts) else len(ys)
            for r in [r for r in pending if r < nxt]:
                del pending[r]
            done = min(ys[nxt] if nxt < len(ys) else H, h) - lo
            if done > 0:
                yield lo, acc[:done, :w] / weight[:done, :w]
                keep = len(acc) - done
                acc[:keep] = xp.copy(acc[done:])
                weight[:keep] = xp.copy(weight[done:])
                acc[keep:] = 0
                weight[keep:] = 0
                lo += done
    finally:
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)


def predict_tiled(image: np.ndarray, predict: Callable[[np.ndarray], np.ndarray], tile: int = 512,
                  overlap: int = 64, batch_tiles: int = 4, multiple: int = 32) -> np.ndarray:
    """Probability map of a whole image from a tile-wise predictor.

    Parameters
    ----------
    image : (H, W, C) array.
    predict : maps a (N, tile, tile, C) batch to (N, tile, tile) probabilities in [0, 1].
    tile, overlap : tile edge and minimum overlap (px).
    batch_tiles : tiles per call of ``predict``.
    multiple : tile edges and starts are multiples of this (px).

    Returns
    -------
    (H, W) float32 probabilities.
    """
    h, w = image.shape[:2]
    out = np.empty((h, w), np.float32)
    for y0, band in predict_rows(lambda a, b: image[a:b], (h, w), predict, tile, overlap,
                                 batch_tiles, multiple, prefetch=False):
        out[y0:y0 + len(band)] = band if isinstance(band, np.ndarray) else band.cpu().numpy()
    return out
