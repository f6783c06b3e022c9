"""Language-identification test material made from the shared clips (used by path, never copied):
music beds mixed under speech, short cuts, and a source that switches language. The tests and
bench/langid.py build the same material from the same seeds, so every run measures the same thing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

RATE = 16000  # Hz
MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"

# clip -> (path under MEDIA, its language): every shared clip with speech.
CLIPS = {
    "vr_face1": ("video/vr_face1.mp4", "en"), "vr_face2": ("video/vr_face2.mp4", "en"),
    "grid": ("video/grid_bbaf2n.mpg", "en"), "fw_jfk": ("audio/fw_jfk.flac", "en"),
    "fw_stereo": ("audio/fw_stereo_diarization.wav", "en"), "pa_sample": ("audio/pa_sample.wav", "en"),
    "fleurs_en": ("audio/fleurs_en-000.ogg", "en"), "fleurs_es": ("audio/fleurs_es-000.ogg", "es"),
    "fleurs_fr": ("audio/fleurs_fr-000.ogg", "fr"), "ls_demo2": ("video/ls_demo2.mp4", "pt"),
}
# Tuning clips (thresholds in configs were set looking at these) and held-out clips (reported only).
TUNE = ["vr_face2", "grid", "fleurs_en", "fleurs_es"]
HELD_OUT = ["vr_face1", "fw_jfk", "fw_stereo", "pa_sample", "fleurs_fr", "ls_demo2"]


def seed(name: str) -> int:
    """The random seed of a clip's music bed: its place in its set, so any run draws the same music."""
    return TUNE.index(name) if name in TUNE else HELD_OUT.index(name)


def load(name: str) -> np.ndarray:
    """A shared clip's audio, 16 kHz mono float32."""
    from dubbing.media import load_audio

    return load_audio(MEDIA / CLIPS[name][0], RATE)


def music_bed(seconds: float, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """Music-like sound, peak ~1: a chord progression of harmonic tones with a bass line, a kick on
    every beat and hi-hats between, at 100-130 beats per minute (drawn from `seed`)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    t = np.arange(n) / rate
    beat = 60.0 / rng.uniform(100, 130)  # seconds
    roots = 110.0 * 2 ** (rng.choice([0, 3, 5, 7, 8, 10], size=int(seconds / (4 * beat)) + 2) / 12)
    out = np.zeros(n)
    bar = (t // (4 * beat)).astype(int)
    for k, ratio in enumerate([1.0, 1.26, 1.5, 2.0]):  # a major chord and the octave
        f = roots[bar] * ratio * 2
        phase = 2 * np.pi * np.cumsum(f) / rate
        out += sum(np.sin(h * phase) / h for h in range(1, 5)) * 0.25  # a few harmonics: brighter than sines
    out += 0.6 * np.sin(2 * np.pi * np.cumsum(roots[bar] / 2) / rate)  # bass
    pos = (t % beat) / beat
    kick = np.sin(2 * np.pi * 55 * (t % beat) * (1 + 2 * np.exp(-(t % beat) * 30))) * np.exp(-pos * 12)
    hat_env = np.exp(-((t + beat / 2) % beat) * 60)
    hats = rng.standard_normal(n) * hat_env
    hats = np.diff(hats, prepend=0.0)  # high-passed
    out += 1.2 * kick + 0.3 * hats
    return (out / (np.abs(out).max() + 1e-9)).astype(np.float32)


def mix(speech: np.ndarray, bed: np.ndarray, snr_db: float) -> np.ndarray:
    """`bed` under `speech` at `snr_db` dB speech-to-music (RMS over the whole clip); peak kept below 1."""
    bed = np.resize(bed, len(speech))
    gain = np.sqrt(np.mean(speech ** 2) / (np.mean(bed ** 2) + 1e-12)) / 10 ** (snr_db / 20)
    out = speech + gain * bed
    return (out / max(1.0, np.abs(out).max() / 0.99)).astype(np.float32)


def music_opening(speech: np.ndarray, seed: int = 0, intro: float = 3.0, snr_db: float = 0.0) -> np.ndarray:
    """`intro` seconds of music alone, then the speech with the music under its first half (the issue's
    TV interview: music under the opening)."""
    half = len(speech) // 2
    bed = music_bed(intro + half / RATE, seed)
    head = mix(speech[:half], bed[int(intro * RATE):], snr_db)
    level = np.sqrt(np.mean(head ** 2))
    opening = bed[:int(intro * RATE)] * level / (np.sqrt(np.mean(bed ** 2)) + 1e-12)
    return np.concatenate([opening, head, speech[half:]]).astype(np.float32)


def cut(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    """Seconds `start` to `end` of `audio`."""
    return audio[int(start * RATE):int(end * RATE)]


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def switching(first: str = "fw_jfk", second: str = "ls_demo2", span: tuple[float, float] = (0.0, 9.0),
              pause: float = 0.8) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """`first`'s speech, then `span` seconds of `second`, then `first` again, with `pause` seconds of
    silence at each cut; and the truth: (start, end seconds, language) of each part."""
    a, b = load(first), cut(load(second), *span)
    a = a / (np.abs(a).max() + 1e-9) * 0.5
    b = b / (np.abs(b).max() + 1e-9) * 0.5
    half = len(a) // 2
    parts = [(a[:half], CLIPS[first][1]), (b, CLIPS[second][1]), (a[half:], CLIPS[first][1])]
    audio, truth, t = [], [], 0.0
    for i, (p, lang) in enumerate(parts):
        if i:
            audio.append(silence(pause))
            t += pause
        audio.append(p.astype(np.float32))
        truth.append((round(t, 3), round(t + len(p) / RATE, 3), lang))
        t += len(p) / RATE
    return np.concatenate(audio), truth
