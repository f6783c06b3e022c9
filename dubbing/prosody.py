"""Prosody carried from each source line to its dub: loudness, pitch level, pitch range and the line's final
movement (a question's rise, a statement's fall).

Each line's shape is measured on the source's separated speech and on the synthesized line, both relative
to their speaker (the source speaker's lines, the dub voice's lines), so what moves is how this line
differs from the speaker's usual: a shouted line stays louder than the speaker's others, a raised line
higher, a flat one flatter, a rising end rises. The synthesized line is then moved that far, within
bounds: gain, and a new pitch contour resynthesized by the WORLD vocoder (pyworld: F0 re-estimated,
spectral envelope and aperiodicity kept, so the words and the voice stay). Durations are not touched, so
the line's phone times stay right.

Pitch is in semitones re 100 Hz, loudness in dB (RMS of the voiced frames), times in seconds.
"""

from __future__ import annotations

import functools
import math
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import soxr

from .config import Prosody as ProsodyConfig
from .schema import ProsodyLine, ProsodyMove, Shape

FRAME = 0.005  # seconds per analysis frame (WORLD's frame period)
F0_MIN, F0_MAX = 60.0, 500.0  # Hz searched for the pitch
ANALYSIS_RATE = 16000  # Hz at which lines are measured (pitch and loudness need no more)
WORLD_RATE = 24000  # Hz at which a line is resynthesized (Kokoro's and XTTS's own rate)
OCTAVE_JUMP = 7.0  # semitones from the line's median beyond which a frame's pitch is taken for an error
MIN_VOICED = 0.25  # seconds of voicing a line needs for its pitch to be read
MIN_MOVE = 0.3  # semitones (shift, final) or a third of it (range scale) below which the pitch is left as it is
_IMPORT = threading.Lock()
ACTIVE_DB = 30.0  # frames this far below a line's loudest count as pauses in its level
SPLICE_ST = 0.25  # semitones of pitch change below which a frame keeps the synthesizer's own sound
SPLICE_PAD = 0.02  # seconds of resynthesized sound kept around a changed frame
SPLICE_FADE = 0.02  # seconds of crossfade between the original and the resynthesized sound


@functools.cache
def world():
    """pyworld, imported once, in one place: its __init__ reads its version through the deprecated
    pkg_resources (a UserWarning). Imported under a lock: warnings.catch_warnings is not thread-safe, and
    the language branches run in threads."""
    with _IMPORT, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import pyworld
    return pyworld


def semitones(hz: np.ndarray) -> np.ndarray:
    """Pitch in semitones re 100 Hz; unvoiced frames (0 Hz) give nan."""
    hz = np.asarray(hz, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hz > 0, 12.0 * np.log2(hz / 100.0), np.nan)


def f0_track(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(pitch in Hz per FRAME, 0 where unvoiced; frame times in seconds) of mono float audio (DIO + StoneMask)."""
    pw = world()
    x = np.ascontiguousarray(audio, dtype=np.float64)
    f0, t = pw.dio(x, sample_rate, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=FRAME * 1000)
    return pw.stonemask(x, f0, t, sample_rate), t


def frame_levels(audio: np.ndarray, sample_rate: int, n: int) -> np.ndarray:
    """RMS level in dB of `n` frames of FRAME seconds, centred as WORLD's are."""
    hop = int(round(FRAME * sample_rate))
    x = np.pad(np.asarray(audio, dtype=np.float64), (hop, hop + n * hop))
    frames = x[:(n + 1) * hop].reshape(n + 1, hop)
    power = 0.5 * (frames[:-1] ** 2).mean(axis=1) + 0.5 * (frames[1:] ** 2).mean(axis=1)
    return 10.0 * np.log10(power + 1e-12)


def clean_pitch(st: np.ndarray) -> np.ndarray:
    """Semitone track with octave errors (frames over OCTAVE_JUMP from the median) set to nan."""
    st = np.array(st, dtype=np.float64)
    ok = np.isfinite(st)
    if ok.any():
        st[ok & (np.abs(st - np.nanmedian(st)) > OCTAVE_JUMP)] = np.nan
    return st


def shape_of(st: np.ndarray, level_db: np.ndarray, final_seconds: float) -> Shape:
    """A line's shape from its semitone track (nan unvoiced) and frame levels (dB), one value per FRAME.

    level_db: mean power of the active frames (within ACTIVE_DB of the loudest): unlike the voiced frames,
    the same frames whatever the gain, so a gain of g dB moves it by exactly g;
    median_st / range_st: median and 10-90 % spread of the pitch; final_st: the pitch movement over the
    last `final_seconds` of voicing (the slope of a line fitted there, times its span; > 0 rises).
    Pitch figures are None with under MIN_VOICED seconds of voicing."""
    st = clean_pitch(st)
    voiced = np.isfinite(st)
    seconds = float(voiced.sum() * FRAME)
    loud = level_db[level_db >= level_db.max() - ACTIVE_DB] if len(level_db) else level_db
    level = float(10.0 * np.log10(np.mean(10.0 ** (loud / 10.0)))) if len(loud) else -120.0
    if seconds < MIN_VOICED:
        return Shape(level_db=round(level, 2), voiced=round(seconds, 3))
    v = st[voiced]
    idx = np.flatnonzero(voiced)
    tail = idx[idx >= idx[-1] - int(round(final_seconds / FRAME))]
    final = 0.0
    if len(tail) >= 4:
        t = tail * FRAME
        final = float(np.polyfit(t, st[tail], 1)[0] * (t[-1] - t[0]))
    return Shape(level_db=round(level, 2), median_st=round(float(np.median(v)), 3),
                 range_st=round(float(np.percentile(v, 90) - np.percentile(v, 10)), 3),
                 final_st=round(final, 3), voiced=round(seconds, 3))


def measure(audio: np.ndarray, sample_rate: int, final_seconds: float) -> Shape:
    """The shape of one line of mono speech (measured at ANALYSIS_RATE)."""
    x = np.asarray(audio, dtype=np.float32)
    if sample_rate != ANALYSIS_RATE:
        x = soxr.resample(x, sample_rate, ANALYSIS_RATE)
    if len(x) < int(0.05 * ANALYSIS_RATE) or not np.any(x):
        return Shape(level_db=-120.0, voiced=0.0)
    f0, _ = f0_track(x, ANALYSIS_RATE)
    return shape_of(semitones(f0), frame_levels(x, ANALYSIS_RATE, len(f0)), final_seconds)


@dataclass
class Baseline:
    """A speaker's usual: medians over their lines (pitch figures None if no line was voiced enough)."""

    level_db: float
    median_st: float | None
    range_st: float | None


def baseline(shapes: list[Shape]) -> Baseline:
    """The median level, pitch and range over the lines of `shapes` voiced for MIN_VOICED seconds or more."""
    voiced = [s for s in shapes if s.median_st is not None]
    return Baseline(level_db=float(np.median([s.level_db for s in voiced])) if voiced else -120.0,
                    median_st=float(np.median([s.median_st for s in voiced])) if voiced else None,
                    range_st=float(np.median([s.range_st for s in voiced])) if voiced else None)


def _clamp(x: float, bound: float) -> float:
    return max(-bound, min(bound, x))


def plan(source: Shape, speaker: Baseline, dub: Shape, voice: Baseline, cfg: ProsodyConfig,
         rate: float = 1.0) -> ProsodyMove:
    """How far to move a dubbed line so that it differs from its voice's usual as the source line differs
    from its speaker's: gain (dB), pitch shift (semitones), range scale and an added final movement
    (semitones over the last cfg.final_seconds of voicing), each within cfg's bounds. A pitch move smaller
    than cfg's least (min_shift_st, range_least, min_final_st) is not made: a shift or range change
    resynthesizes the whole line, which costs fast speech some clarity: a line spoken faster than
    cfg.whole_line_rate (`rate`: synthesis rate over time-stretch) keeps its own pitch level and range,
    and moves only its level and its ending."""
    if None in (source.median_st, dub.median_st, speaker.median_st, voice.median_st):
        # too little voicing to read the line (a cough, a word the separation lost, a whisper): left as it is
        return ProsodyMove()
    gain = _clamp((source.level_db - speaker.level_db) - (dub.level_db - voice.level_db), cfg.max_gain_db)
    shift = _clamp((source.median_st - speaker.median_st) - (dub.median_st - voice.median_st), cfg.max_shift_st)
    fast = rate > cfg.whole_line_rate
    if abs(shift) < cfg.min_shift_st or fast:
        shift = 0.0
    scale = 1.0
    if dub.range_st > 0.5 and not fast:
        scale = min(max(source.range_st / dub.range_st, cfg.range_min), cfg.range_max)
        if abs(math.log(scale)) < math.log(1.0 + cfg.range_least):
            scale = 1.0
    final = _clamp(source.final_st - dub.final_st * scale, cfg.max_final_st)
    if abs(final) < cfg.min_final_st:
        final = 0.0
    return ProsodyMove(gain_db=round(gain, 2), shift_st=round(shift, 3), range_scale=round(scale, 3),
                       final_st=round(final, 3))


def contour(st: np.ndarray, move: ProsodyMove, final_seconds: float) -> np.ndarray:
    """The new semitone track: `st` (nan unvoiced) spread by move.range_scale about its median, shifted by
    move.shift_st, and bent by move.final_st over the last `final_seconds` of voicing (a linear ramp from
    0); unvoiced frames stay nan."""
    st = np.asarray(st, dtype=np.float64)
    voiced = np.isfinite(st)
    if not voiced.any():
        return st.copy()
    clean = clean_pitch(st)
    med = float(np.nanmedian(clean if np.isfinite(clean).any() else st))
    new = med + move.shift_st + (st - med) * move.range_scale
    idx = np.flatnonzero(voiced)
    span = max(int(round(final_seconds / FRAME)), 1)
    k = np.arange(len(st))
    ramp = np.clip((k - (idx[-1] - span)) / span, 0.0, 1.0) * move.final_st
    return np.where(voiced, new + ramp, np.nan)


def moves_pitch(move: ProsodyMove) -> bool:
    return abs(move.shift_st) >= MIN_MOVE or abs(move.range_scale - 1.0) >= MIN_MOVE / 3 \
        or abs(move.final_st) >= MIN_MOVE


def splice_mask(change_st: np.ndarray, n: int, sample_rate: int) -> np.ndarray:
    """Per sample, 0..1: where the resynthesized audio replaces the original. 1 on frames whose pitch moves
    by SPLICE_ST or more (and SPLICE_PAD seconds around them), 0 elsewhere, with SPLICE_FADE-second ramps:
    the vocoder costs some clarity on fast speech, so what the move leaves alone is not resynthesized."""
    frames = np.asarray(change_st) >= SPLICE_ST
    pad = int(round(SPLICE_PAD / FRAME))
    if pad and frames.any():
        frames = np.convolve(frames.astype(float), np.ones(2 * pad + 1), mode="same") > 0
    t = np.arange(n) / sample_rate
    m = np.interp(t, np.arange(len(frames)) * FRAME, frames.astype(float), right=0.0)
    width = max(1, int(SPLICE_FADE * sample_rate))
    return np.clip(np.convolve(m, np.ones(width) / width, mode="same"), 0.0, 1.0)


def apply(audio: np.ndarray, sample_rate: int, move: ProsodyMove, final_seconds: float) -> np.ndarray:
    """`audio` (mono float) with `move` applied, same length: the pitch resynthesized by WORLD at
    WORLD_RATE (only if the move changes it), then the gain."""
    out = np.asarray(audio, dtype=np.float32)
    if moves_pitch(move) and len(out) > int(0.1 * sample_rate):
        pw = world()
        x = soxr.resample(out, sample_rate, WORLD_RATE).astype(np.float64) if sample_rate != WORLD_RATE \
            else out.astype(np.float64)
        f0, t = pw.dio(x, WORLD_RATE, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=FRAME * 1000)
        f0 = pw.stonemask(x, f0, t, WORLD_RATE)
        if np.count_nonzero(f0) * FRAME >= MIN_VOICED:
            sp = pw.cheaptrick(x, f0, t, WORLD_RATE)
            ap = pw.d4c(x, f0, t, WORLD_RATE)
            new = contour(semitones(f0), move, final_seconds)
            f0_new = np.where(np.isfinite(new), 100.0 * 2.0 ** (np.nan_to_num(new) / 12.0), 0.0)
            f0_new = np.clip(f0_new, 0.0, F0_MAX * 1.5)
            y = pw.synthesize(f0_new, sp, ap, WORLD_RATE, FRAME * 1000)
            y = soxr.resample(y, WORLD_RATE, sample_rate) if sample_rate != WORLD_RATE else y
            y = np.concatenate([y, np.zeros(max(0, len(out) - len(y)))])[:len(out)]
            keep = splice_mask(np.abs(np.nan_to_num(new - semitones(f0))), len(out), sample_rate)
            out = (out + keep * (y - out)).astype(np.float32)
    if abs(move.gain_db) > 1e-3:
        out = out * np.float32(10.0 ** (move.gain_db / 20.0))
    return out.astype(np.float32)


def agreement(pairs: list[tuple[float, float]], threshold: float) -> float | None:
    """Share of (wanted, got) final movements whose direction agrees, among those where the wanted one
    moves at least `threshold` semitones; None if none does."""
    wanted = [(w, g) for w, g in pairs if abs(w) >= threshold]
    if not wanted:
        return None
    return round(sum(1 for w, g in wanted if math.copysign(1, w) == math.copysign(1, g) and abs(g) >= threshold / 2)
                 / len(wanted), 3)


def measure_lines(speech: np.ndarray, sample_rate: int, lines, final_seconds: float) -> dict[str, Shape]:
    """The shape of each line (records with id, start, end in seconds) in the source's mono speech."""
    return {ln.id: measure(speech[int(ln.start * sample_rate):int(ln.end * sample_rate)], sample_rate, final_seconds)
            for ln in lines}


def _relative(shape: Shape, base: Baseline) -> dict[str, float | None]:
    return {"level": None if shape.median_st is None or base.median_st is None
            else round(shape.level_db - base.level_db, 3),
            "pitch": None if shape.median_st is None or base.median_st is None
            else round(shape.median_st - base.median_st, 3),
            "range": shape.range_st, "final": shape.final_st}


def is_question(text: str) -> bool:
    return text.rstrip().rstrip("\"'»”」』)").endswith(("?", "？"))


def carry(lines, source: dict[str, Shape], clips: list[np.ndarray], sample_rate: int,
          cfg: ProsodyConfig, rates: list[float] | None = None,
          keep: Callable[[np.ndarray], Any] | None = None) -> tuple[list, list[ProsodyLine]]:
    """Each dubbed clip (mono, `sample_rate` Hz, in the order of `lines`: records with id, speaker and
    source text) moved after its source line's shape; `rates`: each line's speaking rate (synthesis rate
    over time-stretch; 1 if not given). Returns the new clips, each as `keep` made it (such as kept in a
    file: dubbing.clip_file; the array itself if None), and what was done to each."""
    rates = rates or [1.0] * len(clips)
    before = [measure(c, sample_rate, cfg.final_seconds) for c in clips]
    speakers = {ln.speaker for ln in lines}
    spk = {s: baseline([source[ln.id] for ln in lines if ln.speaker == s]) for s in speakers}
    voice = {s: baseline([b for ln, b in zip(lines, before) if ln.speaker == s]) for s in speakers}
    out, report = [], []
    for ln, clip, b, rate in zip(lines, clips, before, rates):
        src = source[ln.id]
        move = plan(src, spk[ln.speaker], b, voice[ln.speaker], cfg, rate)
        new = apply(clip, sample_rate, move, cfg.final_seconds)
        after = measure(new, sample_rate, cfg.final_seconds) if move != ProsodyMove() else b
        out.append(keep(new) if keep else new)
        report.append(ProsodyLine(line_id=ln.id, speaker=ln.speaker, question=is_question(ln.source), source=src,
                                  before=b, after=after, move=move, wanted=_relative(src, spk[ln.speaker]),
                                  got_before=_relative(b, voice[ln.speaker]), got=_relative(after, voice[ln.speaker])))
    return out, report


def _r(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 3 or np.std(xs) < 1e-9 or np.std(ys) < 1e-9:
        return None
    return round(float(np.corrcoef(xs, ys)[0, 1]), 3)


def summary(report: list[ProsodyLine], final_threshold: float = 1.0) -> dict[str, float | int | None]:
    """How closely the dub followed the source, before the move (stock synthesis) and after: per figure the
    mean absolute miss, the correlation over lines of the relative level and pitch, the share of final
    rises and falls of at least `final_threshold` semitones kept, and of source questions that rise."""
    out: dict[str, float | int | None] = {"lines": len(report), "questions": sum(p.question for p in report)}
    for key in ("level", "pitch", "range", "final"):
        for tag, attr in (("before", "got_before"), ("after", "got")):
            pairs = [(p.wanted[key], getattr(p, attr)[key]) for p in report
                     if p.wanted[key] is not None and getattr(p, attr)[key] is not None]
            out[f"{key}_miss_{tag}"] = round(float(np.mean([abs(g - w) for w, g in pairs])), 3) if pairs else None
            if key in ("level", "pitch"):
                out[f"{key}_r_{tag}"] = _r([w for w, _ in pairs], [g for _, g in pairs])
            if key == "final":
                out[f"final_kept_{tag}"] = agreement(pairs, final_threshold)
                rises = [getattr(p, attr)["final"] for p in report if p.question and getattr(p, attr)["final"] is not None]
                out[f"questions_rising_{tag}"] = round(sum(f > 0 for f in rises) / len(rises), 3) if rises else None
    return out
