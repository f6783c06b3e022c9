"""Poster frames for the review page's players: a <video preload="metadata"> shows nothing (black in a
headless browser, and in many browsers until played) before its first frame is decoded; a poster
image is shown at once.

A poster is one JPEG frame taken while someone speaks, made by the bundled ffmpeg, and kept until
the video file changes (its path, size and modification time are the key).
"""

from __future__ import annotations

import os
from pathlib import Path

from .media import run_ffmpeg
from .files import atomic_path
from .workspace import Job, digest

MAX_WIDTH = 960  # px: a poster is shown at most this wide on the page


def poster_time(duration: float, speech_start: float | None = None) -> float:
    """Seconds into a video of `duration` s to take its poster at: half a second into the first speech
    (a face mid-word, subtitles on), else a quarter of the way in; always inside the video."""
    at = speech_start + 0.5 if speech_start is not None else 0.25 * duration
    return max(0.0, min(at, 0.9 * duration))


def make(video: Path, out: Path, at: float) -> Path:
    """Write the frame of `video` shown at `at` s as the JPEG `out` (atomically); DubError if ffmpeg fails."""
    with atomic_path(out, ".jpg") as tmp:
        run_ffmpeg(["-ss", f"{at:.3f}", "-i", str(video), "-frames:v", "1", "-vf",
                    f"scale='min(iw,{MAX_WIDTH})':-2", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", str(tmp)],
                   f"poster frame of {Path(video).name}")
        if not os.path.getsize(tmp):  # `at` past the last frame: ffmpeg writes nothing
            raise OSError(f"no frame at {at:.2f} s")
    return out


def poster(video: Path | None, out: Path, at: float) -> str:
    """The poster of `video` as `out`'s file name for the page (made unless made from the same file and
    time before), or "" where there is no video or no frame can be read: a page is never lost to a poster."""
    if video is None or not Path(video).is_file():
        return ""
    st = Path(video).stat()
    key = digest(str(Path(video).resolve()), st.st_size, st.st_mtime_ns, round(at, 2))
    keep = Job(out.parent)
    if not keep.fresh(out, key):
        try:
            make(Path(video), out, at)
        except Exception:
            return ""
        keep.mark(out, key)
    return out.name
