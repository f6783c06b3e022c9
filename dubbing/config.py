"""Settings as data: configs/default.yaml, with a user's YAML file merged over it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"
PRESETS = ("fast", "standard", "best")  # --quality, slowest last: CONFIGS/presets/<name>.yaml (dubbing/presets.py)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ASR(_Section):
    model: str
    compute_type: str
    beam_size: int
    vad_filter: bool
    transcript: str = ""  # subtitles (SRT/VTT) in the source language: no speech recognition (dubbing/subtitle_source.py)


class LanguageId(_Section):
    """Source language identification (dubbing/langid.py); seconds unless named otherwise."""

    mode: str = "stretch"  # "stretch": per speech stretch (code-switching); "file": one language; "whisper": one call
    windows: int = 5  # speech windows the detector votes over
    window: float = 8.0  # seconds of speech per window
    min_window: float = 1.0
    sure: float = 0.8  # pooled probability the vote alone is trusted at
    margin: float = 0.5  # over the second language
    agreement: float = 0.6  # share of speech whose window agrees
    likely: list[str] = ["en", "zh", "es", "hi", "ar", "fr", "pt", "ru", "ja", "de", "ko", "it", "tr", "vi", "id",
                         "pl", "nl", "uk", "fa", "th", "bn", "ur", "ta", "ms", "ro", "el", "cs", "sv", "hu", "he",
                         "ca", "da", "fi", "no", "tl"]
    candidate_floor: float = 0.05  # pooled probability a language needs to be decoded
    max_candidates: int = 3
    check_seconds: float = 12.0  # seconds of speech decoded per candidate
    loop_penalty: float = 1.0  # score per unit of compression ratio over 2.4
    script_penalty: float = 2.0  # score for a transcript wholly outside the language's script
    word_penalty: float = 2.0  # score per unit of word-list share missing below word_share_expected
    word_share_expected: float = 0.8
    unlisted_penalty: float = 0.3  # score for a language without a word list (its reading cannot be confirmed)
    floor: float = -1.2  # below this best score: stop and ask for --from
    decode_margin: float = 0.15  # scores this close, and the vote unsure: stop
    stretch_min: float = 1.0  # seconds: a shorter stretch is not asked, it takes its neighbours' language
    # a speech region is cut where its first-pass word probability changes this much (stretches.pieces); off
    # (over 1) by default: at 0.3 it found languages across hard cuts (bench/switching.py held out covered
    # 0.806 -> 0.872) but cut ls_demo2's Portuguese where Whisper's forced English was fluent, and 3.7 s of it
    # became English (bench/long.py's 1-minute program, stop 37)
    clarity_jump: float = 1.01
    switch_prob: float = 0.7  # detector probability that makes a language a candidate for some stretches
    switch_cost: float = 2.0  # evidence (seconds x log-probability) a change of language must be worth
    doubt_word_prob: float = 0.8  # a stretch whose first-pass words are less probable on average is asked
    # (0.6 until stop 35: Portuguese forced into English came out fluent at 0.61-0.69 and stayed English)
    doubt_words_per_second: float = 1.0  # ... or one with fewer words than this per second of speech


class Diarization(_Section):
    backend: str
    pyannote_model: str
    window: float
    hop: float
    max_speakers: int
    faces: bool = True  # when the lips are re-rendered, faces that talk split and join the voice's speakers (dubbing.who)
    channels: bool = True  # channels that carry independent voices (a microphone each) are heard apart (dubbing.channels)
    overlap: bool = True  # in one channel, lines where two voices sound at once are flagged (dubbing.overlap)


class OpenAIServer(_Section):
    """An OpenAI-compatible chat server (dubbing/openai_chat.py)."""

    base_url: str
    model: str
    api_key_env: str  # the environment variable holding the key ("" or unset: no key sent)
    timeout: float  # seconds to wait for one reply
    retries: int  # further tries of a request that failed to connect, timed out or got garbage
    batch: int  # lines per request (a numbered list); 1 = one line per request
    parallel: int  # requests in flight at once


class Translation(_Section):
    backend: str
    llm_model: str
    seq2seq_model: str
    file: str
    files: dict[str, str] = {}  # per language, the user's own translations (--translation LANG=FILE)
    glossary: str = ""  # CSV or YAML of terms and their translations (dubbing/glossary.py)
    openai: OpenAIServer


class XTTSServer(_Section):
    """coqui's `tts-server` running XTTS v2 (dubbing/xtts.py), usually on another machine."""

    base_url: str = "http://127.0.0.1:5002"
    timeout: float = 300.0  # seconds to wait for one line's audio


class TTS(_Section):
    backend: str
    clone: bool = False  # clone each speaker's voice (dubbing/clone.py) instead of a stock voice
    clone_seconds: float = 60.0  # search budget per new speaker, wall seconds
    colour: bool = False  # a stock voice given the speaker's long-term spectrum where that sounds more like them
    voices: dict[str, str] = {}  # speaker -> voice pinned by the user (library name, .npy/.pt file, stock name)
    xtts: XTTSServer = XTTSServer()  # the server of backend "xtts"


class Separation(_Section):
    backend: str
    bleed: bool = True  # lower the source's voices left in the background under their own speech (dubbing/bleed.py)


class Fit(_Section):
    stretch_min: float
    stretch_max: float
    speed_min: float
    speed_max: float
    max_borrow: float
    tolerance: float
    max_pause: float
    rate_max: float = 2.0  # fastest effective rate (synthesis rate / stretch); capped per language (tts.rate_max)


class Mix(_Section):
    loudness_lufs: float
    background_db: float
    duck_db: float
    own_voice: bool = True  # lines not translated, or already in the target language, keep the speaker's voice and lips (dubbing/kept_speech.py)


class Output(_Section):
    crf: int
    preset: str
    audio_bitrate: str
    burn_subtitles: bool = False
    subtitle_font: str = ""
    stems: bool = False
    multitrack: bool = False


class Prosody(_Section):
    """Each dubbed line moved to differ from its voice's usual as the source line differs from its speaker's
    (dubbing/prosody.py)."""

    enabled: bool = True
    max_gain_db: float = 8.0  # dB a line's level may move
    max_shift_st: float = 4.0  # semitones its pitch level may move
    range_min: float = 0.5  # bounds of the pitch range's scale (bench/prosody.py --clarity, fr at rate 1: CER
    range_max: float = 1.5  # 15.4 % as synthesized, 13.3 at x0.6, 17.4 at x1.5; x2 read 16.8 in a first run)
    max_final_st: float = 6.0  # semitones of final rise or fall that may be added
    # least moves made (bench/prosody.py --clarity on fast French: moving the ending alone, spliced in,
    # cost nothing, a shift or range change of the whole line 2.4 points of CER)
    min_shift_st: float = 1.0
    range_least: float = 0.25  # a range scale within [1 / 1.25, 1.25] is left at 1
    min_final_st: float = 1.0
    # fastest line (synthesis rate / stretch) whose pitch level and range are moved; on 24 FLORES sentences
    # in French at 1.3 / 0.8, a shift of 2 st cost 2.5-9.5 points of CER, a range x1.5 10.2; at rate 1
    # -2.1 to +2.0; Spanish nothing at either rate
    whole_line_rate: float = 1.15
    final_seconds: float = 0.5  # the last seconds of voicing whose movement is carried over


class Lipsync(_Section):
    enabled: bool
    strength: float
    jaw_from_voice: float
    own_motion: bool
    person_model: bool = True  # learn the person's mouth from the video's own speech (lipsync/person.py; see configs/default.yaml)
    measure: bool = True  # track the written mouths again for the sync figures (sync.json, review page)


class Config(_Section):
    asr: ASR
    language_id: LanguageId = LanguageId()
    diarization: Diarization
    translation: Translation
    tts: TTS
    separation: Separation
    fit: Fit
    mix: Mix
    prosody: Prosody = Prosody()
    output: Output
    lipsync: Lipsync

    def digest(self, *sections: str) -> str:
        """A short hash of the named sections (all if none), for cache keys."""
        data = self.model_dump()
        if sections:
            data = {k: data[k] for k in sections}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class ConfigError(ValueError):
    pass


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def preset_overlay(name: str) -> dict:
    """The settings quality preset `name` changes, as nested sections (empty for "standard")."""
    if name not in PRESETS:
        raise ConfigError(f"--quality {name!r}: expected one of {', '.join(PRESETS)}")
    data = yaml.safe_load((CONFIGS / "presets" / f"{name}.yaml").read_text()) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"configs/presets/{name}.yaml: expected a mapping of settings")
    return data


def load(path: str | Path | None = None, overrides: dict | None = None, preset: str = "standard") -> Config:
    """The default configuration with quality preset `preset`'s overlay merged over it, then the YAML
    file at `path` (if any), then `overrides` (command-line options, as nested sections)."""
    data = _merge(yaml.safe_load((CONFIGS / "default.yaml").read_text()), preset_overlay(preset))
    if path:
        p = Path(path)
        try:
            user = yaml.safe_load(p.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(user, dict):
            raise ConfigError(f"{p}: expected a mapping of settings")
        data = _merge(data, user)
    data = _merge(data, overrides or {})
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{path or 'default config'}: {where}: {first['msg']}") from None
