"""Media I/O at the edges: probe a file, decode its audio, write WAVs, mux the outputs.

Decoding and encoding go through the static ffmpeg that imageio-ffmpeg carries (no system ffmpeg
needed) and PyAV for probing. Frame times come from packet timestamps, never from a nominal rate,
so variable-frame-rate sources keep their timing.
"""

from __future__ import annotations

import logging
import contextlib
import errno
import io
import os
import subprocess
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from .constants import SPEECH_RATE
from .errors import DubError, disk_full_error
from .files import atomic_path, write_atomic
from .schema import MediaInfo

VIDEO_EXTS = {".mp4", ".mov", ".webm", ".mkv", ".m4v", ".avi", ".mpg", ".mpeg"}
AUDIO_EXTS = {".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus", ".aac"}
SUBTITLE_CODEC = {".mp4": "mov_text", ".mov": "mov_text", ".m4v": "mov_text", ".mkv": "srt", ".webm": "webvtt"}

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def ffmpeg() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: list[str], what: str, stdin: bytes | None = None) -> bytes:
    """Run ffmpeg quietly; a failure becomes a DubError with ffmpeg's last error line."""
    r = subprocess.run([ffmpeg(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
                       input=stdin, capture_output=True)
    if r.returncode:
        lines = [l for l in r.stderr.decode(errors="replace").splitlines() if l.strip()]
        if any("No space left on device" in l for l in lines):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), what)
        raise DubError(f"{what} failed: {lines[-1] if lines else 'ffmpeg exit ' + str(r.returncode)}")
    return r.stdout


_PROBED: dict[tuple[str, int, int], MediaInfo] = {}  # (path, size, mtime ns) -> its probe, for this process
_PROBED_LOCK = threading.Lock()


def probe(path: str | os.PathLike) -> MediaInfo:
    """Streams, duration and frame timing of a media file; DubError if it is missing or unreadable.

    Demuxes every video packet (no decoding) to count frames and measure the real average rate, once per
    file and process: the CLI's check, the preparation and the stages after it share one probe.
    """
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        st = None
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns) if st is not None and p.is_file() else None
    with _PROBED_LOCK:
        known = _PROBED.get(key) if key else None
    if known is not None:
        return known.model_copy(update={"path": str(p)})
    info = _probe(p)
    if key:
        with _PROBED_LOCK:
            _PROBED[key] = info
    return info.model_copy()


ROTATION_PACKETS = 32  # packets decoded at most to find the first frame (a decoder's delay, a broken start)


def _rotation(frames, p: Path) -> int | None:
    """Degrees the player turns the stored frames by (the display matrix: phones record upright video as
    sideways frames and this), from the first of the decoded `frames`; None if there is none yet. PyAV gives
    it on decoded frames only (VideoFrame.rotation, av >= 14; Stream.side_data before)."""
    for frame in frames:
        try:
            return int(round(getattr(frame, "rotation", 0) or 0)) % 360
        except Exception as e:  # an odd display matrix: the frames as they are stored
            log.info("rotation of %s not read (%s: %s): taken as 0", p, type(e).__name__, e)
            return 0
    return None


def _probe(p: Path) -> MediaInfo:
    import av

    if not p.exists():
        raise DubError(f"input not found: {p}")
    if p.is_dir():
        raise DubError(f"input is a folder, not a media file: {p}")
    if p.stat().st_size == 0:
        raise DubError(f"input is empty: {p}")
    try:
        with av.open(str(p)) as c:
            v = c.streams.video[0] if c.streams.video else None
            a = c.streams.audio[0] if c.streams.audio else None
            # a still image "video" (png/jpg) is not a video for our purposes
            if v is not None and (v.codec_context.name in {"png", "mjpeg", "bmp", "webp"} and (v.frames or 0) <= 1):
                v = None
            if v is None and a is None:
                raise DubError(f"no audio or video stream in {p}")
            info = dict(path=str(p), has_video=v is not None, has_audio=a is not None, duration=0.0)
            if a is not None:
                info.update(audio_rate=a.codec_context.sample_rate or 0, audio_channels=a.codec_context.channels or 0,
                            audio_start=float(a.start_time * a.time_base) if a.start_time is not None else 0.0)
            ends: list[float] = []
            if v is not None:
                pts = []
                rotation = None  # read from the first frame the first packets decode to
                for pkt in c.demux(v):
                    if pkt.pts is not None and pkt.size:
                        pts.append(float(pkt.pts * v.time_base))
                        if rotation is None and len(pts) <= ROTATION_PACKETS:
                            try:
                                rotation = _rotation(pkt.decode(), p)
                            except Exception:  # a broken first packet: the next one may decode
                                pass
                if not pts:
                    raise DubError(f"video stream of {p} holds no frames (truncated?)")
                t = np.sort(np.asarray(pts))
                d = np.diff(t)
                frame_dur = float(np.median(d)) if len(d) else 1 / 25
                fps = (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 1 / frame_dur
                info.update(width=v.codec_context.width, height=v.codec_context.height, fps=float(fps),
                            frame_count=len(t), video_codec=v.codec_context.name, rotation=rotation or 0,
                            variable_frame_rate=bool(len(d) > 1 and (d.max() - d.min()) > 0.5 * frame_dur))
                ends.append(float(t[-1] - (t[0] if t[0] > 0 else 0) + frame_dur))
            if c.duration:
                ends.append(c.duration / 1e6)
            if a is not None and a.duration and a.time_base:
                ends.append(float(a.duration * a.time_base))
            info["duration"] = min(ends) if v is not None and len(ends) > 1 else max(ends or [0.0])
    except DubError:
        raise
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError, IndexError) as e:
        raise DubError(f"not a readable media file (corrupt or truncated?): {p} ({type(e).__name__})") from None
    if info["duration"] <= 0:
        raise DubError(f"media has no duration (truncated?): {p}")
    return MediaInfo(**info)


def load_audio(path: str | os.PathLike, sample_rate: int = SPEECH_RATE, mono: bool = True) -> np.ndarray:
    """Decode the first audio stream to float32 at `sample_rate` Hz: shape (samples,) or (samples, channels).
    Surround (more than 2 channels, e.g. a film's 5.1) is downmixed to stereo by ffmpeg's standard matrix."""
    n = 1 if mono else min(probe(path).audio_channels or 1, 2)
    ch = ["-ac", str(n)] if mono or n == 2 else []
    raw = run_ffmpeg(["-i", str(path), "-map", "0:a:0", "-vn", *ch, "-ar", str(sample_rate), "-f", "f32le", "-"],
                     f"decoding the audio of {path}")
    audio = np.frombuffer(raw, dtype=np.float32)
    if not mono:
        audio = audio.reshape(-1, n)
    if audio.size == 0:
        raise DubError(f"audio track of {path} is empty")
    return audio.copy()


def decode_audio(path: str | os.PathLike, outputs: dict[Path, tuple[int, int | None]]) -> None:
    """Decode the first audio stream of `path` once, into a 16-bit WAV per output: {file: (rate Hz,
    channels or None for the source's)}. Every file appears only when all are written."""
    with contextlib.ExitStack() as stack:
        args = ["-i", str(path)]
        for out, (rate, channels) in outputs.items():
            tmp = stack.enter_context(atomic_path(out, ".wav"))
            args += ["-map", "0:a:0", "-vn", *(["-ac", str(channels)] if channels else []), "-ar", str(rate),
                     "-c:a", "pcm_s16le", "-f", "wav", str(tmp)]
        run_ffmpeg(args, f"decoding the audio of {path}")


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> Path:
    """Write float audio as 16-bit PCM WAV, atomically."""
    import soundfile as sf

    p = Path(path)
    buf = io.BytesIO()  # encoded in memory: libsndfile reports a full disk only as "System error."
    sf.write(buf, np.clip(audio, -1, 1), sample_rate, subtype="PCM_16", format="WAV")
    return write_atomic(p, buf.getvalue())


def wav_writer(stack: contextlib.ExitStack, path: str | os.PathLike, sample_rate: int, channels: int) -> "WavWriter":
    """A writer of 16-bit PCM WAV to a temporary file that replaces `path` when `stack` closes without an
    error (removed on one): a long track written a window at a time appears whole or not at all."""
    import soundfile as sf

    tmp = stack.enter_context(atomic_path(path, ".wav"))
    writer = WavWriter(sf.SoundFile(str(tmp), "w", sample_rate, channels, "PCM_16", format="WAV"), Path(path))
    stack.callback(writer.close)
    return writer


class WavWriter:
    """soundfile's writer, with a full disk reported as OSError(ENOSPC) naming the file: libsndfile says
    only "System error." (see write_wav)."""

    def __init__(self, f, path: Path):
        self.f, self.path = f, path

    def write(self, audio: np.ndarray) -> None:
        self._named(self.f.write, audio)

    def close(self) -> None:
        self._named(self.f.close)

    def _named(self, fn, *a) -> None:
        try:
            fn(*a)
        except Exception as e:  # while the partial file still takes its space
            err = disk_full_error(e, self.path)
            if err is e:
                raise
            raise err from e


def wav_span(f, a: int, b: int, mono: bool = False) -> np.ndarray:
    """Samples a..b-1 of the open soundfile `f` as float32 (samples, channels), or (samples,) with `mono`
    for a one-channel file; zeros past its end."""
    out = np.zeros((max(0, b - a), f.channels), np.float32)
    stop = min(b, f.frames)
    if stop > a:
        f.seek(a)
        out[:stop - a] = f.read(stop - a, dtype="float32", always_2d=True)
    return out[:, 0] if mono else out


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    import soundfile as sf

    audio, sr = sf.read(str(path), dtype="float32", always_2d=False)
    return audio, sr


def mux(out: str | os.PathLike, audio: str | os.PathLike, video: str | os.PathLike | None = None,
        subtitles: str | os.PathLike | None = None, language: str = "", audio_bitrate: str = "192k",
        audio_origin: float = 0.0, video_filter: str | None = None, crf: int = 18, preset: str = "veryfast",
        rotation: int = 0) -> Path:
    """Write `out` from a video stream (copied), a new audio track and an optional subtitle track.

    The file appears only when complete (written beside, then renamed). Video timestamps are kept
    as they are (variable frame rate survives): the audio's first sample plays with the video's
    timestamp `audio_origin` (s; the source's audio_start when the audio was decoded from it).
    With no video, writes an audio file in the format `out`'s extension names. A `video_filter` (ffmpeg
    -vf, e.g. burned-in subtitles) re-encodes the video and sees frames at the audio's times (s).
    `rotation` (degrees, the source's MediaInfo.rotation): the display matrix the output carries, so that
    frames rendered as the source stored them play upright as the source does (with a `video_filter`
    the frames are turned upright before it, and carry none).
    """
    out = Path(out)
    ext = out.suffix.lower()
    args: list[str] = []
    maps: list[str] = []
    if video is not None:
        # ffmpeg moves each input to start at 0: a re-rendered video whose first frame is at 0.033 s (as
        # vr_face1's is) would play one frame early against audio that starts at 0. Offset it back by
        # its start, less the time the audio's first sample stands for.
        offset = _start_time(video) - audio_origin
        args += (["-itsoffset", f"{offset:.6f}"] if abs(offset) > 1e-6 else [])
        args += (["-display_rotation", str(rotation)] if rotation % 360 else []) + ["-i", str(video)]
        maps += ["-map", "0:v:0"]
    args += ["-i", str(audio)]
    maps += ["-map", f"{len(maps) // 2}:a:0"]
    if subtitles is not None and ext in SUBTITLE_CODEC:
        args += ["-i", str(subtitles)]
        maps += ["-map", f"{len(maps) // 2}:s:0"]
    codec: list[str] = []
    if video is not None:
        if video_filter:  # drawn on (burned-in subtitles): re-encoded once, at crf/preset (output.crf, .preset)
            codec += ["-vf", video_filter]
            if ext == ".webm":  # WebM holds VP8/VP9/AV1 only
                # VP9 crf 31 looks about like x264 crf 18 (libvpx guide for 1080p): the scales differ by ~13
                codec += ["-c:v", "libvpx-vp9", "-crf", str(crf + 13), "-b:v", "0", "-deadline", "good",
                          "-cpu-used", "4", "-row-mt", "1", "-pix_fmt", "yuv420p"]
            else:
                codec += ["-c:v", "libx264", "-crf", str(crf), "-preset", preset, "-pix_fmt", "yuv420p"]
        else:  # copied: the lips were encoded once, the source is never re-encoded
            codec += ["-c:v", "copy"]
        codec += ["-fps_mode", "passthrough"]
    codec += _audio_codec(ext, audio_bitrate)
    if subtitles is not None and ext in SUBTITLE_CODEC:
        codec += ["-c:s", SUBTITLE_CODEC[ext]]
        if language:
            codec += ["-metadata:s:s:0", f"language={language}"]
    if language:
        codec += ["-metadata:s:a:0", f"language={language}"]
    if ext in {".mp4", ".mov", ".m4v", ".m4a"}:
        codec += ["-movflags", "+faststart"]
    with atomic_path(out) as tmp:
        run_ffmpeg([*args, *maps, *codec, "-f", _muxer(ext), str(tmp)], f"writing {out.name}")
    return out


def _start_time(path: str | os.PathLike) -> float:
    """The container's start time (s): the timestamp ffmpeg subtracts from an input's streams."""
    import av

    with av.open(str(path)) as c:
        return max(float(c.start_time or 0) / 1e6, 0.0)


def _audio_codec(ext: str, bitrate: str = "192k") -> list[str]:
    """ffmpeg's audio codec options for a file with extension `ext`."""
    return {".webm": ["-c:a", "libopus", "-b:a", "128k"], ".wav": ["-c:a", "pcm_s16le"], ".flac": ["-c:a", "flac"],
            ".mp3": ["-c:a", "libmp3lame", "-b:a", bitrate], ".ogg": ["-c:a", "libopus", "-b:a", "128k"],
            ".opus": ["-c:a", "libopus", "-b:a", "128k"]}.get(ext, ["-c:a", "aac", "-b:a", bitrate])


def _muxer(ext: str) -> str:
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi",
            ".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".m4a": "ipod", ".ogg": "ogg", ".opus": "ogg",
            ".mpg": "mpeg", ".mpeg": "mpeg", ".aac": "adts"}[ext]


def output_extension(info: MediaInfo) -> str:
    """The container a dubbed output is written in: the input's, where it can hold what we write."""
    ext = Path(info.path).suffix.lower()
    if info.has_video:
        return ext if ext in {".mp4", ".mov", ".mkv", ".webm", ".m4v"} else ".mp4"
    return ext if ext in {".wav", ".mp3", ".m4a", ".flac", ".ogg", ".opus"} else ".wav"


def unreadable_spans(path: str | os.PathLike, join: float = 0.5) -> list[tuple[float, float]]:
    """Spans (start, end seconds) of `path` whose audio or video packets do not decode: a file corrupt
    in the middle. Packets closer than `join` seconds are one span. Decodes every packet of the first
    video and audio stream once (no picture conversion); [] for a file that decodes whole."""
    import av

    bad: list[tuple[float, float]] = []
    with av.open(str(path)) as c:
        for pkt in c.demux(list(c.streams.video[:1]) + list(c.streams.audio[:1])):
            if not pkt.size:
                continue
            try:
                pkt.decode()
            except av.error.FFmpegError:
                if pkt.pts is not None:
                    t = float(pkt.pts * pkt.time_base)
                    bad.append((t, t + float((pkt.duration or 0) * pkt.time_base)))
    spans: list[tuple[float, float]] = []
    for s, e in sorted(bad):
        if spans and s - spans[-1][1] < join:
            spans[-1] = (spans[-1][0], max(spans[-1][1], e))
        else:
            spans.append((s, e))
    return [(round(s, 2), round(e, 2)) for s, e in spans]


def readable_copy(path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """`path` re-encoded without its undecodable packets, on the same timeline: the video re-encoded
    (H.264, timestamps kept), the audio's lost stretch filled with silence so later speech stays in its
    place. Written atomically."""
    out = Path(out)
    info = probe(path)
    ext = out.suffix.lower()
    vcodec = ["libvpx-vp9", "-deadline", "realtime", "-b:v", "0"] if ext == ".webm" else ["libx264", "-preset", "veryfast"]
    video = ["-map", "0:v:0", "-c:v", *vcodec, "-crf", "18", "-pix_fmt", "yuv420p",
             "-fps_mode", "passthrough"] if info.has_video else []
    audio = ["-map", "0:a:0", "-af", "aresample=async=1", *_audio_codec(ext)] if info.has_audio else []
    with atomic_path(out) as tmp:
        run_ffmpeg(["-err_detect", "ignore_err", "-fflags", "+discardcorrupt", "-i", str(path), *video, *audio,
                    "-f", _muxer(ext), str(tmp)], f"reading what decodes of {Path(path).name}")
    return out
