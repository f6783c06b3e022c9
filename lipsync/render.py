"""Full-resolution mouth rendering of one face in one frame: piecewise-affine warp of the lower
face from its current shape to the target shape (fixed outer ring), inner mouth filled from
the person's bank, colour matched, feathered."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from . import landmarks as L
from . import warp as W
from .mouth_model import BankEntry, polygon_mask

GROW = 1.3  # inner-lip polygon grown by this about its centre for the interior mesh
_FAN = np.array([[0, i + 1, (i + 1) % L.N_INNER + 1] for i in range(L.N_INNER)], np.int32)


def _fan(poly: np.ndarray) -> np.ndarray:
    c = poly.mean(0)
    return np.vstack([c, c + GROW * (poly - c)])


def gap_px(moving: np.ndarray) -> float:
    """Mean vertical inner-lip gap (px) of MOVING points in image coordinates."""
    from .mouth_model import PAIRS
    return float(np.mean(np.linalg.norm(moving[PAIRS[:, 1]] - moving[PAIRS[:, 0]], axis=-1)))


def fill_weight(src: np.ndarray, dst: np.ndarray) -> float:
    """How much of the interior comes from the bank (0..1): more as the target opens beyond the source,
    and as it shuts a mouth the source has open by more than 3 px (all of it from 9 px). Shut by the warp
    alone, the source's open mouth was squeezed into a crisp dark line, its teeth into a white fringe
    (stop 29, vr_face2 and ls_demo2 into es); from a bank crop near that shape, the lips meet softly."""
    gs, gd = gap_px(src), gap_px(dst)
    closing = float(np.clip((gs - gd - 3.0) / 6.0, 0.0, 1.0))
    if gd < 2.0:
        return closing
    return max(closing, float(np.clip((gd / (gs + 1.0) - 1.15) / 0.6, 0.0, 1.0)))


MIN_WARP_GAP = 2.0  # px: the inner lips kept this far apart for the interior's warp (not its mask)


def opened(inner: np.ndarray, least: float = MIN_WARP_GAP) -> np.ndarray:
    """The inner-lip polygon (N_INNER points, px, from the left corner over the top) with each lower
    point at least `least` px under its upper partner, across the corners' line. A warp onto a shut
    polygon has triangles of no area, whose affines swing wildly with a hundredth of a pixel: an edit
    elsewhere re-drew a shut mouth from other pixels of the bank crop (up to 8 grey levels)."""
    n = len(inner)
    axis = inner[n // 2] - inner[0]
    down = np.array([-axis[1], axis[0]]) / max(float(np.linalg.norm(axis)), 1e-6)
    out = inner.copy()
    for k in range(1, n // 2):
        gap = float((out[n - k] - out[k]) @ down)
        if gap < least:
            out[n - k] = out[n - k] + (least - gap) * down
    return out


def interior(entries: Sequence[tuple[BankEntry, float]], dst_inner: np.ndarray, frame_roi: np.ndarray,
             roi: tuple[int, int, int, int]) -> np.ndarray:
    """Bank interiors warped onto the target inner-lip polygon (roi pixels, float32), cross-faded by
    weight and colour-matched to the lips around them in `frame_roi`."""
    dst = _fan(opened(dst_inner))
    acc = np.zeros(frame_roi.shape, np.float32)
    for e, w in entries:
        src = _fan(e.pts[L.SLICE_INNER])
        warped, _ = W.warp_roi(e.crop, src, dst, _FAN, roi)
        acc += w * warped.astype(np.float32)
    # colour match on the lip band between the inner polygon and its grown copy
    band = (polygon_mask(frame_roi.shape, dst[1:], roi[:2]) > 127) & ~(polygon_mask(frame_roi.shape, dst_inner, roi[:2]) > 127)
    if band.sum() > 8:
        gain = (frame_roi[band].astype(np.float32).mean(0) + 1) / (acc[band].mean(0) + 1)
        acc *= np.clip(gain, 0.85, 1.15)
    return acc


def render_face(frame: np.ndarray, src: np.ndarray, dst: np.ndarray, ring: np.ndarray, tris: np.ndarray,
                bank: Sequence[tuple[BankEntry, float]]) -> tuple[int, int, int, int]:
    """Re-render one face in `frame` (RGB uint8, modified in place).

    src/dst: MOVING points (P, 2) now and wanted, image px; ring: fixed outer ring (R, 2) px;
    tris: triangles over [MOVING; ring]; bank: weighted bank entries for the interior.
    Returns the region of interest (x0, y0, x1, y1) that was touched.
    """
    s = np.vstack([src, ring])
    d = np.vstack([dst, ring])
    roi = W.roi_of(ring, frame.shape)
    x0, y0, x1, y1 = roi
    if x1 - x0 < 4 or y1 - y0 < 4:
        return roi
    warped, mask = W.warp_roi(frame, s, d, tris, roi)
    w = fill_weight(src, dst) if bank else 0.0
    if w > 0:
        inner = dst[L.SLICE_INNER]
        fill = interior(bank, inner, warped, roi)
        # feathered by at most a third of the gap: a mouth shut to a line, feathered by 4 % of its width
        # as an open one is, kept a twentieth of its fill, and the source's teeth squeezed between its
        # lips stayed a grey line (stop 30, a still of vr_face2 shutting its open mouth)
        mw = float(np.clip(0.3 * gap_px(dst), 0.7, max(1.0, 0.04 * float(np.ptp(inner[:, 0])))))
        m = polygon_mask(warped.shape, opened(inner), roi[:2]).astype(np.float32) / 255.0
        m = cv2.GaussianBlur(m, (0, 0), mw)[..., None] * w
        warped = (warped.astype(np.float32) * (1 - m) + fill * m).round().clip(0, 255).astype(np.uint8)
    out = frame[y0:y1, x0:x1]
    out[mask] = warped[mask]
    return roi
