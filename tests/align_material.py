"""Forced-alignment truth: clips with published word alignments (tests/fixtures/align/README.md says
where each comes from), the text to align made from those words, and the word-boundary error.

GRID (English, speaker s1 and one clip of another speaker): word times in 1/25000 s from the corpus's
.align files. French: spontaneous speech from SPPAS's samples with SPPAS's published word alignment.
TUNE clips are the ones the aligner's settings were chosen on; HELD_OUT clips are only reported."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 16000  # Hz
HERE = Path(__file__).resolve().parent / "fixtures" / "align"
MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
GRID_UNIT = 25000.0  # .align times are in 1/25000 s (1000 per 25 fps video frame)
SKIP_TOKENS = {"sil", "sp", "#", "+", "@", "*", "dummy", "gb"}  # silences, pauses, laughter, noise

GRID_TUNE = ["bbir9a", "brag1a", "bwbn5a", "lbwe6p", "lrarzn", "lwbz6p",
             "bgbn9s", "brwa4p", "lbaq5s", "lgif1s", "lrwl5s", "pbap1a", "pgby5s", "prwd4n", "sbaa7a", "sgbj3a",
             "srin5s", "swwv6n"]
GRID_HELD_OUT = ["pbwdzp", "praj3a", "pwbq5s", "sbit2n", "sgwx5a", "swbc3a", "bbaf2n", "swwp2s"]
FR_TUNE = ["AC_track_0379", "AG_____0460", "BX_track_0451", "EB_track_0641", "IM_track_0767"]
FR_HELD_OUT = ["MB_track_0674", "MG_track_0702", "ML_track_0597", "NH_track_636", "SR_track_631", "YM_track_0182"]


@dataclass(frozen=True)
class Clip:
    name: str
    language: str
    split: str  # "tune" or "held-out"
    audio: Path
    truth: Path


def clips() -> list[Clip]:
    """Every clip whose audio is present (bbaf2n is read from ../shared/media by path)."""
    out = []
    for names, split in ((GRID_TUNE, "tune"), (GRID_HELD_OUT, "held-out")):
        for n in names:
            audio = MEDIA / "video" / "grid_bbaf2n.mpg" if n == "bbaf2n" else HERE / "grid" / f"{n}.opus"
            out.append(Clip(f"grid/{n}", "en", split, audio, HERE / "grid" / f"{n}.align"))
    for names, split in ((FR_TUNE, "tune"), (FR_HELD_OUT, "held-out")):
        for n in names:
            out.append(Clip(f"fr/{n}", "fr", split, HERE / "sppas-fra" / f"{n}.opus",
                            HERE / "sppas-fra" / f"{n}.words.tsv"))
    return [c for c in out if c.audio.exists()]


def read_truth(path: Path) -> list[tuple[float, float, str]]:
    """(start s, end s, label) of every interval: GRID .align (1/25000 s) or tab-separated seconds."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 3:
            continue
        a, b = float(parts[0]), float(parts[1])
        if path.suffix == ".align":
            a, b = a / GRID_UNIT, b / GRID_UNIT
        rows.append((a, b, parts[2].strip()))
    return rows


def words_and_text(intervals: list[tuple[float, float, str]]) -> tuple[list[tuple[float, float, str]], str, list[int]]:
    """The words to score, the text to align, and for each whitespace word of that text the index of
    the scored word it belongs to.

    Silences, pauses and noise labels are dropped; an elided word ("s'", "qu'") is joined to the next
    one, as it is written ("s'est"); a multi-word label ("et_puis") is one scored word of several
    text words; braces of uncertain words ("{euh") are removed."""
    words: list[tuple[float, float, str]] = []
    pending: tuple[float, str] | None = None
    for a, b, label in intervals:
        label = label.strip("{}")
        if not label or label.lower() in SKIP_TOKENS:
            continue
        if pending:
            a, label = pending[0], pending[1] + label
            pending = None
        if label.endswith("'"):
            pending = (a, label)
            continue
        words.append((a, b, label))
    if pending:
        words.append((pending[0], intervals[-1][1], pending[1]))
    text_words, owner = [], []
    for i, (_, _, label) in enumerate(words):
        for w in label.replace("_", " ").split():
            text_words.append(w)
            owner.append(i)
    return words, " ".join(text_words), owner


def word_times(phone_times: list[tuple[float, float]], phone_word: list[int], owner: list[int],
               n_words: int) -> list[tuple[float, float]]:
    """(start, end) in seconds of each scored word from its phones: phone_word gives each phone's
    text word, owner each text word's scored word. A word with no phone gets an empty span where the
    previous one ended (so it is scored, not skipped)."""
    spans: list[list[float]] = [[] for _ in range(n_words)]
    for (s, e), w in zip(phone_times, phone_word):
        if 0 <= w < len(owner):
            spans[owner[w]] += [s, e]
    out, last = [], 0.0
    for times in spans:
        if times:
            out.append((min(times), max(times)))
            last = max(times)
        else:
            out.append((last, last))
    return out


def boundary_errors(truth: list[tuple[float, float, str]], got: list[tuple[float, float]]) -> np.ndarray:
    """|got - truth| in seconds for the start and the end of every word, in word order."""
    t = np.array([[a, b] for a, b, _ in truth], float).ravel()
    g = np.array(got, float).ravel()
    return np.abs(g - t)


def summary(errors: np.ndarray) -> dict[str, float]:
    """Median and max (ms), and the share of boundaries within 30 and 100 ms."""
    e = np.asarray(errors, float)
    if e.size == 0:
        return {"n": 0, "median_ms": float("nan"), "max_ms": float("nan"), "within30": float("nan"),
                "within100": float("nan")}
    return {"n": int(e.size), "median_ms": float(np.median(e) * 1000), "max_ms": float(e.max() * 1000),
            "within30": float(np.mean(e <= 0.030)), "within100": float(np.mean(e <= 0.100))}


def load_audio(clip: Clip) -> np.ndarray:
    """The clip's audio, 16 kHz mono float32."""
    if clip.audio.suffix in (".opus", ".flac", ".wav"):
        import soundfile as sf

        y, sr = sf.read(clip.audio, dtype="float32")
        assert sr == RATE, (clip.audio, sr)
        return y if y.ndim == 1 else y.mean(1)
    from dubbing.media import load_audio as decode

    return decode(clip.audio, RATE)
