"""How alive a face looks on any video, measured from its full 478-point landmarks: head pose per frame,
eye openness and blinks, and the texture of the open mouth's interior.

Used to judge `dub animate` against real footage of people talking (bench/animate.py): the same
measures on the real clips give the range a viewer takes as natural. Pure functions over landmarks,
plus `observe`, which reads a video and runs the landmarker on every frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import landmarks as L

# rigid points for the head pose: eye corners, brows, nose bridge and tip, forehead, cheekbones
RIGID = np.array([33, 133, 362, 263, 70, 300, 168, 6, 197, 195, 5, 4, 1, 10, 151, 9, 234, 454, 127, 356])
EYE_LIDS = ((159, 145), (386, 374))  # (upper, lower) mid-lid of the left and right eye
BLINK_DROP = 0.55  # a blink: eye openness under this share of its running median
BLINK_MAX = 0.6  # s: a longer closure is not a blink
OPEN_MOUTH = 0.15  # inner-lip gap over mouth width above which the interior is measured


@dataclass
class Observed:
    """Per frame of a video, its largest face: 3D landmarks (N, 478, 3) px (NaN where no face), times s."""

    times: np.ndarray
    xyz: np.ndarray


def observe(video: str | Path, size: int = 512) -> Observed:
    """Landmarks (x, y, depth; frame px) of the largest face in every frame, each frame seen on its own
    (no tracking state carried between frames, so no smoothing flatters the motion)."""
    from dubbing import video as vio

    from . import track as T

    lmk = T.Landmarker.get()
    times, out = [], []
    for fr in vio.frames(video):
        h, w = fr.rgb.shape[:2]
        faces = lmk.detect_crop(fr.rgb, (0, 0, w, h), size=min(size, max(h, w)))
        times.append(fr.time)
        if faces:
            f = max(faces, key=lambda f: np.ptp(f.lm[:, 0]))
            out.append(np.column_stack([f.lm, f.z]))
        else:
            out.append(np.full((478, 3), np.nan))
    return Observed(np.array(times), np.array(out, np.float64))


def head_pose(xyz: np.ndarray) -> np.ndarray:
    """(yaw, pitch, roll) degrees per frame (N, 3) of 3D landmarks (N, 478, 3), relative to the median
    face: the rotation that best fits the reference's RIGID points onto the frame's (scipy's
    Rotation.align_vectors, a Kabsch fit), read as geometry.HEAD_AXES angles. NaN rows stay NaN."""
    from scipy.spatial.transform import Rotation

    from . import geometry as G

    pts = xyz[:, RIGID]
    ok = np.isfinite(pts).all((1, 2))
    out = np.full((len(xyz), 3), np.nan)
    if not ok.any():
        return out
    centred = pts - np.nanmean(pts, 1, keepdims=True)
    ref = np.median(centred[ok], 0)
    for i in np.flatnonzero(ok):
        rot, _ = Rotation.align_vectors(centred[i], ref)
        out[i] = rot.as_euler(G.HEAD_AXES, degrees=True)[::-1]  # (roll, pitch, yaw) -> (yaw, pitch, roll)
    return out


def iod(xyz: np.ndarray) -> np.ndarray:
    """Outer eye-corner distance (px) per frame."""
    return np.linalg.norm(xyz[:, L.RIGHT_EYE_OUTER, :2] - xyz[:, L.LEFT_EYE_OUTER, :2], axis=-1)


def eye_openness(xyz: np.ndarray) -> np.ndarray:
    """Mean lid gap of both eyes over the eye-corner distance, per frame."""
    gaps = [np.linalg.norm(xyz[:, up, :2] - xyz[:, lo, :2], axis=-1) for up, lo in EYE_LIDS]
    return np.mean(gaps, 0) / np.maximum(iod(xyz), 1e-6)


def blinks(openness: np.ndarray, times: np.ndarray) -> list[float]:
    """Times (s) of blinks: dips of eye openness under BLINK_DROP of its 2-s running median that
    last at most BLINK_MAX."""
    o = np.asarray(openness, float)
    ok = np.isfinite(o)
    if ok.sum() < 3:
        return []
    o = np.interp(np.arange(len(o)), np.flatnonzero(ok), o[ok])
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.04
    k = max(3, int(round(2.0 / dt)) | 1)
    pad = np.pad(o, k // 2, mode="edge")
    med = np.array([np.median(pad[i:i + k]) for i in range(len(o))])
    low = o < BLINK_DROP * med
    out, i = [], 0
    while i < len(low):
        if low[i]:
            j = i
            while j < len(low) and low[j]:
                j += 1
            if (j - i) * dt <= BLINK_MAX:
                out.append(float(times[i + int(np.argmin(o[i:j]))]))
            i = j
        else:
            i += 1
    return out


def mouth_ratio(xyz: np.ndarray) -> np.ndarray:
    """Inner-lip gap over mouth width per frame (the opening the sync figures use)."""
    up = xyz[:, L.UPPER_INNER_MID, :2].mean(1)
    lo = xyz[:, L.LOWER_INNER_MID, :2].mean(1)
    width = np.linalg.norm(xyz[:, L.MOUTH_CORNERS[1], :2] - xyz[:, L.MOUTH_CORNERS[0], :2], axis=-1)
    return np.linalg.norm(lo - up, axis=-1) / np.maximum(width, 1e-6)


def interior_texture(rgb: np.ndarray, xy: np.ndarray) -> tuple[float, float, float] | None:
    """(luminance std, fine detail, mean luminance over the lips') inside the inner-lip polygon of one
    face (xy: its 478 landmarks, px), shrunk by a fifth so the lips' edge is not counted. Fine detail:
    the mean absolute Laplacian of the luminance in the polygon, per grey level of the lips' own
    luminance (so a brighter picture does not read as more texture). None if the polygon is tiny."""
    inner = xy[L.LIPS_INNER]
    c = inner.mean(0)
    poly = (c + 0.8 * (inner - c)).round().astype(np.int32)
    x0, y0 = np.maximum(poly.min(0) - 4, 0)
    x1, y1 = poly.max(0) + 5
    if (x1 - x0) < 6 or (y1 - y0) < 4:
        return None
    crop = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    mask = np.zeros(crop.shape, np.uint8)
    cv2.fillPoly(mask, [poly - [x0, y0]], 1)
    outer = xy[L.LIPS_OUTER].round().astype(np.int32)
    lips = np.zeros(rgb.shape[:2], np.uint8)
    cv2.fillPoly(lips, [outer], 1)
    cv2.fillPoly(lips, [inner.round().astype(np.int32)], 0)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    if mask.sum() < 12 or lips.sum() < 12:
        return None
    lip_lum = float(grey[lips > 0].mean())
    lap = np.abs(cv2.Laplacian(crop, cv2.CV_32F, ksize=3))
    inside = mask > 0
    per_grey = 1.0 / max(lip_lum, 1.0)
    return float(crop[inside].std()), float(lap[inside].mean() * per_grey * 100), float(crop[inside].mean() * per_grey)


def open_interiors(video: str | Path, obs: Observed, least: float = OPEN_MOUTH, most: int = 40) -> np.ndarray:
    """interior_texture of up to `most` frames whose mouth is open more than `least` (rows: std, detail,
    luminance ratio), the widest first."""
    ratio = mouth_ratio(obs.xyz)
    ratio = np.where(np.isfinite(ratio), ratio, -1)
    pick = [int(i) for i in np.argsort(-ratio) if ratio[i] > least][:most]
    from dubbing import video as vio

    wanted = np.zeros(len(ratio), bool)
    wanted[pick] = True
    rows = []
    for fr in vio.frames(video, wanted=wanted):  # only the picked frames are converted to RGB
        if fr.rgb is not None:
            t = interior_texture(fr.rgb, obs.xyz[fr.index, :, :2])
            if t is not None:
                rows.append(t)
    return np.array(rows).reshape(-1, 3)
