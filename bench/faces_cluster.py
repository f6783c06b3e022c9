"""The face tracking of a long video in parts on a Dask LocalCluster (lipsync.face_parts) against one pass
in one process (lipsync.faces.analyse): wall seconds, speed-up, and whether the parts found the same people.

    PYTHONPATH=$PWD .venv/bin/python bench/faces_cluster.py VIDEO [--workers 1 2] [--seconds 120]

The cluster is the one `dub translate --dask local:N` starts (flows.runners.cluster: N processes of
one thread, freeing memory as dub's process does); the parts' wall time includes its start and each
worker's landmarker load. On this 2-core machine the
ceiling is two parts at once; the figure to read is how close N workers come to N times one pass.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def people(tracks) -> int:
    """People seen in at least 25 frames."""
    ids, counts = np.unique(tracks.track[tracks.track >= 0], return_counts=True)
    return int(np.sum(counts >= 25))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", type=Path)
    ap.add_argument("--workers", type=int, nargs="+", default=[2])
    ap.add_argument("--seconds", type=float, default=None, help="part length (s); default face_parts.PART_SECONDS")
    a = ap.parse_args()
    from flows import runners
    from lipsync import face_parts, faces

    seconds = a.seconds or face_parts.PART_SECONDS
    work = Path(tempfile.mkdtemp(prefix="faces_cluster_"))
    try:
        t0 = time.perf_counter()
        whole = faces.analyse(a.video, work / "whole").tracks
        one = time.perf_counter() - t0
        print(f"{a.video.name}: {len(whole.times)} frames; one pass in this process: {one:.1f} s, "
              f"{people(whole)} people, {len(whole.extra['cut_frames'])} cuts")
        for n in a.workers:
            t0 = time.perf_counter()
            with runners.cluster(f"local:{n}") as address:  # as `dub translate --dask local:N` starts it
                got = face_parts.analyse_in_parts(a.video, work / f"parts{n}", runners.cluster_map(address),
                                                  seconds).tracks
            wall = time.perf_counter() - t0
            print(f"  {n} worker(s), parts of {seconds:.0f} s: {wall:.1f} s = {one / wall:.2f}x one pass; "
                  f"{people(got)} people, {len(got.extra['cut_frames'])} cuts")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
