"""The source speaker's long-term spectrum put on synthesized speech: a smooth gain curve (dB per band)
that turns the synthetic voice's average spectrum into the speaker's, applied after synthesis.

It carries what a style tensor cannot: the speaker's recording chain (telephone band, an old radio
microphone) and the broad tilt of their voice. On fw_jfk (es, stock voices, held-out half) it raised
Resemblyzer cosine by 0.02-0.17 (bench/voices.py reports clones with and without it). Pure functions:
frequencies in Hz, gains in dB, audio float32 mono.
"""

from __future__ import annotations

import numpy as np

BANDS = np.geomspace(80.0, 7600.0, 36)  # Hz: band centres (analysis at 16 kHz reaches 8 kHz)
LIMIT = 12.0  # dB: the most a band is raised or cut
TAPS = 511  # linear-phase FIR length (odd): 21 ms at 24 kHz, applied without delay


def band_db(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mean power (dB) of `audio` in each of BANDS (a third of the way to each neighbour either side)."""
    from scipy.signal import welch

    f, p = welch(np.asarray(audio, np.float64), sample_rate, nperseg=min(1024, max(len(audio), 16)))
    edges = np.sqrt(BANDS[:-1] * BANDS[1:])
    lo = np.concatenate([[BANDS[0] / 1.12], edges])
    hi = np.concatenate([edges, [BANDS[-1] * 1.05]])
    out = np.empty(len(BANDS))
    for i, (a, b) in enumerate(zip(lo, hi)):
        inside = (f >= a) & (f < b)
        power = p[inside].mean() if inside.any() else np.interp(BANDS[i], f, p)
        out[i] = 10 * np.log10(power + 1e-20)
    return out


def match(reference: np.ndarray, synthetic: np.ndarray, sample_rate: int) -> list[float]:
    """Gains (dB per band, median 0, within ±LIMIT) that give `synthetic` the long-term spectrum of
    `reference` (both at `sample_rate`)."""
    gain = band_db(reference, sample_rate) - band_db(synthetic, sample_rate)
    gain = np.convolve(np.pad(gain, 1, mode="edge"), np.ones(3) / 3, mode="valid")  # no single-band spikes
    return [round(float(g), 2) for g in np.clip(gain - np.median(gain), -LIMIT, LIMIT)]


def apply(audio: np.ndarray, sample_rate: int, gains: list[float]) -> np.ndarray:
    """`audio` through the gain curve (held flat below the first band and above the last), zero-phase,
    at its own RMS level."""
    from scipy.signal import firwin2, oaconvolve

    audio = np.asarray(audio, np.float32)
    if not gains or len(audio) == 0:
        return audio
    nyq = sample_rate / 2
    freq = np.concatenate([[0.0], BANDS[BANDS < nyq], [nyq]])
    g = np.asarray(gains, np.float64)[BANDS < nyq]
    gain = 10 ** (np.concatenate([[g[0]], g, [g[-1]]]) / 20)
    fir = firwin2(TAPS, freq / nyq, gain)
    out = oaconvolve(audio, fir.astype(np.float32), mode="same")
    rms_in, rms_out = np.sqrt(np.mean(audio ** 2)), np.sqrt(np.mean(out ** 2))
    return (out * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)
