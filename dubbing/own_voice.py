"""Each speaker's own voice: the user's pinned voice, else a kept clone of the same person, else a new
clone, else (too little speech, cloning off, or a backend that cannot clone) the matched stock voice.
With tts.backend xtts every speaker speaks from a reference clip of their own speech (dubbing/xtts_voice.py).

The cast is dubbing.voices.cast_voices's, with voices replaced speaker by speaker; each Voice says
where it came from (`origin`) and why (`note`), in `<lang>/voices.json`.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import clone, voicelib, voices, xtts_voice
from .config import Config
from .errors import DubError
from .kokoro import parse_voice
from .schema import Diarization, SpeakerProfile, Voice, VoiceCast

_cloning = threading.Lock()  # two languages dubbed at once must not search the same speaker twice

COLOUR_SPEECH = 3.0  # seconds of a speaker's speech below which a stock voice keeps its own spectrum
COLOUR_GAIN = 0.02  # Resemblyzer cosine the speaker's spectrum must add, on their speech held apart (mean of both ways)


def cast(profiles: list[SpeakerProfile], diarization: Diarization, wav16k: np.ndarray | None, language,
         cfg: Config, source: str = "", log: Callable[[str], None] | None = None,
         clips: Path | None = None) -> VoiceCast:
    """The stock cast with pinned, kept or cloned voices put in. `wav16k` is the source audio (16 kHz),
    needed only for speakers to clone or to look up in the library, and by the xtts backend, whose
    reference clips go to `clips` (None: the cache)."""
    if voices.resolve_backend(language, cfg.tts.backend) == "xtts":
        return xtts_voice.cast(profiles, diarization, wav16k, language, cfg.tts.voices, clips)
    for speaker, pin in cfg.tts.voices.items():
        if pin.lower().endswith(".wav"):
            raise DubError(f"--voice {speaker}={pin}: a reference recording is a voice of the xtts backend "
                           f"only; set tts.backend: xtts (and tts.xtts.base_url) to clone from it")
    base = voices.cast_voices(profiles, language, cfg.tts.backend)
    by_speaker = {p.speaker: p for p in profiles}
    out = {}
    for speaker, stock in base.voices.items():
        pin = cfg.tts.voices.get(speaker)
        if pin:
            out[speaker] = pinned(stock, pin)
        elif cfg.tts.clone and stock.backend == "kokoro" and wav16k is not None:
            out[speaker] = own(stock, by_speaker[speaker], diarization, wav16k, language, cfg, source, log)
        else:
            out[speaker] = stock
    if cfg.tts.colour and wav16k is not None:
        for speaker, voice in out.items():
            if voice.origin == "stock" and voice.backend == "kokoro":
                out[speaker] = colour(voice, clone.speaker_audio(wav16k, diarization.turns, speaker), language, cfg.asr)
    return base.model_copy(update={"voices": out})


def colour(voice: Voice, speech16k: np.ndarray, language, asr_cfg, synth=None) -> Voice:
    """`voice` given the speaker's long-term spectrum (dubbing.timbre: their recording chain and the broad
    tilt of their voice) where that makes it sound more like them and no harder to understand: fitted on
    one half of their speech (by time), it must raise the Resemblyzer cosine to the other half, by
    COLOUR_GAIN on average both ways round (a few seconds of speech, or speech under music, give a curve
    that only adds colour), and Whisper must hear a sentence in it within clone.CER_SLACK of the plain
    voice (a curve that dips where the vowels' formants are can cost words). Otherwise the voice keeps its
    own, and its note says why. `speech16k`: the speaker's speech, 16 kHz."""
    if len(speech16k) < COLOUR_SPEECH * clone.EMBED_RATE:
        return voice
    from . import timbre
    from .speak import Synthesizer

    text = clone.SELECT_TEXT.get(language.code, clone.SELECT_TEXT["en"])
    said = (synth or Synthesizer()).synthesize(text, voice, language)
    said = clone.to_16k(said.audio, said.sample_rate)
    as_said = clone.embed(said)
    half = len(speech16k) // 2
    gain = 0.0
    for fit, held in ((speech16k[:half], speech16k[half:]), (speech16k[half:], speech16k[:half])):
        given = timbre.apply(said, clone.EMBED_RATE, timbre.match(fit, said, clone.EMBED_RATE))
        gain += float((clone.embed(given) - as_said) @ clone.embed(held)) / 2
    if gain < COLOUR_GAIN:
        return voice.model_copy(update={"note": _also(voice.note, f"its own spectrum kept (the speaker's: "
                                                                   f"{gain:+.3f} on their speech held apart)")})
    eq = timbre.match(speech16k, said, clone.EMBED_RATE)
    cer = [clone.heard_cer(x, text, language, asr_cfg) for x in (said, timbre.apply(said, clone.EMBED_RATE, eq))]
    heard = f"CER {cer[0]:.2f} -> {cer[1]:.2f}"
    if cer[1] > cer[0] + clone.CER_SLACK:
        return voice.model_copy(update={"note": _also(voice.note, f"its own spectrum kept (the speaker's sounded "
                                                                   f"more like them, {gain:+.3f}, but was heard worse: "
                                                                   f"{heard})")})
    return voice.model_copy(update={"eq": eq, "note": _also(voice.note, f"given the speaker's spectrum ({gain:+.3f} on "
                                                                        f"their speech held apart; {heard})")})


def _also(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more


def pinned(stock: Voice, ref: str) -> Voice:
    """The user's voice for a speaker: a library voice keeps its pitch, formants and eq; a file or stock
    voice speaks as is."""
    name = voice_name(ref)
    kept = voicelib.find(name[len(voicelib.LIB):]) if name.startswith(voicelib.LIB) else None
    return stock.model_copy(update={"name": name, "pitch": round(kept.pitch, 2) if kept else 0.0,
                                    "formant": kept.formant if kept else 1.0, "eq": kept.eq if kept else [],
                                    "origin": "pinned",
                                    "note": f"--voice {stock.speaker}={ref}"})


def own(stock: Voice, profile: SpeakerProfile, diarization: Diarization, wav16k: np.ndarray, language,
        cfg: Config, source: str, log: Callable[[str], None] | None) -> Voice:
    """A kept clone of this person, a new clone, or the stock voice if there is too little speech."""
    if profile.speech_seconds < clone.MIN_SPEECH:
        return stock.model_copy(update={"note": f"stock voice: only {profile.speech_seconds:.1f} s of speech, "
                                                f"{clone.MIN_SPEECH:.0f} s needed to clone"})
    speech = clone.speaker_audio(wav16k, diarization.turns, stock.speaker)
    key = clone.embed(speech)
    with _cloning:
        kept = voicelib.match(key)
        if kept is None:
            kept = new_clone(speech, key, language, cfg, source, log)
            voice = stock.model_copy(update={
                "name": voicelib.LIB + kept.id, "pitch": kept.pitch, "formant": kept.formant, "eq": kept.eq, "origin": "cloned",
                "note": f"cloned in {kept.seconds:.0f} s ({kept.evaluations} voices tried): similarity "
                        f"{kept.start_similarity:.2f} -> {kept.similarity:.2f}, CER {kept.cer:.2f} ({language.code}), "
                        f"formants x{kept.formant:.2f}"})
        else:
            cos = voicelib.cosine(kept.key, key)
            voice = stock.model_copy(update={
                "name": voicelib.LIB + kept.id, "pitch": round(kept.pitch, 2), "formant": kept.formant, "eq": kept.eq,
                "origin": "library",
                "note": f"kept voice {kept.name or kept.id} (same speaker: cosine {cos:.2f}); no search"})
        if language.code not in kept.heard:  # searched in another language: is it understood in this one?
            from .kokoro import engine

            ok, cer = clone.heard_well(voicelib.style(voice.name), kept.pitch, engine().style(stock.name), stock.pitch,
                                       speech, language, cfg.asr, formant=kept.formant)
            kept = voicelib.note_heard(kept.id, language.code, cer, ok)
    if language.code in kept.unclear:
        return stock.model_copy(update={"note": f"stock voice: the cloned voice {kept.name or kept.id} is not "
                                                f"understood in {language.code} (CER {kept.heard[language.code]:.2f})"})
    return voice


def new_clone(speech: np.ndarray, key: np.ndarray, language, cfg: Config, source: str,
              log: Callable[[str], None] | None) -> voicelib.LibraryVoice:
    """Search a voice for `speech` and keep it in the library."""
    found, _ = clone.clone_speaker(speech, language, cfg.asr, cfg.tts.clone_seconds, log=log)
    vid = "v" + hashlib.sha256(np.asarray(key, np.float32).tobytes()).hexdigest()[:10]
    return voicelib.add(voicelib.LibraryVoice(
        id=vid, key=[round(float(x), 6) for x in key], pitch=round(found.pitch, 2), eq=found.eq, formant=found.formant,
        start=found.start,
        language=language.code, similarity=round(found.similarity, 4), start_similarity=round(found.start_similarity, 4),
        cer=round(found.cer, 4), heard={language.code: round(found.cer, 4)}, seconds=round(found.seconds, 1),
        evaluations=found.evaluations, source=source), found.style)


def voice_name(ref: str) -> str:
    """A user's --voice value as a synthesizer voice name: a file path, a library voice, or a stock
    voice/blend, or a reference recording (.wav, for the xtts backend); DubError in one line if it is none
    of them."""
    if ref.lower().endswith(".wav"):
        return str(xtts_voice.reference_wav(ref))
    if ref.endswith((".npy", ".pt")):
        path = Path(ref).expanduser().resolve()
        voicelib.read_style(path)  # fail now, in one line, not mid-run
        return voicelib.FILE + str(path)
    if ref.startswith((voicelib.LIB, voicelib.FILE)):
        return ref
    lib = voicelib.load()
    if any(ref in (v.id, v.name) for v in lib.voices):
        return voicelib.LIB + voicelib.find(ref, lib).id
    try:
        parse_voice(ref)  # an unknown name fails now, in one line
    except DubError as e:
        kept = ", ".join(v.name or v.id for v in lib.voices) or "none yet"
        raise DubError(f"voice {ref!r} is not a .npy/.pt file, a library voice (kept: {kept}) or a stock "
                       f"voice ({e})") from None
    return ref
