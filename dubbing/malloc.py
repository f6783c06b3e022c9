"""Freed memory goes back to the system: glibc's mmap threshold fixed at THRESHOLD bytes.

glibc raises its mmap threshold each time a large block is freed (up to 32 MB); from then on blocks of
that size come from the heaps, one per thread, and stay there once freed. The language branches are
threads that each allocate and free many arrays of that size (video frames, audio windows, a track's
curves): over bench/long.py's 10-minute dub the run's memory crept from 3.5 GB to 6 GB through the
lip-sync phase and stayed there, while one branch's lip sync traces 0.23 GB of live arrays. Three
threads making and freeing 1-32 MB arrays beside a few small survivors kept 0.35 GB with glibc's
default and 0.17 GB with the threshold fixed at 1 MB (0.14 GB live). A fixed threshold also turns off
the adjustment, so every block above it is mapped on its own and unmapped when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

THRESHOLD = 1 << 20  # bytes: blocks at least this big are mapped on their own
_M_MMAP_THRESHOLD = -3  # mallopt parameter number (malloc.h)


def return_freed_memory() -> bool:
    """Fix the threshold for this process (call once, early); False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):  # not glibc (musl, macOS): leave the allocator as it is
        return False
