"""Subtitles burned into the picture: an ASS file (styled, inside the title-safe area, at most the
language's number of lines) rendered by the bundled ffmpeg's `ass` filter (libass).

The lines are broken by dubbing.subtitles (words kept whole, Japanese words found by SudachiPy), and
libass is told not to wrap again; the font size is then chosen so the longest line fits the safe width.
Fonts are found through matplotlib's font list (which also carries DejaVu Sans, so Latin text always has
one); a font that lacks a glyph of the text is refused with one line rather than drawn as empty boxes.
Sizes and margins are in pixels of the video frame.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import srt

from .errors import DubError
from .files import write_atomic
from .schema import MediaInfo

SAFE = 0.05  # title-safe margin on each side, as a fraction of the frame (EBU R 95: 90 % of the width and height)
SIZE = 0.055  # nominal font size, fraction of the frame height (about 40 px at 720p)
OUTLINE = 0.075  # outline width, fraction of the font size
# tried in order when output.subtitle_font is empty: the first that has every glyph of the text is used
AUTO_FONTS = ("DejaVu Sans", "Noto Sans", "Liberation Sans", "Noto Sans CJK JP", "Source Han Sans JP",
              "IPAexGothic", "IPAGothic", "IPAPGothic", "Droid Sans Fallback")


class FontError(DubError):
    """No usable font for the burned-in subtitles."""


@dataclass(frozen=True)
class Font:
    path: Path
    family: str  # the family name libass matches in the font's folder
    cell: float  # (ascent + descent) / units per em: libass's font size is that cell, not the em


@lru_cache(maxsize=32)
def _load(path: str) -> tuple[str, frozenset[int], float]:
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=0, lazy=True) as f:
        family = f["name"].getBestFamilyName() or Path(path).stem
        os2, upem = f["OS/2"], f["head"].unitsPerEm
        cell = (os2.usWinAscent + os2.usWinDescent) / upem
        return family, frozenset(f.getBestCmap() or {}), cell


def _find(name: str) -> Path | None:
    """A font file by path or by family name (matplotlib's list of the system's fonts and its own)."""
    p = Path(name).expanduser()
    if p.suffix.lower() in {".ttf", ".otf", ".ttc"}:
        return p if p.is_file() else None
    from matplotlib.font_manager import FontProperties, findfont

    try:
        return Path(findfont(FontProperties(family=name), fallback_to_default=False))
    except ValueError:
        return None


def missing_glyphs(path: Path, text: str) -> str:
    """The characters of `text` (spaces aside) that the font at `path` has no glyph for, each once."""
    have = _load(str(path))[1]
    return "".join(dict.fromkeys(c for c in text if not c.isspace() and ord(c) not in have))


def choose_font(setting: str, text: str, language: str) -> Font:
    """The font to draw `text` with: `setting` (a family name or a font file) if given, else the first of
    AUTO_FONTS installed here with every glyph. FontError, in one line, if there is none."""
    names = [setting] if setting else list(AUTO_FONTS)
    tried = []
    for name in names:
        path = _find(name)
        if path is None:
            if setting:
                raise FontError(f"subtitle font {setting!r} not found: set output.subtitle_font to an installed "
                                "font's family name or to a .ttf/.otf file")
            continue
        lacking = missing_glyphs(path, text)
        if not lacking:
            family, _, cell = _load(str(path))
            return Font(path=path, family=family, cell=cell)
        tried.append(f"{name} lacks {lacking[:8]!r}")
    hint = "fonts-noto-cjk or fonts-ipafont" if language in {"ja", "zh", "ko"} else "fonts-dejavu or fonts-noto"
    raise FontError(f"no font to burn the {language} subtitles with ({'; '.join(tried) or 'none installed'}): "
                    f"install {hint}, or set output.subtitle_font to a font file that has them")


def font_size(lines: list[str], font: Font, frame_width: int, frame_height: int) -> int:
    """ASS font size (px) for `lines`: SIZE of the frame height, smaller if the longest line would
    otherwise be wider than the safe area (measured with the font itself, by Pillow)."""
    from PIL import ImageFont

    nominal = max(8, round(SIZE * frame_height))
    if not lines:
        return nominal
    em = 100  # measure at 100 px per em, then scale
    face = ImageFont.truetype(str(font.path), em)
    widest = max(face.getlength(ln) for ln in lines) / em  # in ems
    outline = 2 * OUTLINE * nominal
    room = (1 - 2 * SAFE) * frame_width - outline
    fits = room / max(widest, 1e-6) * font.cell  # the ASS size whose em draws the widest line in `room`
    return max(8, min(nominal, int(fits)))


def frame_size(info: MediaInfo) -> tuple[int, int]:
    """(width, height) in pixels of the frames as shown: a rotated video is drawn upright by ffmpeg."""
    w, h = info.width or 1280, info.height or 720
    return (h, w) if abs(info.rotation) % 180 == 90 else (w, h)


def _ts(t: dt.timedelta) -> str:
    cs = int(round(t.total_seconds() * 100))
    return f"{cs // 360000}:{cs // 6000 % 60:02d}:{cs // 100 % 60:02d}.{cs % 100:02d}"


def _text(content: str) -> str:
    """A cue's lines as ASS dialogue text: breaks as \\N; braces and backslashes would be read as override
    tags, so they are replaced by look-alikes."""
    lines = [ln.replace("\\", "\u2216").replace("{", "(").replace("}", ")") for ln in content.splitlines()]
    return "\\N".join(ln for ln in lines if ln.strip())


def ass(cues: list[srt.Subtitle], font: Font, frame_width: int, frame_height: int) -> str:
    """An ASS script drawing `cues` (already broken into lines) white on a dark outline, bottom centre,
    inside the title-safe area, one size for the whole video."""
    size = font_size([ln for c in cues for ln in c.content.splitlines()], font, frame_width, frame_height)
    margin_x, margin_y = round(SAFE * frame_width), round(SAFE * frame_height)
    outline = max(1.0, round(OUTLINE * size, 1))
    head = ("[Script Info]\nScriptType: v4.00+\n"
            f"PlayResX: {frame_width}\nPlayResY: {frame_height}\n"
            "WrapStyle: 2\nScaledBorderAndShadow: yes\n\n"  # 2: no wrapping but ours
            "[V4+ Styles]\n"
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
            "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, "
            "MarginL, MarginR, MarginV, Encoding\n"
            f"Style: Default,{font.family},{size},&H00FFFFFF,&H00FFFFFF,&H00101010,&H80000000,0,0,0,0,100,100,0,0,"
            f"1,{outline},{round(outline / 2, 1)},2,{margin_x},{margin_x},{margin_y},1\n\n"
            "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")
    events = "".join(f"Dialogue: 0,{_ts(c.start)},{_ts(end)},Default,,0,0,0,,{_text(c.content)}\n"
                     for c, end in zip(cues, ends(cues)))
    return head + events


def ends(cues: list[srt.Subtitle]) -> list[dt.timedelta]:
    """Each cue's end, cut at the next cue's start: two cues on screen at once would be stacked (4 lines)."""
    from bisect import bisect_right

    starts = sorted(c.start for c in cues)
    nxt = [bisect_right(starts, c.start) for c in cues]
    return [min(c.end, starts[i]) if i < len(starts) else c.end for c, i in zip(cues, nxt)]


def write_ass(srt_path: Path, out: Path, info: MediaInfo, language: str, font_setting: str = "") -> tuple[Path, Font]:
    """The ASS file for the cues of `srt_path` (the dub's subtitles, at the dubbed times) on `info`'s frames."""
    from . import subtitles

    cues = subtitles.read(srt_path)
    font = choose_font(font_setting, "".join(c.content for c in cues), language)
    w, h = frame_size(info)
    return write_atomic(out, ass(cues, font, w, h).encode()), font


def _escape(value: str) -> str:
    """`value` as one ffmpeg filter option value inside a filtergraph (both levels of ffmpeg's escaping)."""
    for ch in "\\':":
        value = value.replace(ch, "\\" + ch)
    for ch in "\\'[],;":
        value = value.replace(ch, "\\" + ch)
    return value


def video_filter(ass_path: Path, font: Font) -> str:
    """The ffmpeg -vf that burns `ass_path` in, with the font's folder given to libass."""
    require_libass()
    return f"ass=filename={_escape(os.fspath(ass_path))}:fontsdir={_escape(os.fspath(font.path.parent))}"


# characters each language's subtitles are sure to need, to check a font before a run rather than after
SAMPLES = {"ja": "日本語の字幕、ひらがな。カタカナ！", "es": "¿Qué? ¡Sí! ñáéíóúü", "fr": "àâçéèêëîïôûùœ«»",
           "de": "äöüßÄÖÜ", "it": "àèéìòù", "pt": "ãõçáéíóúâêô", "en": "Aa"}


@lru_cache(maxsize=1)
def has_libass() -> bool:
    """Whether the ffmpeg in use has the `ass` filter (imageio-ffmpeg 0.8.1's static build has)."""
    import subprocess

    from .media import ffmpeg

    r = subprocess.run([ffmpeg(), "-hide_banner", "-filters"], capture_output=True, text=True)
    return any(line.split()[1:2] == ["ass"] for line in r.stdout.splitlines())


def require_libass() -> None:
    """DubError, in one line, if the ffmpeg in use cannot burn subtitles."""
    if not has_libass():
        raise DubError("this ffmpeg cannot burn subtitles (built without libass): use imageio-ffmpeg's "
                       "(requirements/lock.txt), or leave output.burn_subtitles off")


def check_fonts(setting: str, languages: list[str]) -> None:
    """DubError, before a run, if subtitles cannot be burned here: an ffmpeg without libass, or a language
    whose subtitles would have no font (see choose_font)."""
    require_libass()
    for code in languages:
        choose_font(setting, SAMPLES.get(code, "Aa0"), code)
