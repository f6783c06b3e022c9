"""Lip-sync benchmark: renderer and tracker frames/s at 720p, and peak memory against video length.

    .venv/bin/python bench/lipsync.py [--video ../shared/media/video/vr_face1.mp4]
    .venv/bin/python bench/lipsync.py --accuracy [--ref 0e844db]
    .venv/bin/python bench/lipsync.py --identity

Builds 720p clips (the source scaled and padded to 1280x720, repeated 1x and 3x), then prints a table.
Renderer speed excludes decode and encode. Tracking speed is the whole of `track.track_video` (VIDEO
pass, small-face crops, tile searches, cut detection, identity, linking, gap filling) minus the time
spent decoding frames; the load average is printed with it, as other work on the machine slows it.

--identity prints the appearance distances (track.Identity) between clips of 4 people (vr_face1,
vr_face2, GRID, skimage's astronaut photo) and variants of them (other part of the clip, smaller,
zoomed, regraded), against the re-link thresholds.

--accuracy tracks vr_face1 and vr_face2 at 720p and native size with this tree's track.py and with the
one at git revision --ref, and prints the lip-landmark differences (px and inter-ocular fraction,
mean and 95th percentile) and the correlation of the two mouth-opening curves.
"""

from __future__ import annotations

import argparse
import json
import os
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


class TimedFrames:
    """Frames from an iterator, adding up the time spent producing them (decoding)."""

    def __init__(self, it):
        self.it, self.seconds = iter(it), 0.0

    def __iter__(self):
        return self

    def __next__(self):
        t0 = time.perf_counter()
        try:
            return next(self.it)
        finally:
            self.seconds += time.perf_counter() - t0


def time_tracking(video: Path, work: Path, track_module=None) -> tuple[float, int, object]:
    """(seconds in track_video minus decode, frames, Tracks) for one video."""
    from lipsync import track as T
    from dubbing import video as video_io

    T = track_module or T
    times, _ = video_io.frame_times(video)
    info = video_io.probe(video)
    T.Landmarker.get()  # loaded outside the timing
    frames = TimedFrames(video_io.frames(video))
    t0 = time.perf_counter()
    tr = T.track_video(frames, len(times), info.width, info.height, work)
    return time.perf_counter() - t0 - frames.seconds, len(tr.times), tr


def run_one(video: Path, work: Path) -> dict:
    """Track, plan and render one video (in this process); timings and peak RSS."""
    import resource

    from dubbing.schema import SpeakerTurn
    from lipsync import api
    from dubbing import video as video_io

    times, _ = video_io.frame_times(video)
    info = video_io.probe(video)
    t_track, n, _ = time_tracking(video, work / "t")
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
    return {"frames": n, "size": f"{info.width}x{info.height}", "track_fps": n / t_track,
            "render_fps": rep.render_fps, "sync_video_s": total,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "closure_rate": rep.closure_rate, "psnr_outside": rep.psnr_outside}


def reference_track(rev: str):
    """lipsync/track.py as of git revision `rev`, loaded as a module of this tree's lipsync package."""
    import importlib.util

    src = subprocess.run(["git", "show", f"{rev}:lipsync/track.py"], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader("lipsync._track_ref", loader=None))
    mod.__package__ = "lipsync"
    sys.modules[mod.__name__] = mod
    exec(compile(src, f"{rev}:lipsync/track.py", "exec"), mod.__dict__)
    return mod


def lip_errors(ref, new) -> dict:
    """Lip landmarks of `new` against `ref` (Tracks) on the frames both detected, faces matched by box."""
    import numpy as np

    from lipsync import geometry as G
    from lipsync import landmarks as L

    lips = np.r_[L.LIPS_OUTER, L.LIPS_INNER]
    err_px, err_iod, o_ref, o_new, missed, extra, both = [], [], [], [], 0, 0, 0

    def opening(lm):
        return float(lm[L.LOWER_INNER_MID, 1].mean() - lm[L.UPPER_INNER_MID, 1].mean())

    for i in range(min(len(ref.times), len(new.times))):
        a = [k for k in range(ref.track.shape[1]) if ref.track[i, k] >= 0 and not ref.filled[i, k]]
        b = [k for k in range(new.track.shape[1]) if new.track[i, k] >= 0 and not new.filled[i, k]]
        pairs = [(ka, kb) for ka in a for kb in b
                 if G.iou(G.bbox(ref.lm[i, ka]), G.bbox(new.lm[i, kb])) > 0.3]
        both += len(pairs)
        missed += len(a) - len({ka for ka, _ in pairs})
        extra += len(b) - len({kb for _, kb in pairs})
        for ka, kb in pairs:
            r, m = np.asarray(ref.lm[i, ka], float), np.asarray(new.lm[i, kb], float)
            iod = float(np.linalg.norm(r[L.RIGHT_EYE_OUTER] - r[L.LEFT_EYE_OUTER]))
            d = np.linalg.norm(m[lips] - r[lips], axis=1)
            err_px += list(d)
            err_iod += list(d / iod)
            o_ref.append(opening(r) / iod)
            o_new.append(opening(m) / iod)
    e, f = np.array(err_px), np.array(err_iod)
    r = float(np.corrcoef(o_ref, o_new)[0, 1]) if len(o_ref) > 2 and np.std(o_new) > 0 else float("nan")
    return {"faces": both, "missed": missed, "extra": extra, "mean_px": float(e.mean()) if e.size else float("nan"),
            "p95_px": float(np.percentile(e, 95)) if e.size else float("nan"),
            "mean_iod": float(f.mean()) if f.size else float("nan"),
            "p95_iod": float(np.percentile(f, 95)) if f.size else float("nan"), "open_r": r}


def cpu_tracking(frames: list, width: int, height: int, work: Path, track_module) -> tuple[float, float, object]:
    """(wall s, CPU s of the whole process, Tracks) tracking decoded `frames`. Tracking runs on one
    thread at a time (MediaPipe's graph thread while Python waits), so CPU s / frame is what a
    frame costs on an idle core, whatever else the machine is doing."""
    import resource

    def cpu():
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    track_module.Landmarker.get()
    t0, c0 = time.perf_counter(), cpu()
    tr = track_module.track_video(iter(frames), len(frames), width, height, work)
    return time.perf_counter() - t0, cpu() - c0, tr


def accuracy(rev: str) -> None:
    """Print the tracking accuracy and speed of this tree against revision `rev` (see the module doc)."""
    from lipsync import track as T
    from dubbing import video as video_io

    ref_mod = reference_track(rev)
    rows = []
    with tempfile.TemporaryDirectory(prefix="lsacc.") as d:
        for name in ("vr_face1", "vr_face2"):
            src = MEDIA / "video" / f"{name}.mp4"
            for size, video in (("720p", make_720p(src, Path(d) / f"{name}_720.mp4", 1)), ("native", src)):
                frames = list(video_io.frames(video))  # decoded first: not part of the timing
                h, w = frames[0].rgb.shape[:2]
                r = [cpu_tracking(frames, w, h, Path(d) / k, m) for k, m in (("ref", ref_mod), ("new", T))]
                n = len(frames)
                rows.append((name, size, n, [(n / wall, 1000 * c / n) for wall, c, _ in r], lip_errors(r[0][2], r[1][2])))
    print(f"load average {os.getloadavg()[0]:.2f}; reference = track.py at {rev}; f/s is wall clock (slowed by other "
          "work), ms/f is CPU per frame (= an idle core's cost)")
    print(f"{'video':>9} {'size':>6} {'frames':>6} {'ref f/s':>7} {'ms/f':>5} {'new f/s':>7} {'ms/f':>5} {'missed':>6} "
          f"{'extra':>5} {'lip mean px':>11} {'p95 px':>6} {'mean/iod':>8} {'p95/iod':>7} {'open r':>7}")
    for name, size, n, ((f_ref, c_ref), (f_new, c_new)), e in rows:
        print(f"{name:>9} {size:>6} {n:>6} {f_ref:>7.1f} {c_ref:>5.1f} {f_new:>7.1f} {c_new:>5.1f} {e['missed']:>6} "
              f"{e['extra']:>5} {e['mean_px']:>11.3f} {e['p95_px']:>6.2f} {e['mean_iod']:>8.4f} {e['p95_iod']:>7.4f} "
              f"{e['open_r']:>7.4f}")


IDENTITY_CLIPS = {  # name: (person, source, ffmpeg video filter)
    "face1_a": ("face1", "vr_face1.mp4", "trim=0:3"),
    "face1_b": ("face1", "vr_face1.mp4", "trim=3:6"),
    "face1_b_regraded": ("face1", "vr_face1.mp4", "trim=3:6,eq=brightness=-0.08:contrast=0.85:saturation=1.2,"
                                                   "colorbalance=rm=0.08:bm=-0.05"),
    "face1_b_small": ("face1", "vr_face1.mp4", "trim=3:6,scale=300:300"),
    "face2_a": ("face2", "vr_face2.mp4", "trim=0:2.5"),
    "face2_b": ("face2", "vr_face2.mp4", "trim=2.5:5"),
    "face2_b_regraded": ("face2", "vr_face2.mp4", "trim=2.5:5,eq=brightness=0.06:saturation=0.85,colorbalance=bm=0.06"),
    "face2_b_zoom": ("face2", "vr_face2.mp4", "trim=2.5:5,crop=500:500:172:60,scale=844:844"),
    "grid_a": ("grid", "grid_bbaf2n.mpg", "trim=0:1.5"),
    "grid_b": ("grid", "grid_bbaf2n.mpg", "trim=1.5:3"),
    "astronaut": ("astronaut", None, None),
}


def identity() -> None:
    """Print appearance distances between people and variants of one person (see the module doc)."""
    import itertools

    import imageio_ffmpeg
    import numpy as np
    import skimage

    from lipsync import track as T
    from dubbing import video as video_io

    ff = imageio_ffmpeg.get_ffmpeg_exe()
    desc = {}
    with tempfile.TemporaryDirectory(prefix="lsid.") as d:
        for name, (_, src, vf) in IDENTITY_CLIPS.items():
            out = Path(d) / f"{name}.mp4"
            inp = (["-loop", "1", "-i", str(Path(skimage.__file__).parent / "data" / "astronaut.png"), "-t", "1", "-r", "25"] if src is None
                   else ["-i", str(MEDIA / "video" / src), "-vf", f"{vf},setpts=PTS-STARTPTS"])
            subprocess.run([ff, "-y", "-loglevel", "error", *inp, "-an", "-c:v", "libx264", "-crf", "16",
                            "-pix_fmt", "yuv420p", str(out)], check=True)
            info = video_io.probe(out)
            tr = T.track_video(video_io.frames(out), len(video_io.frame_times(out)[0]), info.width, info.height,
                               Path(d) / "w")
            main_id = max(tr.ids, key=lambda i: len(tr.frames_of(i)[0]))
            e = next(x for x in tr.extra["identity"] if x["id"] == main_id)
            desc[name] = (np.array(e["shape"]), np.array(e["colour"]))
    same, diff = [], []
    for a, b in itertools.combinations(IDENTITY_CLIPS, 2):
        ds, dc = T.Identity.distance(desc[a], desc[b])
        (same if IDENTITY_CLIPS[a][0] == IDENTITY_CLIPS[b][0] else diff).append((ds, dc, a, b))
    print(f"thresholds: shape < {T.ID_SHAPE}, colour < {T.ID_COLOUR} (both needed)")
    print("one person:")
    for ds, dc, a, b in sorted(same, reverse=True):
        print(f"  {a:>17} {b:>17}  shape {ds:.4f}  colour {dc:.3f}  {'linked' if ds < T.ID_SHAPE and dc < T.ID_COLOUR else 'NOT linked'}")
    print("different people (closest 8 by shape):")
    for ds, dc, a, b in sorted(diff)[:8]:
        print(f"  {a:>17} {b:>17}  shape {ds:.4f}  colour {dc:.3f}  {'MERGED' if ds < T.ID_SHAPE and dc < T.ID_COLOUR else 'kept apart'}")
    print(f"one person: shape <= {max(x[0] for x in same):.4f}; different people: shape >= {min(x[0] for x in diff):.4f}, "
          f"{sum(x[0] < T.ID_SHAPE and x[1] < T.ID_COLOUR for x in diff)} of {len(diff)} pairs would merge")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", type=Path, default=MEDIA / "video" / "vr_face1.mp4")
    ap.add_argument("--accuracy", action="store_true", help="compare tracking with track.py at --ref")
    ap.add_argument("--ref", default="0e844db", help="git revision of the reference track.py (default: before the "
                                                     "speed-up)")
    ap.add_argument("--identity", action="store_true", help="appearance distances between people and variants")
    ap.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one, Path(tempfile.mkdtemp(prefix="lsbench.")))))
        return
    if a.accuracy:
        accuracy(a.ref)
        return
    if a.identity:
        identity()
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
    print(f"load average {os.getloadavg()[0]:.2f} (tracking excludes decode; other work on the machine slows both)")
    print("goals: render >= 25 f/s, tracking >= 30 f/s at 720p; peak memory flat in length")


if __name__ == "__main__":
    main()
