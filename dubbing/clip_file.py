"""Dubbed clips kept in a file instead of in memory, until they are mixed.

A language's fitted lines at 48 kHz (float32) grow with the video: about 230 MB per language at 30
minutes, held by every language at once while they speak. A ClipFile appends each clip's samples to one
raw float32 file; the StoredClip it gives back knows its length and reads its samples only when used as
an array (numpy's `__array__`), so the mix, which works a window at a time (dubbing.mix.place_span),
holds only the clips under its window. StoredClips pickle (a path and two numbers), so they come back
from a cluster's workers as they are, where the job's folder is shared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class StoredClip:
    """`length` mono float32 samples at sample `offset` of the raw file `path`."""

    path: Path
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        a = np.fromfile(self.path, np.float32, count=self.length, offset=4 * self.offset)
        if len(a) != self.length:
            raise OSError(f"{self.path} holds fewer samples than its clips: rewritten while in use?")
        return a if dtype is None else a.astype(dtype, copy=False)


class ClipFile:
    """Clips appended to the raw file `path` (started afresh), each given back as a StoredClip."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.n = path, 0
        self._f = open(path, "wb")

    def keep(self, audio: np.ndarray) -> StoredClip:
        """`audio` (mono) written; readable at once through the clip returned."""
        a = np.ascontiguousarray(audio, dtype=np.float32)
        if a.ndim != 1:
            raise ValueError(f"clips must be mono (samples,), got shape {a.shape}")
        self._f.write(a.tobytes())
        self._f.flush()
        clip = StoredClip(self.path, self.n, len(a))
        self.n += len(a)
        return clip

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> ClipFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
