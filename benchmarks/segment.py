"""Segment-stage speed: model-only, end-to-end through the stage, and a naive baseline.

Run by hand: ``python benchmarks/segment.py [--checkpoint C] [--images 12] [--out docs/performance.md]``.
All three numbers come from one run on the same images (seconds per megapixel of image):

With ``--predictor null`` it measures what the stage costs besides the network: the stage run with a
predictor that returns zeros at once, on N images and on one, (t_N - t_1) / (MP_N - MP_1), so model
loading and store set-up drop out (``non_model_s_per_mp``); and ``start_s``, the median wall time of
five ``rootpipe segment`` processes on a one-image 256 x 256 store (imports, model load, first
pass). ``--json FILE`` writes ``model_only_s_per_mp``, ``end_to_end_s_per_mp``,
``non_model_s_per_mp`` and ``start_s``, each run's figures, and the CPU seconds per MP of model only
and of the stage's own work, whose sum over the threads is the least end to end any overlap can give
(``ratio_lower_bound``, as a ratio to model only), and model only on one thread
(``model_only_1_thread_s_per_mp``, ``model_1_thread_cpu_s_per_mp``): when the job's threads use no
more CPU time than one thread does, none of it is spinning or waiting that the stage's work could
fill, and the bound holds. It also runs against an older rootpipe (``PYTHONPATH``), for side-by-side
figures.

- model only: the stage's tiles through the stage's predictor (its resolved batch size
  and precision), nothing else, after a warm-up call;
- end to end: ``segment_batch`` on the batch store, model loading and first call included;
- naive: one tile at a time, fp32, contiguous (NCHW) memory format, each image read
  whole before it is computed, outputs written in the loop.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import zarr

from rootpipe import config as cfg
from rootpipe.synthetic import make_campaign

try:
    from rootpipe.io.stores import read_image_level
    from rootpipe.segmentation import checkpoint
    from rootpipe.segmentation import unet as unet_module
    from rootpipe.segmentation.segmenter import DEFAULT_CHECKPOINT, model_threshold, resolved_settings, to_mask
    from rootpipe.segmentation.tiling import predict_tiled, tile_starts
    from rootpipe.segmentation.unet import TilePredictor, pick_device
    from rootpipe.stages.segment import run as segment_batch
    from rootpipe.stages.tile import run as tile_batch
except ImportError:  # a rootpipe from before the packages by concern, for side-by-side runs
    from rootpipe.segment import DEFAULT_CHECKPOINT, checkpoint, resolved_settings, segment_batch, to_mask
    from rootpipe.segment import unet as unet_module
    from rootpipe.segment.tiling import predict_tiled, tile_starts
    from rootpipe.segment.unet import TilePredictor, pick_device
    from rootpipe.tile import read_image_level, tile_batch

    def model_threshold(settings, header):  # before checkpoints carried a threshold: the config's
        return settings["threshold"]


class NullPredictor:
    """Returns zeros at once, in the stage's place of the network: what remains is the stage's own cost.

    Blended in numpy, as the U-Net's predictor is on a CPU (``blend_on_device`` is off there).
    """

    name = "null"

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, tiles):
        return np.zeros(tiles.shape[:3], np.float32)


def campaign_store(folder: Path, n: int, size=(768, 1024)) -> tuple[Path, float]:
    """A batch store of ``n`` synthetic images; returns it and its megapixels."""
    truth = make_campaign(folder / "camp", n_series=n, n_timepoints=1, image_size=size, seed=5, progress=False)
    batch = pd.DataFrame({"image_id": [f"img{i}" for i in range(len(truth))],
                          "path": [str(folder / "camp/images" / f) for f in truth["file"]]})
    tile_batch(batch, folder / "images.zarr")
    return folder / "images.zarr", n * size[0] * size[1] / 1e6


def non_model_cost(folder: Path, n: int, settings: dict, threads: int, repeats: int = 3) -> tuple[float, float]:
    """The stage's cost per MP besides the network (null predictor; N images minus one image):
    wall seconds, and CPU seconds of all the process's threads."""
    many, mp_many = campaign_store(folder / "many", n)
    one, mp_one = campaign_store(folder / "one", 1)
    real = unet_module.TilePredictor
    unet_module.TilePredictor = NullPredictor  # the stage builds its predictor from this name
    try:
        times = {}
        for r in range(repeats):
            for name, store in (("many", many), ("one", one)):
                start, cpu = time.perf_counter(), time.process_time()
                segment_batch(store, folder / f"seg-{name}-{r}.zarr", settings, threads=threads)
                times.setdefault(name, []).append((time.perf_counter() - start, time.process_time() - cpu))
    finally:
        unet_module.TilePredictor = real
    wall, cpu = (np.median(times["many"], axis=0) - np.median(times["one"], axis=0)) / (mp_many - mp_one)
    return float(wall), float(cpu)


def start_cost(folder: Path, repeats: int = 5) -> float:
    """Median wall time (s) of a `rootpipe segment` process on a one-image 256 x 256 store."""
    import subprocess
    import sys

    store, _ = campaign_store(folder / "start", 1, (256, 256))
    exe = Path(sys.executable).parent / "rootpipe"
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        subprocess.run([str(exe), "segment", str(store), str(folder / f"start-{r}.zarr"), "--quiet"], check=True)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def tiles_of(rgb, tile, overlap):
    # The stage's tiles: starts on the network's 32 px grid (the images are multiples of 32).
    return [rgb[y:y + tile, x:x + tile] for y in tile_starts(rgb.shape[0], tile, overlap, 32)
            for x in tile_starts(rgb.shape[1], tile, overlap, 32)]


class NaivePredictor(TilePredictor):
    """fp32, contiguous (NCHW) memory format: the unoptimised path."""

    def __init__(self, model, header, device):
        super().__init__(model, header, device=device, precision="fp32")
        self.model = self.model.to(memory_format=torch.contiguous_format)

    def __call__(self, tiles):
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(tiles)).to(self.device).permute(0, 3, 1, 2).float()
            x = ((x - self.mean) / self.std).contiguous()
            return torch.sigmoid(self.model(x))[:, 0].cpu().numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--batch-tiles", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--out", help="append the table to this markdown file")
    ap.add_argument("--predictor", choices=["model", "null"], default="model",
                    help="null: also the stage's cost besides the network, and the start of a process")
    ap.add_argument("--json", help="write the figures (s per MP; start in s) to this JSON file")
    ap.add_argument("--repeats", type=int, default=3, help="model-only and end-to-end runs, in turn (medians)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    batch_tiles = a.batch_tiles if a.batch_tiles == "auto" else int(a.batch_tiles)
    stage_settings = cfg.load({"segment": {"method": "unet", "checkpoint": a.checkpoint, "precision": a.precision,
                                           "batch_tiles": batch_tiles}})["segment"]
    settings = resolved_settings(stage_settings)
    tile, overlap, batch = settings["tile_px"], settings["overlap_px"], settings["batch_tiles"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        store, megapixels = campaign_store(tmp, a.images)
        image_ids = list(zarr.open_group(store, mode="r").attrs["rootpipe"]["images"])
        images = [read_image_level(store, i, 0) for i in image_ids]
        device = pick_device(settings["device"])
        model, header = checkpoint.load(a.checkpoint, device=device)
        fast = TilePredictor(model, header, device=device, precision=settings["precision"])
        threshold = model_threshold(settings, header)  # as the stage resolves it
        all_tiles = [t for im in images for t in tiles_of(im, tile, overlap)]
        fast(np.stack(all_tiles[:batch]))  # warm-up
        # Model only and end to end in turn, --repeats times, medians: on a shared machine the
        # speed drifts by tens of percent within minutes, and a ratio of two far-apart runs is noise.
        model_runs, stage_runs, model_cpu = [], [], []
        for r in range(a.repeats):
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(all_tiles), batch):
                fast(np.stack(all_tiles[i:i + batch]))
            model_runs.append((time.perf_counter() - start) / megapixels)
            model_cpu.append((time.process_time() - cpu) / megapixels)
            start = time.perf_counter()
            segment_batch(store, tmp / f"seg-{r}.zarr", stage_settings, threads=a.threads)
            stage_runs.append((time.perf_counter() - start) / megapixels)
        model_only, end_to_end = float(np.median(model_runs)), float(np.median(stage_runs))
        print("pairs (model only, end to end, ratio):",
              ", ".join(f"({m:.3f}, {s:.3f}, {s / m:.2f})" for m, s in zip(model_runs, stage_runs)))

        naive_model = NaivePredictor(model, header, device)
        start = time.perf_counter()
        root = zarr.open_group(tmp / "naive.zarr", mode="w")
        for image_id in image_ids:
            rgb = read_image_level(store, image_id, 0)  # read, then compute: no overlap
            prob = predict_tiled(rgb, naive_model, tile=tile, overlap=overlap, batch_tiles=1)
            group = root.create_group(image_id)
            group.create_array("probability", data=np.round(np.clip(prob, 0, 1) * 255).astype(np.uint8))
            group.create_array("mask", data=to_mask(prob, threshold, settings["min_object_area_px"]))
        naive = (time.perf_counter() - start) / megapixels

        extra = {}
        if a.predictor == "null":
            # The same tiles on one thread: a single thread neither waits nor spins, so its CPU time
            # is the network's work. If the job's threads used more CPU time than that, the excess
            # (OpenMP spinning, idle waits) would be room the stage's work could fill.
            torch.set_num_threads(1)
            start, cpu = time.perf_counter(), time.process_time()
            for i in range(0, len(all_tiles), batch):
                fast(np.stack(all_tiles[i:i + batch]))
            extra["model_only_1_thread_s_per_mp"] = (time.perf_counter() - start) / megapixels
            extra["model_1_thread_cpu_s_per_mp"] = (time.process_time() - cpu) / megapixels
            torch.set_num_threads(a.threads)
            extra["non_model_s_per_mp"], extra["non_model_cpu_s_per_mp"] = non_model_cost(
                tmp / "null", a.images, stage_settings, a.threads)
            extra["model_cpu_s_per_mp"] = float(np.median(model_cpu))
            # Wall time >= CPU time / cores: with the network's CPU work unchanged, no overlap can
            # bring end to end below (network + stage CPU seconds) / threads.
            extra["ratio_lower_bound"] = ((extra["model_cpu_s_per_mp"] + extra["non_model_cpu_s_per_mp"])
                                          / (a.threads * model_only))
            extra["start_s"] = start_cost(tmp)

    rows = [(f"model only ({batch} tile(s) per pass, {settings['precision']}, channels-last)", model_only),
            ("end to end (segment stage: read, tiles, blend, mask, write)", end_to_end),
            ("naive (one tile at a time, fp32, no read/compute overlap)", naive)]
    lines = [f"Segment stage, {a.images} images of 768x1024 ({megapixels:.1f} MP), {device}, "
             f"{a.threads} threads, tile {tile} px, overlap {overlap} px, batch_tiles {a.batch_tiles} -> {batch}, "
             f"precision {a.precision} -> {settings['precision']}, checkpoint {Path(a.checkpoint).name}",
             "", "| measure | s per MP |", "| --- | --- |"]
    lines += [f"| {name} | {value:.3f} |" for name, value in rows]
    lines += ["", f"end to end / model only = {end_to_end / model_only:.3f} (medians of {a.repeats} runs in turn); "
              f"speed-up over naive = {naive / end_to_end:.2f}x"]
    if extra:
        lines += [f"stage cost besides the network (null predictor): {extra['non_model_s_per_mp']:.4f} s per MP "
                  f"({extra['non_model_cpu_s_per_mp']:.4f} CPU s per MP); "
                  f"start of a `rootpipe segment` process (median of 5): {extra['start_s']:.2f} s",
                  f"model only on 1 thread: {extra['model_only_1_thread_s_per_mp']:.3f} s per MP "
                  f"({extra['model_1_thread_cpu_s_per_mp']:.3f} CPU s per MP; on {a.threads} threads "
                  f"{extra['model_cpu_s_per_mp']:.3f}: {a.threads} threads run "
                  f"{extra['model_only_1_thread_s_per_mp'] / model_only:.2f}x as fast)",
                  f"model only keeps {extra['model_cpu_s_per_mp'] / model_only:.2f} of {a.threads} cores busy"
                  + f"; end to end / model only cannot fall below {extra['ratio_lower_bound']:.3f} "
                  "((network + stage CPU s) / threads, over model only)"]
    text = "\n".join(lines)
    print(text)
    if a.json:
        import json

        Path(a.json).write_text(json.dumps({"model_only_s_per_mp": model_only, "end_to_end_s_per_mp": end_to_end,
                                            "naive_s_per_mp": naive, "model_only_runs": model_runs,
                                            "end_to_end_runs": stage_runs, **extra}, indent=1) + "\n")
    if a.out:
        with open(a.out, "a") as fh:
            fh.write("\n" + text + "\n")


if __name__ == "__main__":
    main()
