"""Freed memory goes back to the system (dubbing.malloc): threads that make and free large arrays
beside a few small survivors keep less of it with the threshold fixed than with glibc's default."""

import subprocess
import sys
from pathlib import Path

import pytest

from dubbing.malloc import return_freed_memory

WORK = """
import gc, sys, threading
import numpy as np
if sys.argv[1] == "fixed":
    from dubbing.malloc import return_freed_memory
    assert return_freed_memory()
def work(seed):
    rng = np.random.default_rng(seed)
    keep = []
    for i in range(300):
        a = np.ones(int(rng.integers(100_000, 4_000_000)))  # 0.8-32 MB, freed
        b = a * 2
        if i % 7 == 0:
            keep.append(np.ones(int(rng.integers(1000, 200_000))))  # small survivors
        del a, b
    return keep
kept = []
threads = [threading.Thread(target=lambda s=s: kept.append(work(s))) for s in range(3)]
[t.start() for t in threads]
[t.join() for t in threads]
gc.collect()
print(int([l for l in open("/proc/self/status") if l.startswith("VmRSS")][0].split()[1]))
"""


def _rss_kb(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", WORK, mode], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not Path("/proc/self/status").exists() or not return_freed_memory(),
                    reason="needs glibc and /proc")
def test_threads_freeing_large_arrays_give_the_memory_back():
    default, fixed = _rss_kb("default"), _rss_kb("fixed")
    assert fixed < 0.75 * default, (default, fixed)
