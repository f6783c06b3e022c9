"""Time-stretch: exact output length, pitch kept, timing scaled."""

import numpy as np
import pytest

from dubbing.stretch import METHODS, fit_length, time_stretch

SR = 16000


def peak_hz(x: np.ndarray, sr: int = SR) -> float:
    mid = x[len(x) // 4: 3 * len(x) // 4]
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(len(mid)), 8 * len(mid)))
    return float(np.argmax(spectrum) * sr / (8 * len(mid)))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("factor", [0.5, 0.8, 1.25, 2.0, 3.0])
def test_length_is_exact_and_pitch_kept(method, factor):
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(SR + 7) / SR)).astype(np.float32)
    y = time_stretch(x, SR, factor, method)
    assert y.shape == (round(len(x) * factor),) and y.dtype == np.float32
    assert peak_hz(y) == pytest.approx(440.0, rel=0.01)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_events_move_with_the_stretch(method, factor):
    x = np.zeros(2 * SR, np.float32)
    burst = (np.sin(2 * np.pi * 1000 * np.arange(320) / SR) * np.hanning(320)).astype(np.float32)
    x[SR: SR + 320] = burst
    y = time_stretch(x, SR, factor, method)
    at = np.sum(np.arange(len(y)) * y ** 2) / np.sum(y ** 2) / SR  # energy centroid, seconds
    assert at == pytest.approx((1.0 + 0.01) * factor, abs=0.05)


def test_multichannel_and_edge_cases():
    x = np.random.default_rng(0).standard_normal((SR, 2)).astype(np.float32) * 0.1
    assert time_stretch(x, SR, 1.1).shape == (round(SR * 1.1), 2)
    assert time_stretch(x[:, 0], SR, 1.0).tolist() == x[:, 0].tolist()
    assert time_stretch(np.zeros(0, np.float32), SR, 1.2).shape == (0,)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            time_stretch(x, SR, bad)


def test_fit_length_pads_and_trims():
    x = np.arange(5, dtype=np.float32)
    assert fit_length(x, 3).tolist() == [0, 1, 2]
    assert fit_length(x, 7).tolist() == [0, 1, 2, 3, 4, 0, 0]
