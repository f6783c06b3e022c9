"""Speech bleed: the source's voices that the speech / background split left in the background.

DeepFilterNet's speech estimate misses reverberation tails, phone-band speech and quiet consonants, and
`background = mix - speech` keeps them: Whisper read every word of fw_jfk and vr_face2 back from their
background stems, so a dub carried the original voice under the new one. Here, in each time-frequency
bin where the speech estimate is strong next to the background (or was, a moment before: reverb), the
background is held to its own usual level in that band, measured where nobody speaks; the excess goes.
Music and ambience in bins the voice does not reach are left as they are.

Pure numpy / scipy; audio arrays are float32, (samples,) or (samples, channels), streamed in blocks so
memory stays flat in the input's length.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter
from scipy.signal import istft, stft

FRAME = 0.04  # seconds per STFT frame (Hann, 75 % overlap)
TAIL = 0.3  # seconds a bin keeps counting as speech after the speech estimate had energy in it (reverb)
DOMINANCE_DB = -6.0  # a bin is the voice's when the speech estimate is at most this far below the background
MARGIN_DB = 3.0  # the background may stay this far above its usual level in a voiced bin
FLOOR_DB = -30.0  # the most a bin is lowered
MIN_QUIET = 0.1  # share of a block's frames a band needs without speech for its usual level; else its low percentile
QUIET_PERCENTILE = 50  # the band's usual level: this percentile of its level where nobody speaks
LOW_PERCENTILE = 10  # ... or of all its frames when it is hardly ever free of speech
BLOCK = 30.0  # seconds processed at once
CONTEXT = 1.0  # seconds read on each side of a block (STFT edges, and the gain's smoothing)


def bleed_gain(background: np.ndarray, speech: np.ndarray, frame_hop: float) -> np.ndarray:
    """Gain (0..1) per (bin, frame) for the background's STFT magnitude `background`, given the speech
    estimate's STFT magnitude `speech` of the same shape; `frame_hop` is seconds between frames."""
    eps = 1e-9
    tail = max(1, int(round(TAIL / frame_hop)))
    # a bin is voiced where speech was present now or up to TAIL before (maximum over the past frames)
    recent = maximum_filter1d(speech, size=tail, axis=1, origin=(tail - 1) // 2, mode="nearest")
    voiced = 20 * np.log10((recent + eps) / (background + eps)) >= DOMINANCE_DB
    quiet = ~voiced
    enough = quiet.mean(axis=1) >= MIN_QUIET
    usual = np.where(enough, _masked_percentile(background, quiet, QUIET_PERCENTILE),
                     np.percentile(background, LOW_PERCENTILE, axis=1))
    limit = usual[:, None] * 10 ** (MARGIN_DB / 20)
    gain = np.where(voiced, np.clip(limit / (background + eps), 10 ** (FLOOR_DB / 20), 1.0), 1.0)
    # smooth in the log domain over 3 bins x 3 frames, so the gain does not flutter (musical noise)
    return np.exp(uniform_filter(np.log(gain), size=3, mode="nearest"))


def _masked_percentile(x: np.ndarray, mask: np.ndarray, q: float) -> np.ndarray:
    """Per row of `x`, the `q`th percentile (nearest rank) of the entries where `mask` is True; 0 for a row
    with none. (A sort with the rest pushed to the end: numpy's nanpercentile took seconds a block.)"""
    ordered = np.sort(np.where(mask, x, np.inf), axis=1)
    count = mask.sum(axis=1)
    rank = np.clip(np.round(q / 100 * (count - 1)).astype(int), 0, x.shape[1] - 1)
    out = np.take_along_axis(ordered, rank[:, None], axis=1)[:, 0]
    return np.where(count > 0, out, 0.0)


def suppress(background: np.ndarray, speech: np.ndarray, sample_rate: int) -> np.ndarray:
    """`background` with the speech bleed lowered (see the module docstring); `speech` is the speech
    estimate it was split from, the same shape. Channels share one gain, so the stereo image stays."""
    background = np.asarray(background, np.float32)
    speech = np.asarray(speech, np.float32)
    if background.shape != speech.shape:
        raise ValueError(f"background {background.shape} and speech {speech.shape} differ in shape")
    multi = background.ndim == 2
    bg = background if multi else background[:, None]
    sp = speech.mean(axis=1) if multi else speech
    n = len(bg)
    nper = int(round(FRAME * sample_rate))
    hop = nper // 4
    block, ctx = int(BLOCK * sample_rate), int(CONTEXT * sample_rate)
    out = np.empty_like(bg)
    for a in range(0, n, block):
        b = min(n, a + block)
        lo, hi = max(0, a - ctx), min(n, b + ctx)
        if hi - lo < nper:
            out[a:b] = bg[a:b]
            continue
        zc = [stft(bg[lo:hi, c], nperseg=nper, noverlap=nper - hop)[2] for c in range(bg.shape[1])]
        zb = zc[0] if len(zc) == 1 else sum(zc) / len(zc)  # the STFT is linear: the channels' mean is the mono mix's
        _, _, zs = stft(sp[lo:hi], nperseg=nper, noverlap=nper - hop)
        gain = bleed_gain(np.abs(zb), np.abs(zs), hop / sample_rate)
        for c, z in enumerate(zc):
            _, y = istft(z * gain, nperseg=nper, noverlap=nper - hop)
            out[a:b, c] = y[a - lo:b - lo]
    return out if multi else out[:, 0]
