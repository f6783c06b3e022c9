"""How much of the source's speech the background stem still carries (dubbing/bleed.py), and how much of a
known music bed it keeps. For each shared clip, as it is and with a synthetic music bed mixed in at -12 dB:

- level of the background relative to the input, after the split alone and after the bleed suppression;
- distinct words of the clip's own transcript that Whisper reads back from the background: the voice a
  viewer would hear under the dub;
- with the music bed: SDR (dB) of the background against the music that was mixed in, a ground truth the
  system never saw.

The suppression's settings were chosen once, by reasoning, before any of these clips was measured; none was
tuned on, so every clip is held out.

    .venv/bin/python bench/bleed.py      # DeepFilterNet + Whisper base; ~2 min on 2 cores
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dubbing import bleed, config, separate, textnorm, transcribe  # noqa: E402
from dubbing.media import load_audio  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
SR = 48000  # Hz, the rate the pipeline separates at
CLIPS = [("audio/pa_sample.wav", "en"), ("audio/fw_jfk.flac", "en"), ("video/vr_face2.mp4", "en"),
         ("video/ls_demo2.mp4", "pt"), ("video/vr_face1.mp4", "en"), ("audio/fleurs_fr-000.ogg", "fr")]
MUSIC_DB = -12.0  # music bed level relative to the clip


def db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference ** 2) / (np.sum((reference - estimate) ** 2) + 1e-12)))


def music(n: int, seed: int = 0) -> np.ndarray:
    """A chord on a random root every 0.5 s, decaying, with harmonics and a noise floor; peak 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    y = np.zeros(n)
    step = SR // 2
    for i in range(0, n, step):
        root, seg = 110 * 2 ** (rng.integers(0, 12) / 12), t[i:i + step]
        env = np.exp(-2 * (seg - seg[0]))
        y[i:i + step] = sum(env * np.sin(2 * np.pi * root * r * h * seg) / h ** 1.5
                            for r in (1, 1.26, 1.5, 2) for h in range(1, 6))
    y += 0.05 * np.abs(y).max() * rng.standard_normal(n)
    return (y / np.abs(y).max()).astype(np.float32)


def main() -> None:
    import soxr

    cfg = config.load().asr

    def words(x: np.ndarray, lang: str) -> list[str]:
        said = transcribe.transcribe(soxr.resample(x, SR, 16000), cfg, lang, check=True)
        return textnorm.normalize(said.text).split()

    print(f"{'clip':26} {'mix':14} {'background dB':>16} {'source words heard':>20} {'music SDR dB':>14} {'s':>5}")
    for clip, lang in CLIPS:
        path = MEDIA / clip
        if not path.exists():
            print(f"{clip}: not found (../shared/media absent)")
            continue
        x = load_audio(path, SR)
        x = x.mean(axis=1) if x.ndim > 1 else x
        spoken = set(words(x, lang))
        for name, bed in (("as is", None), (f"+music {MUSIC_DB:.0f} dB", music(len(x)))):
            if bed is not None:
                bed = bed * np.float32(10 ** ((db(x) + MUSIC_DB - db(bed)) / 20))
            mix = x if bed is None else (x + bed).astype(np.float32)
            speech, background = separate.split(mix, SR)
            t0 = time.perf_counter()
            clean = bleed.suppress(background, speech, SR)
            took = time.perf_counter() - t0
            heard = [len(spoken & set(words(b, lang))) for b in (background, clean)]
            level = f"{db(background) - db(mix):+.1f} -> {db(clean) - db(mix):+.1f}"
            kept = f"{sdr(bed, background):.1f} -> {sdr(bed, clean):.1f}" if bed is not None else ""
            print(f"{clip:26} {name:14} {level:>16} {f'{heard[0]} -> {heard[1]} of {len(spoken)}':>20} "
                  f"{kept:>14} {took:5.2f}", flush=True)


if __name__ == "__main__":
    main()
