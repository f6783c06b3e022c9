"""Face tracking: MediaPipe FaceLandmarker (VIDEO mode) on streamed frames, detections linked
into tracks by box overlap, small faces found on tiles at the start and every few seconds, short
gaps filled.

Landmarks go to a disk-backed array in the work folder, so memory stays flat in video length.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from . import geometry as G
from . import landmarks as L
from .video_io import Frame

MAX_FACES = 4
N_LM = 478
BLENDSHAPES = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker")
SMALL_FACE = 0.12  # faces narrower than this fraction of the frame width are searched on tiles
TILE_EVERY = 3.0  # seconds between tile searches (one runs on the first frame)
MAX_GAP = 0.5  # seconds a track may go unseen and still continue
MIN_IOU = 0.25


class Face(NamedTuple):
    """One detected face: landmarks (478, 2) frame px, blendshape scores, depth (478,) in px like x."""

    lm: np.ndarray
    blend: np.ndarray
    z: np.ndarray


@contextlib.contextmanager
def _native_stderr_silenced():
    """Point file descriptor 2 at /dev/null for the duration (native libraries write there directly)."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


class Landmarker:
    """One loaded FaceLandmarker in VIDEO mode, reused across videos (timestamps keep increasing),
    plus an IMAGE-mode twin for crops of small faces. One per thread: VIDEO mode carries tracking
    state from frame to frame, so two videos tracked at once (language branches) need two."""

    _local = threading.local()

    def __init__(self, model: Path, num_faces: int = MAX_FACES):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp

        def make(mode):
            return vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_path=str(model)), running_mode=mode,
                num_faces=num_faces, output_face_blendshapes=True, min_face_detection_confidence=0.5,
                min_face_presence_confidence=0.5, min_tracking_confidence=0.5))

        with _native_stderr_silenced():  # MediaPipe's C++ logs its graph set-up on stderr
            self.video = make(vision.RunningMode.VIDEO)
            self.image = make(vision.RunningMode.IMAGE)
            blank = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8))
            self.image.detect(blank)  # the first inference logs too
            time.sleep(0.05)  # graph threads log asynchronously
        self._clock_ms = 0
        self._base_ms = 0

    @classmethod
    def get(cls) -> "Landmarker":
        """This thread's landmarker (loaded on first use in the thread)."""
        if getattr(cls._local, "it", None) is None:
            from dubbing.models import face_landmarker

            cls._local.it = Landmarker(face_landmarker())
        return cls._local.it

    @classmethod
    def release(cls) -> None:
        """Close this thread's landmarker. Call when a thread's work is done: left to mediapipe's
        own finalizers at interpreter exit, closing fails with a traceback on stderr."""
        lm = getattr(cls._local, "it", None)
        if lm is not None:
            cls._local.it = None
            lm.video.close()
            lm.image.close()

    def start_stream(self) -> None:
        """Begin a new video: its timestamps are offset past everything seen so far."""
        self._base_ms = self._clock_ms + 10_000

    def _parse(self, res, w: float, h: float, ox: float = 0, oy: float = 0) -> list[Face]:
        """Faces of a result whose normalized landmarks span w x h frame px starting at (ox, oy)."""
        out = []
        for i, face in enumerate(res.face_landmarks):
            a = np.array([(p.x, p.y, p.z) for p in face], np.float32)
            lm = a[:, :2] * np.float32((w, h)) + np.float32((ox, oy))
            bs = {c.category_name: c.score for c in res.face_blendshapes[i]} if res.face_blendshapes else {}
            out.append(Face(lm, np.array([bs.get(n, 0.0) for n in BLENDSHAPES], np.float32), a[:, 2] * np.float32(w)))
        return out

    def detect_video(self, rgb: np.ndarray, t: float) -> list[Face]:
        """Faces in one frame at time t (s), landmarks in frame px. (At full size: the model sees a
        256 px crop around each face either way, and downscaling 720p or 1080p frames first was
        measured to save nothing.)"""
        ms = max(self._base_ms + int(round(t * 1000)), self._clock_ms + 1)
        self._clock_ms = ms
        img = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        return self._parse(self.video.detect_for_video(img, ms), rgb.shape[1], rgb.shape[0])

    def detect_crop(self, rgb: np.ndarray, box: tuple[int, int, int, int], size: int = 384,
                    hide: Iterable[np.ndarray] = ()) -> list[Face]:
        """Faces in the box (x0, y0, x1, y1) of a frame, resized to `size` px; landmarks in frame px.
        Boxes in `hide` (frame px, faces already known) are painted over first, so only new faces
        cost a landmark pass: a crop without faces costs just the detector."""
        x0, y0, x1, y1 = box
        crop = rgb[y0:y1, x0:x1]
        if crop.size == 0:
            return []
        s = size / max(crop.shape[:2])
        if s != 1:
            crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_LINEAR)
        hide = [np.asarray(b, float) for b in hide]
        if hide:
            crop = crop.copy()
            fill = crop.reshape(-1, 3).mean(0)
            for b in hide:
                bx0, by0, bx1, by1 = ((b - [x0, y0, x0, y0]) * s).round().astype(int)
                crop[max(by0, 0):max(by1, 0), max(bx0, 0):max(bx1, 0)] = fill
        img = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(crop))
        return self._parse(self.image.detect(img), crop.shape[1] / s, crop.shape[0] / s, x0, y0)


def tiles(w: int, h: int, n: int = 3, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """n x n overlapping boxes covering a w x h frame."""
    tw, th = w / (n - (n - 1) * overlap), h / (n - (n - 1) * overlap)
    out = []
    for j in range(n):
        for i in range(n):
            x0, y0 = int(i * tw * (1 - overlap)), int(j * th * (1 - overlap))
            out.append((x0, y0, min(w, int(x0 + tw)), min(h, int(y0 + th))))
    return out


@dataclass
class Tracks:
    """Landmarks per frame and slot (disk-backed) with the track each slot belongs to."""

    times: np.ndarray  # (T,) s
    pts: np.ndarray  # (T,) in the video's time base
    width: int
    height: int
    lm: np.ndarray  # (T, MAX_FACES, 478, 2) float32, memmap
    blend: np.ndarray  # (T, MAX_FACES, len(BLENDSHAPES))
    track: np.ndarray  # (T, MAX_FACES) int32, -1 = empty slot
    filled: np.ndarray  # (T, MAX_FACES) bool: slot interpolated over a gap, not detected
    extra: dict = field(default_factory=dict)

    @property
    def ids(self) -> list[int]:
        return sorted(int(i) for i in np.unique(self.track) if i >= 0)

    def frames_of(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        """(frame indices, slots) where track `tid` is present, in time order."""
        f, s = np.nonzero(self.track == tid)
        o = np.argsort(f)
        return f[o], s[o]

    def landmarks(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        """(frame indices, landmarks (n, len(SUBSET), 2) float64 in subset layout) of one track."""
        f, s = self.frames_of(tid)
        return f, np.asarray(self.lm[f, s][:, L.SUBSET], np.float64)


class Linker:
    """Online linking of per-frame detections into tracks by box IoU (Hungarian)."""

    def __init__(self, max_gap_frames: int):
        self.max_gap = max_gap_frames
        self.active: dict[int, tuple[int, np.ndarray]] = {}  # id -> (last frame, last box)
        self.next_id = 0

    def link(self, frame: int, boxes: list[np.ndarray]) -> list[int]:
        live = [(k, v) for k, v in self.active.items() if frame - v[0] <= self.max_gap]
        ids = [-1] * len(boxes)
        if live and boxes:
            cost = np.array([[1 - G.iou(b, v[1]) for _, v in live] for b in boxes])
            for r, c in zip(*linear_sum_assignment(cost)):
                if 1 - cost[r, c] >= MIN_IOU:
                    ids[r] = live[c][0]
        for i, b in enumerate(boxes):
            if ids[i] < 0:
                ids[i] = self.next_id
                self.next_id += 1
            self.active[ids[i]] = (frame, b)
        return ids


def _dedupe(faces: list[Face], boxes: list[np.ndarray]) -> list[Face]:
    out, kept = [], list(boxes)
    for f in faces:
        b = G.bbox(f.lm)
        if all(G.iou(b, k) < 0.3 for k in kept):
            out.append(f)
            kept.append(b)
    return out


def track_video(frames: Iterable[Frame], n_frames: int, width: int, height: int, workdir: Path,
                on_frame: Callable[[Frame, list[tuple[int, np.ndarray]]], None] | None = None,
                progress: Callable[[int, int], None] | None = None,
                landmarker: Landmarker | None = None) -> Tracks:
    """Track faces over streamed frames. `on_frame(frame, [(track id, landmarks)])` sees each
    decoded frame once (for building mouth banks in the same pass)."""
    lmk = landmarker or Landmarker.get()
    lmk.start_stream()
    workdir.mkdir(parents=True, exist_ok=True)
    n = max(n_frames, 1)
    lm = np.lib.format.open_memmap(workdir / "landmarks.npy", mode="w+", dtype=np.float32,
                                   shape=(n, MAX_FACES, N_LM, 2))
    blend = np.zeros((n, MAX_FACES, len(BLENDSHAPES)), np.float32)
    track = np.full((n, MAX_FACES), -1, np.int32)
    times = np.zeros(n)
    pts = np.zeros(n, np.int64)
    fps = 30.0
    linker = None
    small_boxes: dict[int, np.ndarray] = {}  # track id -> last box of a small face
    last_tile = -1e9
    count = 0
    for fr in frames:
        if fr.index >= n:
            break
        if linker is None:
            linker = Linker(max(1, int(MAX_GAP * fps)))
        if fr.index == 1:
            fps = 1.0 / max(fr.time - times[0], 1e-3)
            linker.max_gap = max(1, int(MAX_GAP * fps))
        times[fr.index], pts[fr.index] = fr.time, fr.pts
        faces = lmk.detect_video(fr.rgb, fr.time)
        boxes = [G.bbox(f.lm) for f in faces]
        # small faces the VIDEO pass missed: follow known ones on upscaled crops...
        crops = [_grow(b, width, height) for b in small_boxes.values() if all(G.iou(b, k) < 0.3 for k in boxes)]
        for box in crops:
            if len(faces) >= MAX_FACES:
                break
            new = _dedupe(lmk.detect_crop(fr.rgb, box), boxes)
            faces += new
            boxes += [G.bbox(f.lm) for f in new]
        # ...and look for new ones on tiles with the known faces painted over, now and then
        if len(faces) < MAX_FACES and fr.time - last_tile >= TILE_EVERY:
            last_tile = fr.time
            for box in tiles(width, height):
                if len(faces) >= MAX_FACES:
                    break
                new = _dedupe(lmk.detect_crop(fr.rgb, box, hide=[_grow(b, width, height, 0.1) for b in boxes]), boxes)
                faces += new
                boxes += [G.bbox(f.lm) for f in new]
        faces, boxes = faces[:MAX_FACES], boxes[:MAX_FACES]
        ids = linker.link(fr.index, boxes)
        small_boxes = {t: b for t, b in zip(ids, boxes) if (b[2] - b[0]) < SMALL_FACE * width}
        for k, (f, tid) in enumerate(zip(faces, ids)):
            lm[fr.index, k] = f.lm
            blend[fr.index, k] = f.blend
            track[fr.index, k] = tid
        if on_frame:
            on_frame(fr, [(tid, lm[fr.index, k][L.SUBSET]) for k, tid in enumerate(ids)])
        count = fr.index + 1
        if progress:
            progress(count, n_frames)
    tr = Tracks(times[:count], pts[:count], width, height, lm[:count], blend[:count], track[:count],
                np.zeros((count, MAX_FACES), bool))
    fill_gaps(tr, int(MAX_GAP * fps))
    return tr


def _grow(b: np.ndarray, w: int, h: int, k: float = 1.0) -> tuple[int, int, int, int]:
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    r = max(b[2] - b[0], b[3] - b[1]) * (0.5 + k)
    return int(max(0, cx - r)), int(max(0, cy - r)), int(min(w, cx + r)), int(min(h, cy + r))


def fill_gaps(tr: Tracks, max_gap: int) -> None:
    """Interpolate each track's landmarks linearly over gaps of at most max_gap frames (in place)."""
    for tid in tr.ids:
        f, s = tr.frames_of(tid)
        for a, b, sa, sb in zip(f[:-1], f[1:], s[:-1], s[1:]):
            if 1 < b - a <= max_gap + 1:
                for g in range(a + 1, b):
                    free = np.flatnonzero(tr.track[g] < 0)
                    if not len(free):
                        continue
                    w = (g - a) / (b - a)
                    k = free[0]
                    tr.lm[g, k] = (1 - w) * tr.lm[a, sa] + w * tr.lm[b, sb]
                    tr.blend[g, k] = (1 - w) * tr.blend[a, sa] + w * tr.blend[b, sb]
                    tr.track[g, k] = tid
                    tr.filled[g, k] = True
