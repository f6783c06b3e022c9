"""Speaker voice profiles (pitch, speaking time, a pitch-based gender guess) for voice selection."""

from __future__ import annotations

import librosa
import numpy as np

from .constants import SPEECH_RATE
from .overlap import outside
from .schema import Diarization, SpeakerProfile, SpeakerTurn

FMIN, FMAX = 60.0, 420.0  # Hz, the pitch search range
FEMALE_F0 = 165.0  # Hz; a median F0 at or above this reads as female
MAX_SECONDS = 60.0  # seconds of each speaker's longest clean turns analysed (enough for percentiles)
FRAME_LENGTH = 1024  # samples at 16 kHz (64 ms, two periods of FMIN)
HOP = 320  # samples (20 ms)
RESOLUTION = 0.25  # semitones per pitch bin (pYIN's default 0.1 costs ~2x for the same percentiles)


def speaker_profiles(audio: np.ndarray, diarization: Diarization, sample_rate: int = SPEECH_RATE) -> list[SpeakerProfile]:
    """One profile per diarized speaker: F0 median and 10th/90th percentiles (Hz, pYIN over the
    speaker's turns without overlapped speech), speech seconds, and gender from the median F0
    ("unknown" when no voiced frame was found)."""
    wav = np.asarray(audio, dtype=np.float32).reshape(-1)
    profiles = []
    for spk in diarization.speakers:
        own = [t for t in diarization.turns if t.speaker == spk]
        clean = _without_overlap(own, [t for t in diarization.turns if t.speaker != spk])
        f0 = _voiced_f0(wav, clean, sample_rate)
        if f0.size:
            median, low, high = (float(x) for x in np.percentile(f0, [50, 10, 90]))
            gender = "female" if median >= FEMALE_F0 else "male"
        else:
            median = low = high = 0.0
            gender = "unknown"
        profiles.append(SpeakerProfile(speaker=spk, median_f0=round(median, 1), f0_low=round(low, 1),
                                       f0_high=round(high, 1), gender=gender,
                                       speech_seconds=round(sum(t.end - t.start for t in own), 3)))
    return profiles


def _without_overlap(own: list[SpeakerTurn], others: list[SpeakerTurn]) -> list[tuple[float, float]]:
    """Parts (start, end seconds) of `own` turns that no other speaker's turn covers."""
    return [(t.start, t.end) for t in outside(own, [(o.start, o.end) for o in others])]


def _voiced_f0(wav: np.ndarray, spans: list[tuple[float, float]], sr: int) -> np.ndarray:
    """F0 (Hz) of the voiced frames in the longest `spans`, up to MAX_SECONDS in total."""
    scale = sr / SPEECH_RATE
    frame, hop = int(FRAME_LENGTH * scale), int(HOP * scale)
    out, used = [], 0.0
    for a, b in sorted(spans, key=lambda s: s[0] - s[1]):
        if used >= MAX_SECONDS:
            break
        b = min(b, a + MAX_SECONDS - used)
        y = wav[int(a * sr):int(b * sr)]
        if len(y) < frame:
            continue
        f0, voiced, _ = librosa.pyin(y, fmin=FMIN, fmax=FMAX, sr=sr, frame_length=frame, hop_length=hop,
                                     center=False, resolution=RESOLUTION)
        out.append(f0[voiced & np.isfinite(f0)])
        used += b - a
    return np.concatenate(out) if out else np.zeros(0)
