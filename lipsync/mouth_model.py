"""Person mouth model: a lip/jaw shape model (mouth measures -> canonical landmark positions),
the person's range of motion (to turn articulatory targets into their own measures), the fixed
outer ring of the warp mesh, and a bank of mouth textures indexed by opening and width."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from . import geometry as G
from . import landmarks as L
from . import visemes as V

MOVE = L.at(L.MOVING)  # moving points inside the subset layout
_IN = L.at(L.LIPS_INNER)
_OUT = L.at(L.LIPS_OUTER)
_NB = L.at(L.NOSE_BASE)
# inner-lip pairs facing each other (upper, lower), positions inside MOVING
PAIRS = np.array([[L.index_in_moving(u), L.index_in_moving(d)] for u, d in
                  [(191, 95), (80, 88), (81, 178), (82, 87), (13, 14), (312, 317), (311, 402),
                   (310, 318), (415, 324)]])
MIN_VARIATION = 0.03  # iod: below this spread of openings, the generic shape model is used
STILL_OPEN_HI = 0.24  # iod: a still photo's mouth opens at least this wide at its widest (Range.still)


def features(q: np.ndarray) -> np.ndarray:
    """Regression features of measures q (..., >=2): [1, open, width]."""
    q = np.asarray(q, np.float64)
    return np.concatenate([np.ones(q.shape[:-1] + (1,)), q[..., :2]], -1)


@dataclass
class ShapeModel:
    """Canonical MOVING points as a linear function of (open, width): pts = features(q) @ coef."""

    coef: np.ndarray  # (3, P*2)
    generic: bool

    def predict(self, q: np.ndarray) -> np.ndarray:
        f = features(q)
        return (f @ self.coef).reshape(f.shape[:-1] + (-1, 2))

    @staticmethod
    def fit(canon_moving: np.ndarray, q: np.ndarray, ridge: float = 1e-4) -> "ShapeModel":
        """Least squares on a track's frames (N, P, 2) and their measures (N, >=2); falls back to
        `generic` when the person barely moves their mouth in this footage."""
        if len(q) < 10 or np.percentile(q[:, 0], 95) - np.percentile(q[:, 0], 5) < MIN_VARIATION:
            return ShapeModel.generic_for(canon_moving.mean(0))
        f = features(q)
        y = canon_moving.reshape(len(q), -1)
        reg = ridge * np.eye(f.shape[1])
        reg[0, 0] = 0
        coef = np.linalg.solve(f.T @ f + reg * len(q), f.T @ y)
        return ShapeModel(coef, False)

    @staticmethod
    def generic_for(shape: np.ndarray) -> "ShapeModel":
        """A hand-built model around one face's MOVING points (P, 2): opening lowers the lower lip
        and chin, width moves the corners out; effects fade away from the mouth."""
        ca, cb = shape[L.index_in_moving(61)], shape[L.index_in_moving(291)]
        c = (ca + cb) / 2
        hw = max(np.linalg.norm(cb - ca) / 2, 1e-3)
        x, y = shape[:, 0] - c[0], shape[:, 1] - c[1]
        fall = np.exp(-(x / (1.6 * hw)) ** 2)
        # which points are below the mouth: the lower lip by the contours' order (a closed mouth whose
        # corners turn down has its whole lower lip above the corners' line), the skin by position
        below = y > 0
        for sl, n in ((L.SLICE_OUTER, L.N_OUTER), (L.SLICE_INNER, L.N_INNER)):
            below[np.arange(len(shape))[sl]] = np.arange(n) > n // 2
        d_open = np.where(below, 0.85 * fall * np.exp(-np.maximum(y - 1.5 * hw, 0) / (2 * hw)), -0.1 * fall)
        inner = np.arange(len(shape))[L.SLICE_INNER]
        arch = np.sqrt(np.clip(1 - (x[inner] / hw) ** 2, 0, 1))  # a mouth opens most in its middle
        d_open[inner] = np.where(below[inner], 0.35 + 0.6 * arch, -0.1 * arch)
        for k in (L.index_in_moving(78), L.index_in_moving(308), L.index_in_moving(61), L.index_in_moving(291)):
            d_open[k] = 0.35
        lips = np.zeros(len(shape), bool)
        lips[L.SLICE_OUTER] = lips[L.SLICE_INNER] = True
        d_width = 0.5 * (x / hw) * np.where(lips, 1.0, np.exp(-(y / (1.2 * hw)) ** 2) * 0.6)
        p = len(shape)
        coef = np.zeros((3, p * 2))
        q0 = G.mouth_measures_moving(shape[None])[0]
        coef[1, 1::2] = d_open
        coef[2, 0::2] = d_width
        coef[0] = shape.reshape(-1) - q0[0] * coef[1] - q0[1] * coef[2]
        return ShapeModel(coef, True)


@dataclass
class Range:
    """A person's measured range of motion (iod units)."""

    open_rest: float
    open_hi: float
    width_lo: float
    width_rest: float
    width_hi: float

    @staticmethod
    def of(q: np.ndarray) -> "Range":
        o, w = q[:, 0], q[:, 1]
        rest = float(np.percentile(o, 10))
        hi = max(float(np.percentile(o, 97)), rest + 0.12)
        wr = float(np.median(w))
        return Range(rest, hi, min(float(np.percentile(w, 3)), wr * 0.88), wr, max(float(np.percentile(w, 97)), wr * 1.1))

    @staticmethod
    def still(q: np.ndarray) -> "Range":
        """Range for a still photo: typical speech amplitudes around its one pose. The widest opening
        is at least STILL_OPEN_HI whatever the photo shows: from a shut mouth, o + 0.15 opened the
        drawn mouth to a p90 of 0.02 iod as FaceMesh reads it (vr_face1's own footage: 0.13)."""
        o, w = float(q[0]), float(q[1])
        return Range(o, max(o + 0.15, STILL_OPEN_HI), w * 0.88, w, w * 1.08)

    def measures(self, art: np.ndarray) -> np.ndarray:
        """Articulatory parameters (T, len(PARAMS)) -> this person's (open, width) (T, 2)."""
        jaw, closure = art[:, V.JAW], art[:, V.CLOSURE]
        opening = (self.open_rest + jaw * (self.open_hi - self.open_rest)) * (1 - closure)
        x = art[:, V.SPREAD] - art[:, V.ROUND]
        width = self.width_rest + np.where(x > 0, x * (self.width_hi - self.width_rest), x * (self.width_rest - self.width_lo))
        return np.stack([opening, width], -1)


def blend_measures(src: np.ndarray, target: np.ndarray, closure: np.ndarray, strength: float) -> np.ndarray:
    """(open, width) driven at `strength` in [0,1] between the source's and the target's; closures
    (closure > 0.5) shut the lips fully once strength reaches 0.5."""
    out = (1 - strength) * src[:, :2] + strength * target[:, :2]
    shut = np.clip(closure * min(1.0, strength / 0.5), 0, 1)
    out[:, 0] *= 1 - shut
    return out


def ring(mean_moving: np.ndarray, nose_base: np.ndarray, n: int = 24, scale: float = 1.3) -> np.ndarray:
    """Fixed outer ring (n, 2) of the warp mesh in canonical coordinates: the hull of the moving
    points grown by `scale` about its centre, kept below the nose base."""
    hull = cv2.convexHull(mean_moving.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    c = hull.mean(0)
    hull = c + scale * (hull - c)
    closed = np.vstack([hull, hull[:1]])
    seg = np.linalg.norm(np.diff(closed, axis=0), axis=1)
    s = np.concatenate([[0], np.cumsum(seg)])
    u = np.linspace(0, s[-1], n, endpoint=False)
    pts = np.stack([np.interp(u, s, closed[:, 0]), np.interp(u, s, closed[:, 1])], -1)
    pts[:, 1] = np.maximum(pts[:, 1], nose_base[1])
    return pts


def keep_lips_apart(pts: np.ndarray) -> np.ndarray:
    """Moving points (…, P, 2) with every lower inner-lip point at or below its upper partner."""
    pts = pts.copy()
    up, lo = pts[..., PAIRS[:, 0], 1], pts[..., PAIRS[:, 1], 1]
    m = np.minimum(up, lo)
    bad = lo < up
    mid = (up + lo) / 2
    pts[..., PAIRS[:, 0], 1] = np.where(bad, mid, up)
    pts[..., PAIRS[:, 1], 1] = np.where(bad, mid, lo)
    del m
    return pts


# --- mouth bank -----------------------------------------------------------------------------------

OPEN_BINS = np.linspace(0.0, 0.4, 17)
# An entry far blurrier than the bank's median (the sharpest crop of a bin seen only in motion) is used only
# where nothing else comes near: ls_demo2's two widest bins held only blurred, dark open mouths (sharpness
# 18 and 23 against a median of 48), drawn for two frames between toothed ones as a dark flash (stop 29).
BLURRY = 0.5  # of the median sharpness
BLURRY_COST = 1.0  # added to its distance (an opening a whole range away costs 1)
STRETCH = 0.6  # a bank entry opened less than this share of the target's opening is warped into streaks
WIDTH_BINS = np.array([0.96, 1.04])  # width relative to the first frame seen


@dataclass
class BankEntry:
    crop: np.ndarray  # (h, w, 3) uint8
    pts: np.ndarray  # MOVING points in crop px (P, 2)
    q: np.ndarray  # (open, width) iod
    teeth: float  # brightness of the inner mouth relative to the lips (0..1)
    sharp: float


@dataclass
class Bank:
    """Sharpest near-frontal mouth crop per (opening, width) bin of one track."""

    entries: dict[tuple[int, int], BankEntry] = field(default_factory=dict)
    width0: float = 0.0

    def offer(self, rgb: np.ndarray, lm: np.ndarray, template: np.ndarray) -> None:
        """Consider one frame's face (subset layout, image px) for the bank."""
        if G.yaw_ratio(lm) > 0.3:
            return
        m = G.to_canonical(lm, template)
        q = G.mouth_measures(G.apply(m, lm))
        if not self.width0:
            self.width0 = float(q[1])
        key = (int(np.digitize(q[0], OPEN_BINS)), int(np.digitize(q[1] / self.width0, WIDTH_BINS)))
        mv = lm[MOVE]
        x0, y0, x1, y1 = _box(mv, rgb.shape, 0.15)
        crop = rgb[y0:y1, x0:x1]
        if crop.size == 0:
            return
        grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        sharp = float(cv2.Laplacian(grey, cv2.CV_32F).var())
        old = self.entries.get(key)
        if old is not None and old.sharp >= sharp:
            return
        pts = mv - [x0, y0]
        self.entries[key] = BankEntry(crop.copy(), pts, q[:2].copy(), teeth_score(crop, pts), sharp)

    def choose(self, q: np.ndarray, teeth: float, rng: Range) -> int:
        """Index (into `items`) of the entry nearest to target measures q=(open, width) and teeth."""
        items = self.items
        so = max(rng.open_hi - rng.open_rest, 1e-3)
        sw = max(rng.width_hi - rng.width_lo, 1e-3)
        floor = BLURRY * float(np.median([e.sharp for e in items]))
        d = [abs(e.q[0] - q[0]) / so + 0.5 * abs(e.q[1] - q[1]) / sw + 0.3 * abs(e.teeth - teeth)
             + (0.5 if e.q[0] < STRETCH * q[0] else 0.0) + (BLURRY_COST if e.sharp < floor else 0.0) for e in items]
        return int(np.argmin(d))

    def unstretched(self, weights: dict[int, float], opening: float, choice: int) -> dict[int, float]:
        """Cross-fade `weights` {item index: weight} without the entries opened less than STRETCH of the
        target `opening` (iod), renormalised; the frame's own `choice` stays whatever its opening. Warped
        two or three times as wide, a nearly shut crop's teeth and lips smear into vertical streaks (stop 36:
        LatentSync demo3, a mouth opening from 13 to 33 px in two frames kept two thirds of a 0.11 crop)."""
        items = self.items
        keep = {k: w for k, w in weights.items() if k == choice or items[k].q[0] >= STRETCH * opening}
        total = sum(keep.values())  # > 0: the fade always holds the frame's own choice (smooth.crossfade_weights)
        return {k: w / total for k, w in keep.items()}

    @property
    def items(self) -> list[BankEntry]:
        return [self.entries[k] for k in sorted(self.entries)]


def _box(pts: np.ndarray, shape, pad: float) -> tuple[int, int, int, int]:
    x0, y0 = pts.min(0)
    x1, y1 = pts.max(0)
    px, py = (x1 - x0) * pad, (y1 - y0) * pad
    h, w = shape[:2]
    return (int(max(0, x0 - px)), int(max(0, y0 - py)), int(min(w, x1 + px + 1)), int(min(h, y1 + py + 1)))


def polygon_mask(shape: tuple[int, int], poly: np.ndarray, offset=(0, 0)) -> np.ndarray:
    """uint8 mask (h, w) of a filled polygon given in px, shifted by -offset."""
    m = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(m, [np.round((poly - offset) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return m


def teeth_score(crop: np.ndarray, pts: np.ndarray) -> float:
    """How much teeth show: bright, unsaturated pixels inside the inner lips (fraction, 0..1)."""
    inner = polygon_mask(crop.shape, pts[L.SLICE_INNER]) > 127
    if inner.sum() < 4:
        return 0.0
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    v, s = hsv[..., 2][inner].astype(float), hsv[..., 1][inner].astype(float)
    return float(np.mean((v > 140) & (s < 90)))
