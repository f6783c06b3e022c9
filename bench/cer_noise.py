"""How far the back-transcription CER moves under an inaudible change of the dub (white noise at -80 dBFS).

    [OMP_NUM_THREADS=1] .venv/bin/python bench/cer_noise.py JOB [JOB ...] [--seeds 7] [--vad]

JOB: a finished job folder (out/<name>). For each language in it, `<lang>/dub.wav` is transcribed in its
language as the quality check does, clean and with each seed's noise added, against the subtitles'
text (`<name>.<lang>.srt`). Two runs whose dubs differ at noise level are only "different" in CER if
their ranges here do not overlap (stop 13: pa_sample's French moved 40-50 % under -80 dB noise).
The check decodes where the dub's lines are (`<lang>/timing.json`; transcribe.CHECK_RUN_SECONDS);
`--vad` decodes where the voice activity detector finds speech instead, as the check did before.
OMP_NUM_THREADS=1 gives CTranslate2 one thread, as a Dask worker does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def noisy_cers(job: Path, lang: str, seeds: int, level: float = 1e-4, cfg=None, vad: bool = False) -> list[float]:
    """CER (%) of `job`'s `lang` dub transcribed back: clean first, then with each seed's white noise at
    RMS `level` added."""
    import json

    import jiwer
    import srt

    import languages
    from dubbing import config, media, transcribe
    from dubbing.constants import SPEECH_RATE
    from dubbing.textnorm import normalize

    cfg = cfg or config.load(None)
    subs = job / f"{job.name}.{lang}.srt"
    script = " ".join(s.content.replace("\n", " ") for s in srt.parse(subs.read_text()))
    audio = media.load_audio(job / lang / "dub.wav", SPEECH_RATE)
    lines = json.loads((job / lang / "timing.json").read_text())["lines"]
    spans = None if vad else [(ln["start"], ln["end"]) for ln in lines]
    cers = []
    for k in range(seeds + 1):
        x = audio if k == 0 else audio + np.random.default_rng(k).normal(0, level, audio.shape).astype(audio.dtype)
        back = transcribe.transcribe(x, cfg.asr, language=languages.get(lang).whisper, check=True, spans=spans)
        cers.append(100 * jiwer.cer(normalize(script), normalize(back.text)))
    return cers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("jobs", type=Path, nargs="+")
    ap.add_argument("--seeds", type=int, default=7, help="noisy copies per dub (0: the clean dub only)")
    ap.add_argument("--level", type=float, default=1e-4, help="noise RMS (1e-4 = -80 dBFS)")
    ap.add_argument("--vad", action="store_true", help="decode where VAD finds speech (the check before stop 22)")
    a = ap.parse_args()
    if a.seeds < 0:
        ap.error("--seeds must be 0 (clean only) or more")
    for job in a.jobs:
        for wav in sorted(job.glob("*/dub.wav")):
            lang = wav.parent.name
            cers = noisy_cers(job, lang, a.seeds, a.level, vad=a.vad)
            noisy = cers[1:]
            spread = f"noisy {min(noisy):5.1f}-{max(noisy):5.1f} %  mean {np.mean(cers):5.1f} %" if noisy else ""
            print(f"{job}  {lang}  clean {cers[0]:5.1f} %  {spread}", flush=True)


if __name__ == "__main__":
    main()
