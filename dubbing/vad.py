"""Voice activity: where in a recording someone speaks (Silero VAD, the ONNX model faster-whisper ships)."""

from __future__ import annotations

import numpy as np
import soxr
from faster_whisper.vad import VadOptions, get_speech_timestamps

from .constants import SPEECH_RATE

VAD_RATE = SPEECH_RATE  # Hz; the Silero model's rate


def speech_regions(
    audio: np.ndarray,
    sample_rate: int = SPEECH_RATE,
    min_silence: float = 0.3,
    threshold: float = 0.5,
    min_speech: float = 0.2,
    pad: float = 0.05,
) -> list[tuple[float, float]]:
    """Speech regions as (start, end) seconds, sorted and disjoint.

    audio: mono samples (any float/int dtype; resampled to 16 kHz if needed). Pauses shorter than
    `min_silence` seconds stay inside a region; regions shorter than `min_speech` seconds are dropped;
    each region is widened by `pad` seconds on both sides (never past its neighbours or the audio).
    """
    wav = np.asarray(audio, dtype=np.float32).reshape(-1)
    if sample_rate != VAD_RATE:
        wav = soxr.resample(wav, sample_rate, VAD_RATE).astype(np.float32)
    if wav.size < VAD_RATE // 100:
        return []
    opts = VadOptions(
        threshold=threshold,
        min_speech_duration_ms=int(min_speech * 1000),
        min_silence_duration_ms=int(min_silence * 1000),
        speech_pad_ms=int(pad * 1000),
    )
    stamps = get_speech_timestamps(wav, vad_options=opts, sampling_rate=VAD_RATE)
    return [(s["start"] / VAD_RATE, s["end"] / VAD_RATE) for s in stamps]
