"""Source language identification that holds: a vote over speech windows, and a decode to settle doubt.

One call of Whisper's language detector on the first 30 s is easily fooled: music under an opening
made an English TV interview "Welsh, 0.97" (issue 13). Here the detector is asked on several speech
windows spread over the file and their answers pooled, weighted by seconds of speech. Where the pooled
answer is not sure (top probability or margin low, windows disagreeing) or improbable (a language
outside `likely`), a stretch of speech is decoded once in each candidate language and the candidate
whose transcript the model finds likely wins: average token log-probability, a compression-ratio check
(loops), and a word-list check (the share of its words found in that language's word list, where this
machine has one: Debian's wamerican, wspanish, wfrench, wbrazilian, witalian, wngerman; a script check
for the others). Below a confidence floor the run stops with one line asking for `--from`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import Field

from .config import LanguageId
from .errors import DubError
from .schema import Record

SAMPLE_RATE = 16000  # Hz

# Debian word lists (/usr/share/dict), one word a line, UTF-8.
WORD_LISTS = {"en": "american-english", "es": "spanish", "fr": "french", "pt": "brazilian", "it": "italian",
              "de": "ngerman"}
DICT_DIR = Path("/usr/share/dict")
# Unicode script (first word of a character's name) a language's letters are in; Latin where not listed.
SCRIPTS = {"ja": ("HIRAGANA", "KATAKANA", "CJK"), "zh": ("CJK",), "yue": ("CJK",), "ko": ("HANGUL",),
           "ru": ("CYRILLIC",), "uk": ("CYRILLIC",), "bg": ("CYRILLIC",), "sr": ("CYRILLIC",),
           "mk": ("CYRILLIC",), "be": ("CYRILLIC",), "kk": ("CYRILLIC",), "mn": ("CYRILLIC",),
           "ar": ("ARABIC",), "fa": ("ARABIC",), "ur": ("ARABIC",), "ps": ("ARABIC",), "he": ("HEBREW",),
           "yi": ("HEBREW",), "hi": ("DEVANAGARI",), "mr": ("DEVANAGARI",), "ne": ("DEVANAGARI",),
           "bn": ("BENGALI",), "ta": ("TAMIL",), "te": ("TELUGU",), "th": ("THAI",), "el": ("GREEK",),
           "ka": ("GEORGIAN",), "hy": ("ARMENIAN",), "gu": ("GUJARATI",), "kn": ("KANNADA",),
           "ml": ("MALAYALAM",), "pa": ("GURMUKHI",), "si": ("SINHALA",), "km": ("KHMER",), "lo": ("LAO",),
           "my": ("MYANMAR",), "am": ("ETHIOPIC",), "bo": ("TIBETAN",)}


class WindowVote(Record):
    """The detector's answer on one window of speech."""

    start: float  # seconds
    end: float
    top: dict[str, float]  # language -> probability, the most probable few


class Candidate(Record):
    """One language's decode of the check stretch and how likely the model found it."""

    language: str
    text: str
    avg_logprob: float  # mean over tokens (natural log)
    compression_ratio: float  # gzip ratio of the text; > 2.4 is a loop
    word_share: float | None = None  # share of words in the language's word list (None: no list)
    script_share: float = 1.0  # share of letters in the language's script
    score: float = 0.0


class LanguageDecision(Record):
    """Which language the source is in, and on what evidence."""

    language: str
    probability: float  # pooled detector probability of `language`
    method: str  # "given" | "vote" | "decode"
    windows: list[WindowVote] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    reason: str = ""


# --- windows and the vote (pure) ------------------------------------------------------------------


def speech_windows(regions: Sequence[tuple[float, float]], length: float, count: int,
                   min_length: float, duration: float = float("inf")) -> list[tuple[float, float]]:
    """Up to `count` windows of speech (start, end seconds), each packing consecutive speech regions
    until it spans `length` seconds, spread evenly over the file. Windows shorter than `min_length`
    seconds are dropped unless none is longer; then the longest is widened to `min_length` around its
    middle, within [0, `duration`] (a 0.4 s region alone is too little for the detector)."""
    windows: list[tuple[float, float]] = []
    for s, e in regions:
        while e - s > length:  # a long region gives several windows
            windows.append((s, s + length))
            s += length
        if windows and e - windows[-1][0] <= length and s - windows[-1][1] < length / 4:
            windows[-1] = (windows[-1][0], e)
        else:
            windows.append((s, e))
    long_enough = [w for w in windows if w[1] - w[0] >= min_length]
    if not long_enough and windows:
        s, e = max(windows, key=lambda w: w[1] - w[0])
        s = min(max(0.0, (s + e - min_length) / 2), max(0.0, duration - min_length))
        long_enough = [(round(s, 3), round(min(duration, s + min_length), 3))]
    windows = long_enough
    if len(windows) > count:
        pick = np.unique(np.round(np.linspace(0, len(windows) - 1, count)).astype(int))
        windows = [windows[i] for i in pick]
    return windows


def pool(votes: Sequence[WindowVote]) -> dict[str, float]:
    """Detector probabilities averaged over windows, weighted by window seconds; sorted, most probable first."""
    total: dict[str, float] = {}
    weight = sum(v.end - v.start for v in votes) or 1.0
    for v in votes:
        for lang, p in v.top.items():
            total[lang] = total.get(lang, 0.0) + p * (v.end - v.start) / weight
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))


def agreement(votes: Sequence[WindowVote], language: str) -> float:
    """Share of speech seconds whose window's top answer is `language`."""
    weight = sum(v.end - v.start for v in votes) or 1.0
    return sum(v.end - v.start for v in votes if v.top and max(v.top, key=v.top.get) == language) / weight


def doubt(pooled: dict[str, float], votes: Sequence[WindowVote], cfg: LanguageId) -> str:
    """Why the vote alone is not enough ("" if it is)."""
    langs = list(pooled)
    top, p = langs[0], pooled[langs[0]]
    second = pooled[langs[1]] if len(langs) > 1 else 0.0
    if top not in cfg.likely:
        return f"{top} is improbable as a source"
    if p < cfg.sure:
        return f"{top} only {p:.2f}"
    if p - second < cfg.margin:
        return f"{top} {p:.2f} close to {langs[1]} {second:.2f}"
    if agreement(votes, top) < cfg.agreement:
        return f"windows disagree ({top} tops {agreement(votes, top):.0%} of the speech)"
    return ""


def candidates_to_check(pooled: dict[str, float], cfg: LanguageId) -> list[str]:
    """The languages worth a decode: the pooled top few above `cfg.candidate_floor`, and the most
    probable likely language when none of those is likely."""
    langs = [l for l, p in pooled.items() if p >= cfg.candidate_floor][: cfg.max_candidates] or list(pooled)[:1]
    if not any(l in cfg.likely for l in langs):
        langs += [l for l in pooled if l in cfg.likely][:1]
    return langs


# --- the transcript checks (pure) -----------------------------------------------------------------


@lru_cache(maxsize=None)
def word_list(language: str) -> frozenset[str] | None:
    """The lower-cased words of `language`'s Debian word list, None where this machine has none."""
    name = WORD_LISTS.get(language)
    path = DICT_DIR / name if name else None
    if path is None or not path.exists():
        return None
    return frozenset(w.strip().lower() for w in path.read_text(encoding="utf-8", errors="replace").splitlines()
                     if w.strip() and not w.endswith("'s"))


_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def words_of(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def word_share(text: str, language: str) -> float | None:
    """Share of `text`'s words found in `language`'s word list (None: no list, or no words)."""
    vocab = word_list(language)
    words = words_of(text)
    if vocab is None or not words:
        return None
    return sum(w in vocab or w.split("'")[0] in vocab for w in words) / len(words)


def script_share(text: str, language: str) -> float:
    """Share of `text`'s letters written in `language`'s script (1.0 for a text without letters)."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 1.0
    scripts = SCRIPTS.get(language, ("LATIN",))
    return sum(unicodedata.name(c, "").split(" ")[0] in scripts for c in letters) / len(letters)


def score(c: Candidate, cfg: LanguageId) -> float:
    """How likely a candidate's transcript is as speech in its language (higher is better): the mean
    token log-probability, less penalties for a loop, for letters outside the language's script, and
    for words outside its word list (a fixed one where the language has no list)."""
    s = c.avg_logprob
    s -= cfg.loop_penalty * max(0.0, c.compression_ratio - 2.4)
    s -= cfg.script_penalty * (1.0 - c.script_share)
    if c.word_share is not None:
        s -= cfg.word_penalty * max(0.0, cfg.word_share_expected - c.word_share)
    else:  # a reading no word list can confirm: as if some of its words were missing
        s -= cfg.unlisted_penalty
    return round(s, 4)


# --- the model calls ----------------------------------------------------------------------------


Detector = Callable[[np.ndarray], dict[str, float]]
Decoder = Callable[[np.ndarray, str], tuple[str, float, float]]


def whisper_detector(model, top: int = 12) -> Detector:
    """The detector's most probable `top` languages for 16 kHz audio (its first 30 s). Answers are kept
    per clip: a speech region that was also a voting window costs no second encoder pass (each pass
    encodes 30 s, however short the clip)."""
    seen: dict[tuple[int, int], dict[str, float]] = {}

    def detect(audio: np.ndarray) -> dict[str, float]:
        key = (len(audio), hash(np.ascontiguousarray(audio).tobytes()))
        if key not in seen:
            _, _, probs = model.detect_language(audio=audio)
            seen[key] = {l: round(float(p), 5) for l, p in probs[:top]}
        return dict(seen[key])
    return detect


def whisper_decoder(model) -> Decoder:
    """Decode 16 kHz audio in a given language, greedily: (text, mean token log-probability, compression ratio)."""
    def decode(audio: np.ndarray, language: str) -> tuple[str, float, float]:
        segments, _ = model.transcribe(audio, language=language, beam_size=1, temperature=0.0, vad_filter=False,
                                       condition_on_previous_text=False, without_timestamps=True)
        segs = list(segments)
        n = [max(len(s.tokens), 1) for s in segs]
        if not segs:
            return "", -10.0, 1.0
        text = " ".join(s.text.strip() for s in segs)
        logprob = float(np.average([s.avg_logprob for s in segs], weights=n))
        ratio = float(np.average([s.compression_ratio for s in segs], weights=n))
        return text, logprob, ratio
    return decode


def check_candidates(audio: np.ndarray, languages: Sequence[str], decode: Decoder, cfg: LanguageId) -> list[Candidate]:
    """Decode `audio` in each language and score the transcripts, best first."""
    out = []
    for lang in languages:
        text, logprob, ratio = decode(audio, lang)
        c = Candidate(language=lang, text=text, avg_logprob=round(logprob, 4), compression_ratio=round(ratio, 3),
                      word_share=word_share(text, lang), script_share=round(script_share(text, lang), 3))
        if c.word_share is not None:
            c.word_share = round(c.word_share, 3)
        c.score = score(c, cfg)
        out.append(c)
    return sorted(out, key=lambda c: -c.score)


def settle(cands: Sequence[Candidate], pooled: dict[str, float], cfg: LanguageId) -> tuple[str, str]:
    """The decode's verdict: (language, "") or ("", why not) below the confidence floor."""
    best = cands[0]
    if best.score < cfg.floor:
        return "", f"even its best reading ({best.language}) is unlikely speech (score {best.score:.2f})"
    if len(cands) > 1 and best.score - cands[1].score < cfg.decode_margin and pooled.get(best.language, 0) < cfg.sure:
        return "", f"{best.language} and {cands[1].language} read about as well"
    return best.language, ""


def identify(audio: np.ndarray, regions: Sequence[tuple[float, float]], detect: Detector, decode: Decoder,
             cfg: LanguageId) -> LanguageDecision:
    """The language of 16 kHz mono `audio` with speech `regions` (seconds); DubError below the floor."""
    duration = len(audio) / SAMPLE_RATE
    windows = speech_windows(regions, cfg.window, cfg.windows, cfg.min_window, duration) or [(0.0, duration)]
    votes = [WindowVote(start=round(s, 3), end=round(e, 3),
                        top=detect(audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)])) for s, e in windows]
    pooled = pool(votes)
    top = next(iter(pooled))
    why = doubt(pooled, votes, cfg)
    if not why:
        return LanguageDecision(language=top, probability=round(pooled[top], 4), method="vote", windows=votes)
    # decode the longest windows' speech, up to `check_seconds`
    chosen, total = [], 0.0
    for s, e in sorted(windows, key=lambda w: w[0] - w[1]):
        if total >= cfg.check_seconds:
            break
        chosen.append((s, min(e, s + cfg.check_seconds - total)))
        total += chosen[-1][1] - s
    clip = np.concatenate([audio[int(s * SAMPLE_RATE):int(e * SAMPLE_RATE)] for s, e in sorted(chosen)])
    cands = check_candidates(clip, candidates_to_check(pooled, cfg), decode, cfg)
    lang, fail = settle(cands, pooled, cfg)
    if not lang:
        heard = ", ".join(f"{l} {p:.2f}" for l, p in list(pooled.items())[:3])
        raise DubError(f"could not tell the source language ({heard}; {why}; {fail}): give it with --from LANG")
    return LanguageDecision(language=lang, probability=round(pooled.get(lang, 0.0), 4), method="decode",
                            windows=votes, candidates=cands, reason=why)
