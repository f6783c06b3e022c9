"""A source that switches language, with and without a pause at the cut: is each stretch transcribed in
its own language?

    PYTHONPATH=$PWD python bench/switching.py [--set tune|held-out|mono|all] [--pauses 0,0.8]

Each input is one clip's first half, a stretch of another clip in another language, then the first
clip's second half (tests/langid_material.switching), cut hard (pause 0: a video edited without a
breath between the shots) or with `pause` s of silence. Pairs of TUNE clips set the thresholds; pairs of
HELD_OUT clips are only reported. "mono" runs every shared clip as it is: no switch should be found.

Per input it prints the share of the transcript's speech time labelled with the right language (by the
segments' times against the truth), the segments wholly in the wrong language, the detector calls (each
encodes 30 s of audio: ~3.7 CPU-s with whisper base) and the seconds taken.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dubbing import config, langid, stretches, vad  # noqa: E402
from dubbing.errors import DubError  # noqa: E402
from tests import langid_material as M  # noqa: E402

# (first clip, second clip, span of the second in seconds)
PAIRS = {
    "tune": [("fleurs_en", "fleurs_es", (0.0, 8.0)), ("vr_face2", "fleurs_es", (2.0, 9.0)),
             ("fleurs_es", "grid", (0.0, 3.0)), ("fleurs_es", "fleurs_en", (0.0, 6.0))],
    "held-out": [("fw_jfk", "ls_demo2", (0.0, 9.0)), ("vr_face1", "ls_demo2", (9.0, 16.0)),
                 ("pa_sample", "fleurs_fr", (0.0, 8.0)), ("fleurs_fr", "fw_jfk", (0.0, 6.0))],
}


def accuracy(segments, truth, regions) -> tuple[float, float, int]:
    """(share of the segments' time in the right language, share of the speech `regions`' time (VAD,
    seconds) under a segment in the right language, segments with none of their time right)."""
    right = total = 0.0
    wrong = 0
    hits = []  # (start, end) of the segments' time in the right language
    for s in segments:
        spans = [(max(s.start, a), min(s.end, e)) for a, e, lang in truth if lang == s.language]
        spans = [(a, b) for a, b in spans if b > a]
        hits += spans
        ok = sum(b - a for a, b in spans)
        right += ok
        total += s.end - s.start
        wrong += ok == 0.0
    speech = sum(e - s for s, e in regions)
    covered = sum(max(0.0, min(e, b) - max(s, a)) for s, e in regions for a, b in hits)
    return right / max(total, 1e-9), covered / max(speech, 1e-9), wrong


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", default="all")
    ap.add_argument("--pauses", default="0,0.8")
    args = ap.parse_args()
    cfg = config.load()
    calls = [0]
    detector = langid.whisper_detector

    def counted(model):
        detect = detector(model)

        def call(audio):
            calls[0] += 1
            return detect(audio)
        return call

    langid.whisper_detector = counted  # a bench may count: the product's code is unchanged
    inputs = []
    for part in ("tune", "held-out"):
        if args.set in (part, "all"):
            for first, second, span in PAIRS[part]:
                for pause in map(float, args.pauses.split(",")):
                    inputs.append((part, f"{first}+{second} p{pause:g}", *M.switching(first, second, span, pause)))
    if args.set in ("mono", "all"):
        for name in M.CLIPS:
            audio = M.load(name)
            inputs.append(("mono", name, audio, [(0.0, len(audio) / M.RATE, M.CLIPS[name][1])]))
    print(f"{'set':8} {'input':28} {'right':>6} {'covered':>7} {'wrong segs':>10} {'detector':>8} {'s':>5}  "
          "languages found")
    sums: dict[str, list[float]] = {}
    for part, name, audio, truth in inputs:
        calls[0] = 0
        t0 = time.perf_counter()
        try:
            t = stretches.transcribe_source(audio, cfg.asr, cfg.language_id)
        except DubError as e:  # a clear stop asking for --from: not wrong, not right
            print(f"{part:8} {name:28} stop: {e}", flush=True)
            sums.setdefault(part, []).append((0.0, 0.0))
            continue
        secs = time.perf_counter() - t0
        share, covered, wrong = accuracy(t.segments, truth, vad.speech_regions(audio))
        found = " ".join(f"{s.language}:{s.start:.1f}-{s.end:.1f}" for s in t.segments)
        sums.setdefault(part, []).append((share, covered))
        print(f"{part:8} {name:28} {share:6.3f} {covered:7.3f} {wrong:10d} {calls[0]:8d} {secs:5.1f}  {found}",
              flush=True)
    for part, rows in sums.items():
        print(f"{part:8} mean right {sum(r for r, _ in rows) / len(rows):.3f}, covered "
              f"{sum(c for _, c in rows) / len(rows):.3f} over {len(rows)} inputs (a stop counts 0)")


if __name__ == "__main__":
    main()
