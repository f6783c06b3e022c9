"""The face tracking of a long video in parts on a Dask LocalCluster (lipsync.face_parts) against one pass
in one process (lipsync.faces.analyse): wall seconds, speed-up, and whether the parts found the same people.

    PYTHONPATH=$PWD .venv/bin/python bench/faces_cluster.py VIDEO [--workers 1 2] [--seconds 120]

Each worker is a process with one thread (as `dub translate --dask local:N` makes them); the parts'
wall time includes the cluster's start and each worker's landmarker load. On this 2-core machine the
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
    from distributed import Client, LocalCluster

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
            with LocalCluster(n_workers=n, threads_per_worker=1, processes=True) as cluster, Client(cluster) as client:
                got = face_parts.analyse_in_parts(a.video, work / f"parts{n}",
                                                  lambda fn, xs: client.gather(client.map(fn, xs, pure=False)),
                                                  seconds).tracks
            wall = time.perf_counter() - t0
            print(f"  {n} worker(s), parts of {seconds:.0f} s: {wall:.1f} s = {one / wall:.2f}x one pass; "
                  f"{people(got)} people, {len(got.extra['cut_frames'])} cuts")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
