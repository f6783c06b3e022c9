"""Per-track analysis between the tracking and render passes: canonical transforms and their
smoothing, the person's measures and models, and the per-frame target shapes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import coarticulation as C
from . import geometry as G
from . import jali as J
from . import landmarks as L
from . import metrics as M
from . import person as PM
from . import smooth as S
from . import speakers as SP
from . import visemes as V
from . import warp as W
from .mouth_model import MOVE, Bank, Range, ShapeModel, blend_measures, keep_lips_apart, ring
from .report import PersonCheck

MIN_PAUSE = 0.15  # s: a silence this long in the voice is a pause the mouth rests through (stop closures are shorter)
PAUSE_DB = 35.0  # dB under the voice's loud level (its 95th percentile) that counts as silence
MAX_YAW = 0.55  # beyond this head turn the face is passed through
MIN_IOD_PX = 18.0  # eyes closer than this (px) = face too small to re-render
RAMP_FRAMES = 4  # frames to fade the effect in and out at skipped spans
IDLE_MARGIN = 0.3  # s: a face is left as it is only this far from its new speech and its own turns (coarticulation)
MIN_IDLE = 1.0  # s: shorter idle stretches are drawn anyway (no fading out and in again within a breath)
OPEN_PARTED = 0.06  # iod over the lips' rest opening: lips parted in the source (a mouth that moves needs drawing)
HELD_WINDOW = 0.4  # s: the window over which a mouth held still is told from one speaking (held)
HELD_STD = 0.015  # iod: the opening's std over HELD_WINDOW under which the mouth is held (stop 32: speech's median
# 0.019-0.048 on seven clips; ls_demo2's grin 0.002-0.016)


@dataclass
class TrackPlan:
    """Everything the renderer needs for one speaking track, indexed by the track's frames."""

    tid: int
    frames: np.ndarray  # (n,) frame indices
    src: np.ndarray  # (n, P, 2) image px, smoothed MOVING points now
    dst: np.ndarray  # (n, P, 2) image px, wanted
    ring: np.ndarray  # (n, R, 2) image px
    tris: np.ndarray
    weight: np.ndarray  # (n,) effect strength 0..1 (ramps at skipped spans)
    q_src: np.ndarray  # (n, 2) source (open, width)
    q_dst: np.ndarray  # (n, 2) target (open, width)
    teeth: np.ndarray  # (n,) target teeth 0..1
    bank_choice: np.ndarray  # (n,) bank item index, -1 = none
    person: PersonCheck | None = None  # the person's mouth model checked on held-out source frames


def canonical(lm: np.ndarray, template: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame similarity (n, 2, 3) image->canonical, smoothed by a One Euro filter on the four
    parameters of its inverse (in px), and the canonical landmarks (n, S, 2) under it."""
    inv = np.array([G.invert(G.to_canonical(x, template)) for x in lm])
    p = np.stack([inv[:, 0, 0], inv[:, 1, 0], inv[:, 0, 2], inv[:, 1, 2]], -1)
    p = S.one_euro(p, times, 1.0, 0.05)
    inv[:, 0, 0], inv[:, 1, 0], inv[:, 0, 2], inv[:, 1, 2] = p.T
    inv[:, 0, 1], inv[:, 1, 1] = -p[:, 1], p[:, 0]
    m = np.array([G.invert(x) for x in inv])
    canon = np.einsum("nij,nkj->nki", m[:, :, :2], lm) + m[:, None, :, 2]
    return m, canon


def skip_reasons(lm: np.ndarray, canon_yaw: np.ndarray) -> list[str]:
    """Per-frame reason a face cannot be re-rendered ("" = fine)."""
    iod = np.linalg.norm(lm[:, L.at(L.RIGHT_EYE_OUTER)] - lm[:, L.at(L.LEFT_EYE_OUTER)], axis=-1)
    out = []
    for y, d in zip(canon_yaw, iod):
        out.append("profile or extreme head angle" if y > MAX_YAW else "face too small" if d < MIN_IOD_PX else "")
    return out


def ramp(ok: np.ndarray, frames: int = RAMP_FRAMES) -> np.ndarray:
    """0/1 flags -> weights that fade in and out over `frames` frames (never above the flags' span)."""
    w = ok.astype(float)
    for _ in range(frames):
        w = np.minimum(w, np.minimum(np.r_[w[:1], w[:-1]], np.r_[w[1:], w[-1:]]) + 1.0 / frames)
    return np.clip(w, 0, 1)


def plan_track(tid: int, frames: np.ndarray, lm: np.ndarray, template: np.ndarray, times: np.ndarray,
               phones: Sequence[tuple[str, float, float]], bank: Bank, strength: float,
               overrides: dict[str, str] | None = None, still: bool = False,
               voice_pauses: Sequence[tuple[float, float]] | None = None, jaw_activation: np.ndarray | None = None,
               jaw_weight: float = 0.0, own_motion: tuple[np.ndarray, np.ndarray] | None = None,
               person_source: tuple[Sequence[tuple[str, float, float]], np.ndarray] | None = None,
               person_drives: bool = True,
               busy: Sequence[tuple[float, float]] | None = None,
               own_speech: tuple[Sequence[tuple[float, float]], Sequence[tuple[float, float]]] | None = None,
               kept: Sequence[tuple[float, float]] = ()) -> tuple[TrackPlan, list[str]]:
    """Plan one speaking track: lm (n, S, 2) image px at `frames`, whose times are times[frames];
    voice_pauses: the silences (s) of the voice the phones were spoken in (`pauses`), where the
    mouth rests (see outside_pauses); jaw_activation: that voice's loudness at each of the track's
    frames as a jaw activation 0..1 (jali.activation), blended into the visemes' jaw by `jaw_weight`.
    person_source: the phones the track's own frames were spoken with (symbol, start s, end s) and
    its voice's jaw activation at those frames: the person's mouth model (lipsync.person) is fitted
    on them and drives the target instead of the generic visemes through the person's range, where
    its check passed and `person_drives`; otherwise the generic targets get the person's swing and
    their openings the person's spread while speaking (person.as_wide; the fitted model restores its
    own swing).
    busy: the spans (start s, end s) where this face's mouth must follow the new speech (its new
    phones and its own turns in the source); away from them, with its lips at rest in the source,
    the face is left as it is (weight 0: not drawn). None = drawn on every frame.
    own_speech: where this face speaks in the source, (its phones' spans, its voice's turns), start s and
    end s: where neither it nor the new speech is, the lips take the source's own shape (own_expression),
    not a resting one.
    kept: spans (start s, end s) where the dub plays this face's own voice (dubbing.kept_speech): the face
    is left as it is there, eased in and out like any frame not drawn."""
    t = times[frames]
    m, canon = canonical(lm, template, t)
    mov = S.one_euro(canon[:, MOVE], t, 2.0, 4.0)  # the smooth shape the target is built on
    # The warp carries the picture's lips from where they are, as tracked, to the target. Started
    # from the smooth shape instead, the source's own fast lip motion (which the 2 Hz filter
    # removes) stayed in the picture: on vr_face1/2 the re-tracked output opening moved 0.4-0.6 x
    # the source's frame-to-frame changes on top of the target's, and its sync peaked at the
    # source's lag against the new voice.
    lips_at = canon[:, MOVE]
    q = G.mouth_measures_moving(mov)
    q_own = G.mouth_measures_moving(lips_at)  # the lips' measures as tracked, fast motion included
    model = ShapeModel.generic_for(mov.mean(0)) if still else ShapeModel.fit(mov, q)
    rng = Range.still(q[0]) if still else Range.of(q)
    if voice_pauses is not None:
        phones = outside_pauses(phones, voice_pauses, overrides=overrides)
    art = articulation(t, phones, overrides, jaw_activation, jaw_weight)
    drive, check = rng.measures(art), None
    if person_source is not None and len(t) >= PM.MIN_FRAMES:
        # the person's model drives the mouth where, on held-out frames of the source, it predicted
        # the person's real mouth, and better than the generic targets did
        generic = rng.measures(articulation(t, person_source[0], overrides, person_source[1], jaw_weight))
        check = PM.check(t, q_own, *person_source, rng, overrides, generic)
        if person_drives and check is not None and check.r > max(check.r_generic or 0.0, 0.0):
            check.used = True
            drive = PM.fit(t, q_own, *person_source, rng, overrides).predict(t, phones, jaw_activation)
        else:  # the generic targets, swung as wide as this person's mouth swings in the source, their
            # openings as wide as the person's own speech shows them
            talk = PM.within(t, person_source[0])
            wide = PM.as_wide(drive[:, 0], generic[:, 0], q_own[:, 0], talk)
            centre, k = PM.swing(q_own, generic)
            drive = centre + k * (drive - centre)
            if wide is not None:  # kept as wide through the blend with the source's own motion below
                drive[:, 0] = PM.through_blend(wide, q_own[:, 0], talk, strength)
            drive[:, 0] = drive[:, 0].clip(0)
    # the source's share (1 - strength) is of its motion as tracked, fast syllables included
    q_t = blend_measures(q_own, drive, art[:, V.CLOSURE], strength)
    target = shaped(mov, q, q_t, model)
    if own_motion is not None:
        target = _with_own_motion(target, lips_at, t, *own_motion, strength)
        q_t = G.mouth_measures_moving(target)
    elif own_speech is not None:
        keep = own_expression(t, phones, *own_speech, held(q_own[:, 0], t), overrides)[:, None, None]
        if keep.any():
            target = (1 - keep) * target + keep * lips_at
            q_t = G.mouth_measures_moving(target)
    inv = np.array([G.invert(x) for x in m])
    to_img = lambda c: np.einsum("nij,nkj->nki", inv[:, :, :2], c) + inv[:, None, :, 2]
    reasons = skip_reasons(lm, G.yaw_ratio(lm))
    ok = np.array([r == "" for r in reasons], bool)
    if busy is not None:
        ok &= ~idle(t, busy, q[:, 0] > rng.open_rest + OPEN_PARTED)
    if kept:
        ok &= ~PM.within(t, [("", a, b) for a, b in kept])
    weight = ramp(ok)
    src_img, dst_img = to_img(lips_at), to_img(target)
    dst_img = src_img + weight[:, None, None] * (dst_img - src_img)
    rg = ring(mov.mean(0), canon[:, L.at(L.NOSE_BASE)].mean(0))
    tris = W.triangulate(np.vstack([mov.mean(0), rg]))
    ring_img = to_img(np.broadcast_to(rg, (len(t),) + rg.shape))
    items = bank.items
    choice = np.array([bank.choose(qq, th, rng) if items else -1 for qq, th in zip(q_t, art[:, V.TEETH])])
    return TrackPlan(tid, frames, src_img, dst_img, ring_img, tris, weight, q, q_t, art[:, V.TEETH], choice,
                     check), reasons


def shaped(mov: np.ndarray, q: np.ndarray, q_t: np.ndarray, model: ShapeModel) -> np.ndarray:
    """The lips' target shape (n, P, 2, canonical MOVING points): the shape `mov`, whose measures are `q`
    (n, 2: open, width), moved by the shape model to the measures `q_t`, then asked once more for what
    its answer missed. The model, a ridge fit, realises 91-99 % of a change asked of it (stop 29:
    vr_face1/2 and ls_demo2 into es), and the drawn mouth opened that much narrower than planned."""
    target = keep_lips_apart(mov + model.predict(q_t) - model.predict(q))
    ask = q_t + (q_t - G.mouth_measures_moving(target))
    ask[:, 0] = ask[:, 0].clip(0)
    return keep_lips_apart(mov + model.predict(ask) - model.predict(q))


def own_expression(t: np.ndarray, phones: Sequence[tuple[str, float, float]], own_phones: Sequence[tuple[float, float]],
                   own_turns: Sequence[tuple[float, float]], still: np.ndarray | None = None,
                   overrides: dict[str, str] | None = None, margin: float = IDLE_MARGIN) -> np.ndarray:
    """Per frame (times t, s, increasing), 0..1: how much the lips keep the source's own shape because
    neither the new speech nor the face's own speech in the source is there. The new speech's share is
    its silence's share of the coarticulated trajectory (person.class_weights), so the lips ease out of
    the last phone. The face's own speech is its phones' spans (start s, end s) and `margin` s around
    them; inside its voice's turns (which run on through laughs and breaths, and through words no one
    transcribed), only frames whose lips are `still` (bool, `held`) count as quiet. Eased over RAMP_FRAMES.

    A face drawn at rest wherever the new speech pauses lost what the person does between words: on
    ls_demo2 into es (stop 32), a man grinning with his teeth bare for 1.3 s of silence was drawn with
    his lips shut. Where their own source speech is, their own mouth says other words: the new speech's
    rest stays."""
    t = np.asarray(t, np.float64)
    near = lambda spans: PM.within(t, [("", a - margin, b + margin) for a, b in spans])
    quiet = ~near(own_phones) & (~near(own_turns) | (np.zeros(len(t), bool) if still is None else still))
    silence = PM.class_weights(t, phones, overrides)[:, PM.CLASS_NAMES.index("sil")]
    return np.clip(silence, 0.0, 1.0) * ramp(quiet)


def held(opening: np.ndarray, t: np.ndarray, window: float = HELD_WINDOW, most: float = HELD_STD) -> np.ndarray:
    """Frames (times t, s) whose mouth `opening` (iod) moves less than `most` (std) over `window` s around
    them: an expression held (a grin, a parted pause), not lips speaking."""
    n = max(1, int(round(window / float(np.median(np.diff(t))))) if len(t) > 1 else 1)
    return SP.motion(opening, n) < most


def idle(t: np.ndarray, busy: Sequence[tuple[float, float]], parted: np.ndarray, margin: float = IDLE_MARGIN,
         min_idle: float = MIN_IDLE) -> np.ndarray:
    """Frames (at times t, s, increasing) where a face can be left as it is: more than `margin` s
    from every busy span (start s, end s) and every frame whose lips are `parted` in the source, in
    idle stretches of at least `min_idle` s."""
    t = np.asarray(t, float)
    marks = [t[np.asarray(parted, bool)]] + [np.asarray([a, b], float) for a, b in busy]
    inside = np.zeros(len(t), bool)
    for a, b in busy:
        inside[np.searchsorted(t, a):np.searchsorted(t, b)] = True
    ev = np.sort(np.concatenate(marks))
    if ev.size:
        k = np.searchsorted(ev, t)
        near = np.minimum(np.abs(t - ev[np.clip(k - 1, 0, ev.size - 1)]), np.abs(ev[np.clip(k, 0, ev.size - 1)] - t))
        inside |= near <= margin
    out = ~inside
    edges = np.flatnonzero(np.diff(np.r_[0, out.astype(int), 0]))
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
    for a, b in zip(edges[::2], edges[1::2]):
        if t[b - 1] - t[a] + dt < min_idle:
            out[a:b] = False
    return out


def _with_own_motion(target: np.ndarray, lips: np.ndarray, t: np.ndarray, src_t: np.ndarray, weight: np.ndarray,
                     strength: float) -> np.ndarray:
    """The viseme `target` (n, P, 2) replaced, by `weight` (n,) 0..1, with the track's own tracked
    `lips` (n, P, 2, canonical) at the source times `src_t` (n,) s, driven at `strength` as the
    visemes are (0 = the lips as they are now)."""
    flat = lips.reshape(len(t), -1)
    own = np.stack([np.interp(src_t, t, flat[:, k]) for k in range(flat.shape[1])], -1).reshape(lips.shape)
    own = lips + strength * (own - lips)
    w = np.clip(weight, 0, 1)[:, None, None]
    return (1 - w) * target + w * own


def articulation(t: np.ndarray, phones: Sequence[tuple[str, float, float]], overrides: dict[str, str] | None = None,
                 jaw_activation: np.ndarray | None = None, jaw_weight: float = 0.0) -> np.ndarray:
    """Articulatory parameters (len(t), len(V.PARAMS)) at frame times t (s): the phones' visemes
    with coarticulation, the jaw blended towards `jaw_activation` (len(t),) 0..1 by `jaw_weight`
    (jali), then lightly smoothed with the closures kept."""
    art = C.frame_curves(t, phones, overrides)
    if jaw_activation is not None:
        art = J.drive_jaw(art, jaw_activation, jaw_weight)
    return S.smooth_keep_minima(art, art[:, V.CLOSURE] > 0.5, 0.7)


def pauses(audio, min_len: float = MIN_PAUSE, step: float = 0.01) -> list[tuple[float, float]]:
    """(start s, end s) of the silences of at least `min_len` in a voice track (loudness PAUSE_DB
    under its loud level, over the whole band: a long /s/ has little energy below 3.4 kHz), the
    leading and trailing silence included. `audio`: a file or samples (metrics.samples)."""
    y = M.samples(audio)
    t = np.arange(0.0, len(y) / M.AUDIO_RATE, step) + step / 2
    db = 20 * np.log10(M.loudness(y, t, band=None) + 1e-9)
    loud = db > -150
    if not loud.any():
        return []
    quiet = db < np.percentile(db[loud], 95) - PAUSE_DB
    out = []
    edges = np.flatnonzero(np.diff(np.r_[0, quiet.astype(int), 0]))
    for a, b in zip(edges[::2], edges[1::2]):
        if (b - a) * step >= min_len:
            out.append((round(float(a * step), 3), round(float(b * step), 3)))
    return out


def outside_pauses(phones: Sequence[tuple], gaps: Sequence[tuple[float, float]], min_len: float = 0.02,
                   overrides: dict[str, str] | None = None) -> list[tuple]:
    """Phones (symbol, start s, end s, ...) cut back to where the voice sounds: the part of a phone
    inside a pause is removed (the longest piece left is kept; a phone with less than `min_len` s
    left is dropped), except bilabials, whose closure is silent anyway. Synthesizers' durations put
    the pause at a comma into the vowel before it; left there, the mouth holds that vowel open
    through the silence."""
    out = []
    gaps = sorted((float(ga), float(gb)) for ga, gb in gaps)
    starts = np.array([g[0] for g in gaps])
    reach = np.maximum.accumulate([g[1] for g in gaps]) if gaps else np.zeros(0)  # latest end so far
    for p in phones:
        s, a, b = p[0], float(p[1]), float(p[2])
        if V.viseme(s, overrides) == "PP":
            out.append(tuple(p))
            continue
        pieces = [(a, b)]
        # only the gaps that can overlap (a, b): started before b, and not all ended by a
        for ga, gb in gaps[int(np.searchsorted(reach, a, side="right")):int(np.searchsorted(starts, b))]:
            pieces = [q for x, y in pieces for q in ((x, min(y, ga)), (max(x, gb), y)) if q[1] > q[0]]
        if pieces:
            x, y = max(pieces, key=lambda q: q[1] - q[0])
            if y - x >= min(min_len, b - a):
                out.append((s, x, y, *p[3:]))
    return out


def spans(times: np.ndarray, reasons: Sequence[str], frame_dt: float) -> list[tuple[float, float, str]]:
    """Runs of equal non-empty reasons -> (start s, end s, reason)."""
    out: list[tuple[float, float, str]] = []
    for i, r in enumerate(reasons):
        if not r:
            continue
        if out and out[-1][2] == r and abs(out[-1][1] - times[i]) < 2.5 * frame_dt:
            out[-1] = (out[-1][0], float(times[i] + frame_dt), r)
        else:
            out.append((float(times[i]), float(times[i] + frame_dt), r))
    return out
