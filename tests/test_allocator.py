"""Freed memory kept in the process: large blocks reused instead of page-faulted in anew."""
import subprocess
import sys

import pytest

# 20 times a 48 MiB block allocated, written and freed: the minor page faults it cost.
_LOOP = """
import resource, sys
import numpy as np
from rootpipe.allocator import hold_freed_memory
took = hold_freed_memory() if sys.argv[1] == "hold" else None
a = np.ones(1 << 20); del a
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    a = np.ones(6 << 20)  # 48 MiB of float64
    del a
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", _LOOP, mode], capture_output=True, text=True, check=True)
    took, count = out.stdout.split()
    return took, int(count)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_held_memory_is_reused_without_page_faults():
    _, default = faults("default")
    took, held = faults("hold")
    assert took == "True"
    # By default glibc maps each 48 MiB block anew and faults its pages in every time (fewer faults
    # than 4 KiB pages where the kernel backs them with huge pages); held, the first block faults
    # in and the other 19 reuse it.
    assert held * 5 < default


def test_cpu_predictor_holds_freed_memory(monkeypatch):
    from rootpipe import allocator
    from rootpipe.segmentation import checkpoint
    from rootpipe.segmentation.segmenter import DEFAULT_CHECKPOINT
    from rootpipe.segmentation.unet import TilePredictor

    calls = []
    monkeypatch.setattr(allocator, "hold_freed_memory", lambda: calls.append(1) or True)
    model, header = checkpoint.load(DEFAULT_CHECKPOINT, device="cpu")
    TilePredictor(model, header, device="cpu")
    assert calls == [1]
