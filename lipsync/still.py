"""A still portrait made to speak: a synthesized mouth interior (a bank of one), blinks and
slight natural head motion."""

from __future__ import annotations

import cv2
import numpy as np

from . import geometry as G
from . import landmarks as L
from . import warp as W
from .mouth_model import MOVE, BankEntry, ShapeModel, _box, polygon_mask

BLINK_EVERY = 3.7  # seconds between blinks (mean)
BLINK_LEN = 0.16  # seconds
UPPER_LID = {"left": [246, 161, 160, 159, 158, 157, 173], "right": [466, 388, 387, 386, 385, 384, 398]}
LOWER_LID = {"left": [7, 163, 144, 145, 153, 154, 155], "right": [249, 390, 373, 374, 380, 381, 382]}
EYE_RING = {"left": [70, 63, 105, 66, 107, 55, 193, 122, 188, 114, 47, 100, 101, 50, 123, 116, 143, 156],
            "right": [300, 293, 334, 296, 336, 285, 417, 351, 412, 343, 277, 329, 330, 280, 352, 345, 372, 383]}


def synth_interior(rgb: np.ndarray, lm_sub: np.ndarray, template: np.ndarray, opening: float = 0.22) -> BankEntry:
    """One bank entry for a face that never opens its mouth: the lips warped open by `opening` iod
    and the gap painted as a dark cavity with upper and lower teeth."""
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
    warped, mask = W.warp_roi(crop, np.vstack([s, ring_pts]), np.vstack([d, ring_pts]), tris, (0, 0, crop.shape[1], crop.shape[0]))
    crop[mask] = warped[mask]
    inner = d[L.SLICE_INNER]
    lips = polygon_mask(crop.shape, d[L.SLICE_OUTER]) > 127
    lip_col = crop[lips].astype(float).mean(0) if lips.any() else np.array([150, 90, 90.0])
    paint = crop.astype(np.float32)
    hole = polygon_mask(crop.shape, inner).astype(np.float32)[..., None] / 255
    cav = np.zeros_like(paint) + lip_col * 0.22
    n = len(inner)
    upper = inner[: n // 2 + 1]  # left corner over the top to the right corner
    lower = np.vstack([inner[n // 2:], inner[:1]])
    gap = np.median(lower[:, 1]) - np.median(upper[:, 1])
    teeth = np.vstack([upper, (upper + [0, 0.3 * gap])[::-1]])
    tmask = polygon_mask(crop.shape, teeth).astype(np.float32)[..., None] / 255
    white = np.clip(np.array([215, 208, 195.0]) * (crop.astype(float).mean() / 160), 110, 235)
    cav = cav * (1 - tmask) + white * tmask
    cav = cv2.GaussianBlur(cav, (0, 0), 0.8)
    soft = cv2.GaussianBlur(hole, (0, 0), 0.8)[..., None]
    out = (paint * (1 - soft) + cav * soft).clip(0, 255).astype(np.uint8)
    return BankEntry(out, d, q1, 1.0, 1.0)


def head_motion(t: np.ndarray, seed: int = 0) -> np.ndarray:
    """Slow, small head motion per time (s): (rotation deg, dx iod, dy iod, scale-1), sums of sines."""
    rng = np.random.default_rng(seed)
    amp = np.array([1.2, 0.012, 0.008, 0.006])
    out = np.zeros((len(t), 4))
    for k in range(4):
        for _ in range(3):
            f, ph = rng.uniform(0.08, 0.45), rng.uniform(0, 2 * np.pi)
            out[:, k] += amp[k] / 3 * np.sin(2 * np.pi * f * t + ph)
    return out


def blink_curve(t: np.ndarray, seed: int = 0) -> np.ndarray:
    """Eyelid closure 0..1 per time (s): brief blinks at irregular intervals."""
    rng = np.random.default_rng(seed + 1)
    out = np.zeros(len(t))
    at = rng.uniform(0.8, 2.0)
    while at < (t[-1] if len(t) else 0) + 1:
        out = np.maximum(out, np.clip(1 - np.abs(t - at) / (BLINK_LEN / 2), 0, 1))
        at += rng.uniform(0.6, 1.4) * BLINK_EVERY
    return out


def blink(frame: np.ndarray, lm478: np.ndarray, amount: float) -> None:
    """Close both eyes by `amount` (0..1) in place: upper lids warped towards the lower lids."""
    if amount <= 0.02:
        return
    for side in ("left", "right"):
        up, lo = lm478[UPPER_LID[side]], lm478[LOWER_LID[side]]
        ring_pts = lm478[EYE_RING[side]]
        target = up + amount * 0.85 * (lo.mean(0)[None] - up) * [0, 1]
        src = np.vstack([up, lo, ring_pts])
        dst = np.vstack([target, lo, ring_pts])
        tris = W.triangulate(src)
        roi = W.roi_of(ring_pts, frame.shape)
        warped, mask = W.warp_roi(frame, src, dst, tris, roi)
        x0, y0, x1, y1 = roi
        frame[y0:y1, x0:x1][mask] = warped[mask]


def move_head(frame: np.ndarray, pose: np.ndarray, centre: np.ndarray, iod: float) -> np.ndarray:
    """The whole frame moved by one head-motion pose (rotation about `centre`, px shifts by iod)."""
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), float(pose[0]), 1 + float(pose[3]))
    m[:, 2] += pose[1:3] * iod
    return cv2.warpAffine(frame, m, (frame.shape[1], frame.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
