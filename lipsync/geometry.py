"""Pure geometry: similarity transforms to a canonical face frame and mouth measurements.

Canonical frame: eye-corner distance (inter-ocular, "iod") = 1, origin at the nose tip, eyes level.
All measurements returned here are in iod units (scale free). Landmark arrays are in the subset
layout of `landmarks.SUBSET` (see `landmarks.at`).
"""

from __future__ import annotations

import numpy as np

from . import landmarks as L


# head pose as intrinsic rotations about z (roll, in the picture's plane), then x (pitch, + = nose down),
# then y (yaw): scipy.spatial.transform.Rotation's axis string, angles given in that order
HEAD_AXES = "ZXY"


def head_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """3x3 rotation of a head pose (degrees, image axes: x right, y down, z away from the camera)."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_euler(HEAD_AXES, [roll, pitch, yaw], degrees=True).as_matrix()


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src (N,2) onto dst (N,2).

    Returns a 2x3 matrix M with dst ~ M @ [x, y, 1] (Umeyama 1991).
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    r = u @ np.diag(sign) @ vt
    var = (s ** 2).sum() / len(src)
    scale = (sig * sign).sum() / var if var > 0 else 1.0
    t = md - scale * r @ ms
    return np.hstack([scale * r, t[:, None]])


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine matrix to points (..., 2)."""
    return pts @ m[:, :2].T + m[:, 2]


def invert(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine matrix."""
    a = np.linalg.inv(m[:, :2])
    return np.hstack([a, -(a @ m[:, 2])[:, None]])


_STABLE = L.at(L.STABLE)
_UP, _LO = L.at(L.UPPER_INNER_MID), L.at(L.LOWER_INNER_MID)
_CA, _CB = L.at(L.MOUTH_CORNERS[0]), L.at(L.MOUTH_CORNERS[1])
_LE, _RE, _NT, _CH = (L.at(k) for k in (L.LEFT_EYE_OUTER, L.RIGHT_EYE_OUTER, L.NOSE_TIP, L.CHIN))


def canonical_template(lm: np.ndarray) -> np.ndarray:
    """Stable points of one face (subset layout, image px) moved into the canonical frame."""
    eyes = lm[_RE] - lm[_LE]
    iod = float(np.hypot(*eyes))
    ang = np.arctan2(eyes[1], eyes[0])
    c, s = np.cos(-ang), np.sin(-ang)
    rot = np.array([[c, -s], [s, c]]) / max(iod, 1e-6)
    return (lm[_STABLE] - lm[_NT]) @ rot.T


def to_canonical(lm: np.ndarray, template: np.ndarray) -> np.ndarray:
    """2x3 similarity taking image px to the canonical frame, fitted on the stable points."""
    return fit_similarity(lm[_STABLE], template)


def mouth_measures(canon: np.ndarray) -> np.ndarray:
    """(open, width, jaw) of canonical landmarks (478,2 or N,478,2), iod units.

    open: mean vertical gap between the middle inner-lip points; width: corner to corner;
    jaw: chin below the nose tip.
    """
    up = canon[..., _UP, 1].mean(-1)
    lo = canon[..., _LO, 1].mean(-1)
    opening = np.maximum(lo - up, 0.0)
    width = np.linalg.norm(canon[..., _CB, :] - canon[..., _CA, :], axis=-1)
    jaw = canon[..., _CH, 1] - canon[..., _NT, 1]
    return np.stack([opening, width, jaw], -1)


def bbox(lm: np.ndarray) -> np.ndarray:
    """(x0, y0, x1, y1) of landmarks (N,2)."""
    return np.array([lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max()])


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def yaw_ratio(lm: np.ndarray) -> np.ndarray:
    """Head-turn indicator of landmarks (..., subset, 2): nose-tip offset from the eye midpoint along
    the eye axis over half the eye distance (0 frontal, about 1 in profile)."""
    le, re = lm[..., _LE, :], lm[..., _RE, :]
    half = np.linalg.norm(re - le, axis=-1) / 2
    axis = (re - le) / np.maximum(2 * half, 1e-6)[..., None]
    off = ((lm[..., _NT, :] - (le + re) / 2) * axis).sum(-1)
    return np.abs(off) / np.maximum(half, 1e-6)


def mouth_measures_moving(moving: np.ndarray) -> np.ndarray:
    """(open, width) of canonical MOVING points (…, P, 2), iod units (see mouth_measures)."""
    up = moving[..., [L.index_in_moving(k) for k in L.UPPER_INNER_MID], 1].mean(-1)
    lo = moving[..., [L.index_in_moving(k) for k in L.LOWER_INNER_MID], 1].mean(-1)
    a, b = (L.index_in_moving(k) for k in L.MOUTH_CORNERS)
    width = np.linalg.norm(moving[..., b, :] - moving[..., a, :], axis=-1)
    return np.stack([np.maximum(lo - up, 0.0), width], -1)
