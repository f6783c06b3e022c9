"""Cohen & Massaro (1993) coarticulation: each phone pulls each articulatory parameter towards
its target with a dominance that decays exponentially from the phone's centre; the trajectory
is the dominance-weighted mean of the targets. Sampled at frame times with sub-frame integration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import visemes as V

THETA = 25.0  # 1/s: dominance decay rate (a phone's influence halves in ~28 ms beyond its edges)
SUBSAMPLES = 5  # samples per frame interval
MIN_CLOSED_FRAMES = 2  # a bilabial closes the lips in at least the frames this many nearest its centre
# (fast synthesized speech has /m/ of 20 ms: one closed frame, which viewers and face trackers
# barely see; real bilabial closures last 60-100 ms, two to three frames)


def segments(phones: Sequence[tuple[str, float, float]], overrides: dict[str, str] | None = None,
             rest_gap: float = 0.12, edge: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Phones (symbol, start s, end s) -> (centres s, half-durations s, targets (N,P), alphas (N,)).

    Gaps longer than `rest_gap` seconds become silence segments so the mouth relaxes to rest, and
    so do the `edge` seconds before the first phone and after the last (without them the first and
    last phones held the mouth open long before and after the voice: the weak background rest
    only wins once their dominance has decayed by a factor of a thousand, ~0.3 s).
    """
    rows = class_rows(phones, overrides, rest_gap, edge)
    if not rows:
        return np.zeros(0), np.zeros(0), np.zeros((0, len(V.PARAMS))), np.zeros(0)
    starts = np.array([r[0] for r in rows])
    ends = np.array([r[1] for r in rows])
    targets = np.array([V.parameters(r[2]) for r in rows])
    alphas = np.array([V.DOMINANCE[r[2]] for r in rows])
    return (starts + ends) / 2, (ends - starts) / 2, targets, alphas


def class_rows(phones: Sequence[tuple[str, float, float]], overrides: dict[str, str] | None = None,
               rest_gap: float = 0.12, edge: float = 1.0) -> list[tuple[float, float, str]]:
    """Phones (symbol, start s, end s) -> (start s, end s, viseme class) segments in time order,
    with the silences `segments` adds."""
    rows: list[tuple[float, float, str]] = []
    ph = sorted((float(a), float(b), s) for s, a, b in phones if b > a)
    prev_end = None
    for a, b, s in ph:
        if prev_end is not None and a - prev_end > rest_gap:
            rows.append((prev_end, a, "sil"))
        rows.append((a, b, V.viseme(s, overrides)))
        prev_end = b if prev_end is None else max(prev_end, b)
    if rows and edge > 0:
        rows = [(rows[0][0] - edge, rows[0][0], "sil")] + rows + [(prev_end, prev_end + edge, "sil")]
    return rows


def trajectory(t: np.ndarray, centres: np.ndarray, halves: np.ndarray, targets: np.ndarray,
               alphas: np.ndarray, rest: np.ndarray | None = None, theta: float = THETA) -> np.ndarray:
    """Parameter values (len(t), P) at times t (s). Dominance is flat inside a phone and decays outside.

    Far from any phone the trajectory relaxes to `rest` (default all zeros) through a weak
    constant background dominance.
    """
    p = targets.shape[1] if targets.ndim == 2 else len(V.PARAMS)
    rest = np.zeros(p) if rest is None else rest
    t = np.asarray(t, np.float64)
    if len(centres) == 0:
        return np.tile(rest, (len(t), 1))
    dist = np.maximum(np.abs(t[:, None] - centres[None, :]) - halves[None, :], 0.0)
    dom = alphas[None, :] * np.exp(-theta * dist)  # (T, N)
    bg = 1e-3
    num = dom @ targets + bg * rest
    return num / (dom.sum(1, keepdims=True) + bg)


def frame_curves(frame_times: np.ndarray, phones: Sequence[tuple[str, float, float]],
                 overrides: dict[str, str] | None = None) -> np.ndarray:
    """Articulatory parameters (n_frames, P) for frames shown at `frame_times` (s).

    Each frame averages SUBSAMPLES samples over its display interval; closure takes the max
    over the interval so a bilabial shorter than a frame still closes the lips, and every
    bilabial phone closes at least the MIN_CLOSED_FRAMES frames nearest its centre.
    """
    ft = np.asarray(frame_times, np.float64)
    n = len(ft)
    if n == 0:
        return np.zeros((0, len(V.PARAMS)))
    dt = np.diff(ft, append=ft[-1] + (ft[-1] - ft[-2] if n > 1 else 0.04))
    dt = np.maximum(dt, 1e-3)
    frac = (np.arange(SUBSAMPLES) + 0.5) / SUBSAMPLES - 0.5
    sub = ft[:, None] + frac[None, :] * dt[:, None]
    seg = segments(phones, overrides)
    vals = trajectory(sub.ravel(), *seg).reshape(n, SUBSAMPLES, -1)
    out = vals.mean(1)
    out[:, V.CLOSURE] = vals[:, :, V.CLOSURE].max(1)
    for s, a, b in phones:
        if V.viseme(s, overrides) == "PP":
            hit = (ft + dt / 2 > a) & (ft - dt / 2 < b)
            hit[np.argsort(np.abs(ft - (a + b) / 2))[:MIN_CLOSED_FRAMES]] = True
            out[hit, V.CLOSURE] = 1.0
    return out
