"""Time per image of the traits stage against a plain skan summary.

Mask: 3000 x 2000 px, about 3 % root pixels: random tortuous roots (smooth
random walks, 2-12 px wide, drawn as round-capped strokes) with one-pixel
outline noise like a thresholded segmentation's (so spur pruning has work to
do).

Compared, on one core (OpenCV and numba threads set to 1) and after JIT
warm-up of both:

- ``rootpipe measure``: :func:`rootpipe.traits.measure` (cleaning, thinning,
  pruning, smoothed-path length, chord diameters, outline, all traits);
- ``rootpipe measure_all``: the same plus the branch table and branch paths
  (what the workflow runs when it writes branches/RSML);
- ``skan baseline``: ``skimage.morphology.skeletonize`` then
  ``skan.summarize(skan.Skeleton(...))`` (a branch table only: no diameters,
  no cleaning or pruning, pixel-chain lengths).

Each is timed `--repeats` times, interleaved; the median and the minimum are
reported. Usage::

    python benchmarks/traits.py [--repeats 5] [--no-write]

Unless ``--no-write``, the table replaces the block between the ``speed``
markers in ``docs/traits.md``.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import skan  # noqa: E402
from common import replace_section  # noqa: E402 - benchmarks/common.py, beside this script
from skimage.morphology import skeletonize  # noqa: E402

from rootpipe import traits  # noqa: E402
from rootpipe.io import rsml  # noqa: E402

DOC = Path(__file__).resolve().parents[1] / "docs" / "traits.md"
BEGIN, END = "<!-- speed:begin -->", "<!-- speed:end -->"


def random_roots(shape=(3000, 2000), fraction=0.03, seed=0) -> np.ndarray:
    """Tortuous roots of 2-12 px width covering about `fraction` of the image,
    with one-pixel outline noise."""
    rng = np.random.default_rng(seed)
    m = np.zeros(shape, bool)
    while m.mean() < fraction:
        n = int(rng.integers(150, 600))
        heading = np.cumsum(rng.normal(0, 0.06, n)) + rng.uniform(0, 2 * np.pi)
        steps = np.stack([np.sin(heading), np.cos(heading)], axis=1) * 3.0
        yx = np.cumsum(steps, axis=0) + rng.uniform((0, 0), shape)
        m |= rsml.render_mask([yx], shape, rng.uniform(2, 12))
    # Outline noise: background pixels next to a root become root and root
    # pixels next to background become background, each with chance 0.15.
    ring = cv2.dilate(m.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    inner = cv2.erode(m.view(np.uint8), np.ones((3, 3), np.uint8)).view(bool)
    flip = rng.random(shape) < 0.15
    return (m & ~(flip & ~inner)) | (flip & ring & ~m)


def skan_baseline(mask: np.ndarray):
    """The plain skan way: skimage skeleton, skan branch summary."""
    return skan.summarize(skan.Skeleton(skeletonize(mask)), separator="_")


def time_all(mask: np.ndarray, repeats: int) -> dict:
    """Seconds per call of each method, `repeats` interleaved calls each."""
    methods = {
        "rootpipe measure": lambda: traits.measure(mask),
        "rootpipe measure_all": lambda: traits.measure_all(mask),
        "skan baseline": lambda: skan_baseline(mask),
    }
    for f in methods.values():  # JIT compilation and caches, both sides
        f()
    times = {name: [] for name in methods}
    for _ in range(repeats):
        for name, f in methods.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    return times


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def markdown(times: dict, mask: np.ndarray) -> str:
    lines = [f"Mask {mask.shape[0]} x {mask.shape[1]} px, {100 * mask.mean():.1f} % root "
             f"pixels; one core ({cpu_name()}), after JIT warm-up; "
             f"{len(next(iter(times.values())))} interleaved calls each.", "",
             "| method | median s/image | min s/image |", "|---|---|---|"]
    for name, t in times.items():
        lines.append(f"| {name} | {np.median(t):.3f} | {np.min(t):.3f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-write", action="store_true", help="do not update docs/traits.md")
    a = p.parse_args(argv)
    cv2.setNumThreads(1)
    mask = random_roots()
    times = time_all(mask, a.repeats)
    text = markdown(times, mask)
    print(text)
    if not a.no_write:
        replace_section(DOC, BEGIN, END, text)


if __name__ == "__main__":
    main()
