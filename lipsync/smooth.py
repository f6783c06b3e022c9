"""Temporal smoothing: One Euro filter (Casiez et al. 2012) for landmarks and transforms, and
light parameter smoothing that keeps lip closures."""

from __future__ import annotations

import numpy as np


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro(x: np.ndarray, t: np.ndarray, min_cutoff: float = 1.0, beta: float = 0.05,
             d_cutoff: float = 1.0) -> np.ndarray:
    """One Euro filter along axis 0 of x (T, ...) sampled at times t (s), any trailing shape.

    Slow motion is smoothed hard (cutoff `min_cutoff` Hz), fast motion passes (cutoff grows by
    `beta` per unit/s of speed), so jitter goes and real movement stays without lag.
    """
    x = np.asarray(x, np.float64)
    out = np.empty_like(x)
    if len(x) == 0:
        return out
    out[0] = x[0]
    dx_prev = np.zeros_like(x[0])
    for i in range(1, len(x)):
        dt = max(float(t[i] - t[i - 1]), 1e-4)
        dx = (x[i] - out[i - 1]) / dt
        ad = _alpha(d_cutoff, dt)
        dx_hat = ad * dx + (1 - ad) * dx_prev
        a = _alpha(min_cutoff + beta * np.abs(dx_hat), dt)
        out[i] = a * x[i] + (1 - a) * out[i - 1]
        dx_prev = dx_hat
    return out


def smooth_keep_minima(x: np.ndarray, keep: np.ndarray, sigma_frames: float = 0.8) -> np.ndarray:
    """Gaussian smoothing of a curve (T,) or (T, P) along time, then the frames flagged in `keep`
    (T,) bool get their original values back, so closures (zeros of the opening) survive."""
    x = np.asarray(x, np.float64)
    if sigma_frames <= 0 or len(x) < 3:
        return x.copy()
    r = max(1, int(round(3 * sigma_frames)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_frames) ** 2)
    k /= k.sum()
    pad = np.pad(x, [(r, r)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    y = np.apply_along_axis(lambda c: np.convolve(c, k, mode="valid"), 0, pad)
    y[keep] = x[keep]
    return y


def crossfade_weights(choice: np.ndarray, frames: int = 3) -> list[dict[int, float]]:
    """Per-frame blend weights {bank entry: weight} that fade each change of `choice` (T,) in over
    `frames` frames instead of switching at once."""
    out: list[dict[int, float]] = []
    cur: dict[int, float] = {}
    step = 1.0 / max(frames, 1)
    for c in np.asarray(choice).tolist():
        if not cur:
            cur = {c: 1.0}
        else:
            cur = {k: max(0.0, w - step) if k != c else min(1.0, w + step) for k, w in cur.items()}
            cur.setdefault(c, step)
            cur = {k: w for k, w in cur.items() if w > 1e-6}
        total = sum(cur.values())
        out.append({k: w / total for k, w in cur.items()})
    return out
