"""Forced alignment: DTW against an espeak-ng rendition recovers known phone times."""

import numpy as np
import pytest

import languages
from dubbing.align import align, warp_times


def test_warp_times_follows_the_path():
    path = np.array([[0, 0], [1, 2], [2, 4], [3, 6]])[::-1]  # librosa returns the path reversed
    assert np.allclose(warp_times(np.array([0, 1.5, 3]), path), [0, 3, 6])


def test_align_recovers_phone_times_of_a_different_voice_and_rate():
    from dubbing import espeak

    text = "Mi mayor debilidad es pedir ayuda, pero estoy aprendiendo."
    lang = languages.get("es")
    y, sr, truth = espeak.synthesize(text, "es+f3", rate_wpm=140)
    pad = 0.3
    y = np.r_[np.zeros(int(pad * sr), np.float32), y]
    got = align(y, sr, text, lang)
    assert [p.symbol for p in got] == [p.symbol for p in truth]
    err = np.abs(np.array([p.start for p in got]) - np.array([p.start + pad for p in truth]))
    assert np.median(err) < 0.03
    assert all(b.start >= a.start for a, b in zip(got, got[1:]))


def test_align_empty_text_is_a_clear_error():
    from dubbing.errors import DubError

    with pytest.raises(DubError):
        align(np.zeros(16000, np.float32), 16000, "  ", languages.get("es"))
