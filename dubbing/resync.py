"""Lips for audio that did not come from our synthesizer: re-sync a video to a replacement track, make a
still portrait speak. The text of the audio is found by ASR, its phonemes by forced alignment."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

import languages

from . import media
from .config import Config
from .errors import DubError, NoSpeech
from .schema import Phone, SpeakerTurn, Transcript

ASR_RATE = 16000  # Hz


def phones_of(audio: np.ndarray, cfg: Config, language: str | None = None) -> tuple[Transcript, list[Phone]]:
    """Transcribe 16 kHz audio and align each segment's text; phones carry absolute times (seconds)."""
    from . import align, transcribe

    tr = transcribe.transcribe(audio, cfg.asr, language)
    if not any(s.words for s in tr.segments):
        raise NoSpeech("no speech found in the audio: nothing to sync to")
    try:
        lang = languages.get(tr.language)
    except languages.UnknownLanguage:
        raise DubError(f"the audio's language ({tr.language}) has no language file; supported: "
                       f"{', '.join(languages.supported())}") from None
    phones: list[Phone] = []
    for seg in tr.segments:
        a = max(0, int((seg.start - 0.1) * ASR_RATE))
        b = min(len(audio), int((seg.end + 0.1) * ASR_RATE))
        if b - a < ASR_RATE // 10 or not seg.text.strip():
            continue
        off = a / ASR_RATE
        phones += [Phone(symbol=p.symbol, start=round(p.start + off, 3), end=round(p.end + off, 3))
                   for p in align.align(audio[a:b], ASR_RATE, seg.text, lang)]
    return tr, phones


def voice_of(audio: np.ndarray, cfg: Config) -> np.ndarray:
    """The speech alone of 16 kHz `audio` (cfg.separation's backend): the mouths rest in its pauses,
    the jaw follows its loudness and the sync is measured against it, as a dub's are against its
    voices.wav. Music or noise under the voice would otherwise hide the pauses and move the jaw
    (identity re-sync of vr_face1 found no pause in its full audio, two in its speech)."""
    from . import separate

    return separate.split(audio, ASR_RATE, cfg.separation.backend)[0]


def same_words(new_tr: Transcript, new_voice: np.ndarray, own: np.ndarray, cfg: Config):
    """Where the replacement (transcript `new_tr`, separated voice `new_voice`) says the words of the
    video's own 16 kHz audio `own`, the map of its time to the source's (lipsync.retime.TimeMap);
    None when it says other words or speaks another language."""
    from lipsync import retime

    from . import transcribe

    src_tr = transcribe.transcribe(own, cfg.asr)
    if src_tr.language != new_tr.language:
        return None
    words = lambda tr: [(w.text, w.start, w.end) for s in tr.segments for w in s.words]
    return retime.time_map(words(new_tr), words(src_tr), retime.features(new_voice, ASR_RATE),
                           retime.features(voice_of(own, cfg), ASR_RATE))


def _label(phones: list[Phone], turns: list[SpeakerTurn]) -> list[tuple[str, float, float, str]]:
    """Give each phone the source speaker whose turn is nearest (overlap first)."""
    out = []
    for p in phones:
        best = min(turns, key=lambda t: (max(t.start - p.end, p.start - t.end, 0.0), -min(t.end, p.end) + max(t.start, p.start)),
                   default=None)
        out.append((p.symbol, p.start, p.end, best.speaker if best else "SPEAKER_00"))
    return out


def _source_speech(own: np.ndarray, turns: list[SpeakerTurn], cfg: Config):
    """The video's own phones (labelled with its speakers) and voice, for the person's mouth model; None
    when the video's audio holds no speech."""
    try:
        phones = phones_of(own, cfg)[1]
    except NoSpeech:
        return None
    turns = turns or [SpeakerTurn(start=0.0, end=len(own) / ASR_RATE, speaker="SPEAKER_00")]
    return _label(phones, turns), voice_of(own, cfg)


def _replacement_audio(path: str | os.PathLike, duration: float) -> tuple[np.ndarray, str | None]:
    """The replacement track at 16 kHz, cut or padded to `duration` seconds, and a note if it had to be."""
    audio = media.load_audio(path, ASR_RATE)
    n = int(round(duration * ASR_RATE))
    note = None
    if abs(len(audio) - n) > ASR_RATE // 10:
        note = (f"audio is {len(audio) / ASR_RATE:.2f} s, video {duration:.2f} s: "
                + ("the audio is cut at the video's end" if len(audio) > n else "the rest of the video keeps its mouth as it was"))
    return (audio[:n] if len(audio) >= n else np.pad(audio, (0, n - len(audio)))), note


def lipsync(video: str | os.PathLike, audio: str | os.PathLike, out_dir: str | os.PathLike, cfg: Config,
            progress=None) -> tuple[Path, object, str | None]:
    """Re-sync `video` to the replacement `audio`; writes OUT/<video>.lipsync.<ext>. Returns (path, report, note)."""
    from lipsync import api

    from . import diarize

    info = media.probe(video)
    if not info.has_video:
        raise DubError(f"no video stream in {video}")
    media.probe(audio)
    out_dir = Path(out_dir)
    work = out_dir / f"{Path(video).stem}.lipsync.work"
    new, note = _replacement_audio(audio, info.duration)
    tr, phones = phones_of(new, cfg)
    new_voice = voice_of(new, cfg)
    retime, source = None, None
    if info.has_audio:
        own = media.load_audio(video, ASR_RATE)
        turns = diarize.diarize(own, cfg.diarization).turns
        if cfg.lipsync.own_motion:
            retime = same_words(tr, new_voice, own, cfg)
        if cfg.lipsync.person_model:
            source = _source_speech(own, turns, cfg)
    else:
        turns = []
    turns = turns or [SpeakerTurn(start=0.0, end=info.duration, speaker="SPEAKER_00")]
    wav = media.write_wav(work / "audio.wav", new, ASR_RATE)
    voice = media.write_wav(work / "voice.wav", new_voice, ASR_RATE)
    frames = work / "lips.mp4"
    report = api.sync_video(Path(video), voice, _label(phones, turns), turns, frames, work,
                            strength=cfg.lipsync.strength, progress=progress, language=tr.language,
                            jaw_from_voice=cfg.lipsync.jaw_from_voice, retime=retime, source_speech=source)
    report.save(work / "sync.json")
    out = media.mux(out_dir / f"{Path(video).stem}.lipsync{media.output_extension(info)}", audio=wav, video=frames,
                    audio_bitrate=cfg.output.audio_bitrate, audio_origin=media.audio_start(video))
    return out, report, note


def animate(image: str | os.PathLike, audio: str | os.PathLike, out_dir: str | os.PathLike, cfg: Config,
            progress=None) -> tuple[Path, object]:
    """Make the still portrait `image` speak `audio`; writes OUT/<image>.animate.mp4."""
    from lipsync import api

    p = Path(image)
    if not p.exists():
        raise DubError(f"image not found: {p}")
    info = media.probe(audio)
    if not info.has_audio:
        raise DubError(f"no audio track in {audio}")
    out_dir = Path(out_dir)
    work = out_dir / f"{p.stem}.animate.work"
    new = media.load_audio(audio, ASR_RATE)
    tr, phones = phones_of(new, cfg)
    wav = media.write_wav(work / "audio.wav", new, ASR_RATE)
    voice = media.write_wav(work / "voice.wav", voice_of(new, cfg), ASR_RATE)
    frames = work / "frames.mp4"
    report = api.animate(p, voice, [(x.symbol, x.start, x.end, "SPEAKER_00") for x in phones], frames, work,
                         progress=progress, language=tr.language, jaw_from_voice=cfg.lipsync.jaw_from_voice)
    report.save(work / "sync.json")
    out = media.mux(out_dir / f"{p.stem}.animate.mp4", audio=wav, video=frames, audio_bitrate=cfg.output.audio_bitrate)
    return out, report
