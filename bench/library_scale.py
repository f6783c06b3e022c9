"""A library on one process against a Dask LocalCluster of worker processes (issues 14 and 17).

    .venv/bin/python bench/library_scale.py [--to es] [--workers 2] [--lipsync] [--out /tmp/libscale]

Makes a library folder of links to shared clips with speech (vr_face1, vr_face2, ls_demo2 and the
fw_jfk audio: real speech, four languages of work per target), then runs `dub library run` on it twice
from empty output folders: the videos in turn in one process, and `--dask local:N`. Prints wall and
CPU seconds (this process's children, the Dask workers included) and the speed-up. On 2 cores each
dub already uses both, so the gain here is bounded by the stages that leave a core idle; on a cluster
the same flow spreads one video per worker.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CLIPS = ["video/vr_face1.mp4", "video/vr_face2.mp4", "video/ls_demo2.mp4", "audio/fw_jfk.flac"]


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def library_run(library: Path, out: Path, to: str, extra: list[str]) -> dict:
    """One `dub library run` from an empty output folder: wall and CPU seconds, and its summary."""
    shutil.rmtree(out, ignore_errors=True)
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dub", "library", "run", "--root", str(library), "--to", to,
                           "--out", str(out), *extra], cwd=ROOT, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if proc.returncode:
        sys.exit(f"dub library run {' '.join(extra)} failed: {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
    summary = json.loads((out / "library-summary.json").read_text())
    return {"wall": wall, "cpu": cpu, "dubbed": summary["counts"]["dubbed"],
            "workers": sorted({d.get("worker", "") for d in summary["dubbed"]})}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", default="es")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lipsync", action="store_true", help="re-render the mouths too (default: keep the frames)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/libscale"))
    a = ap.parse_args()
    if not MEDIA.exists():
        sys.exit("../shared/media not present: nothing to benchmark")
    library = a.out / "library"
    shutil.rmtree(library, ignore_errors=True)
    library.mkdir(parents=True)
    for clip in CLIPS:  # links, never copies of the shared media
        (library / Path(clip).name).symlink_to(MEDIA / clip)
    extra = [] if a.lipsync else ["--no-lipsync"]
    alone = library_run(library, a.out / "in-turn", a.to, extra)
    spread = library_run(library, a.out / "dask", a.to, extra + ["--dask", f"local:{a.workers}"])
    print(f"{len(CLIPS)} media files -> {a.to}, lip-sync {'on' if a.lipsync else 'off'}")
    for name, r in (("in turn", alone), (f"dask local:{a.workers}", spread)):
        print(f"  {name:14s} wall {r['wall']:7.1f} s  cpu {r['cpu']:7.1f} s  dubbed {r['dubbed']}  "
              f"by {len(r['workers'])} process(es)")
    print(f"  speed-up (wall, in turn / dask): {alone['wall'] / spread['wall']:.2f}x")


if __name__ == "__main__":
    main()
