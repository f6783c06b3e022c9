"""Source language identification on the shared clips, clean and made hard: right, stopped, or wrong.

    PYTHONPATH=$PWD python bench/langid.py [--clips vr_face1,fw_jfk] [--variants clean,music0]

Per clip (tests/langid_material.py: TUNE clips set the thresholds, HELD_OUT ones are only reported) and
variant (clean; music0 / music-5: a music bed under all of it at 0 / -5 dB speech-to-music; opening:
3 s of music, then music under the first half; short2 / short1: the first 2 / 1 s of speech), prints
what one Whisper call on the first 30 s says (what transcription did before) and what langid.identify
decides: the language, or "stop" (a DubError asking for --from). A stop is not wrong; a wrong language is.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dubbing import config, langid, transcribe, vad  # noqa: E402
from dubbing.errors import DubError  # noqa: E402
from tests import langid_material as M  # noqa: E402

VARIANTS = ["clean", "music0", "music-5", "opening", "short2", "short1"]


def variant(audio, name: str, seed: int):
    """The clip's audio made hard as `name` says (see the module docstring)."""
    seconds = len(audio) / M.RATE
    if name == "clean":
        return audio
    if name.startswith("music"):
        return M.mix(audio, M.music_bed(seconds, seed), float(name[5:]))
    if name == "opening":
        return M.music_opening(audio, seed)
    if name.startswith("short"):
        regions = vad.speech_regions(audio) or [(0.0, seconds)]
        start = regions[0][0]
        return M.cut(audio, start, start + float(name[5:]))
    raise ValueError(name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips", default=",".join(M.TUNE + M.HELD_OUT))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    cfg = config.load()
    model = transcribe.load(cfg.asr.model, cfg.asr.compute_type)
    detect, decode = langid.whisper_detector(model), langid.whisper_decoder(model)
    tally: dict[tuple[str, str], dict[str, int]] = {}
    print(f"{'clip':10} {'set':8} {'variant':8} {'truth':5} {'one call':14} {'identify':9} {'how':7} s")
    for name in args.clips.split(","):
        audio = M.load(name)
        truth = M.CLIPS[name][1]
        part = "tune" if name in M.TUNE else "held-out"
        for v in args.variants.split(","):
            x = variant(audio, v, M.seed(name))
            one = detect(x[:30 * M.RATE])
            one_lang = max(one, key=one.get)
            t = time.perf_counter()
            try:
                d = langid.identify(x, vad.speech_regions(x), detect, decode, cfg.language_id)
                got, how = d.language, d.method
            except DubError:
                got, how = "stop", "-"
            secs = time.perf_counter() - t
            for method, answer in (("one call", one_lang), ("identify", got)):
                row = tally.setdefault((part, method), {"right": 0, "stop": 0, "wrong": 0})
                row["right" if answer == truth else "stop" if answer == "stop" else "wrong"] += 1
            print(f"{name:10} {part:8} {v:8} {truth:5} {one_lang + f' {one[one_lang]:.2f}':14} {got:9} {how:7} "
                  f"{secs:.1f}", flush=True)
    print()
    for (part, method), row in sorted(tally.items()):
        print(f"{part:8} {method:9} right {row['right']:3}  stop {row['stop']:3}  wrong {row['wrong']:3}")


if __name__ == "__main__":
    main()
