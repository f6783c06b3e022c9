"""One file that plays every language: the source's video and original audio, each dub as another audio
track and every subtitle file as a subtitle track, each tagged with its language (ISO 639-2) and titled.

Matroska (.mkv; .mka for audio input) holds all of it with no re-encoding of the video; players
(VLC, mpv, most TVs) list the tracks by language. The video is the source's: the dubs' re-rendered
mouths differ per language, so they stay in the per-language outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from . import media
from .files import atomic_path
from .schema import MediaInfo


@dataclass(frozen=True)
class Track:
    path: Path
    language: str  # ISO 639-2 code, e.g. "spa"
    title: str


def command(source: Path, info: MediaInfo, original: Track, dubs: list[Track], subtitles: list[Track],
            audio_origin: float, out: Path, audio_bitrate: str = "192k") -> list[str]:
    """The ffmpeg arguments writing `out`: the source's video (copied) and first audio track (copied, as
    `original`), then `dubs` (WAVs whose first sample plays at `audio_origin` s of the source's audio
    timeline, encoded AAC) and `subtitles` (SRT), in that order, the first audio track the default."""
    # ffmpeg starts every input at 0: the dubs go where the source's audio starts relative to its file
    offset = audio_origin - media._start_time(source)
    args = ["-i", str(source)]
    for t in dubs:
        args += (["-itsoffset", f"{offset:.6f}"] if abs(offset) > 1e-6 else []) + ["-i", str(t.path)]
    for t in subtitles:
        args += ["-i", str(t.path)]
    maps = (["-map", "0:v:0"] if info.has_video else []) + ["-map", "0:a:0"]
    maps += [x for i in range(len(dubs)) for x in ("-map", f"{i + 1}:a:0")]
    maps += [x for i in range(len(subtitles)) for x in ("-map", f"{len(dubs) + i + 1}:s:0")]
    codec = ["-c:v", "copy", "-c:a:0", "copy", "-c:s", "srt"]
    for i in range(len(dubs)):
        codec += [f"-c:a:{i + 1}", "aac", f"-b:a:{i + 1}", audio_bitrate]
    for kind, tracks in (("a", [original, *dubs]), ("s", subtitles)):
        for i, t in enumerate(tracks):
            codec += [f"-metadata:s:{kind}:{i}", f"language={t.language}", f"-metadata:s:{kind}:{i}", f"title={t.title}",
                      f"-disposition:{kind}:{i}", "default" if i == 0 and kind == "a" else "0"]
    return [*args, *maps, *codec, "-f", "matroska", str(out)]


def write(source: Path, info: MediaInfo, original: Track, dubs: list[Track], subtitles: list[Track],
          audio_origin: float, out: Path, audio_bitrate: str = "192k") -> Path:
    """Write the multi-track file `out` (appears only when complete)."""
    with atomic_path(out) as tmp:
        media.run_ffmpeg(command(source, info, original, dubs, subtitles, audio_origin, tmp, audio_bitrate),
                         f"writing {out.name}")
    return out


def tracks(path: Path) -> list[dict]:
    """Every stream of `path` as {"type", "codec", "language", "title", "default"} (what ffprobe shows), by PyAV."""
    import av

    with av.open(str(path)) as c:
        return [{"type": s.type, "codec": s.codec_context.name, "language": s.metadata.get("language", ""),
                 "title": s.metadata.get("title", ""), "default": bool(s.disposition & av.stream.Disposition.default)}
                for s in c.streams]


def for_job(src, codes: list[str], cfg, out_dir: Path) -> Path:
    """`out_dir`/<name>.multi.mkv (.mka for audio input) for a job: `src` its pipeline.Source, `codes` the
    languages dubbed from that source (this run's and earlier runs' whose dub.wav is there), each with its
    <lang>/dub.wav and <name>.<lang>.srt; the source's subtitles come last."""
    import languages

    def tag(code: str) -> tuple[str, str]:
        """(ISO 639-2 track tag, English name) of a language code; the code itself for one with no data."""
        try:
            lang = languages.get(code)
        except languages.UnknownLanguage:
            return code, code
        return lang.iso639_2, lang.name

    source_lang = src.transcript.language
    dubs, subs = [], []
    for code in codes:
        wav, srt_path = src.job.path(f"{code}/dub.wav"), out_dir / f"{src.name}.{code}.srt"
        if not wav.is_file():
            continue
        dubs.append(Track(wav, tag(code)[0], f"{tag(code)[1]} (dub)"))
        if srt_path.is_file():
            subs.append(Track(srt_path, *tag(code)))
    source_srt = out_dir / f"{src.name}.{source_lang}.source.srt"
    if source_srt.is_file():
        subs.append(Track(source_srt, tag(source_lang)[0], f"{tag(source_lang)[1]} (original)"))
    ext = ".mkv" if src.info.has_video else ".mka"
    return write(Path(src.info.path), src.info, Track(Path(src.info.path), tag(source_lang)[0],
                                                      f"{tag(source_lang)[1]} (original)"),
                 dubs, subs, src.info.audio_start, out_dir / f"{src.name}.multi{ext}",
                 cfg.output.audio_bitrate)
