"""RTTM files (NIST's speaker-turn format) and the diarization error rate (DER).

An RTTM line: `SPEAKER <uri> 1 <start s> <duration s> <NA> <NA> <speaker> <NA> <NA>`.
DER = (missed speech + false alarm + speaker confusion) / reference speech, counted per speaker
on 10 ms frames, so overlapping speech counts once per speaker (NIST md-eval's definition).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from .files import write_atomic
from .schema import SpeakerTurn

FRAME = 0.01  # seconds per scoring frame


def format_rttm(turns: list[SpeakerTurn], uri: str = "audio") -> str:
    """RTTM text for `turns` (one SPEAKER line each, times in seconds to the millisecond)."""
    uri = uri.replace(" ", "_")
    return "".join(
        f"SPEAKER {uri} 1 {t.start:.3f} {t.end - t.start:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n"
        for t in sorted(turns, key=lambda t: (t.start, t.end))
    )


def parse_rttm(text: str, uri: str | None = None) -> list[SpeakerTurn]:
    """Speaker turns from RTTM text, sorted by start; only file `uri` when given. Raises ValueError."""
    turns = []
    for n, line in enumerate(text.splitlines(), 1):
        f = line.split()
        if not f or f[0].startswith("#") or f[0] != "SPEAKER":
            continue
        if len(f) < 8:
            raise ValueError(f"RTTM line {n}: expected at least 8 fields, got {len(f)}")
        if uri is not None and f[1] != uri:
            continue
        try:
            start, dur = float(f[3]), float(f[4])
        except ValueError:
            raise ValueError(f"RTTM line {n}: start and duration must be numbers") from None
        if dur < 0:
            raise ValueError(f"RTTM line {n}: negative duration")
        turns.append(SpeakerTurn(start=start, end=start + dur, speaker=f[7]))
    return sorted(turns, key=lambda t: (t.start, t.end))


def write_rttm(path: str | os.PathLike, turns: list[SpeakerTurn], uri: str = "audio") -> Path:
    """Write `turns` as an RTTM file (atomically)."""
    return write_atomic(path, format_rttm(turns, uri).encode())


def read_rttm(path: str | os.PathLike, uri: str | None = None) -> list[SpeakerTurn]:
    """Speaker turns of an RTTM file (only file `uri` when given)."""
    return parse_rttm(Path(path).read_text(), uri)


@dataclass(frozen=True)
class DERParts:
    """DER components, in seconds of speaker time (overlap counted once per speaker)."""

    missed: float
    false_alarm: float
    confusion: float
    total: float  # scored reference speech

    @property
    def der(self) -> float:
        return (self.missed + self.false_alarm + self.confusion) / self.total


def _activity(turns: list[SpeakerTurn], n_frames: int) -> np.ndarray:
    """(frames, speakers) boolean activity; a frame is active if its centre lies inside a turn."""
    labels = sorted({t.speaker for t in turns})
    act = np.zeros((n_frames, len(labels)), dtype=bool)
    col = {s: i for i, s in enumerate(labels)}
    for t in turns:
        a, b = _frame_range(t.start, t.end, n_frames)
        act[a:b, col[t.speaker]] = True
    return act


def _frame_range(start: float, end: float, n_frames: int) -> tuple[int, int]:
    """Frames whose centres lie in [start, end)."""
    a = int(np.ceil(start / FRAME - 0.5))
    b = int(np.ceil(end / FRAME - 0.5))
    return max(a, 0), min(max(b, 0), n_frames)


def der_parts(reference: list[SpeakerTurn], hypothesis: list[SpeakerTurn], collar: float = 0.25) -> DERParts:
    """DER components with `collar` seconds on each side of every reference boundary left unscored
    (NIST md-eval's -c; pyannote.metrics' collar is the full width, i.e. twice this) and the
    speaker mapping that maximizes matched time (Hungarian assignment)."""
    end = max((t.end for t in [*reference, *hypothesis]), default=0.0)
    n = int(np.ceil(end / FRAME)) + 1
    ref = _activity(reference, n)
    hyp = _activity(hypothesis, n)
    scored = np.ones(n, dtype=bool)
    if collar > 0:
        for t in reference:
            for edge in (t.start, t.end):
                a, b = _frame_range(edge - collar, edge + collar, n)
                scored[a:b] = False
    ref, hyp = ref[scored], hyp[scored]
    overlap = ref.T.astype(np.int64) @ hyp.astype(np.int64)  # (ref speakers, hyp speakers) frames together
    rows, cols = linear_sum_assignment(-overlap) if overlap.size else ([], [])
    n_ref, n_hyp = ref.sum(1), hyp.sum(1)
    correct = np.zeros(len(ref), dtype=np.int64)
    for i, j in zip(rows, cols):
        correct += ref[:, i] & hyp[:, j]
    return DERParts(
        missed=float(np.maximum(n_ref - n_hyp, 0).sum() * FRAME),
        false_alarm=float(np.maximum(n_hyp - n_ref, 0).sum() * FRAME),
        confusion=float((np.minimum(n_ref, n_hyp) - correct).sum() * FRAME),
        total=float(n_ref.sum() * FRAME),
    )


def der(reference: list[SpeakerTurn], hypothesis: list[SpeakerTurn], collar: float = 0.25) -> float:
    """Diarization error rate (0 = perfect; can exceed 1). Raises ValueError if the reference has
    no scored speech."""
    parts = der_parts(reference, hypothesis, collar)
    if parts.total <= 0:
        raise ValueError("DER is undefined: the reference has no scored speech")
    return parts.der
