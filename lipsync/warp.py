"""Piecewise-affine image warping on a triangle mesh (backward mapping, region of interest only)."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

SHIFT = 4  # sub-pixel bits for rasterizing triangles


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles (M,3) of vertex indices over points (N,2)."""
    return Delaunay(np.asarray(points, np.float64)).simplices.astype(np.int32)


def triangle_affines(src: np.ndarray, dst: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """Per-triangle 2x3 affines (M,2,3) taking points of each dst triangle to the src triangle."""
    d = np.concatenate([dst[tris], np.ones(tris.shape + (1,))], -1)  # (M,3,3)
    s = src[tris]  # (M,3,2)
    det = np.linalg.det(d)
    ok = np.abs(det) > 1e-9
    a = np.zeros((len(tris), 3, 2))
    a[ok] = np.linalg.solve(d[ok], s[ok])
    # a degenerate (zero-area) triangle covers no pixel; give it a translation so it is harmless
    a[~ok] = np.array([[1, 0], [0, 1], [0, 0]]) + np.concatenate(
        [np.zeros((np.count_nonzero(~ok), 2, 2)), (s[~ok].mean(1) - dst[tris][~ok].mean(1))[:, None]], 1)
    return a.transpose(0, 2, 1)


def roi_of(points: np.ndarray, shape: tuple[int, int], pad: int = 2) -> tuple[int, int, int, int]:
    """Integer (x0, y0, x1, y1) box around points, padded and clipped to an image of shape (h, w)."""
    h, w = shape[:2]
    x0 = int(max(0, np.floor(points[:, 0].min()) - pad))
    y0 = int(max(0, np.floor(points[:, 1].min()) - pad))
    x1 = int(min(w, np.ceil(points[:, 0].max()) + pad + 1))
    y1 = int(min(h, np.ceil(points[:, 1].max()) + pad + 1))
    return x0, y0, max(x0, x1), max(y0, y1)


def triangle_index_map(dst: np.ndarray, tris: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """int32 image over roi: 1 + index of the dst triangle covering each pixel centre, 0 outside."""
    x0, y0, x1, y1 = roi
    idx = np.zeros((y1 - y0, x1 - x0), np.int32)
    pts = np.round((dst - [x0, y0]) * (1 << SHIFT)).astype(np.int32)
    for i, t in enumerate(tris):
        cv2.fillConvexPoly(idx, pts[t], i + 1, lineType=cv2.LINE_8, shift=SHIFT)
    return idx


def warp_maps(src: np.ndarray, dst: np.ndarray, tris: np.ndarray, roi: tuple[int, int, int, int]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward maps (mapx, mapy float32, absolute source px) and coverage mask (bool) over roi
    such that remapping the source image moves each src vertex onto its dst vertex."""
    x0, y0, x1, y1 = roi
    idx = triangle_index_map(dst, tris, roi)
    aff = triangle_affines(src, dst, tris)
    aff = np.concatenate([np.array([[[1, 0, 0], [0, 1, 0]]], np.float64), aff])  # index 0: identity
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    a = aff.astype(np.float32)[idx]  # (h,w,2,3)
    mapx = a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2]
    mapy = a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2]
    return mapx, mapy, idx > 0


def warp_roi(image: np.ndarray, src: np.ndarray, dst: np.ndarray, tris: np.ndarray,
             roi: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Warp `image` so the mesh vertices at src land on dst; returns (roi pixels, coverage mask)."""
    mapx, mapy, mask = warp_maps(src, dst, tris, roi)
    out = cv2.remap(image, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out, mask
