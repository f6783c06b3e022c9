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
               window: float = WINDOW) -> tuple[float, float]:
    """Split the soundtrack in WAV file `decoded` into `background_out` (its rate and channels) and the
    speech in mono at `speech_rate` Hz (`speech_out`), both 16-bit WAV written atomically. Returns the
    integrated loudness (LUFS) of the speech and of the background. `progress` gets the fraction done."""
    with sf.SoundFile(str(decoded)) as f:
        rate, channels, n = f.samplerate, f.channels, f.frames
        survey = separate.Survey(rate, channels)
        for block in f.blocks(SURVEY_BLOCK, dtype="float32", always_2d=True):
            survey.add(block)
        plan = survey.plan()
        win, warm = max(1, int(window * rate)), int(WARMUP * rate)
        after = int(bleed.CONTEXT * rate) if suppress_bleed else 0
        speech_lufs, background_lufs = LoudnessMeter(rate, channels, n), LoudnessMeter(rate, channels, n)
        down = soxr.ResampleStream(rate, speech_rate, 1, dtype="float32")
        with contextlib.ExitStack() as stack:
            bg_out = media.wav_writer(stack, background_out, rate, channels)
            sp_out = media.wav_writer(stack, speech_out, speech_rate, 1)
            for a in range(0, max(n, 1), win):
                b = min(n, a + win)
                lo, hi = max(0, a - warm), min(n, b + after)
                f.seek(lo)
                x = f.read(hi - lo, dtype="float32", always_2d=True)
                part = None if progress is None else (lambda k, a=a: progress(min(1.0, (a + k * (b - a)) / max(n, 1))))
                speech, background = separate.split(x, rate, backend, part, plan)
                if suppress_bleed and backend != "none":
                    background = bleed.suppress(background, speech, rate)
                speech, background = speech[a - lo:b - lo], background[a - lo:b - lo]
                speech_lufs.add(speech)
                background_lufs.add(background)
                bg_out.write(np.clip(background, -1, 1))
                sp_out.write(np.clip(down.resample_chunk(speech.mean(axis=1), last=b >= n), -1, 1))
    if progress:
        progress(1.0)
    return speech_lufs.lufs, background_lufs.lufs
