"""Source lines the speech recognizer itself doubts, flagged before they are translated (issue 13: never
translate nonsense into fluent text).

Whisper reports per segment its mean token log-probability, the probability that the window held no
speech, and how well the text compresses (a loop compresses well). Its own decoder treats a segment past
these thresholds as a failed decode (faster-whisper's defaults, kept here); a line that draws on such a
segment gets a flag "asr:<why>" that the translation keeps, and the review page lists it first.
bench/asr_doubt.py measures the flags on the shared clips (Whisper base, the default settings): decoded in
their own language, 0 of 18 segments flagged (8 clips, en/es/fr/pt); forced into Welsh, the issue 13
failure, 12 of 12 segments of the 4 English clips flagged (all for log-probability). Forced into a major
language (en->de, es->en, fr->en, pt->es) Whisper translates or mixes instead of babbling, confidently:
0 of 12 flagged; that is language identification's job, not this one.
"""

from __future__ import annotations

from .schema import Line, Segment, Transcript

LOW_LOGPROB = -1.0  # mean token log-probability (natural log) below which a segment is doubted
HIGH_NO_SPEECH = 0.6  # probability that the window holds no speech
HIGH_COMPRESSION = 2.4  # text bytes over zlib-compressed bytes: repetitive output


def doubts(segment: Segment) -> list[str]:
    """Why the recognizer doubts `segment`: any of "low-logprob", "no-speech", "compression"."""
    out = []
    if segment.avg_logprob < LOW_LOGPROB:
        out.append("low-logprob")
    if segment.no_speech_prob > HIGH_NO_SPEECH:
        out.append("no-speech")
    if segment.compression_ratio > HIGH_COMPRESSION:
        out.append("compression")
    return out


def flag_lines(lines: list[Line], transcript: Transcript) -> list[Line]:
    """`lines` with "asr:<why>" added to the flags of each line that overlaps a doubted segment in time
    (seconds); lines are copied, not changed in place."""
    doubted = [(s.start, s.end, doubts(s)) for s in transcript.segments]
    doubted = [d for d in doubted if d[2]]
    out = []
    for line in lines:
        why = [w for a, b, ws in doubted if min(b, line.end) - max(a, line.start) > 0 for w in ws]
        flags = line.flags + [f"asr:{w}" for w in dict.fromkeys(why) if f"asr:{w}" not in line.flags]
        out.append(line.model_copy(update={"flags": flags}))
    return out
