"""Shared fixtures: paths to ../shared/media (tests that need it skip where it is absent) and small
media files the tests make themselves with ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"

needs_media = pytest.mark.skipif(not MEDIA.exists(), reason="../shared/media not present (clips used by path)")


def ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if not MEDIA.exists():
        pytest.skip("../shared/media not present")
    return MEDIA


@pytest.fixture(scope="session")
def made(tmp_path_factory) -> dict[str, Path]:
    """Small files made here: a silent-audio video, a video with no audio track, a tone wav, junk."""
    d = tmp_path_factory.mktemp("made")
    out = {
        "noaudio": d / "noaudio.mp4",
        "silence": d / "silence.mp4",
        "tone": d / "tone.wav",
        "junk": d / "junk.mp4",
    }
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           str(out["noaudio"]))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=2", "-f", "lavfi", "-i",
           "anullsrc=r=16000:cl=mono", "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(out["silence"]))
    import soundfile as sf

    t = np.arange(16000) / 16000
    sf.write(out["tone"], 0.3 * np.sin(2 * np.pi * 440 * t), 16000)
    out["junk"].write_bytes(np.random.default_rng(0).bytes(20000))
    return out


def spoken_clip(path: Path, sentence: str, size: str = "160x120") -> None:
    """A short test-pattern video whose audio is espeak-ng saying `sentence`."""
    wav = path.with_suffix(".speech.wav")
    subprocess.run(["espeak-ng", "-w", str(wav), sentence], check=True)
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=25", "-i", str(wav), "-shortest",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path))
    wav.unlink()
