"""The speech / background split of a whole soundtrack, from a WAV file to WAV files, window by window.

A soundtrack is read twice, a window at a time, and never held whole: once to survey it (separate.Survey:
dual mono, the level the model wants), then to split it (separate.split with that plan) and lower the
speech bleed in the background (bleed.suppress), writing the background, the speech at SPEECH_RATE
and the loudness of each as they come. Memory stays flat in the video's length (holding a 10-minute
soundtrack whole and its split took 0.9 GB, growing with length).

Each window is read with WARMUP s before it and bleed.CONTEXT s after it, kept only for context: the
model's recurrent state settles over the warm-up, and the bleed filter sees the STFT context it needs.
A fresh model state per window costs a little: on 30 s of fw_jfk over music in 10 s windows, the
speech estimate's SI-SDR was 0.28 dB below the whole signal's with 4 s of warm-up, 0.14 dB with 8 s
(the model's normalisation settles over seconds); 120 s windows make such seams 12 times rarer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from . import bleed, media, separate
from .mix import LoudnessMeter

WINDOW = 120.0  # s of output per window
WARMUP = 8.0  # s read before a window and dropped: DeepFilterNet's state settling (tests/test_separate.py)
SURVEY_BLOCK = 1 << 18  # samples read at a time by the survey (5.5 s at 48 kHz)


def split_file(decoded: Path, background_out: Path, speech_out: Path, speech_rate: int, backend: str,
               suppress_bleed: bool, progress: Callable[[float], None] | None = None,
               window: float = WINDOW, run_parts: Callable[[Callable, list], list] | None = None) -> tuple[float, float]:
    """Split the soundtrack in WAV file `decoded` into `background_out` (its rate and channels) and the
    speech in mono at `speech_rate` Hz (`speech_out`), both 16-bit WAV written atomically. Returns the
    integrated loudness (LUFS) of the speech and of the background. `progress` gets the fraction done.
    `run_parts`: how the windows run (each is split on its own: they are independent), such as on the
    workers of a cluster, each window's split coming back through a file beside `speech_out` (no progress
    from them); None: here, in order."""
    with sf.SoundFile(str(decoded)) as f:
        rate, channels, n = f.samplerate, f.channels, f.frames
        survey = separate.Survey(rate, channels)
        for block in f.blocks(SURVEY_BLOCK, dtype="float32", always_2d=True):
            survey.add(block)
    win, plan = max(1, int(window * rate)), survey.plan()
    windows = [_Window(decoded, a, min(n, a + win), backend, suppress_bleed, plan) for a in range(0, max(n, 1), win)]
    parted = run_parts is not None and len(windows) > 1
    kept = [speech_out.with_name(f".{speech_out.stem}.window-{k}.npz") for k in range(len(windows))] if parted else []
    try:
        if parted:
            splits = (_read_split(p) for p in run_parts(_split_to_file, list(zip(windows, kept))))
        else:
            splits = (w.split(None if progress is None else
                              lambda k, w=w: progress(min(1.0, (w.a + k * (w.b - w.a)) / max(n, 1)))) for w in windows)
        speech_lufs, background_lufs = LoudnessMeter(rate, channels, n), LoudnessMeter(rate, channels, n)
        down = soxr.ResampleStream(rate, speech_rate, 1, dtype="float32")
        with contextlib.ExitStack() as stack:
            bg_out = media.wav_writer(stack, background_out, rate, channels)
            sp_out = media.wav_writer(stack, speech_out, speech_rate, 1)
            for w, (speech, background) in zip(windows, splits):
                speech_lufs.add(speech)
                background_lufs.add(background)
                bg_out.write(np.clip(background, -1, 1))
                sp_out.write(np.clip(down.resample_chunk(speech.mean(axis=1), last=w.b >= n), -1, 1))
    finally:  # the windows' files, also where a part or the writing failed
        for p in kept:
            p.unlink(missing_ok=True)
    if progress:
        progress(1.0)
    return speech_lufs.lufs, background_lufs.lufs


@dataclass
class _Window:
    """One window of a soundtrack file to split (see split_file): it pickles."""

    decoded: Path
    a: int  # first sample of its output
    b: int  # end sample of its output
    backend: str
    suppress_bleed: bool
    plan: separate.Plan

    def split(self, progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(speech, background) of samples a..b, split with WARMUP s before and bleed.CONTEXT s after."""
        with sf.SoundFile(str(self.decoded)) as f:
            rate, n = f.samplerate, f.frames
            lo = max(0, self.a - int(WARMUP * rate))
            hi = min(n, self.b + (int(bleed.CONTEXT * rate) if self.suppress_bleed else 0))
            f.seek(lo)
            x = f.read(hi - lo, dtype="float32", always_2d=True)
        speech, background = separate.split(x, rate, self.backend, progress, self.plan)
        if self.suppress_bleed and self.backend != "none":
            background = bleed.suppress(background, speech, rate)
        return speech[self.a - lo:self.b - lo], background[self.a - lo:self.b - lo]


def _split_to_file(job: tuple[_Window, Path]) -> Path:
    """A window's split saved (speech, background) into the given .npz; its path."""
    window, path = job
    speech, background = window.split()
    with open(path, "wb") as f:
        np.savez(f, speech=speech, background=background)
    return path


def _read_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A window's split saved by _split_to_file, its file removed once read."""
    try:
        with np.load(path) as z:
            return z["speech"], z["background"]
    finally:
        path.unlink(missing_ok=True)
