"""Process-level CPU tuning for the many equal-sized tensors that noisy sampling allocates."""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory_for_reuse(threshold_bytes: int = 1 << 30) -> bool:
    """Stop glibc from returning large freed blocks to the kernel after every forward pass.

    By default glibc serves allocations above 32 MiB (a CNN's activations on a batch of noisy
    copies) with fresh ``mmap`` pages and unmaps them on free, so every batch pays page faults:
    measured here, half of the wall time of certification on 2 CPU cores was kernel time, and this
    call doubled the sampling rate of the paper's MNIST CNN. Returns False where it does not apply
    (no glibc); the cost is that the process keeps its peak memory.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, threshold_bytes))
    except (OSError, AttributeError):
        return False
