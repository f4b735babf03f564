"""A 20,000 x 20,000 px scan through tile, segment and traits: peak memory and wall time per job.

Run by hand: ``python benchmarks/big_image.py [--size 20000] [--work /tmp/big] [--threads 2] [--segment JSON]``.

The image is a mosaic of synthetic rhizotron images (rootpipe.synthetic, the
kind the shipped model was trained on), mirrored so that roots run across the
mosaic's seams, written as a striped uint8 TIFF (what flatbed scanners write).
Each stage runs as its own ``rootpipe`` process, as Snakemake would run it,
under ``/usr/bin/time -v``; the table gives each job's maximum resident set size.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_image(path: Path, size: int, piece: int = 2500, seed: int = 3) -> float:
    """Write a size x size RGB TIFF mosaic of synthetic root images; returns the root fraction."""
    import tifffile

    from rootpipe.synthetic import generate_campaign

    pieces, masks = [], []
    for _, rgb, mask, _ in generate_campaign(n_series=4, n_timepoints=3, image_size=(piece, piece), seed=seed):
        pieces.append(rgb)
        masks.append(mask)
    pieces, masks = pieces[2::3], masks[2::3]  # the last session of each series: most roots
    n = -(-size // piece)
    image = np.empty((n * piece, n * piece, 3), np.uint8)
    root_px = 0
    for i in range(n):
        for j in range(n):
            k = (i * n + j) % len(pieces)
            tile, m = pieces[k], masks[k]
            if i % 2:
                tile, m = tile[::-1], m[::-1]
            if j % 2:
                tile, m = tile[:, ::-1], m[:, ::-1]
            image[i * piece:(i + 1) * piece, j * piece:(j + 1) * piece] = tile
            if (i + 1) * piece <= size and (j + 1) * piece <= size:
                root_px += int(np.count_nonzero(m))
    tifffile.imwrite(path, image[:size, :size], rowsperstrip=256, photometric="rgb")
    return root_px / (min(n, size // piece) * piece) ** 2


def timed(cmd: list[str], log: Path) -> dict:
    """Run ``cmd`` under /usr/bin/time -v: wall time (s) and peak RSS (GiB)."""
    timing = log.with_suffix(".time")
    with open(log, "w") as fh:
        subprocess.run(["/usr/bin/time", "-v", "-o", str(timing), *cmd], stdout=fh, stderr=subprocess.STDOUT,
                       check=True)
    text = timing.read_text()
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    seconds = sum(float(p) * 60**i for i, p in enumerate(reversed(clock.split(":"))))
    return {"peak_rss_gib": rss_kb / 2**20, "wall_s": seconds}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--work", default="/tmp/rootpipe-big")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--segment-threads", type=int, help="threads of the segment job (default --threads)")
    ap.add_argument("--stages", default="tile,segment,traits")
    ap.add_argument("--segment", default="{}",
                    help='extra segment keys as JSON, e.g. \'{"centreline_threshold": 0.3}\'')
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    image = work / f"scan{a.size}.tif"
    if not image.exists():
        start = time.perf_counter()
        fraction = make_image(image, a.size)
        print(f"wrote {image} ({image.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - start:.0f} s; "
              f"root pixels {100 * fraction:.1f} % (synthetic truth)")
    batch = work / "batch.tsv"
    pd.DataFrame({"image_id": ["scan"], "path": [str(image)], "series": ["s"],
                  "timestamp": ["2024-01-01T00:00:00"]}).to_csv(batch, sep="\t", index=False)
    config = json.dumps({"pixel_size_mm": 0.02, "segment": {"method": "unet", **json.loads(a.segment)}})
    rp = str(Path(__import__("sys").executable).with_name("rootpipe"))
    common = ["--config", config, "--threads", str(a.threads), "--quiet"]
    seg_threads = a.segment_threads or a.threads
    stages = {
        "tile": [rp, "tile", str(batch), str(work / "images.zarr"), *common],
        "segment": [rp, "segment", str(work / "images.zarr"), str(work / "seg.zarr"),
                    "--config", config, "--threads", str(seg_threads), "--quiet"],
        "traits": [rp, "traits", str(work / "seg.zarr"), str(work / "traits.parquet"),
                   "--branches", str(work / "branches.parquet"), *common],
    }
    rows = []
    for name in a.stages.split(","):
        subprocess.run(["rm", "-rf", str(work / {"tile": "images.zarr", "segment": "seg.zarr",
                                                   "traits": "traits.parquet"}[name])], check=True)
        result = timed(stages[name], work / f"{name}.log")
        rows.append((name, result))
        print(f"{name}: {result['wall_s']:.0f} s, peak RSS {result['peak_rss_gib']:.2f} GiB", flush=True)
    if (work / "seg.zarr").exists():
        import zarr

        from rootpipe.io.stores import mask_array

        mask = mask_array(zarr.open_group(work / "seg.zarr", mode="r")["scan"])
        root = sum(int(np.count_nonzero(mask[y:y + 4096])) for y in range(0, mask.shape[0], 4096))
        print(f"segmented root pixels: {100 * root / mask.size:.2f} %")
    lines = [f"{a.size} x {a.size} px ({a.size**2 / 1e6:.0f} MP) uint8 RGB TIFF, {a.threads} threads per job "
             f"({seg_threads} for segment), segment settings {json.loads(config)['segment']}",
             "", "| job | wall time (s) | peak RSS (GiB) |", "| --- | --- | --- |"]
    lines += [f"| {name} | {r['wall_s']:.0f} | {r['peak_rss_gib']:.2f} |" for name, r in rows]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
