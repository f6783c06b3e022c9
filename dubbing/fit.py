"""Timing fit: decide how a synthesized line is made to fill its source slot.

The order, cheapest to the ear first: change the synthesis rate, then a pitch-preserving
time-stretch within bounds, then borrow silence around the slot; a line that still overflows asks
for a shorter translation, and one still short at the slowest bounds gets longer pauses where its
text already pauses. Pure functions; the pipeline does the synthesis and stretching.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Fit

PAUSE_GAP = 0.15  # seconds between phones that count as a pause (Kokoro: punctuation 0.15-0.4, words < 0.1)


@dataclass
class Plan:
    speed: float  # synthesis rate (1 = natural)
    stretch: float  # output length / synthesized length
    start: float  # seconds on the output timeline
    end: float
    flags: list[str] = field(default_factory=list)
    needs_shorter: bool = False


def _clamp(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


def choose_speed(natural: float, slot: float, cfg: Fit) -> float:
    """Synthesis rate that brings `natural` seconds (at rate 1) to the `slot` length, within bounds."""
    return round(_clamp(natural / slot, cfg.speed_min, cfg.speed_max), 3) if slot > 0 else 1.0


def stretch_absorbs(length: float, slot: float, cfg: Fit) -> bool:
    """True if the time-stretch alone brings `length` seconds to within the tolerance of `slot` seconds."""
    return length * cfg.stretch_min <= slot + cfg.tolerance and length * cfg.stretch_max >= slot - cfg.tolerance


def plan(slot_start: float, slot_end: float, length: float, speed: float, cfg: Fit,
         room_before: float = 0.0, room_after: float = 0.0) -> Plan:
    """Where `length` seconds of speech (synthesized at `speed`) go for the slot [slot_start, slot_end].

    `room_before` / `room_after` are the seconds of silence that may be borrowed on each side.
    """
    slot = max(slot_end - slot_start, 1e-3)
    # the stretch may not speed the speech up past the effective-rate cap (speed / stretch <= rate_max)
    fastest = min(max(cfg.stretch_min, speed / cfg.rate_max), cfg.stretch_max)
    stretch = _clamp(slot / length, fastest, cfg.stretch_max)
    out = length * stretch
    flags: list[str] = []
    if abs(stretch - 1) > 1e-3:
        flags.append("stretched")
    start = slot_start
    over = out - slot
    if over > cfg.tolerance / 2:
        # borrow silence, after first (speech that ends late reads better than speech that starts early)
        after = min(over, max(room_after, 0.0))
        before = min(over - after, max(room_before, 0.0))
        start = slot_start - before
        flags.append("borrowed")
    elif over < 0:
        # too short even at the slowest bounds: centre it, so both ends miss by half
        start = slot_start - over / 2
    end = start + out
    needs = max(end - slot_end, slot_start - start) > cfg.tolerance + 1e-6
    if needs:
        flags.append("overflow")
    if (slot - out) > 2 * cfg.tolerance:
        flags.append("short")
    return Plan(speed=speed, stretch=round(stretch, 4), start=round(start, 3), end=round(end, 3),
                flags=flags, needs_shorter=needs)


def pause_gaps(phones: list[tuple[float, float]], min_gap: float) -> list[tuple[float, float]]:
    """(start, end) seconds of the silences of at least `min_gap` between consecutive phones (given as
    (start, end)): where the synthesizer paused for punctuation, the natural places for a longer pause."""
    return [(a_end, b_start) for (_, a_end), (b_start, _) in zip(phones, phones[1:]) if b_start - a_end >= min_gap]


def pause_plan(gaps: list[tuple[float, float]], extra: float, cap: float) -> list[tuple[float, float]]:
    """Where to add silence, and how much: (time, seconds) at the middle of each gap, `extra` seconds
    shared evenly, at most `cap` seconds per gap; nothing if there is no gap or nothing to add."""
    if not gaps or extra <= 0 or cap <= 0:
        return []
    each = min(extra / len(gaps), cap)
    return [(round((a + b) / 2, 4), round(each, 4)) for a, b in gaps]


def shift_times(t: float, inserts: list[tuple[float, float]]) -> float:
    """Time `t` (seconds) after silences `inserts` [(time, seconds)] are added to the audio."""
    return t + sum(d for at, d in inserts if at <= t)
