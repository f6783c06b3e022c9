"""One data file per supported language (`<code>.yaml` beside this file) and the loader that reads it."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

HERE = Path(__file__).parent


class UnknownLanguage(ValueError):
    pass


class TTSSpec(BaseModel):
    backend: str
    fallback: str = "espeak"
    voices: dict[str, list[str]]  # gender -> backend voice ids, in order of preference
    espeak_voices: dict[str, list[str]]
    speed_max: float = 1.3  # fastest synthesis rate still intelligible (back-transcription CER)
    rate_max: float = 2.0  # fastest effective rate, synthesis rate / time-stretch, still intelligible


class TranslationSpec(BaseModel):
    route: list[str]  # backends in order of preference
    apertium: dict[str, str] = Field(default_factory=dict)  # source code -> mode chain "a|b"


class RateSpec(BaseModel):
    syllables_per_second: float
    chars_per_second: float


class SubtitleSpec(BaseModel):
    max_chars_per_line: int = 42
    max_lines: int = 2
    cjk: bool = False


class WordAlignerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    backend: Literal["pocketsphinx"]  # dubbing/sphinx.py
    phones: dict[str, str]  # espeak-ng IPA symbol -> the model's phones (space-separated)


class Language(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    name: str
    iso639_2: str  # three-letter code: the language tag of audio and subtitle tracks
    whisper: str
    espeak: str
    tts: TTSSpec
    g2p: Literal["espeak", "openjtalk"]  # text to phonemes: espeak-ng, or Open JTalk's kana (then espeak-ng)
    translation: TranslationSpec
    speech_rate: RateSpec
    subtitles: SubtitleSpec
    visemes: dict[str, str] = Field(default_factory=dict)  # IPA symbol -> viseme class override
    fillers: list[str] = Field(default_factory=list)  # words a dub line may lose first, opening a sentence
    hesitations: list[str] = Field(default_factory=list)  # sounds said as long as one likes ("euh"): see align.py
    examples: list[str] = Field(default_factory=list)  # the same dialogue lines in every language (few-shot)
    short_examples: dict[int, str] = Field(default_factory=dict)  # example index -> a short dubbing version
    prompt_note: str = ""  # said to the LLM after its task (e.g. which script to write in)
    # source code -> (low, high) letters of this language per letter of the source in human translations
    # (1st and 99th percentile; dubbing/guard.py flags a translation far outside them)
    length_ratio: dict[str, tuple[float, float]] = Field(default_factory=dict)
    word_aligner: WordAlignerSpec | None = None  # word boundaries from a model of this language (align.py)


def supported() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.yaml"))


@lru_cache(maxsize=None)
def get(code: str) -> Language:
    """The language's data; UnknownLanguage (listing the supported codes) if there is none."""
    code = code.strip().lower()
    path = HERE / f"{code}.yaml"
    if not code.isalpha() or not path.exists():
        raise UnknownLanguage(f"unknown language code {code!r}; supported: {', '.join(supported())}")
    return Language.model_validate(yaml.safe_load(path.read_text()))


def parse_list(codes: str) -> list[Language]:
    """Parse "es,fr,ja" into languages, in order, without repeats."""
    out: list[Language] = []
    for c in codes.split(","):
        if c.strip() and all(l.code != c.strip().lower() for l in out):
            out.append(get(c))
    if not out:
        raise UnknownLanguage(f"no target language given; supported: {', '.join(supported())}")
    return out
