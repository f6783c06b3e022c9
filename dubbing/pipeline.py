"""The dub of one input as a few plain functions: prepare the source once, then one branch per language.

    prepare(input)            probe, audio, transcript, speakers, profiles, lines
    separate_source()         speech/background (only the dubs need it: it can run beside translation)
    align_source()            the source's own phones, which the mouths learn the person from (with lips)
    translate_lines(lang)     the translation (the user's edits to it are kept)
    dub_language(lang)        voices, speech per line, timing fit, mix, subtitles, lips, mux, checks

Each step reads and writes records in the job folder (workspace.Job) keyed by its inputs and settings,
so re-running redoes only what changed. Nothing here knows Prefect; flows/ composes these.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soxr
from pydantic import Field

import languages
from languages import Language

from . import asr_doubt, edits, llm, media, overlap, who, workload
from .config import Config
from .constants import MIX_RATE, SPEECH_RATE
from .files import atomic_path, copy_aside, write_atomic
from .errors import DubError, NoSpeech
from .lines import make_lines
from .schema import (ChannelCheck, Diarization, FittedLine, KeptLine, Levels, Line, Lines, MediaInfo, Overlap, Profiles, Record, RecordError, SpeakerProfile,
                     ProsodyReport, SourceProsody, SpeakerTurn, SpokenLine, TimingReport, Transcript, Translation,
                     VoiceCast, ReadCheck)
from .textnorm import normalize, reading
from .workspace import Job, digest, file_digest

SHORTEN_ATTEMPTS = 2  # shorter translations asked for a line that overflows its slot

Progress = Callable[[str, float, float], None]  # (step name, done, total); called from worker threads

log = logging.getLogger(__name__)


def quiet(step: str, done: float, total: float) -> None:
    """The progress callback that shows nothing."""


class LocalProgress:
    """A progress callback that stays in its process: pickled (a task sent to a Dask worker carries its
    flow's parameters with it), it becomes `quiet`."""

    def __init__(self, fn: Progress):
        self.fn = fn

    def __call__(self, step: str, done: float, total: float) -> None:
        self.fn(step, done, total)

    def __reduce__(self):
        return _quiet, ()


def _quiet() -> Progress:
    return quiet


@dataclass
class Source:
    """What the language branches need of the prepared source."""

    job: Job
    info: MediaInfo
    name: str
    transcript: Transcript
    diarization: Diarization
    profiles: list[SpeakerProfile]
    lines: list[Line]
    key: str  # digest of everything above
    media_key: str  # digest of the input file and its probe
    timings: dict[str, float] = field(default_factory=dict)
    overlapped: list[tuple[float, float]] = field(default_factory=list)  # s where two voices sound at once


def lips_on(info: MediaInfo, cfg: Config, lipsync: bool | None = None) -> bool:
    """Whether a dub of this input re-renders the lips: it has video, and `lipsync` (None: as configured)."""
    return info.has_video and (cfg.lipsync.enabled if lipsync is None else lipsync)


def _timed(timings: dict[str, float], step: str, fn, *a, **kw):
    t = time.perf_counter()
    out = fn(*a, **kw)
    timings[step] = timings.get(step, 0.0) + time.perf_counter() - t
    return out


def prepare(input_path: str | os.PathLike, job: Job, cfg: Config, from_lang: str | None = None,
            speakers: int | None = None, progress: Progress = quiet, lipsync: bool | None = None,
            run_parts: Callable[[Callable, list], list] | None = None) -> Source:
    """Run the shared stages once per input; NoSpeech if the audio holds none. `lipsync`: whether the
    lips will be re-rendered (None: as configured); then the faces are tracked here, and those seen
    talking check the voice's speakers (dubbing.who). `run_parts`: how the face tracking and the
    transcription run in parts of the video's time (lipsync.face_parts, transcribe.transcribe's pieces),
    such as on the workers of a cluster; None: here, each in one pass."""
    t: dict[str, float] = {}
    input_path = Path(input_path).resolve()
    info = _timed(t, "probe", media.probe, input_path)
    if not info.has_audio:
        raise DubError(f"no audio track in {input_path}: nothing to dub")
    if cfg.tts.backend == "xtts":  # every line needs the speech server: say it is down before any work
        from . import xtts

        xtts.client(cfg.tts.xtts).check()
    name = Path(input_path).stem
    src_key = digest(file_digest(input_path), info)
    job.path("source").mkdir(exist_ok=True)
    bad = job.record("source/readcheck.json", ReadCheck, src_key,
                     lambda: ReadCheck(unreadable=media.unreadable_spans(input_path))).unreadable
    if bad:  # corrupt in the middle: dub what decodes, from a copy on the same timeline, and say what was lost
        progress("unreadable " + ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in bad), 1, 1)
        ext = media.output_extension(info)
        input_path = job.file(f"source/readable{ext}", src_key, lambda p: media.readable_copy(input_path, p))
        info = media.probe(input_path)
    info.save(job.path("source/media.json"))
    lips = lips_on(info, cfg, lipsync)
    with _faces_beside(job, src_key, input_path, progress, t, lips, run_parts) as faces_folder:
        return _prepare_audio(input_path, name, job, cfg, info, src_key, from_lang, speakers, progress, t,
                              faces_folder, run_parts)


def _prepare_audio(input_path: Path, name: str, job: Job, cfg: Config, info: MediaInfo, src_key: str,
                   from_lang: str | None, speakers: int | None, progress: Progress, t: dict[str, float],
                   faces_folder: Callable[[], Path] | None,
                   run_parts: Callable[[Callable, list], list] | None = None) -> Source:
    """prepare's stages on the sound (transcription, speakers, profiles, lines) of the input named `name`;
    `faces_folder()` waits for the source's face tracks (None: the lips are not re-rendered); `run_parts`:
    how the transcription's pieces run (transcribe.transcribe)."""
    from . import diarize, profiles, rttm, stretches, subtitle_source

    progress("audio", 0, 1)
    full = job.path("source/audio48k.wav")  # for the speech/background split (separate_source)

    def _decode(p: Path) -> None:  # one decode of the source's audio for every stage
        media.decode_audio(input_path, {p: (SPEECH_RATE, 1), full: (MIX_RATE, None)})
        job.mark(full, src_key)

    audio_path = job.file("source/audio16k.wav", src_key, _decode)
    audio, _ = media.read_wav(audio_path)
    progress("audio", 1, 1)

    progress("transcribe", 0, info.duration)
    asr_key = digest(src_key, cfg.asr, cfg.language_id, from_lang)
    by_channel = None
    if cfg.diarization.channels and not cfg.asr.transcript and speakers is None and info.audio_channels >= 2:
        by_channel = _by_channel(job, full, info, cfg, from_lang, asr_key, progress, t)
    if by_channel:
        raw = by_channel[0]
    elif cfg.asr.transcript:  # the user's subtitles instead of speech recognition (dubbing/subtitle_source.py)
        asr_key = digest(asr_key, file_digest(Path(cfg.asr.transcript)))
        raw = job.record("source/asr.json", Transcript, asr_key, lambda: _timed(
            t, "transcribe", subtitle_source.transcript, cfg.asr.transcript, from_lang, info.duration))
    else:
        raw = job.record("source/asr.json", Transcript, asr_key, lambda: _timed(
            t, "transcribe", stretches.transcribe_source, audio, cfg.asr, cfg.language_id, from_lang,
            lambda s: progress("transcribe", s, info.duration), job.path("source/langid.json"), run_parts))
    progress("transcribe", info.duration, info.duration)
    if not any(s.words for s in raw.segments):
        raise NoSpeech(f"no speech found in {input_path}")

    progress("diarize", 0, 1)
    dia_key = digest(asr_key, cfg.diarization, speakers)
    labelled = subtitle_source.labelled(raw)
    faces = (cfg.diarization.faces and not labelled and speakers is None and not by_channel
             and faces_folder is not None)
    voice_path = "source/diarization.voice.json" if faces else "source/diarization.json"
    if by_channel:  # each channel diarized on its own
        dia = by_channel[1]
    elif labelled:  # speakers named in the user's subtitles: no clustering
        dia = job.record(voice_path, Diarization, dia_key,
                         lambda: _timed(t, "diarize", subtitle_source.diarization, raw, audio, SPEECH_RATE))
    else:
        dia = job.record(voice_path, Diarization, dia_key,
                         lambda: _timed(t, "diarize", diarize.diarize, audio, cfg.diarization, speakers, SPEECH_RATE))
    if not dia.turns:  # VAD found nothing where ASR found words: one speaker over the words
        dia = Diarization(turns=[SpeakerTurn(start=s.start, end=s.end, speaker="SPEAKER_00") for s in raw.segments],
                          speakers=["SPEAKER_00"], method="fallback: one speaker")
    if faces:  # a face seen talking splits or joins the voice's speakers, where the voice agrees
        folder = faces_folder()
        voice = dia
        dia = job.record("source/diarization.json", Diarization, digest(dia_key, voice, _faces_settings()),
                         lambda: _timed(t, "speakers from faces", _speakers_from_faces, voice, folder, audio))
    rttm.write_rttm(job.path("source/diarization.rttm"), dia.turns, uri=name)
    transcript = job.record("source/transcript.json", Transcript, digest(asr_key, dia),
                            lambda: raw if by_channel else diarize.assign_speakers(raw, dia))
    heard = [] if by_channel or not cfg.diarization.overlap else job.record(
        "source/overlap.json", Overlap, digest(src_key, overlap.method()),
        lambda: _timed(t, "overlap", overlap.detect, audio)).spans
    prof = by_channel[2] if by_channel else job.record(  # each voice's pitch where it sounds alone
        "source/profiles.json", Profiles, digest(dia_key, dia, *([heard] if heard else [])),
        lambda: Profiles(speakers=_timed(t, "profiles", profiles.speaker_profiles, audio,
                                         overlap.alone(dia, heard), SPEECH_RATE)))
    progress("diarize", 1, 1)

    lines = job.record("source/lines.json", Lines, digest(transcript, dia, cfg.fit.max_borrow, *([heard] if heard else [])), lambda: Lines(
        language=transcript.language,
        lines=overlap.flag_lines(asr_doubt.flag_lines(make_lines(
            transcript, max_borrow=cfg.fit.max_borrow, turns=dia.turns, per_speaker=bool(by_channel)), transcript),
            heard))).lines
    key = digest(src_key, transcript, dia, prof, lines, cfg.separation)
    return Source(job=job, info=info, name=name, transcript=transcript, diarization=dia, profiles=prof.speakers,
                  lines=lines, key=key, media_key=src_key, timings=t, overlapped=heard)


def _by_channel(job: Job, full: Path, info: MediaInfo, cfg: Config, from_lang: str | None, asr_key: str,
                progress: Progress, t: dict[str, float]) -> tuple[Transcript, Diarization, Profiles] | None:
    """The transcript (words labelled), speakers and their profiles heard channel by channel, when the channels carry
    independent voices (dubbing.channels); None otherwise. Reads chunks of the 48 kHz decode to decide, then
    each channel at 16 kHz."""
    import soundfile as sf

    from . import channels

    key = digest(asr_key, cfg.diarization)
    paths = [job.path(f"source/{n}.json") for n in ("asr", "diarization", "profiles")]
    if all(job.fresh(p, key) for p in paths):
        return Transcript.load(paths[0]), Diarization.load(paths[1]), Profiles.load(paths[2])
    with sf.SoundFile(str(full)) as f:
        rate = f.samplerate

        def read(start: float, seconds: float) -> np.ndarray:
            f.seek(min(int(start * rate), f.frames))
            return f.read(int(seconds * rate), dtype="float32", always_2d=True)

        # decided once per source: the flow's prepare task must not measure it again
        independent = job.record("source/channels.json", ChannelCheck, digest(asr_key, "channels"), lambda:
                                 ChannelCheck(coherence=channels.channels_coherence(read, info.duration, rate))
                                 ).coherence
        if independent is None or independent >= channels.MAX_COHERENCE:
            return None
        f.seek(0)
        streams = [soxr.ResampleStream(rate, SPEECH_RATE, 1, dtype="float32") for _ in range(f.channels)]
        pieces: list[list[np.ndarray]] = [[] for _ in range(f.channels)]
        for block in f.blocks(blocksize=60 * rate, dtype="float32", always_2d=True):
            for k, st in enumerate(streams):
                pieces[k].append(st.resample_chunk(np.ascontiguousarray(block[:, k])))
        per = [np.concatenate(p + [st.resample_chunk(np.zeros(0, np.float32), last=True)])
               for p, st in zip(pieces, streams)]
    total = info.duration * len(per)
    out = _timed(t, "transcribe", channels.transcribe_channels, per, SPEECH_RATE, cfg.asr, cfg.language_id,
                 cfg.diarization, from_lang, lambda s: progress("transcribe", s * info.duration / total, info.duration))
    if out is None:
        return None
    out = (out[0], out[1], Profiles(speakers=out[2]))
    for rec, p in zip(out, paths):
        rec.save(p)
        job.mark(p, key)
    return out


def separate_source(src: Source, cfg: Config, progress: Progress = quiet,
                    run_parts: Callable[[Callable, list], list] | None = None) -> None:
    """Split the source's sound into speech and background: source/background.wav (MIX_RATE), the speech
    in mono at SPEECH_RATE (source/speech16k.wav, whose prosody the dub carries) and the loudness of each
    (source/levels.json), which dub_language needs. `run_parts`: how its windows run (separate_file)."""
    from .separate_file import split_file

    def _split(p: Path, speech_path: Path) -> None:
        speech_lufs, background_lufs = _timed(src.timings, "separate", split_file, _decoded(src), p, speech_path,
                                              SPEECH_RATE, cfg.separation.backend, cfg.separation.bleed,
                                              lambda f: progress("separate", f, 1), run_parts=run_parts)
        Levels(speech_lufs=_finite(speech_lufs, -23.0),
               background_lufs=_finite(background_lufs, -70.0)).save(src.job.path("source/levels.json"))

    progress("separate", 0, 1)
    key = digest(src.media_key, cfg.separation)
    outputs = [src.job.path("source/background.wav"), src.job.path("source/speech16k.wav")]
    if not all(src.job.fresh(p, key) for p in outputs):
        _split(*outputs)
        for p in outputs:
            src.job.mark(p, key)
    progress("separate", 1, 1)


def translate_lines(src: Source, lang: Language, cfg: Config, progress: Progress = quiet,
                    run_parts: Callable[[Callable, list], list] | None = None) -> Translation:
    """The translation of every line; a translation.json the user edited is kept as it is, and when the
    source lines or the settings change its hand edits are carried into the new one (_with_edits); when
    only source lines changed, only they are translated again (_translated_again). `run_parts`:
    how parts of about TRANSLATION_PART_S s of lines in one language run (translate.page_parts: whole
    pages of the LLM's context), such as on the workers of a cluster, each with its own model; None:
    here, in one call."""
    from . import glossary

    if lang.code == src.transcript.language:
        raise DubError(f"source language is already {lang.code}: choose another target")
    progress(f"translate {lang.code}", 0, len(src.lines))
    terms = glossary.for_config(cfg.translation, lang.code)
    settings = (src.transcript.language, lang.code, cfg.translation, *([terms] if terms else []))
    key = digest(overlap.unflagged(src.lines), *settings)
    path = src.job.path(f"{lang.code}/translation.json")
    if src.job.fresh(path, key):
        problems = edits.check_edit(src.job.root, lang.code)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise DubError(f"edited translation has a problem: {problems[0]}{more}")
        tr = Translation.load(path)
    else:
        machine, settings_key = path.with_name(edits.MACHINE), digest(*settings)
        t0 = time.perf_counter()
        made = _translated_again(src, lang, cfg, terms, run_parts, machine, settings_key)
        src.timings[f"translate {lang.code}"] = time.perf_counter() - t0
        tr = _with_edits(path, made)
        made.save(machine)
        src.job.mark(machine, settings_key)
        tr.save(path)
        src.job.mark(path, key)
    progress(f"translate {lang.code}", len(src.lines), len(src.lines))
    return tr


def _translated_again(src: Source, lang: Language, cfg: Config, terms: dict[str, str] | None,
                      run_parts: Callable[[Callable, list], list] | None, machine: Path, settings: str) -> Translation:
    """The translator's text for every line: what it wrote before under the same `settings` for the lines
    whose source is unchanged (edits.reuse), the rest translated now; all of them when the settings
    changed, there is no earlier translation, or the backend is the user's file (it names every line)."""
    main = src.transcript.language
    if cfg.translation.backend == "file" or lang.code in cfg.translation.files or not src.job.fresh(machine, settings):
        return _translated(src.lines, main, lang, cfg, terms, run_parts)
    try:
        before = Translation.load(machine)
    except RecordError:
        return _translated(src.lines, main, lang, cfg, terms, run_parts)
    done, todo = edits.reuse(before, src.lines)
    log.info("%s: %d of %d lines translated as before (their source is unchanged), %d translated now",
             lang.code, len(src.lines) - len(todo), len(src.lines), len(todo))
    if not todo:
        return before.model_copy(update={"lines": done})
    now = _translated(todo, main, lang, cfg, terms, run_parts)
    new = iter(now.lines)
    backends = dict.fromkeys([*before.backend.split("+"), *now.backend.split("+")])
    return Translation(source_language=main, language=lang.code, backend="+".join(backends),
                       lines=[d if d is not None else next(new) for d in done])


def _with_edits(path: Path, made: Translation) -> Translation:
    """`made` with the hand edits of the translation.json at `path` that its new source still has
    (edits.carry). An edited file about to be replaced is first copied beside it, so nothing a person
    wrote is lost; the run says what was kept and what was not."""
    if not path.is_file():
        return made
    lang = path.parent.name
    try:
        old = Translation.load(path)
    except RecordError as e:
        kept_as = copy_aside(path)
        log.warning("%s could not be read (%s): kept as %s, translated afresh", path, e, kept_as.name)
        return made
    try:
        machine = Translation.load(path.with_name(edits.MACHINE))
    except RecordError:  # none kept (a job from before it was), or not readable: every line may be an edit
        machine = None
    carried = edits.carry(old, machine, made)
    if carried.kept or carried.lost or (machine is None and old != made):
        what = "edited line(s)" if machine is not None else (
            f"line(s) that differ from the new translation (no {edits.MACHINE} to tell your edits apart: "
            "delete translation.json to take the new one)")
        kept = f"{len(carried.kept)} {what} kept ({_ids(carried.kept)})" if carried.kept else "no edited line kept"
        lost = (f"; {len(carried.lost)} edited line(s) whose source words changed are not in the new one "
                f"({_ids(carried.lost)})") if carried.lost else ""
        kept_as = copy_aside(path)
        log.warning("%s: the source or settings changed, so it was translated again; %s%s. Your file is kept "
                    "as %s", lang, kept, lost, kept_as.name)
    return carried.translation


def _ids(ids: list[str], most: int = 6) -> str:
    return ", ".join(ids[:most]) + (f" and {len(ids) - most} more" if len(ids) > most else "")


TRANSLATION_PART_S = 120.0  # seconds of the video's lines in one part of the translation run by `run_parts`


@dataclass
class _TranslationPart:
    """Lines to translate from `main` into `lang` (see _translated): it pickles."""

    lines: list[Line]
    main: str
    lang: Language
    cfg: Config
    terms: dict[str, str] | None
    remote: bool = False  # run where nothing else asks the translation model: let it go after the part


def _translated(lines: list[Line], main: str, lang: Language, cfg: Config, terms: dict[str, str] | None,
                run_parts: Callable[[Callable, list], list] | None) -> Translation:
    """`lines` translated from `main` into `lang`, each from its own language (stretches.translate_by_language);
    in parts run by `run_parts` when all are in one language, there is more than one part, and the
    backend is not the user's file (which names every line of the transcript)."""
    from . import translate

    apart = run_parts is not None and cfg.translation.backend != "file"
    parts = translate.page_parts(lines, TRANSLATION_PART_S) if apart else [lines]
    if len(parts) == 1 or any((l.language or main) != main for l in lines):
        return _translate_part(_TranslationPart(lines, main, lang, cfg, terms))
    return translate.join_parts(run_parts(_translate_part, [_TranslationPart(p, main, lang, cfg, terms, remote=True)
                                                            for p in parts]))


def _translate_part(part: _TranslationPart) -> Translation:
    """The part's lines translated (see _translated)."""
    from . import stretches, translate

    try:
        return stretches.translate_by_language(
            part.lines, part.main, part.lang, part.cfg.translation,
            lambda lines, source, target, c: translate.translate(lines, source, target, c, part.terms))
    finally:
        if part.remote:
            llm.release()


@dataclass
class Result:
    language: str
    output: Path
    subtitles: list[Path]
    timing: TimingReport
    quality: dict
    timings: dict[str, float]


class FitMemo(Record):
    """Per line: the rates chosen and the shorter texts got, under digests of their inputs, so a rerun
    finds its speech without running the duration predictor or the LLM again."""

    speeds: dict[str, float] = Field(default_factory=dict)
    shorter: dict[str, str] = Field(default_factory=dict)


def _speak(job: Job, lang: Language, line_id: str, text: str, voice, speed: float, synth, tag: str) -> tuple[np.ndarray, int, SpokenLine]:
    """Synthesize (or reuse) one line at one speed (x the voice's own rate); returns audio, rate and its record."""
    rel = f"{lang.code}/speech/{line_id}{tag}"
    said = synth.reading(text, lang)  # keyed by what is said as well (Japanese: Latin words in katakana)
    key = digest(text, voice, speed, lang.code) if said == text.strip() else digest(text, said, voice, speed, lang.code)
    rec_path = job.path(rel + ".json")
    if job.fresh(rec_path, key):
        rec = SpokenLine.load(rec_path)
        audio, sr = media.read_wav(job.root / rec.audio)
        return audio, sr, rec
    sp = synth.synthesize(text, voice, lang, speed=speed)
    media.write_wav(job.path(rel + ".wav"), sp.audio, sp.sample_rate)
    rec = SpokenLine(line_id=line_id, audio=rel + ".wav", sample_rate=sp.sample_rate,
                     duration=len(sp.audio) / sp.sample_rate, speed=speed, phones=sp.phones)
    rec.save(rec_path)
    job.mark(rec_path, key)
    audio, sr = media.read_wav(job.root / rec.audio)
    return audio, sr, rec


def _say(job: Job, lang: Language, line: Line, text: str, voice, synth, fit_cfg,
         memo: FitMemo, tag: str = "") -> tuple[np.ndarray, int, SpokenLine, float]:
    """Speak `text` for the slot of `line`, once in the common case: Kokoro's duration predictor tells the
    natural length beforehand, so the rate is chosen before synthesis. The result is measured; only if the
    stretch cannot absorb the miss (a trim, or a backend without prediction) is it spoken again at the rate
    the measurement asks for. The rate is kept in `memo` per text and slot, so a rerun loads the speech.

    `tag` names the files of this text (one per shortening attempt, so a rerun finds each).
    Returns audio, sample rate, record and the rate used (x the voice's own rate)."""
    from . import fit

    key = digest(text, voice, lang.code, line.duration, fit_cfg)
    speed = memo.speeds.get(key)
    if speed is None:
        natural = synth.predict(text, voice, lang)
        if natural is None:  # no predictor: measure a synthesis at the natural rate
            _, _, rec = _speak(job, lang, line.id, text, voice, 1.0, synth, tag + ".natural")
            natural = _voiced(rec)[1]
        speed = fit.choose_speed(natural, line.duration, fit_cfg)
    audio, sr, rec = _speak(job, lang, line.id, text, voice, speed, synth, tag)
    voiced = _voiced(rec)[1]
    again = fit.choose_speed(voiced * speed, line.duration, fit_cfg)
    if abs(again - speed) > 0.02 and not fit.stretch_absorbs(voiced, line.duration, fit_cfg):
        speed = again
        audio, sr, rec = _speak(job, lang, line.id, text, voice, speed, synth, tag)
    memo.speeds[key] = speed
    return audio, sr, rec, speed


def fit_line(src: Source, lang: Language, line: Line, voice, cfg: Config, synth, room: tuple[float, float],
             source_language: str) -> tuple[np.ndarray, float, FittedLine, list, str]:
    """Synthesize one line and fit it to its slot: rate, stretch, borrowed silence, then a shorter text.

    Returns the audio at MIX_RATE, where it starts (seconds), the fitted record (times of the speech
    itself, first phone to last), the phones on the output timeline and the text spoken.
    """
    from . import fit, glossary, stretch, translate

    job = src.job
    fit_cfg = cfg.fit.model_copy(update={"speed_max": min(cfg.fit.speed_max, lang.tts.speed_max),
                                         "rate_max": min(cfg.fit.rate_max, lang.tts.rate_max)})
    memo_path = job.path(f"{lang.code}/speech/{line.id}.fit.json")
    try:
        memo = FitMemo.load(memo_path)
    except RecordError:  # none yet (or unreadable): start afresh
        memo = FitMemo()
    before = memo.model_dump()
    text, cuts, final, spoken = line.text, 0, "long-ok" in line.flags, False
    for attempt in range(SHORTEN_ATTEMPTS + 1):
        final = final or attempt == SHORTEN_ATTEMPTS
        p = None if final else _foreseen_overflow(lang, line, text, voice, synth, fit_cfg, room)
        if p is None:  # spoken, unless the duration predictor already says it cannot fit
            audio, sr, rec, speed = _say(job, lang, line, text, voice, synth, fit_cfg, memo,
                                         f".short{cuts}" if cuts else "")
            spoken = True
            lead, voiced = _voiced(rec)  # the speech itself fills the slot; the clip's silent edges may spill
            p = fit.plan(line.start, line.end, voiced, speed, fit_cfg, *room)
            if not p.needs_shorter or final:
                break
        # ask for a rendering that fits, tighter on each try
        target = line.duration * (line.duration / max(p.end - p.start, 1e-3)) ** (attempt + 1)
        max_seconds = round(max(target, 0.3), 3)
        short_key = digest(text, line.source, source_language, lang.code, cfg.translation, max_seconds)
        shorter = memo.shorter.get(short_key)
        if shorter is None:
            shorter = translate.shorten(line.model_copy(update={"text": text}), source_language, lang,
                                        cfg.translation, max_seconds=max_seconds,
                                        glossary=glossary.for_config(cfg.translation, lang.code))
            memo.shorter[short_key] = shorter
        if not shorter or len(shorter) >= len(text):
            final = True  # no shorter text: this one is spoken as it is, on the next turn if not yet
            if spoken:
                break
            continue
        text, cuts, spoken = shorter, cuts + 1, False
    shortened = cuts > 0
    if memo.model_dump() != before:
        memo.save(memo_path)
    if "short" in p.flags:  # too short even at the slowest rate and stretch: pause longer where it pauses
        audio, rec, added = _longer_pauses(audio, sr, rec, line.duration - voiced, fit_cfg.max_pause)
        if added:
            lead, voiced = _voiced(rec)
            p = fit.plan(line.start, line.end, voiced, speed, fit_cfg, *room)
            p.flags.append("paused")
    if shortened:
        p.flags.append("shortened")
    out = stretch.time_stretch(audio, sr, p.stretch) if abs(p.stretch - 1) > 1e-3 else audio
    out = soxr.resample(out, sr, MIX_RATE).astype(np.float32)
    k = p.stretch
    clip_start = p.start - lead * k
    phones = [(ph.symbol, round(clip_start + ph.start * k, 3), round(clip_start + ph.end * k, 3), line.speaker)
              for ph in rec.phones]
    fl = FittedLine(line_id=line.id, speaker=line.speaker, slot_start=line.start, slot_end=line.end, start=p.start,
                    end=p.end, speed=speed, stretch=p.stretch, shortened=shortened, flags=p.flags)
    return out, clip_start, fl, phones, text


# Spare allowed to the duration predictor before a line is shortened unspoken. Synthesized voiced length
# over predicted, on the 35 lines of pa_sample and vr_face1 into es, fr, ja: 0.975-1.116 (median 1.022;
# the last phone's tail is a guess, see speak.LAST_PHONE), so a line that overflows at 0.97 x the
# prediction overflows when spoken.
FORESEEN_SPARE = 0.97


def _foreseen_overflow(lang: Language, line: Line, text: str, voice, synth, fit_cfg, room: tuple[float, float]):
    """The plan for `text` at the fastest rate if Kokoro's duration predictor says even that overflows the
    slot, with FORESEEN_SPARE: the line is then shortened before it is spoken (a synthesis saved). None if
    it may fit, or without a predictor."""
    from . import fit

    natural = synth.predict(text, voice, lang)
    if natural is None:
        return None
    p = fit.plan(line.start, line.end, FORESEEN_SPARE * natural / fit_cfg.speed_max, fit_cfg.speed_max, fit_cfg,
                 *room)
    return p if p.needs_shorter else None


def _longer_pauses(audio: np.ndarray, sr: int, rec: SpokenLine, extra: float,
                   cap: float) -> tuple[np.ndarray, SpokenLine, float]:
    """The line with up to `extra` seconds of silence shared among its pauses (at most `cap` each), its
    record with the phones moved to match (the one on disk stays that of the synthesis), and the seconds
    added."""
    from . import fit, stretch

    inserts = fit.pause_plan(fit.pause_gaps([(ph.start, ph.end) for ph in rec.phones], fit.PAUSE_GAP), extra, cap)
    if not inserts:
        return audio, rec, 0.0
    phones = [ph.model_copy(update={"start": fit.shift_times(ph.start, inserts), "end": fit.shift_times(ph.end, inserts)})
              for ph in rec.phones]
    audio = stretch.insert_silence(audio, sr, inserts)
    return audio, rec.model_copy(update={"phones": phones, "duration": len(audio) / sr}), sum(d for _, d in inserts)


def _voiced(rec: SpokenLine) -> tuple[float, float]:
    """(seconds of silence before the first phone, seconds from first phone start to last phone end)."""
    if not rec.phones:
        return 0.0, rec.duration
    return rec.phones[0].start, max(rec.phones[-1].end - rec.phones[0].start, 1e-3)


def _decoded(src: Source) -> Path:
    """source/audio48k.wav, the source's sound at MIX_RATE in its own channels (prepare decodes it; decoded
    again here if another version of prepare made it, or it was removed)."""
    decoded = src.job.path("source/audio48k.wav")
    if not src.job.fresh(decoded, src.media_key):
        media.decode_audio(src.info.path, {decoded: (MIX_RATE, None)})
        src.job.mark(decoded, src.media_key)
    return decoded


def dub_language(src: Source, tr: Translation, cfg: Config, out_dir: Path, progress: Progress = quiet,
                 lipsync: bool | None = None, llm_users: llm.Users | llm.OwnCopy | None = None,
                 run_parts: Callable[[Callable, list], list] | None = None) -> Result:
    """Everything after translation for one language; writes the dubbed output into `out_dir`.
    `llm_users`: told when this language starts and stops needing the translation model (its lines
    are spoken and fitted, which may shorten them; done whether that went well or not); the lip sync
    then waits for the model to be let go while another user still asks it (llm.Users.wait_released).
    `run_parts`: how the speech (_speak_lines), the lips' render (lipsync.api.sync_video) and the quality
    check's back-transcription (check_quality) run in parts of the video's time, such as on the workers
    of a Dask cluster; None: here."""
    from . import kept_speech, mix_file, own_voice, subtitles

    lang = languages.get(tr.language)
    job, info = src.job, src.info
    t: dict[str, float] = {}
    step = f"dub {lang.code}"
    kept = kept_speech.kept(tr.lines) if cfg.mix.own_voice else []  # said in the speaker's own voice
    kept_ids = {ln.id for ln in kept}
    lines = [ln for ln in tr.lines if ln.text.strip() and ln.id not in kept_ids]
    lips = lips_on(info, cfg, lipsync)

    # the branch's bar goes by its stages' shares of the work (the check reports from its own thread)
    at = workload.Branch(lips, lambda share: progress(step, share, 1.0)).at
    users = llm_users or llm.Users(1)  # alone: nobody to wait for, nothing to let go
    with users.asking(then_done=llm_users is not None):  # counted done even if the voices fail
        cast = job.record(f"{lang.code}/voices.json", VoiceCast, digest(src.profiles, lang.code, lang.tts, cfg.tts),
                          lambda: _timed(t, "voices", own_voice.cast, src.profiles,  # cloned from each voice alone
                                         overlap.alone(src.diarization, src.overlapped),
                                         media.read_wav(job.path("source/audio16k.wav"))[0]
                                         if cfg.tts.clone or cfg.tts.colour or cfg.tts.backend == "xtts" else None,
                                         lang, cfg, src.name, clips=job.root / "voices"))
        t0 = time.perf_counter()
        clips, fitted, phones, final_text = _speak_lines(src, lang, lines, cast, tr.source_language, cfg,
                                                         lambda i: at("speech", i / max(len(lines), 1)), run_parts)
        t["speak+fit"] = time.perf_counter() - t0
    if cfg.prosody.enabled and clips:
        t0 = time.perf_counter()
        clips = _carry_prosody(src, lang, lines, clips, [f.speed / f.stretch for f in fitted], cfg)
        t["prosody"] = time.perf_counter() - t0
    clips = coloured(clips, [cast.voices[ln.speaker].eq if ln.speaker in cast.voices else [] for ln in lines],
                     job.path(f"{lang.code}/clips/coloured.f32"))
    own_spans = kept_speech.spans(kept, tr.lines)
    timing = TimingReport(language=lang.code, lines=fitted, phones=phones,
                          own_voice=[KeptLine(line_id=ln.id, speaker=ln.speaker, start=round(a, 3), end=round(b, 3))
                                     for ln, (a, b) in zip(kept, own_spans)])
    timing.save(job.path(f"{lang.code}/timing.json"))
    if kept:
        log.info("%s: %d line(s) kept in the speaker's own voice (%s)", lang.code, len(kept), _ids([ln.id for ln in kept]))

    # mix the voices over the source background, to the source's exact length
    t0 = time.perf_counter()
    n = int(round(info.duration * MIX_RATE))
    # the new voices at the loudness of the source speech keep the source's speech/background balance
    levels = Levels.load(job.path("source/levels.json"))
    own = kept_speech.clips(_decoded(src), job.path("source/background.wav"), own_spans) if kept else []
    dub_wav = mix_file.write(clips + own, job.path("source/background.wav"), n, MIX_RATE, levels.speech_lufs, cfg.mix,
                             job.path(f"{lang.code}/voices.wav"), job.path(f"{lang.code}/dub.wav"),
                             (job.path(f"{lang.code}/stems"), [f.speaker for f in fitted] + [ln.speaker for ln in kept])
                             if cfg.output.stems else None)
    del own
    # after the mix only the quality check's tracks of speakers talking at once read the clips (in their file)
    heard = clips if talk_over(fitted) else None
    del clips
    t["mix"] = time.perf_counter() - t0
    at("mix")

    # subtitles, source and target, at the dubbed times
    times = {f.line_id: (f.start, f.end) for f in fitted}
    shown = [ln.model_copy(update={"text": final_text.get(ln.id, ln.text)}) for ln in tr.lines]
    sub_paths = list(subtitles.write(subtitles.cues(shown, lang.subtitles, times=times),
                                     out_dir / f"{src.name}.{lang.code}"))
    src_lang = _lang_or_none(tr.source_language)
    if src_lang:
        sub_paths += subtitles.write(subtitles.cues(tr.lines, src_lang.subtitles, source=True),
                                     out_dir / f"{src.name}.{tr.source_language}.source")

    # the quality check hears the dub's sound only: it runs beside the lips and the mux, which keep about
    # one of the two cores busy (vr_face1 -> es, 5 paired runs: median wall 34.5 -> 32.4 s)
    voice_wav = job.path(f"{lang.code}/voices.wav")
    q_key = digest(file_digest(dub_wav), file_digest(voice_wav), lang.code, shown, fitted, final_text, cfg.asr)

    def checked() -> dict:
        t0 = time.perf_counter()
        path = job.file(f"{lang.code}/quality.json", q_key, lambda p: write_atomic(p, json.dumps(
            check_quality(dub_wav, shown, fitted, final_text, lang, cfg,
                          _speaker_tracks(heard, fitted, info.duration) if heard is not None else None, run_parts,
                          voice_wav, stop, lambda f: at("quality", f)),
            indent=1, ensure_ascii=False).encode()))
        t["quality"] = time.perf_counter() - t0
        return json.loads(path.read_text(encoding="utf-8"))

    stop = threading.Event()
    with ThreadPoolExecutor(1, thread_name_prefix=f"quality-{lang.code}") as pool:
        # in this branch's context, so a `run_parts` that reads it (runners.dask_map) works there too
        checking = pool.submit(contextvars.copy_context().run, checked)
        try:
            out = _lips_and_mux(src, lang, phones, cfg, out_dir, dub_wav, sub_paths, lips, users, t, at, run_parts,
                                timing.own_voice)
        except BaseException:  # Ctrl-C or a failed render: the check stops at its next segment, not at its end
            stop.set()
            wait([checking])
            raise
        t0 = time.perf_counter()
        quality = checking.result()
        t["wait for quality"] = time.perf_counter() - t0
    shutil.rmtree(job.path(f"{lang.code}/clips"), ignore_errors=True)  # the clips' files, mixed and checked
    try:  # the review page's plots of this language, drawn now rather than all at the end of the run
        from . import review

        review.draw_plots(out_dir, lang.code)
    except Exception:  # the page is built at the end, and says there what failed
        log.warning("review plots of %s not drawn now (the page is built at the end)", lang.code, exc_info=True)
    at("quality")
    return Result(language=lang.code, output=out, subtitles=sub_paths, timing=timing, quality=quality, timings=t)


def _lips_and_mux(src: Source, lang: Language, phones: list, cfg: Config, out_dir: Path, dub_wav: Path,
                  sub_paths: list[Path], lips: bool, users, t: dict[str, float], at: Callable[..., None],
                  run_parts: Callable[[Callable, list], list] | None, own: list[KeptLine] = ()) -> Path:
    """The mouths re-rendered to the dub (when `lips` and there are phones), then the output muxed:
    its path. Seconds go into `t`; `at(stage, fraction)` moves the branch's bar. `own`: lines in the
    speaker's own voice, whose faces are left as they are."""
    info = src.info
    video = None
    if info.has_video:
        video = Path(info.path)
        if lips and phones:
            t0 = time.perf_counter()
            users.wait_released()  # not beside the translation model: both grow with the video's length
            t["wait for llm"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            video = _lipsync(src, lang, phones, cfg, lambda d, n_: at("lips", d / max(n_, 1)), run_parts, own)
            t["lipsync"] = time.perf_counter() - t0
    at("lips" if lips else "mix")
    t0 = time.perf_counter()
    burn = _burn_filter(src.job, lang, sub_paths[0], info, cfg, video is not None)
    out = media.mux(out_dir / f"{src.name}.{lang.code}{media.output_extension(info)}", dub_wav, video=video,
                    subtitles=sub_paths[0] if video is not None else None, language=lang.iso639_2,
                    audio_bitrate=cfg.output.audio_bitrate,
                    audio_origin=info.audio_start,  # the dub's timeline is the source audio's
                    video_filter=burn, crf=cfg.output.crf, preset=cfg.output.preset, rotation=info.rotation)
    t["mux"] = time.perf_counter() - t0
    at("mux")
    return out


SPEECH_PART_S = 120.0  # seconds of the video's lines in one part of the speech run by `run_parts`


def _speak_lines(src: Source, lang: Language, lines: list[Line], cast: VoiceCast, source_language: str,
                 cfg: Config, done: Callable[[int], None], run_parts: Callable[[Callable, list], list] | None = None):
    """Each line spoken in its speaker's voice and fitted to its slot, borrowing at most half the gap to
    each neighbour: (clips as (start s, 48 kHz audio kept in a file: dubbing.clip_file), fitted lines, phones,
    final text by line id).
    `done(i)` after the i-th line. `run_parts`: how parts of about SPEECH_PART_S seconds of lines run
    (a line's fit depends on its neighbours' source times only, so the parts are independent), such as
    on the workers of a cluster, each with its own models; None: here, in order."""
    rooms = []
    for i, ln in enumerate(lines):
        prev_end = lines[i - 1].end if i else 0.0
        next_start = lines[i + 1].start if i + 1 < len(lines) else src.info.duration
        rooms.append((min(cfg.fit.max_borrow, max(0.0, (ln.start - prev_end) / 2)),
                      min(cfg.fit.max_borrow, max(0.0, (next_start - ln.end) / 2))))
    clip_dir = src.job.path(f"{lang.code}/clips")
    if run_parts is None:
        return _speak_part(_SpeechPart(src, lang, lines, rooms, cast, source_language, cfg, clip_dir / "speech.f32"),
                           done)
    cuts = [0] + [i for i in range(1, len(lines))
                  if int(lines[i].start // SPEECH_PART_S) != int(lines[i - 1].start // SPEECH_PART_S)] + [len(lines)]
    parts = [_SpeechPart(src, lang, lines[a:b], rooms[a:b], cast, source_language, cfg,
                         clip_dir / f"speech-{k}.f32", remote=True)
             for k, (a, b) in enumerate((a, b) for a, b in zip(cuts, cuts[1:]) if b > a)]
    clips, fitted, phones, final_text = [], [], [], {}
    for c, f, p, t in run_parts(_speak_part, parts):
        clips += c
        fitted += f
        phones += p
        final_text.update(t)
    done(len(lines))
    return clips, fitted, phones, final_text


@dataclass
class _SpeechPart:
    """Lines to speak and fit, with the room each may borrow (s before, s after): it pickles."""

    src: Source
    lang: Language
    lines: list[Line]
    rooms: list[tuple[float, float]]
    cast: VoiceCast
    source_language: str
    cfg: Config
    clip_path: Path  # the raw file its fitted clips are kept in (dubbing.clip_file)
    remote: bool = False  # run where nothing else asks the translation model: let it go after the part


def _speak_part(part: _SpeechPart, done: Callable[[int], None] | None = None):
    """The part's lines spoken and fitted, in order; see _speak_lines."""
    from .clip_file import ClipFile
    from .speak import Synthesizer

    synth = Synthesizer(part.cfg.tts.xtts)
    clips, fitted, phones, final_text = [], [], [], {}
    done = done or (lambda i: None)
    done(0)
    try:
        with ClipFile(part.clip_path) as kept:
            for i, (ln, room) in enumerate(zip(part.lines, part.rooms)):
                audio, clip_start, fl, ph, text = fit_line(part.src, part.lang, ln, part.cast.voices[ln.speaker],
                                                           part.cfg, synth, room, part.source_language)
                clips.append((clip_start, kept.keep(audio)))
                fitted.append(fl)
                phones.extend(ph)
                final_text[ln.id] = text
                done(i + 1)
    finally:
        if part.remote:
            llm.release()
    return clips, fitted, phones, final_text


def _carry_prosody(src: Source, lang: Language, lines: list[Line], clips: list[tuple[float, np.ndarray]],
                   rates: list[float], cfg: Config) -> list[tuple[float, np.ndarray]]:
    """The fitted clips moved after their source lines' loudness and pitch (dubbing.prosody), kept in a
    file as they were (dubbing.clip_file); what was done and how closely each line followed goes to
    <lang>/prosody.json."""
    from . import prosody
    from .clip_file import ClipFile

    job = src.job
    speech_path = job.path("source/speech16k.wav")
    slots = [(ln.id, ln.start, ln.end) for ln in lines]  # the same in every language: one record for all
    # keyed on what made the speech file (not its bytes: each language would hash it again)
    shapes = job.record("source/prosody.json", SourceProsody,
                        digest(src.media_key, cfg.separation, slots, cfg.prosody.final_seconds),
                        lambda: SourceProsody(lines=prosody.measure_lines(
                            media.read_wav(speech_path)[0], SPEECH_RATE, lines, cfg.prosody.final_seconds)))
    with ClipFile(job.path(f"{lang.code}/clips/prosody.f32")) as kept:
        audios, report = prosody.carry(lines, shapes.lines, [a for _, a in clips], MIX_RATE, cfg.prosody, rates,
                                       keep=kept.keep)
    ProsodyReport(language=lang.code, lines=report, summary=prosody.summary(report)).save(
        job.path(f"{lang.code}/prosody.json"))
    _drop_clip_files(clips)  # replaced: half the disk at the peak
    return [(start, a) for (start, _), a in zip(clips, audios)]


def _drop_clip_files(clips: list[tuple[float, np.ndarray]]) -> None:
    """Delete the files (dubbing.clip_file) that `clips`, all replaced by new ones, are kept in."""
    from .clip_file import StoredClip

    for path in {c.path for _, c in clips if isinstance(c, StoredClip)}:
        path.unlink(missing_ok=True)


def coloured(clips: list[tuple[float, np.ndarray]], eqs: list[list[float]], path: Path) -> list[tuple[float, np.ndarray]]:
    """Each clip (start s, MIX_RATE audio) given its voice's eq (Voice.eq, dB per timbre.BANDS; [] none),
    after the fit's stretch and the prosody pass: a recording chain comes last (put on before the stretch,
    it cost 0.8 CER points on 72 FLORES sentences stretched to 0.8, and 0.06 after). Coloured clips are
    kept in the file `path` (dubbing.clip_file); the others are returned as they were."""
    if not any(eqs):
        return clips
    from . import timbre
    from .clip_file import ClipFile

    out = []
    with ClipFile(path) as kept:
        for (start, audio), eq in zip(clips, eqs):
            out.append((start, kept.keep(timbre.apply(np.asarray(audio), MIX_RATE, eq)) if eq else audio))
    if all(eqs):  # every clip replaced: the files they were in go (half the disk at the peak)
        _drop_clip_files(clips)
    return out


def _burn_filter(job: Job, lang: Language, srt_path: Path, info: MediaInfo, cfg: Config, video: bool) -> str | None:
    """The -vf that burns the dub's subtitles in (its ASS file kept as <lang>/subtitles.ass); None, and no
    subtitles.ass left (so the review page knows there are none in the picture), when nothing is burned."""
    from . import burn

    if not (video and cfg.output.burn_subtitles):
        job.path(f"{lang.code}/subtitles.ass").unlink(missing_ok=True)
        return None
    ass, font = burn.write_ass(srt_path, job.path(f"{lang.code}/subtitles.ass"), info, lang.code,
                               cfg.output.subtitle_font)
    return burn.video_filter(ass, font)


def source_speech(src: Source, progress: Progress = quiet) -> tuple[list[tuple[str, float, float, str]], Path]:
    """The source's own phones (IPA, start s, end s, speaker) and its speech (source/speech16k.wav, made by
    separate_source): what each person's mouth model learns from (lipsync.person). Aligned once per
    source (0.1-0.15 s a second of audio on 2 cores) and kept in source/phones.json; `progress` as the
    "phones" step (segments aligned)."""
    from . import resync

    speech = src.job.path("source/speech16k.wav")
    total = max(1, len(src.transcript.segments))

    def align(path: Path) -> None:
        phones = resync.transcript_phones(media.read_wav(speech)[0], src.transcript,
                                          lambda k: progress("phones", k, total))
        write_atomic(path, json.dumps(resync.label(phones, src.diarization.turns)).encode())

    with _once(src.job, "phones"):
        path = src.job.file("source/phones.json", digest(src.key, file_digest(speech)), align)
    progress("phones", total, total)
    return [tuple(p) for p in json.loads(path.read_text())], speech


def align_source(src: Source, cfg: Config, progress: Progress = quiet, lipsync: bool | None = None) -> None:
    """Align the source's phones (source_speech) where its dubs will re-render mouths from them, so that
    the first language's lips need not wait for it; run after separate_source, beside the translation.
    The "phones" step is reported done either way (source_speech reports it when it runs)."""
    if lips_on(src.info, cfg, lipsync) and cfg.lipsync.person_model:
        _timed(src.timings, "phones", source_speech, src, progress)
    else:
        progress("phones", 1, 1)


def _lipsync(src: Source, lang: Language, phones: list, cfg: Config, progress,
             run_parts: Callable[[Callable, list], list] | None = None, own: list[KeptLine] = ()) -> Path:
    from lipsync import api
    from lipsync.faces import SourceFaces

    out = src.job.path(f"{lang.code}/lips.mp4")
    voices = src.job.path(f"{lang.code}/voices.wav")  # the mouths follow, and are measured against, the voice alone
    kept = [(k.start, k.end, k.speaker) for k in own]
    key = digest(src.key, phones, cfg.lipsync, cfg.output.crf, cfg.output.preset, file_digest(voices),
                 *([kept] if kept else []))
    if not src.job.fresh(out, key):
        faces = SourceFaces.load(source_faces(src.job, src.media_key, Path(src.info.path),
                                              lambda step, d, n: progress(d, 3 * n)))
        report = api.sync_video(Path(src.info.path), voices, phones, src.diarization.turns, out,
                                src.job.path(f"{lang.code}/lipsync"), strength=cfg.lipsync.strength, progress=progress,
                                language=lang.code, faces=faces, jaw_from_voice=cfg.lipsync.jaw_from_voice,
                                crf=cfg.output.crf, preset=cfg.output.preset,
                                shared_chunks=src.job.path("source/passthrough"), measure=cfg.lipsync.measure,
                                # the person's model is checked and reported, but does not drive a dub: there
                                # its mouth was smoother than the generic one, without the syllables' dips, and
                                # followed the voice less (stop 29, bench/sync.py: vr_face1 es sync confidence
                                # 0.25 with it driving, 0.51 without)
                                source_speech=source_speech(src) if cfg.lipsync.person_model else None,
                                person_drives=False,
                                run_parts=run_parts, kept=kept)
        report.save(src.job.path(f"{lang.code}/sync.json"))
        src.job.mark(out, key)
    return out


_ONCE: dict[tuple[Path, str], threading.Lock] = {}
_ONCE_GUARD = threading.Lock()


def _once(job: Job, what: str) -> threading.Lock:
    """The lock under which a job's language branches (threads) wait for one making of a shared source file."""
    with _ONCE_GUARD:
        return _ONCE.setdefault((job.root.resolve(), what), threading.Lock())


def source_faces(job: Job, media_key: str, video: Path, progress: Progress,
                 run_parts: Callable[[Callable, list], list] | None = None) -> Path:
    """The folder of the source's face tracks and mouth banks (lipsync.faces.SourceFaces), made once
    per source and kept in source/faces; in parts of the video's time run by `run_parts` when given
    (lipsync.face_parts: the parts report no progress)."""
    from lipsync import face_parts, faces

    work = job.path("source/.faces-work")
    with _once(job, "faces"):
        try:
            return job.file("source/faces", digest(media_key, faces.FORMAT), lambda p: (
                faces.analyse(video, work, lambda d, n: progress("faces", d, n)) if run_parts is None
                else face_parts.analyse_in_parts(video, work, run_parts)).save(p))
        finally:
            shutil.rmtree(work, ignore_errors=True)


class _Stopped(Exception):
    """Work beside other work was asked to stop because that failed (the face tracking beside prepare's
    other stages; the quality check beside the lips)."""


@contextlib.contextmanager
def _faces_beside(job: Job, media_key: str, video: Path, progress: Progress, timings: dict[str, float],
                  wanted: bool, run_parts: Callable[[Callable, list], list] | None = None
                  ) -> Iterator[Callable[[], Path] | None]:
    """Track the source's faces (source_faces) in a thread while the caller works on the sound: the two
    read different streams, and the tracking keeps about one of the two cores busy, so on 2 cores it
    costs little wall time beside the transcription. Yields a function that waits for the faces' folder
    (None when not `wanted`); the tracking is always finished before the block ends. If the block fails,
    the tracking stops at its next frame, leaves no files, and the block's error is raised."""
    if not wanted:
        yield None
        return
    stop = threading.Event()
    steps = _unless_stopped(stop, progress)
    with ThreadPoolExecutor(1, thread_name_prefix="faces") as pool:
        # in the caller's context, so a `run_parts` that reads it (runners.dask_map on a cluster's worker) works here
        tracking = pool.submit(contextvars.copy_context().run, _timed, timings, "faces", source_faces, job,
                               media_key, video, steps, run_parts)
        try:
            yield tracking.result
            tracking.result()
            progress("faces", 1, 1)  # also when tracked by an earlier run: the bars count it done
        except BaseException:
            stop.set()
            wait([tracking])
            raise


def _faces_settings() -> tuple:
    """What the speakers from faces depend on besides the voice's turns and the video (a cache key)."""
    from lipsync import faces, speakers

    return (faces.FORMAT, speakers.TALK_R, speakers.TALK_MARGIN, speakers.TALK_SEEN, speakers.TALK_MIN_FRAMES,
            who.SPLIT_BELOW, who.JOIN_ABOVE, who.MIN_EVIDENCE, who.MIN_PART)


def _speakers_from_faces(voice: Diarization, folder: Path, audio: np.ndarray) -> Diarization:
    """The voice's speakers checked against the faces seen talking in its turns (dubbing.who); `audio`:
    the source's speech-rate samples."""
    from lipsync import api, faces

    from . import diarize

    found = faces.SourceFaces.load(folder)
    parts = voice.model_copy(update={"turns": who.at_cuts(voice.turns, found.tracks.extra.get("cuts", []))})
    talking = api.talking_faces(audio, found, [(u.start, u.end) for u in parts.turns])  # decoded once, in prepare
    fused, decisions = who.fuse(parts, talking, lambda spans: diarize.embed_spans(audio, spans))
    if not any(d.kind in ("split", "join") for d in decisions):
        fused = voice  # nothing changed: the voice's turns as they were, not cut at the shots
    return fused.model_copy(update={"decisions": [dataclasses.asdict(d) for d in decisions]})


def talk_over(fitted: list[FittedLine]) -> bool:
    """True if two speakers' source slots overlap in time (speakers recorded apart who talk at once; a dubbed
    line that overflows into its neighbour's slot does not count)."""
    from .lines import said_at_once

    return bool(said_at_once([(f.line_id, f.speaker, f.slot_start, f.slot_end) for f in fitted]))


def _speaker_tracks(clips: list[tuple[float, np.ndarray]], fitted: list[FittedLine],
                    duration: float) -> dict[str, np.ndarray]:
    """Each speaker's dubbed lines alone (`clips` at MIX_RATE), placed on a SPEECH_RATE track of
    `duration` seconds."""
    from . import mix

    n = int(round(duration * SPEECH_RATE))
    return {spk: mix.place([(start, soxr.resample(np.asarray(c), MIX_RATE, SPEECH_RATE))
                            for (start, c), f in zip(clips, fitted) if f.speaker == spk], n, SPEECH_RATE)
            for spk in dict.fromkeys(f.speaker for f in fitted)}


def _unless_stopped(stop: threading.Event, report: Callable[..., None] = lambda *_: None) -> Callable[..., None]:
    """The progress callback `report`, which instead ends the work it is given to (with _Stopped) once
    `stop` is set: that work stops at its next step."""
    def call(*args) -> None:
        if stop.is_set():
            raise _Stopped()
        report(*args)
    return call


def check_quality(dub_wav: Path, lines: list[Line], fitted: list[FittedLine], final_text: dict[str, str],
                  lang: Language, cfg: Config, tracks: dict[str, np.ndarray] | None = None,
                  run_parts: Callable[[Callable, list], list] | None = None, voice_wav: Path | None = None,
                  stop: threading.Event | None = None, progress: Callable[[float], None] | None = None) -> dict:
    """Back-transcribe the dubbed track and summarize timing: what the review page and the summary show.
    `tracks`: each speaker's voice alone (SPEECH_RATE), where speakers talk at once: no one can transcribe
    two voices at once, so the CER is then pooled over the speakers' own tracks ("cer_by_speaker"), and the
    whole dub's is kept as "cer_mix". `run_parts`: how the back-transcription's pieces run
    (transcribe.transcribe). `voice_wav`: the dubbed voice without the background, in which the language
    is heard (else in the dub). `stop`: once set, the back-transcription ends at its next segment (_Stopped).
    `progress`: gets the share (0-1) of the dub's lines back-transcribed."""
    import jiwer

    from . import transcribe

    audio = media.load_audio(dub_wav, SPEECH_RATE)
    spans = [(f.start, f.end) for f in fitted]  # decoded where the lines are (transcribe.CHECK_RUN_SECONDS)
    # The language is heard in the voice we made, over its lines' speech only: in vr_face1's French dub
    # Whisper heard zh 0.42 from the whole dub (the source's background between the lines, -49 dB, holds
    # the separation's leftovers of the English voice), fr 0.75 from the dub's lines joined, fr 0.94 from
    # the voice's. The CER is of the dub as heard, always in the intended language.
    if voice_wav is not None:  # only the lines' first DETECT_SECONDS are read (a 60-minute voice is 230 MB at 16 kHz)
        import soundfile as sf

        with sf.SoundFile(str(voice_wav)) as f:
            def read(a: float, b: float) -> np.ndarray:
                x = media.wav_span(f, int(a * f.samplerate), int(b * f.samplerate)).mean(axis=1)
                return soxr.resample(x, f.samplerate, SPEECH_RATE) if len(x) else x

            voice = transcribe.speech_of(spans, read)
        detected, prob = transcribe.detect_language(voice if len(voice) else audio, cfg.asr)
    else:
        detected, prob = transcribe.detect_language(audio, cfg.asr, spans)
    last = max((b for _, b in spans), default=0.0)
    share = (lambda s: progress(min(s / last, 1.0))) if progress and last > 0 else (lambda s: None)
    back = transcribe.transcribe(audio, cfg.asr, language=lang.whisper, check=True, spans=spans, run_parts=run_parts,
                                 progress=share if stop is None else _unless_stopped(stop, share))
    script = " ".join(final_text[f.line_id] for f in fitted)
    cer = float(jiwer.cer(normalize(script), normalize(back.text))) if script.strip() else 0.0
    extra = {}
    script_read = reading(script, lang.code) if script.strip() else None
    if script_read:  # Japanese: also the CER of the readings, where はい heard as ハイ is no error
        extra["cer_reading"] = round(float(jiwer.cer(script_read, reading(back.text, lang.code) or "")), 4)
    apart = {}
    if tracks:
        for spk, track in tracks.items():
            said = normalize(" ".join(final_text[f.line_id] for f in fitted if f.speaker == spk))
            if said.strip():
                heard = transcribe.transcribe(track, cfg.asr, language=lang.whisper, check=True, run_parts=run_parts,
                                              progress=None if stop is None else _unless_stopped(stop),
                                              spans=[(f.start, f.end) for f in fitted if f.speaker == spk]).text
                apart[spk] = (said, normalize(heard))
    errs = [max(f.start_error, f.end_error) for f in fitted]
    if apart:
        extra |= {"cer_mix": round(cer, 4),
                  "cer_by_speaker": {s: round(float(jiwer.cer(r, h)), 4) for s, (r, h) in apart.items()}}
        cer = float(jiwer.cer([r for r, _ in apart.values()], [h for _, h in apart.values()]))
    return {
        "language": lang.code,
        "detected_language": detected,
        "detected_probability": round(float(prob), 3),
        "cer": round(cer, 4),
        "back_transcript": back.text,
        "lines": len(fitted),
        "within_0.3s": round(sum(e <= 0.3 for e in errs) / max(len(errs), 1), 4),
        "max_timing_error": round(max(errs, default=0.0), 3),
        "stretch_min": round(min((f.stretch for f in fitted), default=1.0), 4),
        "stretch_max": round(max((f.stretch for f in fitted), default=1.0), 4),
        "shortened": sum(f.shortened for f in fitted),
        **extra,
    }


def _finite(x: float, default: float) -> float:
    return x if np.isfinite(x) else default


def _lang_or_none(code: str) -> Language | None:
    try:
        return languages.get(code)
    except languages.UnknownLanguage:
        return None


def copy_untouched(input_path: str | os.PathLike, out_dir: Path) -> Path:
    """For input with no speech: an untouched copy in the output folder, written atomically."""
    src = Path(input_path)
    dst = out_dir / src.name
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


def record_no_speech(input_path: str | os.PathLike, out_dir: Path, e: NoSpeech) -> None:
    """An input with no speech: its untouched copy and a job.json that says so."""
    copy = copy_untouched(input_path, out_dir)
    summary = {"input": str(input_path), "status": "no speech", "message": str(e), "outputs": {"copy": str(copy)}}
    write_atomic(out_dir / "job.json", json.dumps(summary, indent=1).encode())


def summarize(input_path: str | os.PathLike, src: Source, results: dict[str, Result], seconds: float,
              previous: dict | None = None) -> dict:
    """The run's summary; languages dubbed by earlier runs of the same job (same source) are kept."""
    kept = {}
    if previous and previous.get("source", {}).get("key") == src.key:
        kept = {k: v for k, v in previous.get("languages", {}).items() if k not in results}
    return {
        "input": str(Path(input_path).resolve()),
        "status": "ok",
        "job": str(src.job.root),
        "source": {"language": src.transcript.language, "duration": src.info.duration,
                   "speakers": src.diarization.speakers, "speakers_by": src.diarization.method,
                   "speakers_from_faces": src.diarization.decisions, "lines": len(src.lines), "key": src.key},
        "seconds": round(seconds, 2),
        "stage_seconds": {k: round(v, 2) for k, v in src.timings.items()},
        "languages": kept | {
            code: {"output": str(r.output), "subtitles": [str(p) for p in r.subtitles], "quality": r.quality,
                   "own_voice": [k.line_id for k in r.timing.own_voice],  # lines in the speaker's own voice
                   "stage_seconds": {k: round(v, 2) for k, v in r.timings.items()}}
            for code, r in results.items()
        },
    }


def finish(input_path: str | os.PathLike, src: Source, results: dict[str, Result], seconds: float,
           cfg: Config | None = None) -> dict:
    """Write the multi-track file (output.multitrack), job.json (the summary) and the review page; returns
    the summary. A page that cannot be built is logged and named in the summary: the dubs are done, and the
    run is not failed for it."""
    from . import review

    job_json = src.job.path("job.json")
    try:
        previous = json.loads(job_json.read_text())
    except (OSError, ValueError):
        previous = {}
    summary = summarize(input_path, src, results, seconds, previous)
    if cfg is not None and cfg.output.multitrack and results:
        from . import multitrack

        summary["multitrack"] = str(multitrack.for_job(src, list(summary["languages"]), cfg, src.job.root))
    write_atomic(job_json, json.dumps(summary, indent=1, ensure_ascii=False).encode())
    try:
        summary["review"] = str(review.build(src.job.root))
    except Exception as e:
        log.warning("review page not built", exc_info=True)
        summary["review"] = f"not built: {type(e).__name__}: {e}"
    write_atomic(job_json, json.dumps(summary, indent=1, ensure_ascii=False).encode())
    return summary


def dub(input_path: str | os.PathLike, targets: list[str], out: str | os.PathLike = "out", from_lang: str | None = None,
        speakers: int | None = None, config_path: str | os.PathLike | None = None, lipsync: bool | None = None,
        progress: Progress = quiet) -> dict:
    """Dub `input_path` into each language of `targets` (codes, e.g. ["es", "fr"]) in this process, one
    stage after another, without Prefect; outputs go to OUT/<input name>/. Returns the summary that is
    also written to job.json. `dub translate` runs the same stages as a Prefect flow (flows.dub_video),
    translating one language while the previous one is dubbed."""
    from .config import load
    from .workspace import check_writable

    t0 = time.perf_counter()
    cfg = load(config_path)
    langs = [languages.get(c) for c in targets]
    job = Job(check_writable(Path(out) / Path(input_path).stem))
    job.clean_partial()
    try:
        src = prepare(input_path, job, cfg, from_lang, speakers, progress, lipsync)
    except NoSpeech as e:
        record_no_speech(input_path, job.root, e)
        raise
    separate_source(src, cfg, progress)
    align_source(src, cfg, progress, lipsync)
    users = llm.Users(len(langs) + 1)  # the translation model is let go after the last language's speech
    results = {}
    for k, lang in enumerate(langs):
        with users.asking(then_done=k == len(langs) - 1):
            tr = translate_lines(src, lang, cfg, progress)
        results[lang.code] = dub_language(src, tr, cfg, job.root, progress, lipsync=lipsync, llm_users=users)
    return finish(input_path, src, results, time.perf_counter() - t0, cfg)
