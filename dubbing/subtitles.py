"""SRT and WebVTT subtitles from dubbing lines, wrapped to a language's subtitle rules."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import srt

from languages import SubtitleSpec

from . import linebreak
from .files import write_atomic
from .schema import Line


def wrap(text: str, rules: SubtitleSpec) -> str:
    """Break `text` into at most `rules.max_lines` balanced lines of about `rules.max_chars_per_line`
    characters, at word boundaries (Japanese words found by dubbing.linebreak)."""
    text = " ".join(text.split())
    return "\n".join(linebreak.wrap_lines(text, rules.max_chars_per_line, rules.max_lines, rules.cjk)) or text


def cues(lines: list[Line], rules: SubtitleSpec, source: bool = False,
         times: dict[str, tuple[float, float]] | None = None) -> list[srt.Subtitle]:
    """One cue per line with text (the source text if `source`); `times` overrides a line's (start, end)."""
    out = []
    for ln in lines:
        text = ln.source if source else ln.text
        if not text.strip():
            continue
        start, end = (times or {}).get(ln.id, (ln.start, ln.end))
        out.append(srt.Subtitle(index=len(out) + 1, start=dt.timedelta(seconds=max(start, 0)),
                                end=dt.timedelta(seconds=max(end, start + 0.3)), content=wrap(text, rules)))
    return out


def to_vtt(subs: list[srt.Subtitle]) -> str:
    def ts(t: dt.timedelta) -> str:
        ms = int(round(t.total_seconds() * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"

    return "WEBVTT\n\n" + "".join(f"{s.index}\n{ts(s.start)} --> {ts(s.end)}\n{s.content}\n\n" for s in subs)


def write(subs: list[srt.Subtitle], stem: str | os.PathLike) -> tuple[Path, Path]:
    """Write `stem`.srt and `stem`.vtt atomically; returns both paths."""
    stem = Path(stem)
    a = write_atomic(stem.with_name(stem.name + ".srt"), srt.compose(subs).encode())
    b = write_atomic(stem.with_name(stem.name + ".vtt"), to_vtt(subs).encode())
    return a, b


def read(path: str | os.PathLike) -> list[srt.Subtitle]:
    """Parse an SRT file; SRTParseError names the position of a syntax error."""
    return list(srt.parse(Path(path).read_text(encoding="utf-8-sig")))
