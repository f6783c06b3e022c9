"""Speaker profiles: pitch statistics and gender guess per diarized speaker."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from dubbing.profiles import _without_overlap, speaker_profiles
from dubbing.schema import Diarization, SpeakerTurn

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
needs_media = pytest.mark.skipif(not MEDIA.exists(), reason="../shared/media not present")
SR = 16000


def _voice(f0: float, seconds: float, vibrato: float = 0.03) -> np.ndarray:
    """A buzzy harmonic tone gliding +-vibrato around f0 Hz (a crude vowel)."""
    t = np.arange(int(seconds * SR)) / SR
    inst = f0 * (1 + vibrato * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(inst) / SR
    return (0.3 * sum(np.sin(k * phase) / k for k in range(1, 8))).astype(np.float32)


def test_pitch_and_gender_per_speaker():
    gap = np.zeros(SR // 2, dtype=np.float32)
    audio = np.concatenate([_voice(110, 2.0), gap, _voice(220, 1.5), gap, _voice(110, 1.0)])
    d = Diarization(speakers=["SPEAKER_00", "SPEAKER_01", "SPEAKER_02"], turns=[
        SpeakerTurn(start=0.0, end=2.0, speaker="SPEAKER_00"),
        SpeakerTurn(start=2.5, end=4.0, speaker="SPEAKER_01"),
        SpeakerTurn(start=4.5, end=5.5, speaker="SPEAKER_00"),
        SpeakerTurn(start=6.0, end=6.5, speaker="SPEAKER_02"),  # silence only
    ])
    low, high, mute = speaker_profiles(audio, d)
    assert (low.gender, high.gender, mute.gender) == ("male", "female", "unknown")
    assert low.median_f0 == pytest.approx(110, rel=0.03) and high.median_f0 == pytest.approx(220, rel=0.03)
    assert low.f0_low < low.median_f0 < low.f0_high  # vibrato spreads the percentiles
    assert low.speech_seconds == pytest.approx(3.0) and high.speech_seconds == pytest.approx(1.5)
    assert mute.median_f0 == 0.0


def test_overlapped_speech_is_left_out():
    own = [SpeakerTurn(start=0, end=10, speaker="a")]
    others = [SpeakerTurn(start=2, end=3, speaker="b"), SpeakerTurn(start=9, end=12, speaker="b")]
    assert _without_overlap(own, others) == [(0, 2), (3, 9)]


@pytest.mark.slow
@needs_media
def test_pyannote_sample_speakers_are_female_and_fast():
    import soundfile as sf

    from dubbing.rttm import read_rttm

    audio, sr = sf.read(MEDIA / "audio" / "pa_sample.wav", dtype="float32")
    turns = read_rttm(MEDIA / "refs" / "pa_sample.rttm")
    d = Diarization(turns=turns, speakers=sorted({t.speaker for t in turns}))
    t0 = time.process_time()  # CPU seconds: wall time swings with other work on the machine
    profiles = speaker_profiles(audio, d, sr)
    assert time.process_time() - t0 < 10.0
    assert [p.gender for p in profiles] == ["female", "female"]
    assert all(p.speech_seconds > 5 for p in profiles)
