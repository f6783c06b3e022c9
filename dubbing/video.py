"""Streaming video I/O with PyAV: decode frames with their timestamps, encode H.264 keeping the
source's presentation timestamps (variable frame rate survives), write atomically."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .files import atomic_path


@dataclass(frozen=True)
class VideoInfo:
    width: int
    height: int
    time_base: Fraction
    rate: Fraction  # average frames per second
    duration: float  # seconds


@dataclass(frozen=True)
class Frame:
    index: int
    time: float  # seconds from the first frame's timestamp origin
    pts: int  # in VideoInfo.time_base
    rgb: np.ndarray | None  # (h, w, 3) uint8; None for a frame decoded but not wanted (frames)


def probe(path: str | os.PathLike) -> VideoInfo:
    """Size, time base, average rate and duration (s) of the first video stream."""
    with av.open(str(path)) as c:
        if not c.streams.video:
            raise ValueError(f"{path}: no video stream")
        s = c.streams.video[0]
        rate = s.average_rate or s.guessed_rate or Fraction(25)
        dur = float(s.duration * s.time_base) if s.duration else (c.duration or 0) / 1e6
        return VideoInfo(s.codec_context.width, s.codec_context.height, s.time_base, Fraction(rate), dur)


def frames(path: str | os.PathLike, wanted: np.ndarray | None = None,
           span: tuple[int, int] | None = None, pts: np.ndarray | None = None) -> Iterator[Frame]:
    """Decode frames one at a time as RGB with their pts and time (s); memory stays flat. A frame whose
    index `wanted` (bool per frame) marks False comes without its picture (rgb None): it is decoded,
    but not converted. `span` (first, stop): only those frames (indices kept), reached by a seek to the
    keyframe before them, not by decoding the video from its start; `pts`: every frame's pts when
    already known (frame_times), so the seek does not demux the file again. Every frame is converted
    with the colour matrix of the video's first frame (see _first_colorspace)."""
    if span is not None and span[0] > 0:
        yield from _frames_from(path, wanted, span, frame_times(path)[1] if pts is None else pts)
        return
    stop = None if span is None else span[1]
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        tb = s.time_base
        last = colorspace = None
        for i, f in enumerate(c.decode(s)):
            if stop is not None and i >= stop:
                return
            colorspace = _matrix(f.colorspace) if i == 0 else colorspace
            pts = f.pts if f.pts is not None else (0 if last is None else last + 1)
            last = pts
            keep = wanted is None or (i < len(wanted) and wanted[i])
            yield Frame(i, float(pts * tb), pts, _rgb(f, colorspace) if keep else None)


def _rgb(frame: av.VideoFrame, colorspace) -> np.ndarray:
    return frame.reformat(format="rgb24", src_colorspace=colorspace).to_ndarray()


def _first_colorspace(path: str | os.PathLike):
    """The colour matrix its first frame is tagged with, used for all its frames. libavcodec tags a frame
    from the parameter sets it has decoded: a video joined from pieces encoded apart (each with its own)
    gave frames decoded after a seek other tags, and so other RGB (up to 8 levels on bench/long.py's
    input), than the same frames decoded from the start."""
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            return _matrix(f.colorspace)
    return _matrix(None)


def _matrix(tag):
    """A frame's colorspace tag as swscale's matrix: untagged is ITU-R BT.601, as swscale takes it (passed
    as untagged, PyAV would use each frame's own tag instead)."""
    return "ITU601" if tag in (None, 2) else tag


def _frames_from(path: str | os.PathLike, wanted: np.ndarray | None, span: tuple[int, int],
                 all_pts: np.ndarray) -> Iterator[Frame]:
    first, stop = span[0], min(span[1], len(all_pts))
    if first >= stop:
        return
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        tb = s.time_base
        colorspace = _first_colorspace(path)
        c.seek(int(all_pts[first]), stream=s, backward=True, any_frame=False)
        for f in c.decode(s):
            if f.pts is None:
                raise ValueError(f"{path}: frames without timestamps cannot be sought")
            i = int(np.searchsorted(all_pts, f.pts))
            if i < first:
                continue
            if i >= stop:
                return
            keep = wanted is None or (i < len(wanted) and wanted[i])
            yield Frame(i, float(f.pts * tb), int(f.pts), _rgb(f, colorspace) if keep else None)


def frame_times(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(times s, pts) of every frame, from the demuxed packets without decoding pictures."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        pts = sorted(p.pts for p in c.demux(s) if p.pts is not None)
        return np.array(pts, np.float64) * float(s.time_base), np.array(pts, np.int64)


class VideoWriter:
    """H.264 (yuv420p) writer with explicit pts in the given time base; renames into place on close.

    Use as a context manager; on an exception the partial file is removed. `b_frames=False` makes
    files that `concat` can join (decode order = presentation order).
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, time_base: Fraction,
                 rate: Fraction, crf: int = 12, preset: str = "veryfast", b_frames: bool = True):
        self.path = Path(path)
        self._file = contextlib.ExitStack()  # the atomic write; closed with the writer
        self.tmp = self._file.enter_context(atomic_path(self.path, ".mp4"))
        self.c = av.open(str(self.tmp), "w", format="mp4")
        self.s = self.c.add_stream("libx264", rate=rate)
        self.s.width, self.s.height = width - width % 2, height - height % 2
        self.s.pix_fmt = "yuv420p"
        self.s.time_base = time_base
        self.s.codec_context.time_base = time_base
        self.s.options = {"crf": str(crf), "preset": preset} | ({} if b_frames else {"bf": "0"})
        self.tb = time_base
        self._last_pts = None

    def write(self, rgb: np.ndarray, pts: int) -> None:
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # encoders need strictly increasing pts
        self._last_pts = pts
        h, w = self.s.height, self.s.width
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
        f.pts, f.time_base = pts, self.tb
        for p in self.s.encode(f):
            self.c.mux(p)

    def close(self, ok: bool = True) -> None:
        """Finish and rename into place; with ok=False, or if finishing fails (a full disk), remove it."""
        if not ok:
            with contextlib.suppress(Exception):  # the error that brought us here is the one to report
                self.c.close()
            self._file.__exit__(RuntimeError, RuntimeError("discarded"), None)  # removes the partial file
            return
        with self._file:  # an error here removes the partial file, else the file is renamed into place
            for p in self.s.encode():
                self.c.mux(p)
            self.c.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, et, ev, tb) -> None:
        self.close(ok=et is None)


def concat(parts: list[Path], out: str | os.PathLike) -> Path:
    """Join video-only files made by VideoWriter(b_frames=False) with one encoder's settings into `out`
    by copying packets (their timestamps are already absolute); written atomically."""
    out = Path(out)
    with atomic_path(out, ".mp4") as tmp, av.open(str(tmp), "w", format="mp4") as dst:
        ost = None
        last = None
        for part in parts:
            with av.open(str(part)) as c:
                s = c.streams.video[0]
                if ost is None:
                    ost = dst.add_stream_from_template(s)
                for pkt in c.demux(s):
                    if pkt.dts is None:  # the demuxer's end-of-stream flush packet
                        continue
                    if last is not None and pkt.dts <= last:  # duplicate source pts across a join
                        pkt.pts = pkt.dts = last + 1
                    last = pkt.dts
                    pkt.stream = ost
                    dst.mux(pkt)
    return out
