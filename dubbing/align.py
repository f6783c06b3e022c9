"""Language-independent forced alignment: DTW between the audio and an espeak-ng rendition of the
same text whose phone times are known, mapping those times through the warping path."""

from __future__ import annotations

import numpy as np

from dubbing.errors import DubError
from dubbing.schema import Phone

from .constants import SPEECH_RATE

SR = SPEECH_RATE  # Hz, analysis rate
HOP = 160  # samples (10 ms)


VOICE_WEIGHT = 4.0  # weight of the speech/silence feature against the MFCCs


def _features(y: np.ndarray) -> np.ndarray:
    """MFCC 1-12 with deltas (mean/variance normalized per utterance) and a heavily weighted
    speech/silence flag, so pauses align with pauses across speakers: (25, frames)."""
    import librosa

    m = librosa.feature.mfcc(y=y, sr=SR, n_mfcc=13, n_fft=400, hop_length=HOP, n_mels=40)
    f = np.vstack([m[1:], librosa.feature.delta(m[1:], width=5)])
    f = (f - f.mean(1, keepdims=True)) / (f.std(1, keepdims=True) + 1e-6)
    rms = librosa.feature.rms(y=y, frame_length=400, hop_length=HOP)[0]
    db = 20 * np.log10(rms + 1e-6)
    voice = np.where(db > db.max() - 30, 1.0, -1.0)
    return np.vstack([f, VOICE_WEIGHT * voice[None, : f.shape[1]]])


def _speech_span(y: np.ndarray, top_db: float = 35.0) -> tuple[int, int]:
    import librosa

    _, (a, b) = librosa.effects.trim(y, top_db=top_db, frame_length=400, hop_length=HOP)
    return int(a), int(b)


def warp_times(times: np.ndarray, path: np.ndarray) -> np.ndarray:
    """Map reference frame times to audio frame times through a DTW path ((i_ref, j_audio) pairs,
    any order): each reference frame goes to the mean audio frame it is matched with; in frames."""
    path = np.asarray(path)
    order = np.argsort(path[:, 0], kind="stable")
    i, j = path[order, 0], path[order, 1]
    ui = np.unique(i)
    mean_j = np.array([j[i == k].mean() for k in ui])
    return np.interp(times, ui, mean_j)


def _reference(text: str, language) -> tuple[np.ndarray, int, list[Phone]]:
    from dubbing import espeak

    if language.g2p == "openjtalk":  # espeak-ng reads kana only
        from .speak import japanese_kana

        text = japanese_kana(text)
    return espeak.synthesize(text, language.espeak)


def align(audio: np.ndarray, sample_rate: int, text: str, language) -> list[Phone]:
    """Phones (IPA, start/end s from the start of `audio`) of `text` spoken in `audio` (mono float).

    The text is synthesized with espeak-ng (`language.espeak` voice), both signals are turned
    into MFCCs, aligned by DTW (librosa), and espeak's phone times mapped through the path.
    """
    import soxr
    from librosa.sequence import dtw

    if not text.strip():
        raise DubError("nothing to align: empty text")
    y = np.asarray(audio, np.float32)
    if y.ndim > 1:
        y = y.mean(1) if y.shape[1] < y.shape[0] else y.mean(0)
    y = soxr.resample(y, sample_rate, SR) if sample_rate != SR else y
    ref, rsr, phones = _reference(text, language)
    ref = soxr.resample(ref.astype(np.float32), rsr, SR) if rsr != SR else ref.astype(np.float32)
    if not phones or len(y) < 2 * HOP:
        return []
    a0, a1 = _speech_span(y)
    r0, r1 = _speech_span(ref)
    fa, fr = _features(y[a0:a1]), _features(ref[r0:r1])
    _, wp = dtw(X=fr, Y=fa, metric="euclidean", step_sizes_sigma=np.array([[1, 1], [0, 1], [1, 0]]))
    off_r, off_a = r0 / SR, a0 / SR
    edges = np.array([[p.start, p.end] for p in phones]) - off_r
    mapped = warp_times(np.clip(edges / (HOP / SR), 0, fr.shape[1] - 1).ravel(), wp).reshape(-1, 2)
    mapped = mapped * HOP / SR + off_a
    # espeak times before or after its speech map to the speech edges of the audio
    out = []
    for p, (s, e) in zip(phones, mapped):
        e = max(e, s + 0.01)
        out.append(Phone(symbol=p.symbol, start=round(float(s), 4), end=round(float(min(e, len(y) / SR)), 4)))
    return out
