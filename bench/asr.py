"""ASR settings measured on ../shared/media: WER and speed of Whisper base per setting.

    python bench/asr.py

Prints, for each clip with a reference transcript and each setting (beam size, VAD filter,
language given or detected), the word error rate and the real-time factor (CPU seconds per audio
second on this machine). configs/default.yaml's asr section is chosen from this table.
"""

from __future__ import annotations

import re
import sys
import time
import unicodedata
from pathlib import Path

import jiwer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dubbing import config, media, transcribe  # noqa: E402

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
CLIPS = [("audio/fleurs_en-000.ogg", "refs/fleurs_en-000.txt", "en"),
         ("audio/fleurs_es-000.ogg", "refs/fleurs_es-000.txt", "es"),
         ("audio/fleurs_fr-000.ogg", "refs/fleurs_fr-000.txt", "fr"),
         ("audio/fw_jfk.flac", "refs/fw_jfk.txt", "en"),
         ("video/grid_bbaf2n.mpg", "refs/grid_bbaf2n.txt", "en")]
SETTINGS = [dict(beam_size=1, vad_filter=True), dict(beam_size=5, vad_filter=True), dict(beam_size=5, vad_filter=False)]


def norm(s: str) -> str:
    s = unicodedata.normalize("NFKC", s).lower()
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s']", " ", s)).strip()


def main() -> None:
    if not MEDIA.exists():
        sys.exit("../shared/media not present")
    base = config.load().asr
    audio = {c: media.load_audio(MEDIA / c, 16000) for c, _, _ in CLIPS}
    transcribe.load(base.model, base.compute_type)  # load once, outside the timings
    print(f"{'clip':<26}{'setting':<30}{'WER':>7}{'RTF':>7}{'lang':>6}")
    for s in SETTINGS:
        for given in (True, False):
            cfg = base.model_copy(update=s)
            errs, secs, dur = [], 0.0, 0.0
            for clip, ref, lang in CLIPS:
                t0 = time.process_time()
                tr = transcribe.transcribe(audio[clip], cfg, lang if given else None)
                el = time.process_time() - t0
                w = jiwer.wer(norm((MEDIA / ref).read_text().strip().splitlines()[-1]), norm(tr.text))
                errs.append(w)
                secs += el
                dur += len(audio[clip]) / 16000
                label = f"beam={s['beam_size']} vad={s['vad_filter']} lang={'given' if given else 'detect'}"
                print(f"{Path(clip).name:<26}{label:<30}{w:>7.1%}{el / (len(audio[clip]) / 16000):>7.2f}{tr.language:>6}")
            print(f"{'mean':<26}{label:<30}{sum(errs) / len(errs):>7.1%}{secs / dur:>7.2f}\n")


if __name__ == "__main__":
    main()
