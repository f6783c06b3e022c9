"""Cut a speaker-labelled transcript into dubbing lines: one speaker, one breath group each."""

from __future__ import annotations

from collections.abc import Iterable

from .constants import CLOSERS, SENTENCE_END
from .schema import Line, SpeakerTurn, Transcript, Word

CLAUSE_END = (",", ";", ":", "、", "，", "；", "：", "—", "–")


def seconds_shared(a: float, b: float, spans: Iterable[tuple[float, float]]) -> float:
    """Seconds of [a, b] inside the (start, end) second `spans` (which do not overlap each other)."""
    return sum(max(0.0, min(b, d) - max(a, c)) for c, d in spans)


def clean_words(words: list[Word], turns: list[SpeakerTurn], pad: float = 0.15) -> list[Word]:
    """Drop words the voice activity does not support and clip word times to speech.

    Whisper stretches a last, half-heard word over trailing silence (vr_face1: "I" from 4.48 to
    6.08 s at probability 0.10 while speech stops at 4.63 s); such a word would claim a slot of
    silence for the dub. A word is kept if confident (probability >= 0.5) or if at least 30 % of it
    lies in speech; its ends are clipped to `pad` seconds around the speech it overlaps.
    """
    if not turns:
        return words
    out = []
    for w in words:
        dur = max(w.end - w.start, 1e-3)
        inside = seconds_shared(w.start, w.end, ((t.start, t.end) for t in turns))
        if w.probability < 0.5 and inside / dur < 0.3:
            continue
        hit = [t for t in turns if t.end + pad > w.start and t.start - pad < w.end]
        if hit:
            lo, hi = min(t.start for t in hit) - pad, max(t.end for t in hit) + pad
            start, end = max(w.start, lo), min(w.end, hi)
            if end - start >= 0.05:
                w = w.model_copy(update={"start": round(start, 3), "end": round(end, 3)})
        out.append(w)
    return out


def split_point(group: list[Word], least: float) -> int:
    """Where to cut a line that grew too long: the index of the first word after the last sentence end,
    else the last clause end (comma, semicolon, colon), else the longest pause between words, among the
    cuts that leave at least `least` seconds before them. 0 if there is no such cut."""
    start = group[0].start
    cuts = [k for k in range(1, len(group)) if group[k - 1].end - start >= least]
    for ends in (SENTENCE_END, CLAUSE_END):
        marked = [k for k in cuts if group[k - 1].text.rstrip(CLOSERS).endswith(ends)]
        if marked:
            return marked[-1]
    return max(cuts, key=lambda k: group[k].start - group[k - 1].end, default=0)


def _groups(words: list[Word], max_pause: float, max_length: float) -> list[list[Word]]:
    """Words (in time order) grouped into lines; see make_lines."""
    groups: list[list[Word]] = []
    for w in words:
        g = groups[-1] if groups else None
        if (g is None or w.speaker != g[-1].speaker or w.language != g[-1].language or w.start - g[-1].end > max_pause
                or (g[-1].text.endswith(SENTENCE_END) and g[-1].end - g[0].start > max_length / 2)):
            groups.append([w])
        elif w.end - g[0].start > max_length:
            k = split_point(g + [w], max_length / 3) or len(g)
            groups[-1:] = [g[:k], g[k:] + [w]]
        else:
            g.append(w)
    return groups


def make_lines(transcript: Transcript, max_pause: float = 0.6, max_length: float = 10.0,
               max_borrow: float = 0.6, turns: list[SpeakerTurn] | None = None, per_speaker: bool = False) -> list[Line]:
    """Group words into lines, breaking at a speaker change, a pause over `max_pause` seconds, or a
    sentence end once a line is longer than `max_length` / 2 seconds. A line that would grow past
    `max_length` seconds is cut at its last sentence or clause end (else its longest pause) at least
    `max_length` / 3 seconds in, not at the word that overflows: a sentence's last word is not left to
    be dubbed alone. Budget = the line's slot plus up to `max_borrow` seconds of the silence on each side
    (half of a gap shared with a neighbour). `per_speaker`: each speaker's words are grouped on their own
    (speakers recorded apart, whose lines may overlap in time)."""
    words = clean_words([w for s in transcript.segments for w in (s.words or [])], turns or [])
    if per_speaker:  # speakers heard apart (a channel each): their overlapping speech is not cut into turns
        speakers = dict.fromkeys(w.speaker for w in words)
        groups = sorted((g for spk in speakers for g in _groups([w for w in words if w.speaker == spk], max_pause,
                                                                max_length)), key=lambda g: (g[0].start, g[-1].end))
    else:
        groups = _groups(words, max_pause, max_length)
    lines = []
    for i, g in enumerate(groups):
        sep = "" if (g[0].language or transcript.language) in {"ja", "zh"} else " "
        prev_end = groups[i - 1][-1].end if i else 0.0
        next_start = groups[i + 1][0].start if i + 1 < len(groups) else g[-1].end + 2 * max_borrow
        before = min(max_borrow, (g[0].start - prev_end) / (2 if i else 1))
        after = min(max_borrow, (next_start - g[-1].end) / 2)
        lines.append(Line(id=f"L{i + 1:04d}", start=g[0].start, end=g[-1].end, speaker=g[0].speaker or "SPEAKER_00",
                          source=sep.join(w.text for w in g).strip(), language=g[0].language,
                          budget=round(g[-1].end - g[0].start + max(before, 0) + max(after, 0), 3)))
    return lines


def said_at_once(spans: list[tuple[str, str, float, float]]) -> dict[str, list[str]]:
    """For each (id, speaker, start, end seconds) span, the ids of other speakers' spans overlapping it in
    time, in order of start (speakers recorded apart who talk at once, dubbing.channels)."""
    out: dict[str, list[str]] = {}
    active: list[tuple[str, str, float, float]] = []
    for b in sorted(spans, key=lambda x: x[2]):
        active = [a for a in active if a[3] > b[2]]
        for a in active:
            if a[1] != b[1]:
                out.setdefault(a[0], []).append(b[0])
                out.setdefault(b[0], []).append(a[0])
        active.append(b)
    return out
