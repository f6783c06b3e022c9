"""Stems of a dub for editors: dialogue per speaker, dialogue, background and mix, as WAVs that add up.

Written beside the mix, a window at a time (dubbing.mix_file), so they too stay flat in the video's
length. Each stem is its part of the mix with the mix's own gain applied (loudness normalisation and the
limiter), so dialogue + background is the mix and the speakers' dialogue stems add up to the dialogue
stem, sample for sample (up to 16-bit rounding). Every stem has the background's channels.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import numpy as np

from . import media, mix


class Writer:
    """The stems' files in `folder`, fed window by window; they appear when `stack` closes without an
    error, and stems of speakers no longer in the dub are removed then."""

    def __init__(self, stack: contextlib.ExitStack, folder: Path, clips: list[tuple[float, np.ndarray]],
                 speakers: list[str], voice_gain: mix.Gain, channels: int, sample_rate: int):
        """`clips`: (start seconds, mono audio) with each clip's `speakers`; `voice_gain`: the gain that
        brought the voices to their loudness; `channels`: the background's (0 = mono)."""
        folder.mkdir(parents=True, exist_ok=True)
        self.channels, self.rate, self.voice_gain = channels, sample_rate, voice_gain
        self.own = {who: [c for c, s in zip(clips, speakers) if s == who] for who in dict.fromkeys(speakers)}
        names = ["mix", "dialogue", "background", *(f"dialogue-{who}" for who in self.own)]
        stack.callback(self._remove_stale, folder, {f"{_safe(n)}.wav" for n in names})
        self.out = {n: media.wav_writer(stack, folder / f"{_safe(n)}.wav", sample_rate, max(channels, 1))
                    for n in names}

    def write(self, a: int, b: int, voices: np.ndarray, ducked: np.ndarray, gain: np.ndarray | float,
              mixed: np.ndarray) -> None:
        """Samples a..b-1: the voices on the background's channels and the ducked background (the mix's
        parts, dubbing.mix.mix_of), the mix's gain over them, and the mix itself as written to dub.wav."""
        self.out["mix"].write(mixed)
        self.out["dialogue"].write(np.clip(mix._scaled(voices, gain), -1, 1))
        self.out["background"].write(np.clip(mix._scaled(ducked, gain), -1, 1))
        voice_gain = self.voice_gain(a, b)  # once per window: where the limiter acts it reads the voices again
        for who, clips in self.own.items():
            own = mix._scaled(mix.place_span(clips, a, b, self.rate), voice_gain)
            own = own[:, None] * np.ones((1, self.channels), np.float32) if self.channels else own
            self.out[f"dialogue-{who}"].write(np.clip(mix._scaled(own, gain), -1, 1))

    @staticmethod
    def _remove_stale(folder: Path, keep: set[str]) -> None:
        for old in folder.glob("dialogue-*.wav"):
            if old.name not in keep:
                old.unlink()


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)
