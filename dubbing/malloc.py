"""Freed memory goes back to the system: glibc's mmap threshold fixed at THRESHOLD bytes.

glibc raises its mmap threshold each time a large block is freed (up to 32 MB); from then on blocks of
that size come from the heaps, one per thread, and stay there once freed. The language branches are
threads that each allocate and free many arrays of that size (video frames, audio windows, a track's
curves): over bench/long.py's 10-minute dub the run's memory crept from 3.5 GB to 6 GB through the
lip-sync phase and stayed there, while one branch's lip sync traces 0.23 GB of live arrays. Three
threads making and freeing 1-32 MB arrays beside a few small survivors kept 0.35 GB with glibc's
default and 0.17 GB with the threshold fixed at 1 MB (0.14 GB live). A fixed threshold also turns off
the adjustment, so every block above it is mapped on its own and unmapped when freed.

Each heap also keeps TOP_PAD bytes free at its top instead of handing every freed page back (glibc keeps
128 KB). With 128 KB, the threads' heaps were shrunk and grown again between frames: the 6 s sample
took 6.4 million page faults and 12 s of system time in 30 s. Keeping 64 MB: 1.9 million, 5 s, 26 s,
for 0.2 GB more peak (2.54 -> 2.76 GB); 8, 16 and 32 MB saved little (11.2, 10.8, 9.9 s of system
time). A pad as large as a heap (64 MB) also stops glibc deleting a thread's emptied heap only to map
a new one for the next frame. ARENA_MAX bounds what the pads hold: the threads share that many heaps.
In the three-thread workload of tests/test_malloc.py the process kept 0.29 GB with glibc's defaults,
0.13 GB with the 1 MB threshold alone, 0.23 GB with the pad and 8 arenas, 0.17 GB with the pad and 2
(0.22-0.23 GB on a second machine, where the default also kept 0.29: the threads' timing decides it);
the 6 s sample ran as fast with 2 arenas as with 8 (26.8 s). The trim threshold is left as it is:
set again to glibc's 128 KB, the workload kept 0.23 GB with 2 arenas.
"""

from __future__ import annotations

import ctypes
import ctypes.util

THRESHOLD = 1 << 20  # bytes: blocks at least this big are mapped on their own
TOP_PAD = 64 << 20  # bytes: kept free at the top of each heap
ARENA_MAX = 2  # heaps the threads share
_M_TOP_PAD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -2, -3, -8  # mallopt parameter numbers (malloc.h)


def return_freed_memory() -> bool:
    """Set the threshold, pad and arenas for this process (call once, early); False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        settings = ((_M_MMAP_THRESHOLD, THRESHOLD), (_M_TOP_PAD, TOP_PAD), (_M_ARENA_MAX, ARENA_MAX))
        return all([bool(libc.mallopt(param, value)) for param, value in settings])
    except (OSError, AttributeError):  # not glibc (musl, macOS): leave the allocator as it is
        return False
