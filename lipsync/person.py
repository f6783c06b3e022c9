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
issue's amplitude bar), by at most MAX_EXPAND. Where the generic targets drive the mouth instead,
`as_wide` gives their openings the person's own spread while speaking, and `through_blend` keeps it
through the blend with the source's own motion.

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
SCALE_PRIOR = 1.0  # ridge pull of the generic trajectory's scale to 1
LOUD_PRIOR = 1.0  # ridge pull of the loudness gain to 0
GRID_FRAMES = 500  # frames of footage needed to search the lead and decay rate (at 250, ls_demo2 overfitted them)
LEAD = 0.0  # s: the lead used below GRID_FRAMES
# ridge pulls of a viseme's own deviation to 0 tried (a frame wholly of one viseme weighs 1); one value,
# chosen on vr_face1 (bench/lips_heldout.py): with ~60 frames per clip the inner split chose badly
RIDGES = (3.0,)
MAX_EXPAND = 2.0  # the most the prediction's swing is widened to the person's own
HOLDOUT = 0.3  # share of the source's frames (its end) held out by the check
MIN_FRAMES = 25  # fewer tracked frames than this: no person model
SEEN = 2.0  # frames of total weight for a viseme to count as seen in the footage
AS_WIDE_STEPS = 50  # quantiles matched by as_wide
MIN_TALK = 12  # frames of the person's speech in the source needed to learn as_wide's map


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


def _design(w: np.ndarray, loud: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Regression columns per measure (n, 3 + K, 2): 1, the generic trajectory (w @ prior), the
    voice loudness, then each viseme's share (its own deviation from the generic target)."""
    n = len(w)
    loud = np.asarray(loud, np.float64)
    cols = [np.stack([np.ones(n), w @ prior[:, d], loud, *w.T], -1) for d in range(2)]
    return np.stack(cols, -1)


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

    coef: np.ndarray  # (3 + K, 2) per measure: intercept, scale of the generic trajectory, loudness gain, deviations
    prior: np.ndarray  # (K, 2) generic targets through the person's range
    lead: float  # s
    theta: float  # 1/s
    centre: np.ndarray  # (2,) mean of the fitted frames' prediction
    expand: np.ndarray  # (2,) swing restored about `centre`
    seen: tuple[str, ...]  # viseme classes with evidence in the footage
    overrides: dict[str, str] | None = None
    ridge: float = RIDGES[0]  # the pull of the deviations to 0 chosen for this person

    def targets(self) -> np.ndarray:
        """(K, 2) this person's (opening, width) for each viseme class held alone, voice quiet."""
        return self.coef[0] + self.coef[1] * self.prior + self.coef[3:]

    def predict(self, t: np.ndarray, phones: Sequence[tuple[str, float, float]], loud: np.ndarray | None) -> np.ndarray:
        """(len(t), 2) opening and width (iod) at frame times t (s) for `phones` (symbol, start s,
        end s) and per-frame voice loudness `loud` (jaw activation 0..1, jali.activation; None = 0)."""
        loud = np.zeros(len(t)) if loud is None else loud
        x = _design(class_weights(t, phones, self.overrides, self.lead, self.theta), loud, self.prior)
        out = self.centre + self.expand * (_raw(x, self.coef) - self.centre)
        out[:, 0] = out[:, 0].clip(0)
        return out


def _solve(x: np.ndarray, q: np.ndarray, ridge: float) -> np.ndarray:
    """Ridge solution (3 + K, 2) per measure: the generic trajectory's scale pulled to 1, the
    loudness gain to 0 and the deviations to 0 by `ridge`, the intercept free."""
    lam = np.r_[1e-6, SCALE_PRIOR, LOUD_PRIOR, np.full(K, ridge)]
    b0 = np.r_[0.0, 1.0, 0.0, np.zeros(K)]
    out = np.empty((x.shape[1], 2))
    for d in range(2):
        xd = x[:, :, d]
        out[:, d] = np.linalg.solve(xd.T @ xd + np.diag(lam), xd.T @ q[:, d] + lam * b0)
    return out


def _raw(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
    return np.einsum("nfd,fd->nd", x, coef)


def swing(measured: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centre, factor), each (2,): widening `predicted` (n, 2) about `centre` by `factor` gives it the
    std of `measured` (n, 2) per measure (the person's own swing), by 1 to MAX_EXPAND."""
    return predicted.mean(0), np.clip(measured.std(0) / np.maximum(predicted.std(0), 1e-9), 1.0, MAX_EXPAND)


def as_wide(x: np.ndarray, generic: np.ndarray, own: np.ndarray, talk: np.ndarray,
            steps: int = AS_WIDE_STEPS) -> np.ndarray | None:
    """Mouth openings `x` (any shape) of the generic targets mapped, in order, onto this person's own:
    through the map that takes the generic openings of the person's own speech (`generic`, n frames of
    the source) to their real ones (`own`, n), quantile for quantile (`steps` of them) over the frames
    where they speak (`talk`, bool n). None with fewer than MIN_TALK such frames.

    The generic targets open narrower than people do (stop 29, bench/sync.py: the dubbed mouth swung
    0.55-0.69 as wide as the source's): visemes through the person's range, coarticulation and smoothing
    all pull openings to the middle. The map is learned on the source alone, so a new line changes no
    other line's mouth (an edit re-renders only its own chunks), and it keeps order, so it moves r little."""
    talk = np.asarray(talk, bool)
    if talk.sum() < MIN_TALK:
        return None
    p = np.linspace(0, 100, steps + 1)
    ref = np.percentile(np.asarray(generic, np.float64)[talk], p)
    ref = ref + np.arange(len(ref)) * 1e-9  # strictly increasing for np.interp (closures tie at 0)
    return np.interp(x, ref, np.percentile(np.asarray(own, np.float64)[talk], p))


def through_blend(x: np.ndarray, own: np.ndarray, talk: np.ndarray, strength: float) -> np.ndarray:
    """Openings `x` (any shape, as wide as the person's: as_wide) widened about the person's mean opening
    while speaking so that, blended at `strength` with the source's own openings `own` (n frames) as
    mouth_model.blend_measures does, they keep the person's spread: in a dub the source's motion says
    other words, so it adds as independent noise, and the blend alone would narrow the swing to
    sqrt(s^2 + (1-s)^2) of it (0.82 at 0.8). By at most 1/strength. Learned from the source alone
    (`own` over its `talk` frames, bool n), as as_wide is, so an edit moves no other line's mouth."""
    own, talk = np.asarray(own, np.float64), np.asarray(talk, bool)
    sd, ss = float(own[talk].std()), float(own.std())
    if strength <= 0 or sd < 1e-9:
        return np.asarray(x, np.float64)
    k = np.sqrt(max(sd ** 2 - ((1 - strength) * ss) ** 2, 0.0)) / (strength * sd)
    centre = float(own[talk].mean())
    return centre + float(np.clip(k, 1.0, 1.0 / strength)) * (np.asarray(x, np.float64) - centre)


def within(t: np.ndarray, spans: Sequence[tuple]) -> np.ndarray:
    """Which times t (s, increasing) fall in any of the spans (symbol or label, start s, end s, ...):
    t >= start and < end."""
    out = np.zeros(len(t), bool)
    for s in spans:
        out[slice(*np.searchsorted(t, [s[1], s[2]]))] = True
    return out


def fit(t: np.ndarray, q: np.ndarray, phones: Sequence[tuple[str, float, float]], loud: np.ndarray | None,
        rng: Range, overrides: dict[str, str] | None = None) -> PersonModel:
    """Fit a person's model on frames at times t (s) with measured (opening, width) q (n, >=2) iod,
    the phones spoken over them and the voice's per-frame loudness (jaw activation 0..1).

    How far each viseme may move from the generic target (RIDGES), and with GRID_FRAMES of footage
    or more the lead and decay rate, are chosen by predicting the last HOLDOUT share of these
    frames from a fit on the rest: a few seconds of footage keep the generic targets, scaled to the
    person, unless their own deviations predict frames they were not fitted on."""
    t = np.asarray(t, np.float64)
    q = np.asarray(q, np.float64)[:, :2]
    loud = np.zeros(len(t)) if loud is None else np.asarray(loud, np.float64)
    prior = generic_targets(rng)
    grid = [(float(lead), theta) for theta in THETAS for lead in LEADS] if len(t) >= GRID_FRAMES else [(LEAD, C.THETA)]
    cut = int(round(len(t) * (1 - HOLDOUT)))
    best = None
    for lead, theta in grid:
        w = class_weights(t, phones, overrides, lead, theta)
        x = _design(w, loud, prior)
        for ridge in RIDGES:
            if len(grid) == 1 and len(RIDGES) == 1:
                score = 0.0
            else:
                guess = _raw(x[cut:], _solve(x[:cut], q[:cut], ridge))
                score = _r(_ratio(guess), _ratio(q[cut:]))
            if best is None or score > best[0] + 1e-9:
                best = (score, lead, theta, ridge, w, x)
    _, lead, theta, ridge, w, x = best
    coef = _solve(x, q, ridge)
    raw = _raw(x, coef)
    centre, expand = swing(q, raw)
    seen = tuple(c for c, s in zip(CLASS_NAMES, w.sum(0)) if s >= SEEN)
    return PersonModel(coef, prior, lead, theta, centre, expand, seen, overrides, ridge)


def check(t: np.ndarray, q: np.ndarray, phones: Sequence[tuple[str, float, float]], loud: np.ndarray | None,
          rng: Range, overrides: dict[str, str] | None = None, generic: np.ndarray | None = None,
          holdout: float = HOLDOUT) -> PersonCheck | None:
    """Fit on the frames before the last `holdout` share of the footage, predict the mouth on that
    share from its phones and loudness alone and compare with its frames: r and amplitude ratio of
    the opening over width; `generic` (len(t), 2): the generic targets' (opening, width) at the same
    frames, scored on the same held-out share. None when there are too few frames on either side."""
    t = np.asarray(t, np.float64)
    cut = int(round(len(t) * (1 - holdout)))
    if cut < MIN_FRAMES or len(t) - cut < 10:
        return None
    lo = None if loud is None else np.asarray(loud)[:cut]
    m = fit(t[:cut], q[:cut], phones, lo, rng, overrides)
    pred = m.predict(t[cut:], phones, None if loud is None else np.asarray(loud)[cut:])
    truth, guess = _ratio(np.asarray(q)[cut:]), _ratio(pred)
    amp = lambda x: round(float(x.std() / truth.std()), 4) if truth.std() > 1e-9 else float("nan")
    gen = None if generic is None else _ratio(np.asarray(generic)[cut:])
    return PersonCheck(r=round(_r(guess, truth), 4), amp=amp(guess), frames=len(t) - cut,
                       fit_frames=cut, visemes=len(m.seen), lead=m.lead,
                       r_generic=None if gen is None else round(_r(gen, truth), 4),
                       amp_generic=None if gen is None else amp(gen))
