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
BLOCK = 4096  # times worked at once by trajectory()
HORIZON = 30.0  # phones further than HORIZON / theta s from a time are left out of it (exp(-30) ~ 1e-13)
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

    Worked in blocks of BLOCK times, each against the phones within HORIZON / theta s of it only:
    memory stays flat and time linear in the video's length (all times against all phones needed
    13 GB for a 10-minute video). A phone further away weighs exp(-HORIZON) of its dominance
    against the background's 1e-3: below 1e-10 of the result.
    """
    p = targets.shape[1] if targets.ndim == 2 else len(V.PARAMS)
    rest = np.zeros(p) if rest is None else np.asarray(rest, np.float64)
    t = np.asarray(t, np.float64)
    if len(centres) == 0:
        return np.tile(rest, (len(t), 1))
    bg = 1e-3
    reach = HORIZON / theta
    lo_edge, hi_edge = centres - halves, centres + halves
    out = np.empty((len(t), p))
    for k in range(0, len(t), BLOCK):
        tb = t[k:k + BLOCK]
        near = (hi_edge >= tb.min() - reach) & (lo_edge <= tb.max() + reach)
        dist = np.maximum(np.abs(tb[:, None] - centres[near][None, :]) - halves[near][None, :], 0.0)
        dom = alphas[near][None, :] * np.exp(-theta * dist)  # (block, phones near)
        out[k:k + BLOCK] = (dom @ targets[near] + bg * rest) / (dom.sum(1, keepdims=True) + bg)
    return out


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
    order = np.argsort(ft, kind="stable")  # frame times are in order; a sort keeps this right if not
    st = ft[order]
    for s, a, b in phones:
        if V.viseme(s, overrides) == "PP":
            # frames whose display interval overlaps the phone: those shown within a frame of it
            lo, hi = np.searchsorted(st, [a - dt.max(), b + dt.max()], side="left")
            near = order[max(lo - MIN_CLOSED_FRAMES, 0):hi + MIN_CLOSED_FRAMES]
            hit = near[(ft[near] + dt[near] / 2 > a) & (ft[near] - dt[near] / 2 < b)]
            nearest = near[np.argsort(np.abs(ft[near] - (a + b) / 2), kind="stable")[:MIN_CLOSED_FRAMES]]
            out[hit, V.CLOSURE] = 1.0
            out[nearest, V.CLOSURE] = 1.0
    return out
