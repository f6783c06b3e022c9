"""Quality presets (issue 16): wall time and quality of `dub translate --quality fast|standard|best`.

    PYTHONPATH=. .venv/bin/python bench/presets.py [--out /tmp/presets] [--runs 2] [--to es]
        [--presets fast,standard,best] [--nice 10] [--json OUT.json] [VIDEO ...]

Each video (default: vr_face1, the clip the presets were tuned on, and vr_face2, held out; both in
../shared/media/video) is dubbed from an empty job folder `--runs` times per preset, one run at a time,
as a user would run it (`python -m dub translate VIDEO --to es --quality P`, models loaded each run,
Prefect started each run). Printed per video and preset:

- wall: seconds from start to exit, median of the runs (min-max beside it);
- lips s: the lipsync stage's seconds (render + the output's own measuring), median; MB: lips.mp4's size;
- CER: back-transcription character error rate of the dub (quality.json, Whisper base), and the share of
  lines placed within 0.3 s of their slot;
- conf, off, r, close: sync.json's measures of the output against the dubbed voices: AV confidence, best
  offset in frames, the mouth's correlation with its target, bilabial closure rate;
- PSNR, SSIM: outside the mouth, against the source (dB; 1 = identical).

Quality figures come from the last run (AV confidence moves by about 0.03 between encodes of the same
mouths). No figure is asserted; the preset files (configs/presets/*.yaml) cite the table.

Run on 2026-12-05, a 2-core machine shared with another developer's measurements, `--runs 2 --nice 10`:

    video     part      preset            wall s lips s    MB    CER in 0.3s   conf  off     r close   PSNR   SSIM
    vr_face1  tuning    fast          93 (90-96)    9.4  1.39   3.5%    100%  0.647    0 0.980  1.00  44.10 0.9923
    vr_face1  tuning    standard      91 (87-96)   10.7  1.11   3.5%    100%  0.649    0 0.979  1.00  44.93 0.9951
    vr_face1  tuning    best       102 (101-103)   15.2  1.76   3.5%    100%  0.644    0 0.980  1.00  45.65 0.9969
    vr_face2  held out  fast       125 (121-129)   13.0  1.66   1.6%    100%  0.351    0 0.950  1.00  42.86 0.9880
    vr_face2  held out  standard   119 (117-121)   14.7  2.00   1.6%    100%  0.379    0 0.951  1.00  43.75 0.9924
    vr_face2  held out  best       116 (114-118)   18.4  3.89   1.6%    100%  0.390    0 0.950  1.00  44.53 0.9952

Whole-run wall time differs by less than its noise on 5-6 s clips: the presets change the encode of the
re-rendered video (lips s) and, in best, clone speakers with 10 s of speech or more (neither clip has).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
sys.path.insert(0, str(ROOT))

CLIPS = {"vr_face1": "tuning", "vr_face2": "held out"}


def one_run(video: Path, lang: str, preset: str, out: Path, nice: int) -> dict:
    """Dub `video` into `lang` with `preset` into an empty OUT; the run's wall seconds and its figures."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["nice", "-n", str(nice), sys.executable, "-m", "dub", "translate", str(video), "--to", lang,
           "--out", str(out), "--quality", preset]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip().splitlines()[-1:]}")
    job = out / video.stem
    summary = json.loads((job / "job.json").read_text())
    res = summary["languages"][lang]
    sync = json.loads((job / lang / "sync.json").read_text()) if (job / lang / "sync.json").exists() else {}
    lips = job / lang / "lips.mp4"
    return {"wall": wall, "recorded": summary.get("quality"), "lips_s": res["stage_seconds"].get("lipsync"),
            "mb": lips.stat().st_size / 1e6 if lips.exists() else None, "cer": res["quality"]["cer"],
            "within": res["quality"]["within_0.3s"], "conf": sync.get("av_confidence"),
            "offset": sync.get("av_offset_frames"), "r": sync.get("target_r"), "close": sync.get("closure_rate"),
            "psnr": sync.get("psnr_outside"), "ssim": sync.get("ssim_outside"),
            "stage_seconds": {**summary["stage_seconds"], **res["stage_seconds"]}}


def fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("videos", nargs="*", type=Path)
    ap.add_argument("--out", type=Path, default=Path("/tmp/presets-bench"))
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--to", default="es")
    ap.add_argument("--presets", default="fast,standard,best")
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    videos = a.videos or [MEDIA / "video" / f"{c}.mp4" for c in CLIPS]
    rows = []
    for video in videos:
        for preset in a.presets.split(","):
            runs = [one_run(video, a.to, preset, a.out / video.stem / preset / f"run{k}", a.nice)
                    for k in range(a.runs)]
            walls = [x["wall"] for x in runs]
            rows.append({"video": video.stem, "part": CLIPS.get(video.stem, "other"), "preset": preset,
                         "walls": walls, "wall": statistics.median(walls),
                         "lips_s": statistics.median(x["lips_s"] or 0.0 for x in runs), **{
                             k: v for k, v in runs[-1].items() if k not in ("wall", "lips_s")}})
            print(f"  {video.stem} {preset}: {', '.join(f'{w:.0f}' for w in walls)} s", file=sys.stderr)
    print(f"\n{'video':<9} {'part':<9} {'preset':<9} {'wall s':>14} {'lips s':>6} {'MB':>5} {'CER':>6} "
          f"{'in 0.3s':>7} {'conf':>6} {'off':>4} {'r':>5} {'close':>5} {'PSNR':>6} {'SSIM':>6}")
    for r in rows:
        spread = f"{r['wall']:.0f} ({min(r['walls']):.0f}-{max(r['walls']):.0f})"
        print(f"{r['video']:<9} {r['part']:<9} {r['preset']:<9} {spread:>14} {fmt(r['lips_s'], '.1f'):>6} "
              f"{fmt(r['mb'], '.2f'):>5} {fmt(r['cer'], '.1%'):>6} {fmt(r['within'], '.0%'):>7} "
              f"{fmt(r['conf'], '.3f'):>6} {fmt(r['offset'], 'd'):>4} {fmt(r['r'], '.3f'):>5} "
              f"{fmt(r['close'], '.2f'):>5} {fmt(r['psnr'], '.2f'):>6} {fmt(r['ssim'], '.4f'):>6}")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
