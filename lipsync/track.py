"""Face tracking: MediaPipe FaceLandmarker (VIDEO mode) on streamed frames, detections linked
into tracks by box overlap within a shot, small faces found on tiles at each shot start and every
few seconds, short gaps filled. Shot cuts are found on greyscale thumbnails; across a cut or a longer
absence, a new track is re-linked to an earlier one of the same person by an appearance descriptor
(scale-free 3-D face shape ratios and a hue/saturation histogram of the face), conservatively.

Landmarks go to a disk-backed array in the work folder, so memory stays flat in video length.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from dubbing import video as vio
from dubbing.files import reserve
from dubbing.video import Frame

from . import geometry as G
from . import landmarks as L
from . import steady as S

MAX_FACES = 4
BLENDSHAPES = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker")
SMALL_FACE = 0.12  # faces narrower than this fraction of the frame width are searched on tiles
TILE_EVERY = 3.0  # seconds between tile searches within a shot; one also runs at each shot start
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


_IMPORT_LOCK = threading.Lock()
_MEDIAPIPE = ("mediapipe", "mediapipe.tasks.python", "mediapipe.tasks.python.vision.face_landmarker",
              "mediapipe.tasks.python.components.containers.landmark_c")


def _import_mediapipe() -> None:
    """Import mediapipe's modules the first time on a short-lived thread of their own.

    Importing mediapipe 1.2 leaves its import frames referenced from native code, and with them
    every frame then on the importing thread's stack, locals included: imported from inside
    tracking, a whole video's landmarks stayed mapped for the rest of the run (218 MB at 10 minutes,
    growing with length). A thread of its own has nothing else on its stack to keep."""
    import importlib
    import sys

    with _IMPORT_LOCK:
        if all(m in sys.modules for m in _MEDIAPIPE):
            return
        failed: list[BaseException] = []

        def load() -> None:
            try:
                for m in _MEDIAPIPE:
                    importlib.import_module(m)
            except BaseException as e:  # re-raised on the caller's thread
                failed.append(e)

        t = threading.Thread(target=load, name="import-mediapipe", daemon=True)
        t.start()
        t.join()
        if failed:
            raise failed[0]


_LM_SIZE = 40  # bytes of one MpNormalizedLandmarkC in mediapipe 1.2 (x, y, z float32 first)


def _c_layout_known() -> bool:
    """Whether this mediapipe has the ctypes result layout `Landmarker._raw` reads directly (1.2.x);
    otherwise its public API is used."""
    try:
        _import_mediapipe()
        from mediapipe.tasks.python.components.containers.landmark_c import MpNormalizedLandmarkC as C
        from mediapipe.tasks.python.vision import face_landmarker as fl

        return (hasattr(fl, "MpFaceLandmarkerResultC") and ctypes.sizeof(C) == _LM_SIZE
                and (C.x.offset, C.y.offset, C.z.offset, C.x.size) == (0, 4, 8, 4))
    except (ImportError, AttributeError):
        return False


class Landmarker:
    """One loaded FaceLandmarker in VIDEO mode, reused across videos (timestamps keep increasing),
    plus an IMAGE-mode twin for crops of small faces. One per thread: VIDEO mode carries tracking
    state from frame to frame, so two videos tracked at once (language branches) need two."""

    _local = threading.local()

    def __init__(self, model: Path, num_faces: int = MAX_FACES):
        _import_mediapipe()
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
        self.fast = _c_layout_known() and hasattr(blank, "_image_ptr") and all(
            hasattr(t, a) for t in (self.video, self.image) for a in ("_lib", "_handle"))

    def _raw(self, task, img, ms: int | None) -> list[tuple[np.ndarray, np.ndarray]]:
        """[(normalized x, y, z (478, 3), BLENDSHAPES scores)] of one IMAGE (ms None) or VIDEO call."""
        if not self.fast:
            res = task.detect(img) if ms is None else task.detect_for_video(img, ms)
            out = []
            for i, face in enumerate(res.face_landmarks):
                bs = {c.category_name: c.score for c in res.face_blendshapes[i]} if res.face_blendshapes else {}
                out.append((np.array([(p.x, p.y, p.z) for p in face], np.float32),
                            np.array([bs.get(n, 0.0) for n in BLENDSHAPES], np.float32)))
            return out
        # mediapipe 1.2's own result conversion builds a Python object per landmark (~1.5 ms a
        # frame, a tenth of the tracking); read the C result with numpy instead
        from mediapipe.tasks.python.vision import face_landmarker as fl

        res = fl.MpFaceLandmarkerResultC()
        if ms is None:
            task._lib.MpFaceLandmarkerDetectImage(task._handle, img._image_ptr, None, ctypes.byref(res))
        else:
            task._lib.MpFaceLandmarkerDetectForVideo(task._handle, img._image_ptr, None, ms, ctypes.byref(res))
        try:
            out = []
            for i in range(res.face_landmarks_count):
                lc = res.face_landmarks[i]
                n = lc.landmarks_count
                buf = (ctypes.c_char * (n * _LM_SIZE)).from_address(ctypes.addressof(lc.landmarks.contents))
                xyz = np.frombuffer(buf, np.float32).reshape(n, _LM_SIZE // 4)[:, :3].copy()
                bs = np.zeros(len(BLENDSHAPES), np.float32)
                if i < res.face_blendshapes_count:
                    cats = res.face_blendshapes[i]
                    for j in range(cats.categories_count):
                        c = cats.categories[j]
                        name = c.category_name.decode() if c.category_name else ""
                        if name in BLENDSHAPES:
                            bs[BLENDSHAPES.index(name)] = c.score
                out.append((xyz, bs))
            return out
        finally:
            task._lib.MpFaceLandmarkerCloseResult(ctypes.byref(res))

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

    @staticmethod
    def _faces(raw, w: float, h: float, ox: float = 0, oy: float = 0) -> list[Face]:
        """Faces of a raw result whose normalized landmarks span w x h frame px starting at (ox, oy)."""
        return [Face(a[:, :2] * np.float32((w, h)) + np.float32((ox, oy)), bs, a[:, 2] * np.float32(w))
                for a, bs in raw]

    def detect_video(self, rgb: np.ndarray, t: float) -> list[Face]:
        """Faces in one frame at time t (s), landmarks in frame px. (At full size: the model sees a
        256 px crop around each face either way, and downscaling 720p or 1080p frames first was
        measured to save nothing.)"""
        ms = max(self._base_ms + int(round(t * 1000)), self._clock_ms + 1)
        self._clock_ms = ms
        img = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        return self._faces(self._raw(self.video, img, ms), rgb.shape[1], rgb.shape[0])

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
        return self._faces(self._raw(self.image, img, None), crop.shape[1] / s, crop.shape[0] / s, x0, y0)


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
    lm: np.ndarray  # (T, MAX_FACES, len(L.SUBSET), 2) float32 px in subset layout, memmap
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

    def window(self, first: int, stop: int) -> "Tracks":
        """Frames first..stop-1 only (views, not copies), indexed from 0."""
        return Tracks(self.times[first:stop], self.pts[first:stop], self.width, self.height, self.lm[first:stop],
                      self.blend[first:stop], self.track[first:stop], self.filled[first:stop], self.extra)

    def landmarks(self, tid: int) -> tuple[np.ndarray, np.ndarray]:
        """(frame indices, landmarks (n, len(SUBSET), 2) float64 in subset layout) of one track."""
        f, s = self.frames_of(tid)
        return f, np.asarray(self.lm[f, s], np.float64)


class Linker:
    """Online linking of per-frame detections into tracks by box IoU (Hungarian)."""

    def __init__(self, max_gap_frames: int):
        self.max_gap = max_gap_frames
        self.active: dict[int, tuple[int, np.ndarray]] = {}  # id -> (last frame, last box)
        self.next_id = 0

    def cut(self) -> None:
        """A new shot: no track continues by position (identity may re-link it later)."""
        self.active.clear()

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


CUT_DIFF = 0.08  # mean absolute thumbnail change (0..1) a hard cut needs at least...
# (measured: within a shot <= 0.006 on vr_face1/2 and GRID; their cuts 0.26)
CUT_HIST = 0.08  # ...with this much change of the grey histograms of the thumbnail's quarters
# (total variation, 0..1; within a shot <= 0.023, a fast pan 0.043; vr_face1 <-> vr_face2 0.72, a
# mirrored picture (same tones, other layout) 0.23. Set low: a missed cut can join two people by
# position, a false one only splits a track that identity re-joins)
CUT_RATIO = 3.0  # ...and this many times the shot's recent typical change (motion is not a cut)


class CutDetector:
    """Hard shot cuts from a 64x36 greyscale thumbnail of each frame (about 0.4 ms a frame at 720p).

    A cut needs the picture to change (mean absolute difference) and its tones to change (grey
    histogram), both at once and well above the recent frame-to-frame change, so camera motion,
    a moving subject, a fade or something covering part of the picture is not taken for a cut.
    (A flash frame is: it splits the tracks, and identity re-links them.)"""

    def __init__(self):
        self.prev: np.ndarray | None = None
        self.prev_hist: np.ndarray | None = None
        self.recent: list[float] = []

    @staticmethod
    def thumb(rgb: np.ndarray) -> np.ndarray:
        step = max(1, min(rgb.shape[0] // 72, rgb.shape[1] // 128))
        small = np.ascontiguousarray(rgb[::step, ::step])
        return cv2.cvtColor(cv2.resize(small, (64, 36), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)

    def measure(self, rgb: np.ndarray) -> tuple[float, float]:
        """(picture change, histogram change) from the previous frame; (0, 0) for the first."""
        g = self.thumb(rgb)
        q = (g >> 4).reshape(2, 18, 2, 32).transpose(0, 2, 1, 3).reshape(4, -1)  # quarters, 16 levels
        hist = np.stack([np.bincount(b, minlength=16) for b in q]) / q.shape[1]
        d = hd = 0.0
        if self.prev is not None:
            d = float(np.abs(g.astype(np.int16) - self.prev).mean()) / 255
            hd = 0.5 * float(np.abs(hist - self.prev_hist).sum(1).mean())
        self.prev, self.prev_hist = g, hist
        return d, hd

    def step(self, rgb: np.ndarray) -> bool:
        """True when this frame starts a new shot."""
        d, hd = self.measure(rgb)
        typical = float(np.median(self.recent)) if self.recent else 0.0
        cut = d >= CUT_DIFF and hd >= CUT_HIST and d >= CUT_RATIO * typical
        self.recent = [] if cut else (self.recent + [d])[-12:]
        return cut


# identity: rigid points (eyes, nose, upper face outline; nothing the mouth or jaw moves)
ID_POINTS = np.array([33, 133, 362, 263, 1, 2, 4, 6, 168, 197, 98, 327, 10, 109, 338, 234, 454, 127, 356])
_IU, _JU = np.triu_indices(len(ID_POINTS), 1)
ID_SHAPE = 0.018  # re-link only below this shape distance (RMS of scale-free 3-D distances)...
# (measured: one person across shots, zoom, grading <= 0.012; four different people >= 0.032)
ID_COLOUR = 0.35  # ...and this colour distance (Bhattacharyya, hue x saturation of the face)...
# (one person, same grading <= 0.06; a strong regrade 0.6, so such shots stay unlinked)
ID_MARGIN = 0.7  # ...and when the next-best earlier person scores clearly worse (ratio below this)
ID_MIN_FRAMES = 5  # a track seen in fewer frames is never re-linked (too little to judge)
HIST_EVERY = 4  # frames between colour samples of a face


def shape_vector(lm: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Scale-free 3-D face shape of one detection: distances between rigid landmarks over their mean."""
    p = np.c_[lm[ID_POINTS], z[ID_POINTS]].astype(np.float64)
    d = np.linalg.norm(p[_IU] - p[_JU], axis=1)
    return d / max(d.mean(), 1e-6)


def colour_hist(rgb: np.ndarray, lm: np.ndarray) -> np.ndarray | None:
    """Hue x saturation histogram (16 x 8, sums to 1) inside the face outline, from a <= 64 px crop."""
    h, w = rgb.shape[:2]
    x0, y0 = np.floor(lm.min(0)).astype(int)
    x1, y1 = np.ceil(lm.max(0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 8 or y1 - y0 < 8:
        return None
    s = min(1.0, 64 / max(x1 - x0, y1 - y0))
    crop = cv2.resize(np.ascontiguousarray(rgb[y0:y1, x0:x1]), None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round((lm[L.FACE_OVAL] - [x0, y0]) * s).astype(np.int32), 1)
    hsv = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], mask, [16, 8], [0, 180, 0, 256]).ravel()
    return hist / hist.sum() if hist.sum() > 0 else None


class Identity:
    """Appearance samples of each raw track, and the re-linking of tracks of one person."""

    def __init__(self):
        self.shapes: dict[int, list[np.ndarray]] = {}
        self.hists: dict[int, list[np.ndarray]] = {}

    def add(self, frame: int, rgb: np.ndarray, faces: list[Face], ids: list[int]) -> None:
        for f, tid in zip(faces, ids):
            self.shapes.setdefault(tid, []).append(shape_vector(f.lm, f.z))
            if frame % HIST_EVERY == 0 or len(self.shapes[tid]) == 1:
                hist = colour_hist(rgb, f.lm)
                if hist is not None:
                    self.hists.setdefault(tid, []).append(hist)

    def descriptor(self, tids: Iterable[int]) -> tuple[np.ndarray, np.ndarray] | None:
        """(median shape, mean colour histogram) over the tracks `tids`; None with too few samples."""
        sh = [v for t in tids for v in self.shapes.get(t, [])]
        hi = [v for t in tids for v in self.hists.get(t, [])]
        if len(sh) < ID_MIN_FRAMES or not hi:
            return None
        return np.median(sh, 0), np.mean(hi, 0)

    @staticmethod
    def distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
        """(shape distance, colour distance) of two descriptors."""
        shape = float(np.sqrt(np.mean((a[0] - b[0]) ** 2)))
        bc = float(np.sum(np.sqrt(a[1] * b[1])))
        return shape, float(np.sqrt(max(0.0, 1.0 - bc)))

    def relink(self, track: np.ndarray) -> dict[int, int]:
        """Raw track id -> person id (the id of that person's first track), in first-seen order.

        A track joins an earlier person only if the two were never on screen in the same frame,
        both distances are below their thresholds, and no other earlier person comes close."""
        present: dict[int, np.ndarray] = {}
        for tid in sorted(int(t) for t in np.unique(track) if t >= 0):
            present[tid] = np.any(track == tid, axis=1)
        order = sorted(present, key=lambda t: int(np.argmax(present[t])))
        people: dict[int, list[int]] = {}  # person id -> raw ids
        out: dict[int, int] = {}
        for tid in order:
            mine = self.descriptor([tid])
            earlier = [] if mine is None else [
                (pid, self.descriptor(members)) for pid, members in people.items()
                if not any((present[m] & present[tid]).any() for m in members)]  # seen together: two people
            pid = same_person(mine, earlier)
            pid = tid if pid is None else pid
            people.setdefault(pid, []).append(tid)
            out[tid] = pid
        return out


def same_person(mine: tuple[np.ndarray, np.ndarray] | None,
                earlier: list[tuple[int, tuple[np.ndarray, np.ndarray] | None]]) -> int | None:
    """The id of the earlier person (id, descriptor; never on screen together with this one) whose
    appearance `mine` (Identity.descriptor) is: both distances below their thresholds, and no other
    earlier person close; None for someone new."""
    if mine is None:
        return None
    scored = []
    for pid, theirs in earlier:
        if theirs is not None:
            ds, dc = Identity.distance(mine, theirs)
            scored.append((ds / ID_SHAPE + dc / ID_COLOUR, ds, dc, pid))
    scored.sort()
    ok = [x for x in scored if x[1] < ID_SHAPE and x[2] < ID_COLOUR]
    if ok and ok[0] == scored[0] and (len(scored) == 1 or scored[0][0] < ID_MARGIN * scored[1][0]):
        return ok[0][3]
    return None


SAME_FACE_IOU = 0.3  # two detections in one frame whose boxes overlap this much are one face


def _dedupe(faces: list[Face], boxes: list[np.ndarray]) -> list[Face]:
    """`faces` without those overlapping a box in `boxes` or an earlier one kept (SAME_FACE_IOU)."""
    out, kept = [], list(boxes)
    for f in faces:
        b = G.bbox(f.lm)
        if all(G.iou(b, k) < SAME_FACE_IOU for k in kept):
            out.append(f)
            kept.append(b)
    return out


def distinct(faces: list[Face], last: Sequence[np.ndarray]) -> list[Face]:
    """The VIDEO pass's faces with each face once: of two detections of one face (SAME_FACE_IOU), the
    one overlapping the tracks' last boxes `last` most stays, and the others keep their order. MediaPipe
    sometimes meshes one face twice: LatentSync demo3's re-synced output had its face tracked as two
    people from the frame its mouth opened fast (stop 36), and every figure measured half of it."""
    if len(faces) < 2:
        return faces
    boxes = [G.bbox(f.lm) for f in faces]
    near = [max((G.iou(b, k) for k in last), default=0.0) for b in boxes]
    keep = _dedupe([faces[i] for i in sorted(range(len(faces)), key=lambda i: -near[i])], [])
    return [f for f in faces if any(f is k for k in keep)]


def track_file(video: str | os.PathLike, workdir: str | os.PathLike,
               on_frame: Callable[[Frame, list[tuple[int, np.ndarray]]], None] | None = None,
               span: tuple[int, int] | None = None, pts: np.ndarray | None = None, steady: bool = True) -> Tracks:
    """Track the faces of a whole video file, decoded as a stream (see track_video); with `span`
    (first, stop), of those frames only, indexed from 0 (as Tracks.window of the whole). `pts`: the
    file's frame pts when known (video.frames)."""
    info = vio.probe(video)
    if span is None:
        n = len(vio.frame_times(video)[0])
        return track_video(vio.frames(video), n, info.width, info.height, Path(workdir), on_frame, steady=steady)
    first, stop = span
    local = (dataclasses.replace(f, index=f.index - first) for f in vio.frames(video, span=span, pts=pts))
    return track_video(local, stop - first, info.width, info.height, Path(workdir), on_frame, steady=steady)


def track_video(frames: Iterable[Frame], n_frames: int, width: int, height: int, workdir: Path,
                on_frame: Callable[[Frame, list[tuple[int, np.ndarray]]], None] | None = None,
                progress: Callable[[int, int], None] | None = None,
                landmarker: Landmarker | None = None, steady: bool = True) -> Tracks:
    """Track faces over streamed frames. `on_frame(frame, [(track id, landmarks)])` sees each
    decoded frame once (for building mouth banks in the same pass) with the track ids known then;
    tracks re-linked across cuts at the end take the id of the person's first track.

    `extra` (plain JSON types): "cuts" the times (s) of the first frame of each new shot,
    "cut_frames" their indices, "relinked" [[later id, person id], ...] for the re-linked tracks
    (so what was gathered per id in `on_frame` can be merged), "identity" [{"id", "shape",
    "colour"}, ...] each person's appearance descriptor."""
    lmk = landmarker or Landmarker.get()
    lmk.start_stream()
    workdir.mkdir(parents=True, exist_ok=True)
    n = max(n_frames, 1)
    # only the subset the lips use is kept (96 of 478 points: 44 MB for 10 minutes of 4 faces, not 220)
    lm = np.lib.format.open_memmap(workdir / "landmarks.npy", mode="w+", dtype=np.float32,
                                   shape=(n, MAX_FACES, len(L.SUBSET), 2))
    reserve(workdir / "landmarks.npy")  # a full disk: ENOSPC now, not SIGBUS while tracking
    blend = np.zeros((n, MAX_FACES, len(BLENDSHAPES)), np.float32)
    track = np.full((n, MAX_FACES), -1, np.int32)
    times = np.zeros(n)
    pts = np.zeros(n, np.int64)
    fps = 30.0
    linker = None
    cutter = CutDetector()
    ident = Identity()
    cut_frames: list[int] = []
    small_boxes: dict[int, np.ndarray] = {}  # track id -> last box of a small face
    last_tile = -1e9
    count = 0
    steadier = S.Steadier(lm) if steady else None
    prev_rgb = None
    for fr in frames:
        if fr.index >= n:
            break
        if linker is None:
            linker = Linker(max(1, int(MAX_GAP * fps)))
        if fr.index == 1:
            fps = 1.0 / max(fr.time - times[0], 1e-3)
            linker.max_gap = max(1, int(MAX_GAP * fps))
        times[fr.index], pts[fr.index] = fr.time, fr.pts
        if cutter.step(fr.rgb):
            cut_frames.append(fr.index)
            linker.cut()
            small_boxes, last_tile = {}, -1e9
            if steadier:
                steadier.cut()
        faces = distinct(lmk.detect_video(fr.rgb, fr.time), [b for _, b in linker.active.values()])
        boxes = [G.bbox(f.lm) for f in faces]
        # small faces the VIDEO pass missed: follow known ones on upscaled crops...
        crops = [_grow(b, width, height) for b in small_boxes.values() if all(G.iou(b, k) < SAME_FACE_IOU for k in boxes)]
        for box in crops:
            if len(faces) >= MAX_FACES:
                break
            new = _dedupe(lmk.detect_crop(fr.rgb, box), boxes)
            faces += new
            boxes += [G.bbox(f.lm) for f in new]
        # ...and look for new ones on tiles with the known faces painted over, at shot starts and now and then
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
        ident.add(fr.index, fr.rgb, faces, ids)
        pending = set()
        for k, (f, tid) in enumerate(zip(faces, ids)):
            sub = f.lm[L.SUBSET]
            if steadier:
                sub, held = steadier.step(fr.index, prev_rgb, fr.rgb, tid, k, sub)
                if held:
                    pending.add(tid)
            lm[fr.index, k] = sub
            blend[fr.index, k] = f.blend
            track[fr.index, k] = tid
        if on_frame:
            on_frame(fr, [(tid, np.array(lm[fr.index, k])) for k, tid in enumerate(ids) if tid not in pending])
        prev_rgb = fr.rgb
        count = fr.index + 1
        if progress:
            progress(count, n_frames)
    if steadier:
        steadier.finish()
    track = track[:count]
    person = ident.relink(track)
    relinked = [[t, p] for t, p in person.items() if t != p]
    for t, p in relinked:
        track[track == t] = p
    descriptors = []
    for p in sorted(set(person.values())):
        d = ident.descriptor([t for t, q in person.items() if q == p])
        if d is not None:
            descriptors.append({"id": p, "shape": [round(float(x), 5) for x in d[0]],
                                "colour": [round(float(x), 5) for x in d[1]]})
    tr = Tracks(times[:count], pts[:count], width, height, lm[:count], blend[:count], track,
                np.zeros((count, MAX_FACES), bool),
                {"cuts": [float(times[i]) for i in cut_frames], "cut_frames": [int(i) for i in cut_frames],
                 "relinked": relinked, "identity": descriptors,
                 "steadied": steadier.count if steadier else 0})
    fill_gaps(tr, int(MAX_GAP * fps), cut_frames)
    return tr


def _grow(b: np.ndarray, w: int, h: int, k: float = 1.0) -> tuple[int, int, int, int]:
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    r = max(b[2] - b[0], b[3] - b[1]) * (0.5 + k)
    return int(max(0, cx - r)), int(max(0, cy - r)), int(min(w, cx + r)), int(min(h, cy + r))


def fill_gaps(tr: Tracks, max_gap: int, cut_frames: Iterable[int] = ()) -> None:
    """Interpolate each track's landmarks linearly over gaps of at most max_gap frames (in place),
    never across a shot cut (frame indices of the first frames of new shots)."""
    cuts = np.asarray(sorted(cut_frames), int)
    for tid in tr.ids:
        f, s = tr.frames_of(tid)
        for a, b, sa, sb in zip(f[:-1], f[1:], s[:-1], s[1:]):
            if 1 < b - a <= max_gap + 1 and not ((cuts > a) & (cuts <= b)).any():
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
