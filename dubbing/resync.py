"""Lips for audio that did not come from our synthesizer (`dub lipsync`, `dub animate`; composed in
flows/lipsync.py): the text of the audio is found by ASR, its phonemes by forced alignment, its voice by
separation, and where it says the video's own words, the map of its time to the video's."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import numpy as np

import languages

from . import media
from .config import Config
from .constants import SPEECH_RATE
from .errors import DubError, NoSpeech
from .schema import Phone, Segment, SpeakerTurn, Transcript


def phones_of(audio: np.ndarray, cfg: Config, language: str | None = None) -> tuple[Transcript, list[Phone]]:
    """Transcribe 16 kHz audio and align each segment's text; phones carry absolute times (seconds)."""
    from . import transcribe

    tr = transcribe.transcribe(audio, cfg.asr, language)
    if not any(s.words for s in tr.segments):
        raise NoSpeech("no speech found in the audio: nothing to sync to")
    try:
        lang = languages.get(tr.language)
    except languages.UnknownLanguage:
        raise DubError(f"the audio's language ({tr.language}) has no language file; supported: "
                       f"{', '.join(languages.supported())}") from None
    return tr, [p for _, phones in segment_phones(audio, tr, lang) for p in phones]


def segment_phones(audio: np.ndarray, tr: Transcript, lang: languages.Language
                   ) -> Iterator[tuple[Segment, list[Phone]]]:
    """Each segment of `tr` (the transcript of 16 kHz `audio`) with its text's phones aligned in it,
    at absolute times (s); a segment without text or under 0.1 s of audio is left out."""
    from . import align

    for seg in tr.segments:
        a = max(0, int((seg.start - 0.1) * SPEECH_RATE))
        b = min(len(audio), int((seg.end + 0.1) * SPEECH_RATE))
        if b - a < SPEECH_RATE // 10 or not seg.text.strip():
            continue
        off = a / SPEECH_RATE
        yield seg, [Phone(symbol=p.symbol, start=round(p.start + off, 3), end=round(p.end + off, 3))
                    for p in align.align(audio[a:b], SPEECH_RATE, seg.text, lang)]


def transcript_phones(audio: np.ndarray, tr: Transcript, done: Callable[[int], None] = lambda _: None
                      ) -> list[Phone]:
    """The phones of a transcript of 16 kHz `audio` (absolute times, s), each segment aligned in the
    language it was heard in (Segment.language, else the transcript's); segments in a language without
    a language file are left out. `done(k)`: the first k segments are through."""
    langs: dict[str, languages.Language | None] = {}
    out: list[Phone] = []
    for k, seg in enumerate(tr.segments, 1):
        code = seg.language or tr.language
        if code not in langs:
            try:
                langs[code] = languages.get(code)
            except languages.UnknownLanguage:
                langs[code] = None
        if langs[code] is not None:
            one = tr.model_copy(update={"segments": [seg]})
            out += [p for _, phones in segment_phones(audio, one, langs[code]) for p in phones]
        done(k)
    return sorted(out, key=lambda p: p.start)


def voice_of(audio: np.ndarray, cfg: Config) -> np.ndarray:
    """The speech alone of 16 kHz `audio` (cfg.separation's backend): the mouths rest in its pauses,
    the jaw follows its loudness and the sync is measured against it, as a dub's are against its
    voices.wav. Music or noise under the voice would otherwise hide the pauses and move the jaw
    (identity re-sync of vr_face1 found no pause in its full audio, two in its speech)."""
    from . import separate

    return separate.split(audio, SPEECH_RATE, cfg.separation.backend)[0]


def own_speech(own: np.ndarray, cfg: Config) -> tuple[Transcript, list[Phone], np.ndarray] | None:
    """The video's own 16 kHz audio read once: its transcript, its phones and its voice alone, for both the
    person's own lips (same_words) and their mouth model (source_speech); None when it holds no speech."""
    try:
        tr, phones = phones_of(own, cfg)
    except NoSpeech:
        return None
    return tr, phones, voice_of(own, cfg)


def same_words(new_tr: Transcript, new_voice: np.ndarray, src_tr: Transcript, src_voice: np.ndarray):
    """Where the replacement (transcript `new_tr`, separated voice `new_voice`) says the words of the
    video's own speech (transcript `src_tr`, voice `src_voice`, both 16 kHz), the map of its time to the
    source's (lipsync.retime.TimeMap); None when it says other words or speaks another language."""
    from lipsync import retime

    if src_tr.language != new_tr.language:
        return None
    words = lambda tr: [(w.text, w.start, w.end) for s in tr.segments for w in s.words]
    return retime.time_map(words(new_tr), words(src_tr), retime.features(new_voice, SPEECH_RATE),
                           retime.features(src_voice, SPEECH_RATE))


def label(phones: list[Phone], turns: list[SpeakerTurn]) -> list[tuple[str, float, float, str]]:
    """Give each phone the source speaker whose turn is nearest (overlap first)."""
    out = []
    for p in phones:
        best = min(turns, key=lambda t: (max(t.start - p.end, p.start - t.end, 0.0), -min(t.end, p.end) + max(t.start, p.start)),
                   default=None)
        out.append((p.symbol, p.start, p.end, best.speaker if best else "SPEAKER_00"))
    return out


def source_speech(phones: list[Phone], voice: np.ndarray, turns: list[SpeakerTurn]):
    """The video's own phones labelled with its speakers, and its voice: what the person's mouth model
    (lipsync.person) learns from."""
    return label(phones, turns), voice


def replacement_audio(path: str | os.PathLike, duration: float) -> tuple[np.ndarray, str | None]:
    """The replacement track at 16 kHz, cut or padded to `duration` seconds, and a note if it had to be."""
    audio = media.load_audio(path, SPEECH_RATE)
    n = int(round(duration * SPEECH_RATE))
    note = None
    if abs(len(audio) - n) > SPEECH_RATE // 10:
        note = (f"audio is {len(audio) / SPEECH_RATE:.2f} s, video {duration:.2f} s: "
                + ("the audio is cut at the video's end" if len(audio) > n else "the rest of the video keeps its mouth as it was"))
    return (audio[:n] if len(audio) >= n else np.pad(audio, (0, n - len(audio)))), note
