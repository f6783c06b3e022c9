"""How well each stock voice is understood, per language: the figures behind the voice order of languages/*.yaml.

    PYTHONPATH=. .venv/bin/python bench/voice_clarity.py [--to fr,es] [--voices jf_alpha,jm_kumo] [--pitch -3]
        [--backend espeak --voices fr-fr+f3,fr-fr+m3]

Each voice speaks human-written FLORES-200 sentences of 40-110 characters (../shared/media/text) the
product's way (dubbing.speak.Synthesizer: trim, pitch shift), one sentence at a time at rate 1, and
Whisper base (the quality check's decoding) transcribes it back. Printed per language and voice: the
character error rate on the TUNE sentences (the 1st-12th) and on the HELD-OUT ones (the 41st-52nd),
which no voice order was chosen on. A high CER here means listeners will miss words in any dub spoken
by that voice, whatever the translation.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
sys.path.insert(0, str(ROOT))

FLORES = MEDIA / "text" / "flores200_devtest_docs_500-1011.tsv"
COLUMN = {"en": "eng", "es": "spa", "fr": "fra", "ja": "jpn", "de": "deu", "it": "ita", "pt": "por"}
PARTS = {"tune": slice(0, 12), "held-out": slice(40, 52)}


def sentences(code: str) -> dict[str, list[str]]:
    """The language's short FLORES sentences, split into the tune and held-out parts."""
    with FLORES.open(encoding="utf-8") as f:
        rows = [r[COLUMN[code]] for r in csv.DictReader(f, delimiter="\t")]
    short = [t for t in rows if 40 <= len(t) <= 110] if code != "ja" else [t for t in rows if 15 <= len(t) <= 45]
    return {part: short[s] for part, s in PARTS.items()}


def clarity(synth, voice, lang, texts: list[str], asr_cfg) -> float:
    """Pooled CER (0-1) of `texts` spoken by `voice` and transcribed back in `lang`."""
    import jiwer
    import soxr

    from dubbing import transcribe
    from dubbing.textnorm import normalize

    refs, hyps = [], []
    for text in texts:
        sp = synth.synthesize(text, voice, lang)
        heard = transcribe.transcribe(soxr.resample(sp.audio, sp.sample_rate, 16000), asr_cfg,
                                      language=lang.whisper, check=True)
        refs.append(normalize(text))
        hyps.append(normalize(" ".join(s.text for s in heard.segments)))
    return float(jiwer.cer(refs, hyps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--to", default="fr,es,de,it,pt", help="languages, comma-separated")
    ap.add_argument("--backend", default="kokoro", choices=("kokoro", "espeak"))
    ap.add_argument("--voices", default=None, help="voices of the backend (default: every stock Kokoro one)")
    ap.add_argument("--pitch", type=float, default=0.0, help="semitones of pitch shift, as the cast applies")
    args = ap.parse_args()
    if not FLORES.exists():
        sys.exit(f"FLORES sentences not found at {FLORES} (../shared/media)")

    from dubbing import config, kokoro
    from dubbing.schema import Voice
    from dubbing.speak import Synthesizer
    from languages import get

    asr_cfg = config.load().asr
    if args.backend == "espeak" and not args.voices:
        sys.exit("--backend espeak needs --voices (espeak-ng voice names, e.g. fr-fr+f3)")
    names = args.voices.split(",") if args.voices else list(kokoro.VOICES)
    synth = Synthesizer()
    print(f"CER % by Whisper base, FLORES sentences, {args.backend}, rate 1, pitch {args.pitch:+.1f} st")
    print(f"{'lang':5} {'voice':15} {'tune':>6} {'held-out':>9} {'seconds':>8}")
    for code in args.to.split(","):
        lang, parts = get(code), sentences(code)
        for name in names:
            t0 = time.perf_counter()
            voice = Voice(speaker="S", backend=args.backend, name=name, pitch=args.pitch)
            tune, held = (clarity(synth, voice, lang, parts[p], asr_cfg) for p in ("tune", "held-out"))
            print(f"{code:5} {name:15} {tune * 100:6.1f} {held * 100:9.1f} {time.perf_counter() - t0:8.1f}", flush=True)


if __name__ == "__main__":
    main()
