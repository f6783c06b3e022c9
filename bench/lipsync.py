"""Lip-sync benchmark: renderer and tracker frames/s at 720p, and peak memory against video length.

    .venv/bin/python bench/lipsync.py [--video ../shared/media/video/vr_face1.mp4]

Builds 720p clips (the source scaled and padded to 1280x720, repeated 1x and 3x), then prints a table.
Renderer speed excludes decode and encode; tracking speed excludes decode.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
# this file is named like the package it measures: import the package, not this script
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def make_720p(src: Path, dest: Path, repeat: int) -> Path:
    import imageio_ffmpeg

    ff = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([ff, "-y", "-loglevel", "error", "-stream_loop", str(repeat - 1), "-i", str(src),
                    "-vf", "scale=-2:720,pad=1280:720:(ow-iw)/2:0", "-c:v", "libx264", "-crf", "16",
                    "-c:a", "aac", str(dest)], check=True)
    return dest


def run_one(video: Path, work: Path) -> dict:
    """Track, plan and render one video (in this process); timings and peak RSS."""
    import resource

    import numpy as np

    from dubbing.schema import SpeakerTurn
    from lipsync import api, track, video_io

    times, _ = video_io.frame_times(video)
    info = video_io.probe(video)
    lmk = track.Landmarker.get()
    lmk.start_stream()
    t_det, n = 0.0, 0
    for fr in video_io.frames(video):
        t0 = time.perf_counter()
        lmk.detect_video(fr.rgb, fr.time)
        t_det += time.perf_counter() - t0
        n += 1
    # phones: a steady syllable pattern with bilabials, enough to drive every frame
    ph, t = [], 0.0
    while t < times[-1]:
        for s, d in (("m", 0.07), ("a", 0.12), ("p", 0.06), ("o", 0.1), ("s", 0.08), ("i", 0.1)):
            ph.append((s, t, t + d, "S0"))
            t += d
    turns = [SpeakerTurn(start=0.0, end=float(times[-1]) + 1, speaker="S0")]
    t0 = time.perf_counter()
    rep = api.sync_video(video, video, ph, turns, work / "out.mp4", work / "w")
    total = time.perf_counter() - t0
    return {"frames": n, "size": f"{info.width}x{info.height}", "track_fps": n / t_det,
            "render_fps": rep.render_fps, "sync_video_s": total,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "closure_rate": rep.closure_rate, "psnr_outside": rep.psnr_outside}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", type=Path, default=MEDIA / "video" / "vr_face1.mp4")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one, Path(tempfile.mkdtemp(prefix="lsbench.")))))
        return
    if not a.video.exists():
        sys.exit(f"{a.video} not found")
    rows = []
    with tempfile.TemporaryDirectory(prefix="lsbench.") as d:
        for rep in (1, 3):
            clip = make_720p(a.video, Path(d) / f"clip{rep}.mp4", rep)
            out = subprocess.run([sys.executable, __file__, "--one", str(clip)], capture_output=True, text=True,
                                 cwd=ROOT)
            line = [x for x in out.stdout.splitlines() if x.startswith("{")]
            if not line:
                sys.exit(out.stderr[-2000:])
            rows.append((rep, json.loads(line[-1])))
    print(f"{'length':>7} {'frames':>6} {'size':>9} {'track f/s':>9} {'render f/s':>10} {'sync_video s':>12} {'peak MB':>8}")
    for rep, r in rows:
        print(f"{rep:>6}x {r['frames']:>6} {r['size']:>9} {r['track_fps']:>9.1f} {r['render_fps'] or 0:>10.1f} "
              f"{r['sync_video_s']:>12.1f} {r['peak_rss_mb']:>8.0f}")
    print("goals: render >= 25 f/s, tracking >= 30 f/s at 720p; peak memory flat in length")


if __name__ == "__main__":
    main()
