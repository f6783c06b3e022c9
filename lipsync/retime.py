"""Same words, new timing: where each moment of a replacement voice was spoken in the source.

When a replacement track says what the source says (a re-recorded take, an edit, a cleaned-up
voice), the best mouth for it is the person's own, moved in time: no viseme model matches this
person's real motion as well as the footage does (on vr_face1 the viseme target correlates
0.6-0.74 with the real opening). This module finds that time map: the two transcripts' words are
matched (difflib), matched stretches of words are the spans where the source's mouth is reused,
and inside them dynamic time warping (librosa) of the two voices' MFCCs gives the map frame by
frame. Words that differ get the visemes, as any other audio does.

Pure functions of arrays and word lists; the caller does the audio I/O (dubbing.resync).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

HOP = 0.02  # s between feature frames
MARGIN = 0.2  # s a matched stretch is widened by on each side (the mouth moves before and after its words)
MIN_WORDS = 2  # matched stretches shorter than this are chance (a repeated "the")
MAX_PIECE = 60.0  # s: longer stretches are cut at matched words so DTW's cost matrix stays small (~3000^2)

Word = tuple[str, float, float]  # (text, start s, end s)


@dataclass
class TimeMap:
    """A piecewise-linear map from the replacement voice's time to the source's (seconds), and the
    spans of replacement time where it holds (the same words are spoken)."""

    new: np.ndarray  # (K,) s, increasing
    src: np.ndarray  # (K,) s, non-decreasing
    spans: list[tuple[float, float]]  # replacement-time spans (s) where the source's mouth is reused
    matched: float  # share of the replacement's words found in the source, 0..1

    def source_time(self, t: np.ndarray) -> np.ndarray:
        """Source time (s) for replacement times `t` (s)."""
        return np.interp(t, self.new, self.src)

    def weight(self, t: np.ndarray, ramp: float = 0.12) -> np.ndarray:
        """How much the source's own mouth drives each time `t` (s), 0..1: 1 inside the spans, fading
        to 0 over `ramp` s outside them."""
        t = np.asarray(t, np.float64)
        w = np.zeros(t.shape)
        for a, b in self.spans:
            d = np.maximum(a - t, t - b)  # <= 0 inside
            w = np.maximum(w, np.clip(1 - d / ramp, 0, 1))
        return w


def _norm(text: str) -> str:
    return re.sub(r"[^\w']+", "", text.lower())


def matched_stretches(new: Sequence[Word], src: Sequence[Word], min_words: int = MIN_WORDS
                      ) -> list[list[tuple[Word, Word]]]:
    """Runs of consecutive words said in both transcripts, in order, as (new word, source word) pairs.
    A run shorter than `min_words` is dropped unless it is the whole of the replacement."""
    a, b = [_norm(w[0]) for w in new], [_norm(w[0]) for w in src]
    blocks = difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
    runs = [[(new[i + k], src[j + k]) for k in range(n)] for i, j, n in blocks if n]
    return [r for r in runs if len(r) >= min(min_words, len(new))]


def dtw_path(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Monotonic alignment (M, 2) of feature frames x (N, D) to y (L, D), start to end, by DTW on
    cosine distances."""
    import librosa

    if len(x) == 0 or len(y) == 0:
        return np.zeros((0, 2), int)
    _, wp = librosa.sequence.dtw(X=x.T, Y=y.T, metric="cosine")
    return wp[::-1]


def time_map(new_words: Sequence[Word], src_words: Sequence[Word], new_feats: np.ndarray, src_feats: np.ndarray,
             hop: float = HOP, margin: float = MARGIN) -> TimeMap | None:
    """The map of replacement time to source time, or None when the two say different things.

    new_words/src_words: each transcript's words with times (s); new_feats/src_feats: per-frame
    features of each voice (frames, D) every `hop` s (mfcc). Inside each matched stretch of words
    (widened by `margin` s, cut at matched words into pieces of at most MAX_PIECE s) the two voices
    are aligned by DTW; between stretches the map runs straight."""
    runs = matched_stretches(new_words, src_words)
    if not runs:
        return None
    dur_new, dur_src = len(new_feats) * hop, len(src_feats) * hop
    pts_new, pts_src, spans = [0.0], [0.0], []
    for run in runs:
        cuts = [0]
        for k in range(1, len(run)):
            if run[k][0][1] - run[cuts[-1]][0][1] > MAX_PIECE:
                cuts.append(k)
        cuts.append(len(run))
        start_n, start_s = max(run[0][0][1] - margin, pts_new[-1]), max(run[0][1][1] - margin, pts_src[-1])
        for c0, c1 in zip(cuts, cuts[1:]):
            last = c1 == len(run)
            end_n = min(run[-1][0][2] + margin, dur_new) if last else run[c1][0][1]
            end_s = min(run[-1][1][2] + margin, dur_src) if last else run[c1][1][1]
            i0, i1 = int(start_n / hop), max(int(end_n / hop), int(start_n / hop) + 1)
            j0, j1 = int(start_s / hop), max(int(end_s / hop), int(start_s / hop) + 1)
            path = dtw_path(new_feats[i0:i1], src_feats[j0:j1])
            if len(path):
                # one source time per replacement frame: the mean of the frames DTW pairs it with
                idx = path[:, 0]
                src_t = np.bincount(idx, weights=path[:, 1]) / np.maximum(np.bincount(idx), 1)
                tn = (i0 + np.arange(len(src_t))) * hop  # librosa centres frame k at k * hop
                ts = (j0 + src_t) * hop
                keep = (tn > pts_new[-1]) & (ts >= pts_src[-1])
                pts_new += tn[keep].tolist()
                pts_src += np.maximum.accumulate(ts[keep]).tolist()
            start_n, start_s = end_n, end_s
        spans.append((max(run[0][0][1] - margin, 0.0), min(run[-1][0][2] + margin, dur_new)))
    if dur_new - pts_new[-1] > 1e-6:
        pts_new.append(dur_new)
        pts_src.append(max(pts_src[-1], dur_src - (dur_new - pts_new[-2])))
    matched = sum(len(r) for r in runs) / max(len(new_words), 1)
    return TimeMap(np.array(pts_new), np.array(pts_src), spans, round(matched, 3))


def features(audio: np.ndarray, rate: int, hop: float = HOP) -> np.ndarray:
    """MFCC frames (frames, 20) of mono `audio` at `rate` Hz every `hop` s, the first (loudness)
    coefficient dropped and each coefficient mean-normalized, so two recordings of the same words
    at different levels and in different rooms still match."""
    import librosa

    h = int(round(hop * rate))
    m = librosa.feature.mfcc(y=np.asarray(audio, np.float32), sr=rate, n_mfcc=21, hop_length=h, n_fft=4 * h)[1:]
    m -= m.mean(1, keepdims=True)
    return m.T
