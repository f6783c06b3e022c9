"""Start a dub from the user's subtitles (SRT or WebVTT) in the source language instead of speech
recognition, and from their speaker labels instead of speaker clustering.

Speaker labels: "ANNA: text", "[Anna] text", a WebVTT voice "<v Anna>text", and "- " turns (two people
in one cue: each turn gets its own share of the cue's time; an unnamed turn after a named one goes to
the speaker who spoke before that one). Names are matched case-insensitively ("ANNA" = "Anna").

The cues' times stay subject to the timing checks of the ASR path: words are spread over their cue by
length, and speaker turns are the cues clipped to where voice activity finds speech, so make_lines
(lines.clean_words) trims a cue's silent lead-in and tail as it trims Whisper's. Subtitles that overlap,
hold no text, run past the end of the media or read as another language than --from: one DubError line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import languages

from .errors import DubError, read_user_text
from .schema import Diarization, Segment, SpeakerTurn, Transcript, Word

OVERLAP_TOLERANCE = 0.1  # seconds two cues may overlap (rounding in editors) before it is an error
END_TOLERANCE = 0.5  # seconds a cue may run past the end of the media


class SubtitleError(DubError):
    """Subtitles that cannot be a transcript."""


@dataclass(frozen=True)
class Cue:
    index: int  # the cue's number in the file (1-based position)
    start: float  # seconds
    end: float
    text: str


@dataclass(frozen=True)
class Turn:
    """One speaker's part of a cue."""

    start: float  # seconds
    end: float
    text: str
    speaker: str | None  # as written in the file; None if unnamed
    dash: bool = False  # written as a "- " turn (a change of speaker)


# --- reading ------------------------------------------------------------------------------------------

_VTT_TIME = re.compile(r"(?:(\d+):)?(\d{2}):(\d{2})[.,](\d{3})")
_TAG = re.compile(r"</?(?:[ibu]|c(?:\.[\w.-]+)?|ruby|rt|lang(?:\s[^>]*)?|\d[\d:.]*)>")


def read_cues(path: Path) -> list[Cue]:
    """The cues of an .srt or .vtt file, in file order; SubtitleError naming the place of a syntax error."""
    raw = read_user_text(path, "subtitle", SubtitleError)
    suffix = path.suffix.lower()
    if suffix == ".vtt":
        raw = vtt_to_srt(path, raw)
    elif suffix != ".srt":
        raise SubtitleError(f"{path}: --transcript takes an .srt or .vtt file")
    import srt

    try:
        subs = list(srt.parse(raw))
    except srt.SRTParseError as e:
        line = raw.count("\n", 0, e.expected_start) + 1
        raise SubtitleError(f"{path}: line {line}: not valid {suffix[1:].upper()} "
                            f"(expected a cue: number, 'start --> end', text)") from None
    return [Cue(i + 1, s.start.total_seconds(), s.end.total_seconds(), s.content) for i, s in enumerate(subs)]


def vtt_to_srt(path: Path, raw: str) -> str:
    """WebVTT as SRT text (the `srt` parser then reads it): header, NOTE/STYLE/REGION blocks and cue
    settings dropped, "mm:ss.ttt" times written "00:mm:ss,ttt", voice tags kept as "[Name]" labels."""
    blocks = re.split(r"\n\s*\n", raw.replace("\r\n", "\n").strip())
    if not blocks or not blocks[0].startswith("WEBVTT"):
        raise SubtitleError(f"{path}: line 1: a WebVTT file starts with 'WEBVTT'")
    out = []
    for block in blocks[1:]:
        rows = block.split("\n")
        if rows[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        k = next((i for i, r in enumerate(rows) if "-->" in r), None)
        if k is None or k > 1:
            at = raw.find(block)
            raise SubtitleError(f"{path}: line {raw.count(chr(10), 0, at) + 1}: a WebVTT cue needs "
                                f"'start --> end'")
        start, _, rest = rows[k].partition("-->")
        end = rest.split()[0] if rest.split() else ""
        times = [_VTT_TIME.fullmatch(t.strip()) for t in (start, end)]
        if not all(times):
            at = raw.find(rows[k])
            raise SubtitleError(f"{path}: line {raw.count(chr(10), 0, at) + 1}: bad cue time {rows[k].strip()!r}")
        stamp = [f"{int(m.group(1) or 0):02d}:{m.group(2)}:{m.group(3)},{m.group(4)}" for m in times]
        text = "\n".join(rows[k + 1:])
        text = re.sub(r"<v(?:\.[\w.-]+)?\s+([^>]+)>", r"[\1] ", text).replace("</v>", "")
        out.append(f"{len(out) + 1}\n{stamp[0]} --> {stamp[1]}\n{_TAG.sub('', text)}\n")
    return "\n".join(out)


# --- speaker labels (pure) --------------------------------------------------------------------------

_NAME = r"[^\W\d_][\w.'’-]*(?: [^\W\d_][\w.'’-]*){0,2}"
_COLON_LABEL = re.compile(rf"^({_NAME})\s*[:：]\s+(.*)$", re.DOTALL)
_BRACKET_LABEL = re.compile(rf"^[\[(]({_NAME})[\])]\s*[:：]?\s*(.*)$", re.DOTALL)
_DASH = re.compile(r"^\s*[-–—]\s+")


def _label(text: str) -> tuple[str | None, str]:
    """(speaker, text without the label) of one turn's text; a "Name:" label must be in capitals or one
    capitalized word (so "Note: the end" in running text is not a speaker... unless written NOTE:)."""
    m = _BRACKET_LABEL.match(text)
    if m and m.group(2).strip():
        return m.group(1).strip(), m.group(2).strip()
    m = _COLON_LABEL.match(text)
    if m and m.group(2).strip() and (m.group(1).isupper() or re.fullmatch(r"[A-Z][a-z'’-]+", m.group(1))):
        return m.group(1).strip(), m.group(2).strip()
    return None, text.strip()


def split_turns(cue: Cue) -> list[Turn]:
    """The speakers' turns of one cue: one turn per "- " line (time shared by text length), else one."""
    rows = [r.strip() for r in cue.text.split("\n") if r.strip()]
    parts: list[tuple[bool, str]] = []
    for r in rows:
        if _DASH.match(r) or not parts:
            parts.append((bool(_DASH.match(r)), _DASH.sub("", r)))
        else:
            parts[-1] = (parts[-1][0], parts[-1][1] + " " + r)
    labelled = [(dash,) + _label(text) for dash, text in parts]
    labelled = [(d, s, t) for d, s, t in labelled if re.search(r"\w", t)]
    total = sum(len(t) for _, _, t in labelled) or 1
    turns, at = [], cue.start
    for dash, speaker, text in labelled:
        end = at + (cue.end - cue.start) * len(text) / total
        turns.append(Turn(round(at, 3), round(end, 3), " ".join(text.split()), speaker, dash))
        at = end
    return turns


def resolve_speakers(turns: list[Turn]) -> list[str | None]:
    """Each turn's speaker: its name as first written in the file (names match case-insensitively); an
    unnamed turn continues the speaker before it, or after a "- " switches back to the one before that.
    All None if no turn is named (the caller clusters voices instead)."""
    names: dict[str, str] = {}
    out: list[str | None] = []
    recent: list[str] = []  # speakers, latest last, each once
    for t in turns:
        if t.speaker:
            who = names.setdefault(t.speaker.casefold(), t.speaker)
        elif t.dash and len(recent) >= 2:
            who = recent[-2]
        else:
            who = recent[-1] if recent else None
        out.append(who)
        if who:
            recent = [r for r in recent if r != who] + [who]
    if not names:
        return [None] * len(turns)
    first = next(s for s in out if s)
    return [s or first for s in out]  # unnamed turns before any name: the first named speaker


# --- checks (pure) ---------------------------------------------------------------------------------

def check_cues(cues: list[Cue], path: Path, duration: float) -> None:
    """SubtitleError for no text at all, a cue ending before it starts, cues overlapping by more than
    OVERLAP_TOLERANCE seconds, or a cue past the media's end (`duration` seconds)."""
    if not any(re.search(r"\w", c.text) for c in cues):
        raise SubtitleError(f"{path}: the subtitles hold no text")
    for c in cues:
        if c.end <= c.start:
            raise SubtitleError(f"{path}: cue {c.index} ({_clock(c.start)}) ends before it starts")
        if c.start > duration + END_TOLERANCE:
            raise SubtitleError(f"{path}: cue {c.index} starts at {_clock(c.start)}, after the end of the media "
                                f"({_clock(duration)}): subtitles of another video?")
    spoken = sorted((c for c in cues if re.search(r"\w", c.text)), key=lambda c: c.start)
    for a, b in zip(spoken, spoken[1:]):
        if b.start < a.end - OVERLAP_TOLERANCE:
            raise SubtitleError(f"{path}: cue {b.index} ({_clock(b.start)}) overlaps cue {a.index} (until "
                                f"{_clock(a.end)}): one cue per moment; put two speakers in one cue as "
                                f"'- ' turns")


def _clock(seconds: float) -> str:
    m, s = divmod(max(seconds, 0.0), 60)
    return f"{int(m) // 60:02d}:{int(m) % 60:02d}:{s:06.3f}"


# Frequent short words per language: enough to tell the supported languages' running text apart.
_STOPWORDS = {
    "en": "the and you that is it to of i what this in have for not with are was but be",
    "es": "que de el la no es y en un los lo por una se me para con pero está estoy qué",
    "fr": "le la les de et est que je pas un une vous il ne ce en des pour qui sur avec",
    "de": "der die das und ist nicht ich sie es ein zu den mit auf für sich dass du wir",
    "it": "che il di non è la un per una sono mi ho ma si questo con le io gli",
    "pt": "que não de o a é um uma para com eu se os do da em você está mas",
}


def guess_language(text: str) -> str | None:
    """The language code `text` most looks like: "ja" for text with kana, else the language whose
    frequent words make up most of it (at least 15 %); None if nothing stands out."""
    letters = [c for c in text if c.isalpha()]
    if letters and sum("\u3040" <= c <= "\u30ff" for c in letters) > 0.1 * len(letters):
        return "ja"
    words = re.findall(r"[^\W\d_]+", text.lower())
    if not words:
        return None
    score = {code: sum(w in set(s.split()) for w in words) / len(words) for code, s in _STOPWORDS.items()}
    best = max(score, key=score.get)
    return best if score[best] >= 0.15 else None


# --- transcript and speaker turns -------------------------------------------------------------------

def spread_words(turn: Turn, speaker: str | None, cjk: bool) -> list[Word]:
    """Words of a turn with times spread over it in proportion to their length (characters for CJK)."""
    tokens = list(re.sub(r"\s+", "", turn.text)) if cjk else turn.text.split()
    weights = np.array([max(len(t), 1) for t in tokens], dtype=float)
    edges = turn.start + (turn.end - turn.start) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [Word(start=round(float(a), 3), end=round(float(b), 3), text=t, speaker=speaker)
            for t, a, b in zip(tokens, edges[:-1], edges[1:])]


def transcript(path: str | Path, language: str | None, duration: float) -> Transcript:
    """The transcript of a subtitle file (one segment per speaker turn, speakers set where labelled);
    the file's language must be `language` (--from) where that can be told from its text."""
    p = Path(path)
    cues = read_cues(p)
    check_cues(cues, p, duration)
    text = " ".join(c.text for c in cues)
    guessed = guess_language(text)
    if language and guessed and guessed != language:
        raise SubtitleError(f"{p}: the subtitles read as {languages.get(guessed).name}, not "
                            f"{languages.get(language).name} (--from {language}): give subtitles in the source "
                            f"language (translations go in --translation LANG=FILE)")
    code = language or guessed
    if not code:
        raise SubtitleError(f"{p}: cannot tell the subtitles' language: give it with --from")
    cjk = languages.get(code).subtitles.cjk
    turns = [t for c in sorted(cues, key=lambda c: c.start) for t in split_turns(c)]
    speakers = resolve_speakers(turns)
    segments = [Segment(id=i, start=t.start, end=t.end, text=t.text, speaker=s, words=spread_words(t, s, cjk))
                for i, (t, s) in enumerate(zip(turns, speakers))]
    return Transcript(language=code, duration=round(duration, 3), model=f"subtitles:{p.name}", segments=segments)


def labelled(tr: Transcript) -> bool:
    """Whether the transcript's speakers come from the subtitles' labels."""
    return any(s.speaker for s in tr.segments)


def diarization(tr: Transcript, audio: np.ndarray, sample_rate: int) -> Diarization:
    """Speaker turns from labelled subtitles: each segment's span clipped to the speech voice activity
    finds in it (the whole span where it finds none)."""
    from .vad import speech_regions

    regions = speech_regions(audio, sample_rate)
    turns: list[SpeakerTurn] = []
    for s in tr.segments:
        inside = [(max(a, s.start), min(b, s.end)) for a, b in regions if b > s.start and a < s.end]
        for a, b in inside or [(s.start, s.end)]:
            turns.append(SpeakerTurn(start=round(a, 3), end=round(b, 3), speaker=s.speaker or "SPEAKER_00"))
    speakers = list(dict.fromkeys(t.speaker for t in turns))
    return Diarization(turns=turns, speakers=speakers, method="subtitles: speaker labels, voice activity")
