"""How often dubbing/asr_doubt.py flags ASR segments: on the shared clips decoded in their own language
(right transcripts: a flag is a false alarm), and forced into a wrong language (nonsense, as issue 13 saw
English decoded as Welsh: a flag is a catch). Ground truth is each clip's language in MANIFEST.tsv.

    .venv/bin/python bench/asr_doubt.py      # Whisper base, the project's ASR settings; ~1-2 min on 2 cores
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dubbing import asr_doubt, config, transcribe  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
# clip, its language, a wrong language to force (a close one, or Welsh as in issue 13)
CLIPS = [("video/vr_face1.mp4", "en", "cy"), ("video/vr_face2.mp4", "en", "cy"), ("audio/fw_jfk.flac", "en", "cy"),
         ("audio/pa_sample.wav", "en", "cy"), ("audio/fleurs_en-000.ogg", "en", "de"),
         ("audio/fleurs_es-000.ogg", "es", "en"), ("audio/fleurs_fr-000.ogg", "fr", "en"),
         ("video/ls_demo2.mp4", "pt", "es")]


def main() -> None:
    from faster_whisper import decode_audio

    cfg = config.load().asr
    totals = {"right": [0, 0], "forced": [0, 0]}
    print(f"{'clip':26} {'lang':5} {'segments':>8} {'flagged':>7}  reasons / text")
    for clip, lang, wrong in CLIPS:
        path = MEDIA / clip
        if not path.exists():
            continue
        audio = decode_audio(str(path), sampling_rate=transcribe.SAMPLE_RATE)
        for kind, code in (("right", lang), ("forced", wrong)):
            tr = transcribe.transcribe(audio, cfg, language=code)
            why = [asr_doubt.doubts(s) for s in tr.segments]
            n = sum(bool(w) for w in why)
            totals[kind][0] += n
            totals[kind][1] += len(why)
            reasons = sorted({r for w in why for r in w})
            print(f"{Path(clip).name:26} {code:5} {len(why):8d} {n:7d}  {reasons} {tr.text[:60]!r}", flush=True)
    for kind, (n, total) in totals.items():
        print(f"{kind:6}: {n}/{total} segments flagged ({100 * n / max(total, 1):.0f} %)")


if __name__ == "__main__":
    main()
