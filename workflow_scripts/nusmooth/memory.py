"""Process memory: glibc's allocator tuned for the many equal-sized tensors that noisy sampling
allocates (large freed blocks are kept for reuse instead of being unmapped)."""

from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


def keep_freed_memory_for_reuse(threshold_bytes: int = 1 << 30) -> bool:
    """Stop glibc from returning large freed blocks to the kernel after every forward pass.

    By default glibc serves allocations above 32 MiB (a CNN's activations on a batch of noisy
    copies) with fresh ``mmap`` pages and unmaps them on free, so every batch pays page faults:
    without this call, half of the wall time of certification on 2 CPU cores is kernel time, and the
    paper's MNIST CNN samples about half as fast as with it (measured on such a machine). Returns
    False where it does not apply (no glibc); the cost is that the process keeps its peak memory.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold_bytes)) and bool(
            libc.mallopt(_M_TRIM_THRESHOLD, threshold_bytes)
        )
    except (OSError, AttributeError):
        return False
