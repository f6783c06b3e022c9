"""Rendered video in chunks of about CHUNK_S seconds, each cached under a key of everything that draws
it, so a re-run after an edit re-renders only the chunks whose mouths changed and reuses the rest.

Chunks are encoded without B-frames, each starting on a keyframe, so they join by copying packets
(dubbing.video.concat): no re-encode, no generation loss.
"""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dubbing.files import write_atomic

CHUNK_S = 2.0  # seconds per chunk
RENDER_VERSION = 3  # bump when the renderer draws differently for the same inputs (2, 3: stop 30, shut mouths filled from the bank)
VALUE_TOL = 0.02  # px (and blend weight): values this close draw the same picture


@dataclass(frozen=True, eq=False)
class Chunk:
    first: int  # first frame index
    stop: int  # one past the last frame index
    key: str  # digest of what is drawn where: video, frames, which faces, which bank entries
    draws: Callable[[], np.ndarray]  # makes `values` when asked: held for every chunk, they grow with length

    @property
    def values(self) -> np.ndarray:
        """The numbers it is drawn from (points in px, blend weights), for `reusable`."""
        return self.draws()

    def fixed(self) -> "Chunk":
        """The chunk with its values made now: it can be sent to another process on its own."""
        return Chunk(self.first, self.stop, self.key, functools.partial(np.asarray, self.values))


def bounds(times: np.ndarray, seconds: float = CHUNK_S) -> list[tuple[int, int]]:
    """(first, stop) frame ranges on a fixed time grid of `seconds` from the first frame (s), so the
    same video always splits the same way whatever is rendered into it."""
    if not len(times):
        return []
    cell = np.floor((np.asarray(times) - times[0]) / seconds).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, cell[1:] != cell[:-1]])
    return [(int(a), int(b)) for a, b in zip(starts, np.r_[starts[1:], len(times)])]


def digest_arrays(*parts) -> bytes:
    """A short digest of exact arrays (meshes, bank pictures)."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        a = np.ascontiguousarray(p)
        h.update(f"{a.dtype}{a.shape}".encode())
        h.update(a.tobytes())
    return h.digest()


def plan(times: np.ndarray, pts: np.ndarray, frame_keys: Sequence[bytes], frame_values: Sequence[np.ndarray],
         salt: str, seconds: float = CHUNK_S) -> list[Chunk]:
    """Chunks of the video: `frame_keys[i]` says what frame i draws from what (b"" for a frame passed
    through), `frame_values[i]` the numbers it draws with (read, a slice at a time, only when a chunk's
    values are asked for); `salt` names the video and the encoder settings."""
    out = []
    for a, b in bounds(times, seconds):
        h = hashlib.blake2b(digest_size=16)
        h.update(f"{salt}|{RENDER_VERSION}|{a}|{b}|".encode())
        h.update(np.asarray(pts[a:b], np.int64).tobytes())
        for k in frame_keys[a:b]:
            h.update(len(k).to_bytes(4, "little") + k)
        out.append(Chunk(a, b, h.hexdigest(), functools.partial(_joined, frame_values, a, b)))
    return out


def _joined(frame_values: Sequence[np.ndarray], a: int, b: int) -> np.ndarray:
    values = [np.asarray(v, np.float64).ravel() for v in frame_values[a:b]]
    return np.concatenate(values) if values else np.zeros(0)


def reusable(folder: Path, chunk: Chunk, atol: float = VALUE_TOL) -> bool:
    """True if `folder` holds this chunk rendered from values within `atol` of its own: an edit
    elsewhere moves far-away points by far less than a pixel, which must not force a re-render."""
    video, values = folder / f"{chunk.key}.mp4", folder / f"{chunk.key}.npy"
    if not (video.exists() and values.exists()):
        return False
    try:
        old = np.load(values)
    except (OSError, ValueError):
        return False
    values = chunk.values
    return old.shape == values.shape and bool(np.all(np.abs(old - values) <= atol))


def remember(folder: Path, chunk: Chunk) -> None:
    """Record the values a freshly rendered chunk was drawn from (after its video is in place)."""
    buf = io.BytesIO()
    np.save(buf, chunk.values)
    write_atomic(folder / f"{chunk.key}.npy", buf.getvalue())


def forget(folder: Path, chunk: Chunk) -> None:
    """Drop a chunk's record before re-rendering it."""
    (folder / f"{chunk.key}.npy").unlink(missing_ok=True)


def prune(folder: Path, keep: Sequence[Chunk]) -> None:
    """Remove cached chunks not in `keep` (edits leave old ones behind)."""
    keys = {c.key for c in keep}
    for p in [*folder.glob("*.mp4"), *folder.glob("*.npy")]:
        if p.stem not in keys:
            p.unlink(missing_ok=True)
