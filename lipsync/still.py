"""A still portrait made to speak: a painted mouth interior (teeth, tongue, a shaded cavity), blinks
at the speech's pauses, and head motion driven by the speech's prosody, the head turning in 3-D over a
background that stays put.

Sizes in iod (outer eye-corner distance) unless named px; times in seconds; angles in degrees.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d

from . import geometry as G
from . import landmarks as L
from . import warp as W
from .mouth_model import MOVE, BankEntry, ShapeModel, _box, polygon_mask

# --- the mouth interior ---------------------------------------------------------------------------

OPENINGS = (0.08, 0.18, 0.30)  # iod: the lips opened by these for the interiors the render blends
SHUT_OPENING = 0.06  # iod: the lips opened by this to paint them pressed together (synth_interior shut)
TEETH = np.array([226.0, 216.0, 198.0])  # RGB of teeth in a picture whose skin is SKIN_GREY bright
SKIN_GREY = 150.0
# where the teeth part, as |u| across the mouth (0 its middle, 1 a corner): incisors widest, then
# narrower as the arch turns away from the camera
UPPER_GAPS = np.array([0.0, 0.34, 0.56, 0.72, 0.86])
LOWER_GAPS = np.array([0.0, 0.2, 0.38, 0.54])


def _lip_lines(inner: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
    """(top, bottom): y of the upper and lower inner lip at each of `w` columns (px, as (1, w) rows) of
    an inner-lip polygon ordered from the left corner over the top."""
    n = len(inner)
    xs = np.arange(w, dtype=np.float32)
    out = []
    for lip in (inner[: n // 2 + 1], np.vstack([inner[n // 2:], inner[:1]])):
        o = np.argsort(lip[:, 0])
        out.append(np.interp(xs, lip[o, 0], lip[o, 1])[None, :])
    return out[0], out[1]


def paint_interior(shape: tuple[int, int], inner: np.ndarray, lip_rgb: np.ndarray, teeth_rgb: np.ndarray,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(RGB float32, alpha 0..1) of an open mouth's inside for an inner-lip polygon (20 points, px in
    an image of `shape`, ordered from the left corner over the top): upper teeth under the upper lip,
    parted tooth by tooth and shaded towards the corners, lower teeth over the lower lip, a tongue
    that shows only once the gap is wider than the teeth, and a warm cavity darkest at the back."""
    h, w = shape[:2]
    left, right = inner[0], inner[len(inner) // 2]
    width = max(float(right[0] - left[0]), 1.0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xs - (left[0] + right[0]) / 2) / (width / 2)  # -1 .. 1 across the mouth
    arch = np.sqrt(np.clip(1 - u ** 2, 0, 1))
    top, bottom = _lip_lines(inner, w)
    gap = np.maximum(bottom - top, 0)
    below_top, above_bottom = ys - top, bottom - ys

    # cavity: the lips' own colour, darkened; darker at the back (mid-gap) and in the corners
    depth = np.clip(1 - np.abs(ys - (top + bottom) / 2) / np.maximum(gap / 2, 1), 0, 1)
    rgb = lip_rgb[None, None, :] * (0.44 - 0.16 * depth - 0.12 * (1 - arch))[..., None]

    # tongue: a rounded hump rising from the lower lip once the gap leaves room behind the teeth
    room = np.clip(gap - 0.2 * width, 0, None)
    tongue_top = bottom - 0.55 * room * np.sqrt(np.clip(1 - (u / 0.62) ** 2, 0, 1))
    tongue = (ys > tongue_top) & (np.abs(u) < 0.62) & (room > 0.5)
    lit = np.clip(1 - (ys - tongue_top) / np.maximum(0.55 * room, 1), 0, 1)  # lit at its top
    tongue_rgb = lip_rgb * np.array([0.9, 0.7, 0.7])
    tone = (0.5 + 0.3 * lit) * (0.75 + 0.25 * arch)
    rgb = np.where(tongue[..., None], tongue_rgb[None, None, :] * tone[..., None], rgb)

    def teeth(edge_dist, height, gaps, brightness, bulge):
        """Mask and shade of a row of teeth hanging `height` px from a lip line (edge_dist: px from it)."""
        ua = np.abs(u)
        k = np.searchsorted(gaps, ua) - 1  # which tooth (by |u|)
        k = np.clip(k, 0, len(gaps) - 1)
        lo = gaps[k]
        hi = np.where(k + 1 < len(gaps), gaps[np.minimum(k + 1, len(gaps) - 1)], 1.0)
        pos = np.clip((ua - lo) / np.maximum(hi - lo, 1e-3), 0, 1)  # 0..1 across this tooth
        edge = height * arch ** 0.6 * (1 - bulge * (2 * pos - 1) ** 2)  # each tooth's edge rounded
        mask = (edge_dist >= -1) & (edge_dist < edge) & (ua < 0.97)
        line = max(0.006 * width, 0.6)  # px: half-width of the dark line where two teeth meet
        tooth = (hi - lo) * width / 2  # px
        parting = np.exp(-(pos * tooth / line) ** 2) + np.exp(-((1 - pos) * tooth / line) ** 2)
        own = 1 + 0.04 * np.sin(7.3 * k + 1.1 * np.sign(u))  # no two teeth quite alike
        shade = brightness * own * (0.35 + 0.65 * arch ** 1.4) * (1 - 0.2 * np.clip(parting, 0, 1))
        shade = shade * (1 - 0.18 * np.clip(edge_dist / np.maximum(edge, 1), 0, 1))  # the edge a little grey
        return mask, shade

    up_h = np.minimum(0.15 * width, 0.62 * gap)
    m_up, s_up = teeth(below_top, up_h, UPPER_GAPS, 1.0, 0.05)
    lo_h = np.minimum(0.06 * width, 0.25 * gap)
    m_lo, s_lo = teeth(above_bottom, lo_h, LOWER_GAPS, 0.6, 0.08)
    m_lo &= np.abs(u) < 0.6
    rgb = np.where(m_lo[..., None], teeth_rgb[None, None, :] * s_lo[..., None], rgb)
    rgb = np.where(m_up[..., None], teeth_rgb[None, None, :] * s_up[..., None], rgb)
    # the upper lip's shadow falls on the teeth and cavity just under it
    rgb *= (1 - 0.3 * np.exp(-np.clip(below_top, 0, None) / max(0.025 * width, 0.8)))[..., None]

    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.normal(0, 3.0, (h, w)).astype(np.float32), (0, 0), 0.7)
    rgb = cv2.GaussianBlur((rgb + grain[..., None]).astype(np.float32), (0, 0), 0.6)
    alpha = cv2.GaussianBlur(polygon_mask(shape, inner).astype(np.float32) / 255, (0, 0), 0.8)
    return rgb.clip(0, 255), alpha


def teeth_colour(rgb: np.ndarray, lm_sub: np.ndarray) -> np.ndarray:
    """RGB of this person's teeth if the photo shows them (the bright, unsaturated pixels between the
    lips), else stock teeth lit like the photo's skin."""
    inner = polygon_mask(rgb.shape, lm_sub[MOVE][L.SLICE_INNER]) > 127
    if inner.sum() >= 12:
        px = rgb[inner].astype(float)
        hsv = cv2.cvtColor(rgb[inner][None], cv2.COLOR_RGB2HSV)[0]
        bright = (hsv[:, 2] > 120) & (hsv[:, 1] < 100)
        if bright.sum() >= 8:
            return np.percentile(px[bright], 70, axis=0)
    skin = polygon_mask(rgb.shape, lm_sub[MOVE][L.SLICE_OUTER]) == 0  # around the lips, not on them
    x0, y0, x1, y1 = _box(lm_sub[MOVE], rgb.shape, 0.2)
    around = rgb[y0:y1, x0:x1][skin[y0:y1, x0:x1]].astype(float)
    grey = float(around.mean()) if len(around) else SKIN_GREY
    return np.clip(TEETH * grey / SKIN_GREY, 90, 240)


def paint_shut(shape: tuple[int, int], inner: np.ndarray, lip_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(RGB float32, alpha 0..1) of lips pressed together over an inner-lip polygon (as paint_interior):
    lip colour, darkening to a soft line where they meet."""
    h, w = shape[:2]
    ys = np.mgrid[0:h, 0:w][0].astype(np.float32)
    top, bottom = _lip_lines(inner, w)
    mid, half = (top + bottom) / 2, np.maximum((bottom - top) / 2, 1.0)
    line = np.exp(-((ys - mid) / (0.35 * half)) ** 2)
    rgb = lip_rgb[None, None, :] * (0.92 - 0.45 * line)[..., None]
    alpha = cv2.GaussianBlur(polygon_mask(shape, inner).astype(np.float32) / 255, (0, 0), 0.8)
    return cv2.GaussianBlur(rgb.astype(np.float32), (0, 0), 0.6).clip(0, 255), alpha


def synth_interior(rgb: np.ndarray, lm_sub: np.ndarray, template: np.ndarray, opening: float = 0.18,
                   teeth_rgb: np.ndarray | None = None, shut: bool = False) -> BankEntry:
    """One bank entry for a face seen only still: the lips warped open by `opening` iod and the gap
    painted (paint_interior). `shut`: painted as lips pressed together (paint_shut) and filed at an
    opening of 0, for the frames where the target shuts a photo's open mouth: filled from an open
    interior, its teeth were squeezed into a grey line between the lips."""
    m = G.to_canonical(lm_sub, template)
    inv = G.invert(m)
    mov = G.apply(m, lm_sub)[MOVE]
    model = ShapeModel.generic_for(mov)
    q0 = G.mouth_measures_moving(mov[None])[0]
    q1 = q0.copy()
    q1[0] = q0[0] + opening
    dst_c = mov + model.predict(q1) - model.predict(q0)
    src, dst = lm_sub[MOVE], G.apply(inv, dst_c)
    x0, y0, x1, y1 = _box(np.vstack([src, dst]), rgb.shape, 0.2)
    crop = rgb[y0:y1, x0:x1].copy()
    s, d = src - [x0, y0], dst - [x0, y0]
    c = np.vstack([s, d]).mean(0)
    ring_pts = c + 1.6 * (np.vstack([s, d]) - c)
    ring_pts = ring_pts[cv2.convexHull(ring_pts.astype(np.float32), returnPoints=False).ravel()]
    tris = W.triangulate(np.vstack([d, ring_pts]))
    whole = (0, 0, crop.shape[1], crop.shape[0])
    warped, mask = W.warp_roi(crop, np.vstack([s, ring_pts]), np.vstack([d, ring_pts]), tris, whole)
    crop[mask] = warped[mask]
    lips = (polygon_mask(crop.shape, d[L.SLICE_OUTER]) > 127) & ~(polygon_mask(crop.shape, d[L.SLICE_INNER]) > 127)
    lip_rgb = crop[lips].astype(float).mean(0) if lips.any() else np.array([150, 90, 90.0])
    if shut:
        paint, alpha = paint_shut(crop.shape, d[L.SLICE_INNER], lip_rgb)
        q1 = q1.copy()
        q1[0] = 0.0
    else:
        if teeth_rgb is None:
            teeth_rgb = teeth_colour(rgb, lm_sub)
        paint, alpha = paint_interior(crop.shape, d[L.SLICE_INNER], lip_rgb, np.asarray(teeth_rgb, float))
    out = (crop.astype(np.float32) * (1 - alpha[..., None]) + paint * alpha[..., None]).clip(0, 255).astype(np.uint8)
    return BankEntry(out, d, q1, 0.0 if shut else 1.0, 1.0)


def interior_weights(entries: list[BankEntry], opening: float) -> list[tuple[BankEntry, float]]:
    """The two entries whose openings (iod) bracket `opening`, cross-faded linearly (one at the ends)."""
    qs = np.array([e.q[0] for e in entries])
    o = np.argsort(qs)
    j = int(np.searchsorted(qs[o], opening))
    if j == 0 or j == len(o):
        return [(entries[o[min(j, len(o) - 1)]], 1.0)]
    a, b = o[j - 1], o[j]
    t = float((opening - qs[a]) / max(qs[b] - qs[a], 1e-6))
    return [(entries[a], 1 - t), (entries[b], t)]


# --- head motion and blinks -------------------------------------------------------------------------

POSE_STD = np.array([1.6, 1.3, 0.9])  # deg: yaw, pitch, roll while speaking (vr_face1/2, on a tripod: 0.8-1.9)
SHIFT_STD = np.array([0.025, 0.015])  # iod: sway of the head beside what its turning brings
QUIET = 0.4  # share of the motion kept in a pause
BLINK_GAP = (2.2, 5.0)  # s: the longest stretch without a blink is drawn from this range
BLINK_MIN_GAP = 0.9  # s
BLINK_AT_PAUSE = 0.75  # chance of a blink as a pause starts
BLINK_SHAPE = (0.07, 0.05, 0.13)  # s: closing, closed, opening


def _unit(x: np.ndarray) -> np.ndarray:
    s = float(np.std(x))
    return (x - np.mean(x)) / s if s > 1e-9 else np.zeros_like(x)


def _sway(t: np.ndarray, rng: np.random.Generator, lo: float = 0.05, hi: float = 0.35) -> np.ndarray:
    """Slow wandering: three sines of random frequency (Hz) and phase, unit std."""
    out = np.zeros(len(t))
    for _ in range(3):
        out += rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * rng.uniform(lo, hi) * t + rng.uniform(0, 2 * np.pi))
    return _unit(out)


def speaking(loudness: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(level 0..1: loudness over its loud level, talking 0..1: smoothed share of voiced frames) per frame."""
    x = np.nan_to_num(np.asarray(loudness, float)).clip(0)
    voiced = x[x > 0.05 * x.max()] if x.max() > 0 else x
    ref = float(np.percentile(voiced, 95)) if len(voiced) else 1.0
    level = np.clip(x / max(ref, 1e-9), 0, 1)
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    return level, np.clip(gaussian_filter1d((level > 0.1).astype(float), 0.35 / dt), 0, 1)


def pitch(voice: np.ndarray, rate: int, times: np.ndarray) -> np.ndarray:
    """The voice's f0 (Hz) at each frame time (s), by YIN (librosa); meaningful where the voice is loud."""
    import librosa

    if len(times) < 2 or len(voice) < 2048:
        return np.full(len(times), np.nan)
    hop = 256
    f0 = librosa.yin(np.asarray(voice, np.float32), fmin=65, fmax=400, sr=rate, frame_length=2048, hop_length=hop)
    at = np.arange(len(f0)) * hop / rate
    return np.interp(times, at, f0)


def head_motion(times: np.ndarray, loudness: np.ndarray, pitch_hz: np.ndarray | None = None,
                seed: int = 0) -> np.ndarray:
    """Head pose per frame (n, 5): yaw, pitch (+ = nose down), roll in degrees, dx, dy in iod.

    Driven by the speech: the head dips on the stressed syllables (rises of loudness), lifts and tilts
    with the voice's pitch contour, and wanders slowly, less in the pauses. `pitch_hz`: f0 per frame
    (NaN or 0 where unvoiced); loudness: linear, any scale."""
    t = np.asarray(times, float)
    n = len(t)
    if n == 0:
        return np.zeros((0, 5))
    dt = float(np.median(np.diff(t))) if n > 1 else 0.04
    rng = np.random.default_rng(seed)
    level, talk = speaking(loudness, t)
    rise = np.clip(np.diff(gaussian_filter1d(level, 0.03 / dt), prepend=level[0]), 0, None)
    nod = _unit(gaussian_filter1d(rise, 0.09 / dt))
    tune = np.zeros(n)
    if pitch_hz is not None:
        f = np.asarray(pitch_hz, float)
        ok = np.isfinite(f) & (f > 0) & (level > 0.1)
        if ok.sum() > 3:
            lf = np.log(f[ok])
            tune = np.interp(np.arange(n), np.flatnonzero(ok), (lf - lf.mean()) / max(lf.std(), 1e-6))
            tune = gaussian_filter1d(tune, 0.25 / dt) * talk
    calm = QUIET + (1 - QUIET) * talk
    yaw = POSE_STD[0] * _unit(calm * _sway(t, rng))
    pitch = POSE_STD[1] * _unit(0.6 * nod - 0.35 * tune + 0.35 * calm * _sway(t, rng))
    roll = POSE_STD[2] * _unit(0.5 * tune + 0.6 * calm * _sway(t, rng))
    dx = SHIFT_STD[0] * calm * _sway(t, rng, 0.04, 0.2)
    dy = SHIFT_STD[1] * calm * _sway(t, rng, 0.04, 0.2)
    return np.column_stack([yaw, pitch, roll, dx, dy])


def blink_times(times: np.ndarray, loudness: np.ndarray, seed: int = 0) -> list[float]:
    """When to blink (s): mostly as a pause starts (people blink at the ends of phrases), never more
    than BLINK_GAP apart, at least BLINK_MIN_GAP apart."""
    t = np.asarray(times, float)
    if len(t) < 2:
        return []
    rng = np.random.default_rng(seed + 1)
    dt = float(np.median(np.diff(t)))
    level, _ = speaking(loudness, t)
    quiet = gaussian_filter1d(level, 0.05 / dt) < 0.08
    at = []
    run = 0
    for i in range(1, len(t)):
        run = run + 1 if quiet[i] else 0
        if run == int(0.25 / dt) and rng.random() < BLINK_AT_PAUSE and (not at or t[i] - at[-1] > BLINK_MIN_GAP):
            at.append(float(t[i] - 0.15))
    out, last = [], float(t[0]) - rng.uniform(0.5, 2.0)
    for b in [*sorted(at), float("inf")]:
        while b - last > BLINK_GAP[1]:
            nxt = last + rng.uniform(*BLINK_GAP)
            if nxt > t[-1] or b - nxt < BLINK_MIN_GAP:
                break
            out.append(nxt)
            last = nxt
        if b <= t[-1] and b - last >= BLINK_MIN_GAP:
            out.append(b)
            last = b
    return out


def blink_curve(times: np.ndarray, at: list[float]) -> np.ndarray:
    """Eyelid closure 0..1 per frame for blinks at `at` (s): a quick close, a held shut, a slower open."""
    t = np.asarray(times, float)
    c, hold, o = BLINK_SHAPE
    out = np.zeros(len(t))
    for b in at:
        x = t - b
        shape = np.where(x < 0, 1 + x / c, np.where(x < hold, 1.0, 1 - (x - hold) / o))
        out = np.maximum(out, np.clip(shape, 0, 1))
    return out


def blink(frame: np.ndarray, lm478: np.ndarray, amount: float) -> None:
    """Close both eyes by `amount` (0..1) in place: upper lids warped down onto the lower lids."""
    if amount <= 0.02:
        return
    for side in ("left", "right"):
        up, lo = lm478[UPPER_LID[side]], lm478[LOWER_LID[side]]
        ring_pts = lm478[EYE_RING[side]]
        lo_line = np.interp(up[:, 0], *zip(*sorted(zip(lo[:, 0], lo[:, 1]))))
        target = up.copy()
        target[:, 1] += amount * 0.92 * (lo_line - up[:, 1])
        src = np.vstack([up, lo, ring_pts])
        dst = np.vstack([target, lo, ring_pts])
        tris = W.triangulate(src)
        roi = W.roi_of(ring_pts, frame.shape)
        warped, mask = W.warp_roi(frame, src, dst, tris, roi)
        x0, y0, x1, y1 = roi
        frame[y0:y1, x0:x1][mask] = warped[mask]


UPPER_LID = {"left": [246, 161, 160, 159, 158, 157, 173], "right": [466, 388, 387, 386, 385, 384, 398]}
LOWER_LID = {"left": [7, 163, 144, 145, 153, 154, 155], "right": [249, 390, 373, 374, 380, 381, 382]}
EYE_RING = {"left": [70, 63, 105, 66, 107, 55, 193, 122, 188, 114, 47, 100, 101, 50, 123, 116, 143, 156],
            "right": [300, 293, 334, 296, 336, 285, 417, 351, 412, 343, 277, 329, 330, 280, 352, 345, 372, 383]}


class HeadRig:
    """Turns the head of a still portrait in 3-D: the face mesh (FaceMesh points with their depth) is
    rotated about a pivot in the neck and projected back; a ring around the head stays fixed, so the
    background does not move and hair and neck stretch smoothly in between."""

    RING = 1.6  # the fixed ring's size over the face outline's, about the face's centre
    RING_POINTS = 28

    def __init__(self, lm478: np.ndarray, z: np.ndarray, shape: tuple[int, int]):
        h, w = shape[:2]
        face = np.arange(468)  # the mesh without the irises
        self.xyz = np.column_stack([lm478[face], z[face]]).astype(np.float64)
        oval = lm478[L.FACE_OVAL]
        c = oval.mean(0)
        half = np.ptp(oval, 0) / 2
        a = np.linspace(0, 2 * np.pi, self.RING_POINTS, endpoint=False)
        ring = c + self.RING * np.column_stack([half[0] * np.cos(a), half[1] * np.sin(a)])
        self.ring = np.column_stack([ring[:, 0].clip(0, w - 1), ring[:, 1].clip(0, h - 1)])
        self.iod = float(np.linalg.norm(lm478[L.RIGHT_EYE_OUTER] - lm478[L.LEFT_EYE_OUTER]))
        centre = self.xyz.mean(0)
        span = np.ptp(oval[:, 1])
        self.pivot = centre + [0.0, 0.55 * span, 0.45 * span]  # in the neck, behind the face
        self.src = np.vstack([self.xyz[:, :2], self.ring])
        self.tris = W.triangulate(self.src)
        self.roi = W.roi_of(self.ring, shape)

    def rotated(self, pose: np.ndarray) -> np.ndarray:
        """The face mesh (468, 3: px, depth px) turned by pose (yaw, pitch, roll deg) about the pivot."""
        return (self.xyz - self.pivot) @ G.head_rotation(*pose[:3]).T + self.pivot

    def points(self, pose: np.ndarray) -> np.ndarray:
        """Mesh points (px) under pose (yaw, pitch, roll deg, dx, dy iod), ring included."""
        moved = self.rotated(pose)[:, :2] + np.asarray(pose[3:5]) * self.iod
        return np.vstack([moved, self.ring])

    def apply(self, frame: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """`frame` with the head moved to `pose` (a new array; the frame is left as it is)."""
        warped, mask = W.warp_roi(frame, self.src, self.points(pose), self.tris, self.roi)
        out = frame.copy()
        x0, y0, x1, y1 = self.roi
        out[y0:y1, x0:x1][mask] = warped[mask]
        return out
