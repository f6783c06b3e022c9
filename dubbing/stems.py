"""Stems of a dub for editors: dialogue per speaker, dialogue, background and mix, as WAVs that add up.

Each stem is its part of the mix with the mix's own gain applied (loudness normalisation and the
limiter, dubbing.mix.mix_parts), so dialogue + background is the mix and the speakers' dialogue
stems add up to the dialogue stem, sample for sample (up to 16-bit rounding).
Audio is float32 at `sample_rate` Hz; every stem has the background's channels.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from . import media, mix
from .config import Mix


def _on_channels(track: np.ndarray, like: np.ndarray) -> np.ndarray:
    return track[:, None] * np.ones((1, like.shape[1]), np.float32) if like.ndim == 2 else track


def stems(clips: list[tuple[float, np.ndarray]], speakers: list[str], background: np.ndarray, speech_lufs: float,
          cfg: Mix, sample_rate: int) -> dict[str, np.ndarray]:
    """{"mix", "dialogue", "background", "dialogue-<speaker>"...} from what dub_language mixes: the fitted
    clips (start seconds, mono audio) with each clip's speaker, the background (its full length), the
    loudness the voices are brought to (LUFS) and the mix settings."""
    n = len(background)
    placed = mix.place(clips, n, sample_rate)
    voice_gain = mix.normalize_gain(placed, sample_rate, speech_lufs)
    voices, ducked, gain = mix.mix_parts(mix._scaled(placed, voice_gain), background, sample_rate, cfg)
    out = {"dialogue": mix._scaled(voices, gain), "background": mix._scaled(ducked, gain)}
    out["mix"] = out["dialogue"] + out["background"]
    for who in dict.fromkeys(speakers):
        own = mix.place([c for c, s in zip(clips, speakers) if s == who], n, sample_rate)
        out[f"dialogue-{who}"] = mix._scaled(_on_channels(mix._scaled(own, voice_gain), ducked), gain)
    return out


def write(folder: Path, clips: list[tuple[float, np.ndarray]], speakers: list[str], background: np.ndarray,
          speech_lufs: float, cfg: Mix, sample_rate: int) -> list[Path]:
    """The stems as `folder`/<name>.wav (16-bit PCM at `sample_rate` Hz); stems of speakers no longer in
    the dub are removed. Returns the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [media.write_wav(folder / f"{_safe(name)}.wav", audio, sample_rate)
               for name, audio in stems(clips, speakers, background, speech_lufs, cfg, sample_rate).items()]
    for old in folder.glob("dialogue-*.wav"):
        if old not in written:
            old.unlink()
    return written


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)
