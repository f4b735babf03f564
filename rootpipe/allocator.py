"""Keep freed memory in the process for torch on a CPU.

glibc serves blocks over its mmap threshold (128 KiB, rising to at most 32 MiB as it learns)
with fresh pages from the kernel and hands them back on ``free``. A U-Net on a CPU allocates and
frees activations of 1-64 MiB in every layer of every pass, so each pass page-faults its
activations in anew: on the 2-core development machine a third of the CPU time of a 512 px tile
went to the kernel (0.088 s a tile; 0.048 s with the settings below, outputs unchanged).
"""
from __future__ import annotations

import ctypes
import functools

# mallopt's parameter numbers (glibc malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3


@functools.cache
def hold_freed_memory(mmap_threshold_mb: int = 128, trim_threshold_mb: int = 512, top_pad_mb: int = 64) -> bool:
    """Make glibc keep freed blocks in the heap for reuse instead of returning them to the kernel.

    Blocks under ``mmap_threshold_mb`` (every activation of a 512 px tile, or of a training batch
    of 8 tiles of 256 px) come from the heap, which keeps up to ``trim_threshold_mb`` of free
    memory at its top; bigger arrays (a large image's whole mask) are mapped and returned as
    before, so a job's peak memory grows by at most that much. With 1024/1024/256 MiB a tile and a
    training step ran no faster (0.049 s, 0.33 s; 0.060-0.064 and 0.50 s with glibc's defaults).
    Called by CPU predictors and CPU training; once per process.

    Parameters
    ----------
    mmap_threshold_mb : int
        Blocks of this size (MiB) and larger are mapped on their own, not taken from the heap.
    trim_threshold_mb : int
        Free memory (MiB) at the heap's top kept rather than handed back.
    top_pad_mb : int
        Extra memory (MiB) the heap asks the kernel for each time it grows.

    Returns
    -------
    bool
        Whether the settings took (False where the C library is not glibc, e.g. macOS, musl).
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mib = 1 << 20
    return all(mallopt(option, value) == 1 for option, value in (
        (_M_MMAP_THRESHOLD, mmap_threshold_mb * mib),
        (_M_TRIM_THRESHOLD, trim_threshold_mb * mib),
        (_M_TOP_PAD, top_pad_mb * mib)))
