"""A mouth model of one person, learned from their own footage: how their mouth realises each
viseme in context.

The source's frames give the person's real mouth (opening and width, iod units, per frame); its
phones (IPA with times, from its transcript and audio) and its voice loudness give what was being
said at every frame. The Cohen & Massaro trajectory (lipsync.coarticulation) is linear in the
viseme targets: with one-hot targets it gives, per frame, the share W_k(t) of each viseme class k
(the neighbours' coarticulation included). The person's mouth is fitted as

    q(t) = sum_k W_k(t) * (a_k + b_k * loud(t))

per measure (opening, width): a_k is how far this person opens (or widens) for viseme k, b_k how
much more when the voice is loud (stress, emphasis). Ridge regression pulls each a_k to the generic
target (lipsync.visemes through the person's range, mouth_model.Range) and each b_k to 0, so a
viseme the footage lacks keeps the generic target. The lead of the mouth over the phone times and
the coarticulation decay rate are chosen per person on a small grid. Least squares shrinks the
prediction's swing towards the mean by about r; the swing is restored to the person's own (the
issue's amplitude bar), by at most MAX_EXPAND.

Validated on every run (`check`): fitted on the first part of the source's frames only, the model
predicts the mouth on the last HOLDOUT share from phones and loudness alone; r and amplitude ratio
against what the frames show are not circular (those frames were not fitted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import coarticulation as C
from . import visemes as V
from .mouth_model import Range
from .report import PersonCheck

CLASS_NAMES = tuple(V.CLASSES)
_INDEX = {c: i for i, c in enumerate(CLASS_NAMES)}
K = len(CLASS_NAMES)
LEADS = np.round(np.arange(-0.08, 0.161, 0.04), 3)  # s: the mouth at t shows the phones at t + lead
THETAS = (12.0, 25.0, 50.0)  # 1/s: coarticulation decay rates tried
PRIOR_FRAMES = 0.3  # ridge pull of a viseme's target to the generic one (a frame wholly of one viseme weighs 1)
GAIN_PRIOR = 1.0  # ridge pull of a viseme's loudness gain to 0, likewise
MAX_EXPAND = 2.0  # the most the prediction's swing is widened to the person's own
HOLDOUT = 0.3  # share of the source's frames (its end) held out by the check
MIN_FRAMES = 25  # fewer tracked frames than this: no person model
SEEN = 2.0  # frames of total weight for a viseme to count as seen in the footage


def class_weights(t: np.ndarray, phones: Sequence[tuple[str, float, float]], overrides: dict[str, str] | None = None,
                  lead: float = 0.0, theta: float = C.THETA) -> np.ndarray:
    """Per-frame share (len(t), K) of each viseme class in the coarticulated trajectory at frame
    times t (s) shifted by `lead` s, averaged over each frame's interval; rows sum to 1."""
    t = np.asarray(t, np.float64) + lead
    rows = C.class_rows(phones, overrides)
    out = np.zeros((len(t), K))
    if not rows or not len(t):
        out[:, _INDEX["sil"]] = 1.0
        return out
    a = np.array([r[0] for r in rows])
    b = np.array([r[1] for r in rows])
    onehot = np.eye(K)[[_INDEX[r[2]] for r in rows]]
    alphas = np.array([V.DOMINANCE[r[2]] for r in rows])
    dt = np.diff(t, append=t[-1] + (t[-1] - t[-2] if len(t) > 1 else 0.04)).clip(1e-3)
    frac = (np.arange(C.SUBSAMPLES) + 0.5) / C.SUBSAMPLES - 0.5
    sub = (t[:, None] + frac[None, :] * dt[:, None]).ravel()
    w = C.trajectory(sub, (a + b) / 2, (b - a) / 2, onehot, alphas, np.eye(K)[_INDEX["sil"]], theta)
    return w.reshape(len(t), C.SUBSAMPLES, K).mean(1)


def _design(w: np.ndarray, loud: np.ndarray) -> np.ndarray:
    return np.hstack([w, w * np.asarray(loud, np.float64)[:, None]])


def generic_targets(rng: Range) -> np.ndarray:
    """(K, 2) generic (opening, width) of each viseme class through a person's range."""
    return rng.measures(np.array([V.parameters(c) for c in CLASS_NAMES]))


def _ratio(q: np.ndarray) -> np.ndarray:
    """Opening over width (the measure the sync figures use)."""
    return q[:, 0] / np.maximum(q[:, 1], 1e-6)


def _r(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3 or x.std() < 1e-9 or y.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(x, y)[0, 1])


@dataclass
class PersonModel:
    """One person's mouth: (opening, width) iod per frame from phones and voice loudness."""

    coef: np.ndarray  # (2K, 2): a_k then b_k, per measure
    lead: float  # s
    theta: float  # 1/s
    centre: np.ndarray  # (2,) mean of the fitted frames' prediction
    expand: np.ndarray  # (2,) swing restored about `centre`
    seen: tuple[str, ...]  # viseme classes with evidence in the footage
    overrides: dict[str, str] | None = None

    def predict(self, t: np.ndarray, phones: Sequence[tuple[str, float, float]], loud: np.ndarray | None) -> np.ndarray:
        """(len(t), 2) opening and width (iod) at frame times t (s) for `phones` (symbol, start s,
        end s) and per-frame voice loudness `loud` (jaw activation 0..1, jali.activation; None = 0)."""
        loud = np.zeros(len(t)) if loud is None else loud
        raw = _design(class_weights(t, phones, self.overrides, self.lead, self.theta), loud) @ self.coef
        out = self.centre + self.expand * (raw - self.centre)
        out[:, 0] = out[:, 0].clip(0)
        return out


def _solve(x: np.ndarray, q: np.ndarray, prior: np.ndarray) -> np.ndarray:
    lam = np.r_[np.full(K, PRIOR_FRAMES), np.full(K, GAIN_PRIOR)]
    b0 = np.vstack([prior, np.zeros((K, 2))])
    return np.linalg.solve(x.T @ x + np.diag(lam), x.T @ q + lam[:, None] * b0)


def fit(t: np.ndarray, q: np.ndarray, phones: Sequence[tuple[str, float, float]], loud: np.ndarray | None,
        rng: Range, overrides: dict[str, str] | None = None) -> PersonModel:
    """Fit a person's model on frames at times t (s) with measured (opening, width) q (n, >=2) iod,
    the phones spoken over them and the voice's per-frame loudness (jaw activation 0..1)."""
    q = np.asarray(q, np.float64)[:, :2]
    loud = np.zeros(len(t)) if loud is None else np.asarray(loud, np.float64)
    prior = generic_targets(rng)
    best = None
    for theta in THETAS:
        for lead in LEADS:
            w = class_weights(t, phones, overrides, float(lead), theta)
            x = _design(w, loud)
            coef = _solve(x, q, prior)
            score = _r(_ratio(x @ coef), _ratio(q))
            if best is None or score > best[0]:
                best = (score, float(lead), theta, coef, w, x)
    _, lead, theta, coef, w, x = best
    raw = x @ coef
    expand = np.clip(q.std(0) / np.maximum(raw.std(0), 1e-9), 1.0, MAX_EXPAND)
    seen = tuple(c for c, s in zip(CLASS_NAMES, w.sum(0)) if s >= SEEN)
    return PersonModel(coef, lead, theta, raw.mean(0), expand, seen, overrides)


def check(t: np.ndarray, q: np.ndarray, phones: Sequence[tuple[str, float, float]], loud: np.ndarray | None,
          rng: Range, overrides: dict[str, str] | None = None, holdout: float = HOLDOUT) -> PersonCheck | None:
    """Fit on the frames before the last `holdout` share of the footage, predict the mouth on that
    share from its phones and loudness alone and compare with its frames: r and amplitude ratio of
    the opening over width. None when there are too few frames on either side."""
    t = np.asarray(t, np.float64)
    cut = int(round(len(t) * (1 - holdout)))
    if cut < MIN_FRAMES or len(t) - cut < 10:
        return None
    lo = None if loud is None else np.asarray(loud)[:cut]
    m = fit(t[:cut], q[:cut], phones, lo, rng, overrides)
    pred = m.predict(t[cut:], phones, None if loud is None else np.asarray(loud)[cut:])
    truth, guess = _ratio(np.asarray(q)[cut:]), _ratio(pred)
    amp = float(guess.std() / truth.std()) if truth.std() > 1e-9 else float("nan")
    return PersonCheck(r=round(_r(guess, truth), 4), amp=round(amp, 4), frames=len(t) - cut,
                       fit_frames=cut, visemes=len(m.seen), lead=m.lead)
