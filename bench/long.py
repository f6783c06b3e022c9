"""Long inputs: the cost per minute of video and the peak memory as the length grows (issue 14).

    .venv/bin/python bench/long.py [--minutes 1 10] [--to es,fr,ja] [--out /tmp/longbench] [--no-lipsync]
                                   [--trace DIR]  (a memory trace of each dub: bench/memtrace.py)
                                   [--dask local:3]  (the language branches on Dask worker processes)

Builds each input from ../shared/media clips, all at 1280x720, 25 f/s, 48 kHz stereo, in a repeating
program: vr_face1 (one speaker), a hard cut to vr_face2, a two-person side-by-side stretch (vr_face1 |
vr_face2, each speaking in turn), ls_demo2 (vertical phone video, Portuguese, pillar-boxed), 4 s of
silence over a still frame and 6 s of a music-only bed (a synthetic chord progression), until the length
is reached. Then `dub translate` each into the targets and print per-stage wall seconds, CPU seconds,
x real time and peak memory, and per minute of input. Goal: <= 3x the input's duration at 10 and 30
minutes on 2 cores, peak <= 4 GB at every length. Long runs are benchmarks, not tests.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import MEDIA, reference, run  # noqa: E402  (the whole-run measurement of bench/run.py)

W, H, FPS, RATE = 1280, 720, 25, 48000


def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def sh(*args: str) -> None:
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


FIT = f"scale={W}:{H}:force_original_aspect_ratio=decrease,pad={W}:{H}:(ow-iw)/2:(oh-ih)/2,fps={FPS},setsar=1"
ENCODE = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "aac",
          "-ar", str(RATE), "-ac", "2"]


def music_bed(path: Path, seconds: float) -> None:
    """A chord progression with a soft beat: no speech, so nothing to dub there."""
    import soundfile as sf

    t = np.arange(int(seconds * RATE)) / RATE
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (196.0, 246.9, 311.1)]
    out = np.zeros_like(t)
    for i, chord in enumerate(chords * int(seconds // 6 + 1)):
        seg = (t >= i * 1.5) & (t < (i + 1) * 1.5)
        for f in chord:
            out[seg] += 0.08 * np.sin(2 * np.pi * f * t[seg])
    out += 0.15 * np.sin(2 * np.pi * 60 * t) * np.exp(-((t % 0.5) * 20))  # a kick every half second
    sf.write(path, np.stack([out, out], 1).astype(np.float32), RATE)


def pieces(work: Path) -> list[Path]:
    """The program's pieces, each normalized to the common format."""
    work.mkdir(parents=True, exist_ok=True)
    face1, face2, demo = MEDIA / "video/vr_face1.mp4", MEDIA / "video/vr_face2.mp4", MEDIA / "video/ls_demo2.mp4"
    out = []
    for name, src in (("face1", face1), ("face2", face2), ("demo2", demo)):
        p = work / f"{name}.mp4"
        if not p.exists():
            sh("-i", str(src), "-vf", FIT, *ENCODE, str(p))
        out.append(p)
    sbs = work / "sbs.mp4"
    if not sbs.exists():  # two people side by side; the second one's voice follows the first one's
        sh("-i", str(face1), "-i", str(face2), "-filter_complex",
           f"[0:v]scale=-2:{H},crop={W // 2}:{H},fps={FPS}[a];[1:v]scale=-2:{H},crop={W // 2}:{H},fps={FPS}[b];"
           f"[a][b]hstack=inputs=2,setsar=1[v];[0:a][1:a]concat=n=2:v=0:a=1[au]",
           "-map", "[v]", "-map", "[au]", "-shortest", *ENCODE, str(sbs))
    out.insert(2, sbs)
    quiet = work / "silence.mp4"
    if not quiet.exists():
        sh("-i", str(face1), "-f", "lavfi", "-i", f"anullsrc=r={RATE}:cl=stereo", "-vf", f"{FIT},trim=end_frame=1,"
           f"loop=loop={4 * FPS}:size=1:start=0", "-t", "4", "-map", "0:v", "-map", "1:a", *ENCODE, str(quiet))
    bed = work / "music.wav"
    music = work / "music.mp4"
    if not music.exists():
        music_bed(bed, 6.0)
        sh("-i", str(face2), "-i", str(bed), "-vf", f"{FIT},trim=end_frame=1,loop=loop={6 * FPS}:size=1:start=0",
           "-t", "6", "-map", "0:v", "-map", "1:a", *ENCODE, str(music))
    return out + [quiet, music]


def build(minutes: float, work: Path) -> Path:
    """An input of `minutes` minutes: the pieces in turn, repeated, cut to length."""
    dest = work / f"long_{minutes:g}min.mp4"
    if dest.exists():
        return dest
    parts = pieces(work / "pieces")
    lengths = [float(subprocess.run([ffmpeg(), "-i", str(p)], capture_output=True, text=True).stderr
                     .split("Duration: ")[1].split(",")[0].split(":")[-1]) for p in parts]
    listing, total = [], 0.0
    while total < minutes * 60:
        for p, d in zip(parts, lengths):
            listing.append(f"file '{p}'")
            total += d
    lst = work / f"long_{minutes:g}min.txt"
    lst.write_text("\n".join(listing) + "\n")
    sh("-f", "concat", "-safe", "0", "-i", str(lst), "-t", str(minutes * 60), "-c", "copy", str(dest))
    return dest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10])
    ap.add_argument("--to", default="es,fr,ja")
    ap.add_argument("--out", type=Path, default=Path("/tmp/longbench"))
    ap.add_argument("--no-lipsync", action="store_true")
    ap.add_argument("--trace", type=Path, help="folder for a memory trace of each dub (bench/memtrace.py)")
    ap.add_argument("--dask", help="run each dub's language branches on Dask (e.g. local:3); the peak memory is "
                                   "then the largest single process's, not the workers' sum")
    a = ap.parse_args()
    if not MEDIA.exists():
        sys.exit("../shared/media not present: nothing to benchmark")
    rows = []
    for minutes in a.minutes:
        path = build(minutes, a.out / "inputs")
        speed = reference()
        trace = None
        if a.trace:
            a.trace.mkdir(parents=True, exist_ok=True)
            trace = a.trace / f"{minutes:g}min.log"
        extra = (("--no-lipsync",) if a.no_lipsync else ()) + (("--dask", a.dask) if a.dask else ())
        res = run(f"{minutes:g} min", path, a.to, a.out / "jobs", extra, trace)
        if "error" in res:
            print(f"{minutes:g} min: FAILED {res['error']}")
            continue
        s, dur = res["summary"], res["summary"]["source"]["duration"]
        print(f"\n## {minutes:g} min ({dur:.0f} s, {len(s['source']['speakers'])} speakers found) -> {a.to}"
              f"   machine: {speed[0]:.0f}/{speed[1]:.0f} LLM tokens/s, other processes {res['others']:.0f} CPU-s")
        stages = dict(s["stage_seconds"])
        for code, lang in s["languages"].items():
            stages.update({f"{code} {k}": v for k, v in lang["stage_seconds"].items()})
        for k, v in stages.items():
            print(f"  {k:<26}{v:>8.1f} s  {v / (dur / 60):>7.1f} s per minute")
        print(f"  {'total wall':<26}{res['wall']:>8.1f} s  = {res['wall'] / dur:.2f} x real time")
        print(f"  {'CPU (user+sys)':<26}{res['cpu']:>8.1f} s  = {res['cpu'] / dur:.2f} CPU-s per second of video, "
              f"{res['cpu'] / res['wall']:.2f} cores busy on average")
        print(f"  {'peak memory':<26}{res['peak_gb']:>8.2f} GB")
        if trace:  # memtrace's summary: where the memory was highest
            print("\n".join("    " + ln for ln in res["stderr"].splitlines() if ln.startswith(("peak ", "  "))))
            print(f"    (every sample: {trace})")
        rows.append((minutes, res["wall"] / dur, res["cpu"] / dur, res["peak_gb"]))
    if rows:
        print("\nminutes   x real time   CPU-s per s   peak GB   (goal: <= 3x, <= 4 GB, flat in length)")
        for m, x, c, p in rows:
            print(f"{m:>7g}   {x:>11.2f}   {c:>11.2f}   {p:>7.2f}")


if __name__ == "__main__":
    main()
