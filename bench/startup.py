"""Wall time of `dub --help` (issue 12's goal: under 1 s), as farm-bench measures a whole command.

    .venv/bin/python bench/startup.py [--runs 10]

Prints the minimum, median and maximum over the runs; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    runs = ap.parse_args().runs
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dub", "--help"], capture_output=True, check=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    print(f"dub --help over {runs} runs: min {min(times):.3f} s, median {statistics.median(times):.3f} s, "
          f"max {max(times):.3f} s (goal: < 1 s)")


if __name__ == "__main__":
    main()
