"""IPA phones -> viseme classes -> articulatory parameters.

Parameters (all 0..1): jaw (opening), spread (lip corners pulled out), round (lips pushed
forward and narrowed), closure (lips pressed together), teeth (teeth shown). Per-language
overrides map an IPA symbol to a class name (languages/<code>.yaml `visemes:`).
"""

from __future__ import annotations

import unicodedata

import numpy as np

PARAMS = ("jaw", "spread", "round", "closure", "teeth")
JAW, SPREAD, ROUND, CLOSURE, TEETH = range(5)

# class -> (jaw, spread, round, closure, teeth). Jaw and spread/round were fitted to real mouths (stop 32,
# bench/visemes_fit.py: a ridge regression over 1,884 frames of 15 clips of people speaking English,
# pulled towards the hand-set table by 10 frames of weight; silence and /p b m/ kept as set): where the
# hand-set table had the consonants nearly shut and /o/ wide open, people open their mouth about half
# way on /t d n s k/ and round /o/ with the jaw little open. The predicted mouth's r against the real one,
# on 3 clips never fitted: 0.302 -> 0.341 (with lipsync.jaw_from_voice 0.5 -> 0.25). Closure and teeth
# are as set by hand.
CLASSES: dict[str, tuple[float, float, float, float, float]] = {
    "sil": (0.0, 0.0, 0.0, 0.0, 0.0),
    "PP": (0.0, 0.0, 0.1, 1.0, 0.0),    # p b m
    "FF": (0.0, 0.0, 0.08, 0.0, 0.7),   # f v: lower lip under the upper teeth
    "TH": (0.24, 0.07, 0.0, 0.0, 0.6),
    "DD": (0.5, 0.24, 0.0, 0.0, 0.5),   # t d n l r
    "kk": (0.57, 0.31, 0.0, 0.0, 0.3),  # k g ŋ x h
    "CH": (0.41, 0.0, 0.69, 0.0, 0.6),  # ʃ ʒ tʃ dʒ
    "SS": (0.39, 0.29, 0.0, 0.0, 0.8),  # s z ts
    "RR": (0.17, 0.0, 0.8, 0.0, 0.2),   # English ɹ
    "aa": (0.76, 0.47, 0.0, 0.0, 0.35),
    "E": (0.63, 0.22, 0.0, 0.0, 0.5),
    "I": (0.53, 0.35, 0.0, 0.0, 0.6),
    "O": (0.28, 0.0, 0.79, 0.0, 0.15),
    "U": (0.22, 0.0, 1.0, 0.0, 0.05),
}

# how strongly a class holds its shape against its neighbours (Cohen & Massaro's alpha)
DOMINANCE = {"sil": 0.6, "PP": 3.0, "FF": 2.0, "TH": 1.2, "DD": 0.8, "kk": 0.5, "CH": 1.5, "SS": 1.2,
             "RR": 1.0, "aa": 1.2, "E": 1.0, "I": 1.0, "O": 1.4, "U": 1.6}

_TABLE: dict[str, str] = {}
for _cls, _syms in {
    "PP": "p b m ɓ ʙ",
    "FF": "f v ɱ ʋ",
    "TH": "θ ð",
    "DD": "t d n l ɾ r ɫ ɬ ɮ ʈ ɖ ɳ ɭ ɲ c ɟ ʎ ʟ ɺ ɽ",
    "kk": "k g ɡ ŋ x ɣ h ɦ q ɢ ʔ χ ʁ ħ ʕ ɴ ç j ʝ ɰ",
    "CH": "ʃ ʒ tʃ dʒ ʧ ʤ ɕ ʑ tɕ dʑ ʂ ʐ",
    "SS": "s z ts dz ʦ ʣ",
    "RR": "ɹ ɻ ʀ",
    "aa": "a ɑ ä æ ɐ ɒ ɶ aɪ aʊ",
    "E": "e ɛ ə ʌ ɘ ɜ ɞ ø œ eɪ ɚ ɝ ɤ",
    "I": "i ɪ ɨ ʏ ɯ",
    "O": "o ɔ oʊ ɔɪ əʊ",
    "U": "u ʊ w y ʉ ɥ",
}.items():
    for _s in _syms.split():
        _TABLE[_s] = _cls

SILENCE = {"", "sil", "sp", "spn", "_", "pau", "#", "|", "‖"}
_STRIP = "ˈˌːˑ̩̯̃̆͡‿ʰʲʷˠˤ̪̥̬ⁿ.-"


def normalize(symbol: str) -> str:
    """An IPA phone without stress, length, tie bars and secondary articulations."""
    s = unicodedata.normalize("NFD", symbol.strip())
    return "".join(ch for ch in s if ch not in _STRIP and unicodedata.category(ch) != "Mn")


def viseme(symbol: str, overrides: dict[str, str] | None = None) -> str:
    """Viseme class of one IPA phone; unknown symbols fall back to their first known character."""
    if overrides:
        for key in (symbol, normalize(symbol)):
            if key in overrides:
                return overrides[key]
    s = normalize(symbol)
    if s.lower() in SILENCE:
        return "sil"
    if s in _TABLE:
        return _TABLE[s]
    for ch in s:  # affricates, diphthongs and clusters: first articulation wins
        if ch in _TABLE:
            return _TABLE[ch]
    return "DD" if s else "sil"  # a neutral, mid-open consonant


def parameters(cls: str) -> np.ndarray:
    """Articulatory parameter vector (len(PARAMS),) of a viseme class."""
    return np.array(CLASSES[cls], np.float64)


def is_bilabial(symbol: str, overrides: dict[str, str] | None = None) -> bool:
    return viseme(symbol, overrides) == "PP"
