"""Speech recognition with word times and language identification (faster-whisper)."""

from __future__ import annotations

import bisect
import itertools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import models
from .config import ASR
from .constants import SPEECH_RATE
from .errors import MissingModel
from .schema import Segment, Transcript, Word

log = logging.getLogger(__name__)


def resolve_model(name: str) -> str:
    """A model spec -> a local folder: "embedded:whisper-base", a folder, or a hub id already cached."""
    if name == "embedded:whisper-base":
        return str(models.whisper_base())
    if Path(name).is_dir():
        if not (Path(name) / "model.bin").exists():
            raise MissingModel("speech recognition", name, "The folder holds no CTranslate2 model.bin.")
        return name
    from faster_whisper.utils import download_model

    try:
        return download_model(name, local_files_only=True)
    except Exception:
        raise MissingModel(
            "speech recognition", name,
            "Put a CTranslate2 Whisper in a local folder and set asr.model to it, or fetch it once on a "
            f"machine with network (huggingface-cli download {name if '/' in name else 'Systran/faster-whisper-' + name}).",
        ) from None


@models.load_once
def load(name: str, compute_type: str = "int8"):
    from faster_whisper import WhisperModel

    return WhisperModel(resolve_model(name), device="cpu", compute_type=compute_type,
                        cpu_threads=os.cpu_count() or 2)


# Decoding for the source: greedy first, re-decoded hotter only where a window's output looks degenerate
# (compression ratio, log-probability).
SOURCE_DECODING = {"word_timestamps": True, "temperature": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]}
# Decoding for checking our own dubbed speech: greedy only, so the same audio always gets the same score,
# with loops ("hola, hola, hola, ...") blocked by forbidding any repeated 3 tokens instead. On pa_sample
# fr the hotter fallback took 39-44 s of 30 s and gave CER 0.53-0.93; this, 4 s and 0.37 (es, ja and
# vr_face1 unchanged within 3 points). No word times are needed for a character error rate.
CHECK_DECODING = {"word_timestamps": False, "temperature": 0.0, "no_repeat_ngram_size": 3}
# The check decodes only where the dub's lines are (`spans`), lines joined into runs of at most this
# long, each decoded alone (faster-whisper's clip_timestamps) instead of VAD's 30 s windows. A greedy
# window that ends early skips the rest of its 30 s: against its subtitles (bench/cer_noise.py), the
# 1-minute long-bench dub's French scored 68 % where CTranslate2 had one thread (as on a Dask worker),
# 18 % with two, and 48-67 % with two under -80 dBFS noise; in runs of 5 s, 23-25 % in all three cases
# (Japanese: 29-56 % against 25-28 %). Runs of 10 s moved more with the thread count (6 points against 2).
# Each run is a 30 s encoder pass: the 10-minute long-bench es dub took 43 s in runs against 20 s in VAD's
# windows (quiet machine).
CHECK_RUN_SECONDS = 5.0
CHECK_PAD_SECONDS = 0.2  # s of the dub around each run, unless that is nearer the next run


# A source decode in VAD's 30 s windows can skip speech too: a window whose greedy text ends early loses
# the rest of its speech. bench/long.py's 30-minute program lost 67 s of its 1,044 s of speech so (the
# English after a silence and a music bed, six times over), with no flag. Speech the voice activity
# detector finds at least this long with no word within MISSED_MARGIN s is decoded again, alone, in
# runs of at most CHECK_RUN_SECONDS (`missed`).
MISSED_SECONDS = 1.0
MISSED_MARGIN = 0.3
# A decoded-again segment is kept only if its words are this sure on average: speech in another language
# forced into this one comes out as a fluent translation at 0.6-0.7 (stretches.py), and is better listed
# as unheard (review.unheard) than dubbed as words no one said (pa_sample with fleurs_fr cut in hard, its
# file language taken as French: the English after it came back as French, stop 37)
FILL_WORD_PROB = 0.8

PIECE_SECONDS = 300.0  # longer audio is transcribed in pieces of about this length, cut at pauses
CUT_SEARCH = 20.0  # s either side of each cut's target searched for the quietest half second


def transcribe(audio: np.ndarray, cfg: ASR, language: str | None = None,
               progress: Callable[[float], None] | None = None, check: bool = False,
               piece: float = PIECE_SECONDS, spans: list[tuple[float, float]] | None = None,
               run_parts: Callable[[Callable, list], list] | None = None, fill: bool = True) -> Transcript:
    """Transcribe 16 kHz mono audio; `language` None means detect it. `progress` gets seconds done.
    `check` decodes for scoring synthesized speech (CHECK_DECODING): deterministic, no word times.
    `spans`: where the speech is ((start, end) s; a dub's lines), decoded in runs (speech_runs) and
    nowhere else; None or empty: wherever the voice activity detector finds speech (cfg.vad_filter).

    faster-whisper makes the features of all the audio it is given at once (about 1.2 GB of
    intermediates for 30 minutes): audio longer than `piece` s is given to it in pieces cut at its
    quietest half second near every `piece` s, the language found in the first piece with words kept
    for the rest (as whole, Whisper decodes 30 s windows without the previous text either way).
    `run_parts`: how the pieces run once the language is known (given, or found in the first piece: then
    they are independent), such as on the workers of a cluster, each with its own model (no progress
    from them); None: here, in order. `fill`: speech a window skipped (no word near it) is decoded again
    alone (MISSED_SECONDS); off for a pass whose gaps are evidence (stretches: a language forced on
    speech it is not in often gives no words)."""
    runs = speech_runs(spans, len(audio) / SPEECH_RATE) if spans else []
    if runs:
        pieces = _run_pieces(runs, piece)
    else:
        cuts = _cuts(audio, piece)
        pieces = [(a, b, None) for a, b in zip(cuts[:-1], cuts[1:])]
    segments: list[Segment] = []
    info = first = None

    def here(a: int, b: int, clips):
        return _transcribe(audio[a:b], cfg, language, a / SPEECH_RATE,
                           progress and (lambda t, o=a / SPEECH_RATE: progress(o + t)), check, clips, fill)

    done, rest = [], pieces
    if run_parts is not None and not language and len(pieces) > 2:  # the first piece says the language
        done, rest = [here(*pieces[0])], pieces[1:]
        language = done[0][1].language if done[0][0] else None
    if run_parts is not None and language and len(rest) > 1:
        done += run_parts(_piece, [_Piece(audio[a:b], cfg, language, a / SPEECH_RATE, check, clips, fill)
                                   for a, b, clips in rest])
    else:  # lazily, in order: `language`, once found in a piece, is read for the next
        done = itertools.chain(done, (here(*p) for p in rest))
    for part, found in done:
        first = first or found
        if part and info is None:  # the first piece with words says the language (a silent one guesses)
            info, language = found, language or found.language
        segments += [s.model_copy(update={"id": len(segments) + k}) for k, s in enumerate(part)]
    info = info or first
    return Transcript(language=info.language, language_probability=round(info.language_probability, 4),
                      duration=round(len(audio) / SPEECH_RATE, 3), model=cfg.model, segments=segments)


DETECT_SECONDS = 30.0  # Whisper's language detection reads one 30 s window


def detect_language(audio: np.ndarray, cfg: ASR, spans: list[tuple[float, float]] | None = None) -> tuple[str, float]:
    """(language, probability) Whisper hears in 16 kHz mono `audio`, from one detection over the speech of
    `spans` ((start, end) s) joined (speech_of), up to DETECT_SECONDS of it; None, empty or silent
    spans: the audio's start."""
    whole = audio
    joined = speech_of(spans or [], lambda a, b: whole[int(a * SPEECH_RATE):int(b * SPEECH_RATE)])
    audio = joined if len(joined) else audio
    language, probability, _ = load(cfg.model, cfg.compute_type).detect_language(
        audio=np.ascontiguousarray(audio[:int(DETECT_SECONDS * SPEECH_RATE)], np.float32))
    return language, float(probability)


def speech_of(spans: list[tuple[float, float]], read: Callable[[float, float], np.ndarray],
              seconds: float = DETECT_SECONDS) -> np.ndarray:
    """The 16 kHz samples of `spans` ((start, end) s, in time order) joined, up to `seconds` s of them;
    `read(start, end)` gives a span's samples (from an array, or from a file without reading it whole)."""
    pieces, have, limit = [], 0, int(seconds * SPEECH_RATE)
    for a, b in sorted(spans):
        if have >= limit:
            break
        pieces.append(np.asarray(read(a, b), np.float32)[:limit - have])
        have += len(pieces[-1])
    return np.concatenate(pieces) if have else np.zeros(0, np.float32)


def speech_runs(spans: list[tuple[float, float]], duration: float, longest: float = CHECK_RUN_SECONDS,
                pad: float = CHECK_PAD_SECONDS) -> list[tuple[float, float]]:
    """(start, end) s of runs of `spans` (seconds, any order) to decode one by one: spans joined while a run
    lasts at most `longest` s (overlapping spans always), each run widened by `pad` s but never past the
    middle of its gap to the next one, nor out of [0, duration]."""
    joined: list[list[float]] = []
    for a, b in sorted(spans):
        if joined and (b - joined[-1][0] <= longest or a < joined[-1][1]):
            joined[-1][1] = max(joined[-1][1], b)
        else:
            joined.append([a, b])
    out = []
    for i, (a, b) in enumerate(joined):
        lo = max(0.0, a - pad) if i == 0 else max(a - pad, (joined[i - 1][1] + a) / 2)
        hi = min(duration, b + pad) if i + 1 == len(joined) else min(b + pad, (b + joined[i + 1][0]) / 2)
        if hi > lo:
            out.append((lo, hi))
    return out


def _run_pieces(runs: list[tuple[float, float]], piece: float) -> list[tuple[int, int, list[tuple[float, float]]]]:
    """`runs` (s, in order) gathered into pieces of audio of about `piece` s at most (a run is never cut):
    (first sample, end sample, the runs in seconds from the piece's start)."""
    groups: list[list[tuple[float, float]]] = []
    for run in runs:
        if groups and run[1] - groups[-1][0][0] <= piece:
            groups[-1].append(run)
        else:
            groups.append([run])
    out = []
    for g in groups:
        a, b = int(g[0][0] * SPEECH_RATE), int(np.ceil(g[-1][1] * SPEECH_RATE))
        out.append((a, b, [(lo - a / SPEECH_RATE, hi - a / SPEECH_RATE) for lo, hi in g]))
    return out


def _cuts(audio: np.ndarray, piece: float) -> list[int]:
    """Sample indices [0, ..., len(audio)] that cut `audio` into pieces of about `piece` s, each cut at
    the quietest 0.5 s (mean square) within CUT_SEARCH s (a third of a piece at most) of its target, the
    nearest of equally quiet ones."""
    n, hop = len(audio), SPEECH_RATE // 100  # 10 ms frames
    if n <= piece * SPEECH_RATE * 1.5:
        return [0, n]
    frames = n // hop
    energy = np.square(audio[:frames * hop].reshape(frames, hop), dtype=np.float64).mean(1)
    quiet = np.convolve(energy, np.ones(50) / 50, mode="same")  # 0.5 s around each frame
    out = [0]
    while n - out[-1] > piece * SPEECH_RATE * 1.5:
        target = out[-1] // hop + int(piece * 100)
        reach = int(min(CUT_SEARCH, piece / 3) * 100)  # frames: never back to the last cut
        lo, hi = target - reach, min(frames - 1, target + reach)
        near = quiet[lo:hi]
        calm = np.flatnonzero(near <= near.min() * 1.05 + 1e-12)  # the quietest, then the nearest to target
        out.append((lo + int(calm[np.argmin(np.abs(calm + lo - target))])) * hop)
    return out + [n]


@dataclass
class _Piece:
    """One piece of audio to transcribe with its settings (see transcribe): it pickles."""

    audio: np.ndarray
    cfg: ASR
    language: str
    offset: float  # s
    check: bool
    clips: list[tuple[float, float]] | None
    fill: bool = True


def _piece(p: _Piece):
    """_transcribe of one piece, its language and its probability as plain values."""
    segments, info = _transcribe(p.audio, p.cfg, p.language, p.offset, None, p.check, p.clips, p.fill)
    return segments, _Found(info.language, info.language_probability)


@dataclass
class _Found:
    """What transcribe keeps of faster-whisper's TranscriptionInfo."""

    language: str
    language_probability: float


def _transcribe(audio: np.ndarray, cfg: ASR, language: str | None, offset: float,
                progress: Callable[[float], None] | None, check: bool,
                clips: list[tuple[float, float]] | None = None, fill: bool = True):
    """(segments with times offset by `offset` s, faster-whisper's info) of one piece; `clips`: only
    these (start, end) s of it, each decoded alone; `fill`: speech left without a word decoded again."""
    model = load(cfg.model, cfg.compute_type)
    segments, info = model.transcribe(
        audio, language=language, beam_size=cfg.beam_size, vad_filter=cfg.vad_filter and not clips,
        clip_timestamps=[round(t, 3) for clip in clips for t in clip] if clips else "0",
        condition_on_previous_text=False, **(CHECK_DECODING if check else SOURCE_DECODING),
    )
    out = _segments(segments, offset, progress)
    if fill and not clips and not check and cfg.vad_filter:  # speech the windows skipped, decoded again alone
        out = _heard_again(audio, cfg, language or info.language, offset, out)
    return out, info


def fill(audio: np.ndarray, transcript: Transcript, cfg: ASR) -> Transcript:
    """`transcript` of 16 kHz `audio`, made with `fill` off, with the speech it left without a word
    decoded again alone (`missed`), in its language."""
    if not cfg.vad_filter:
        return transcript
    return transcript.model_copy(update={"segments": _heard_again(audio, cfg, transcript.language, 0.0,
                                                                  transcript.segments)})


def _heard_again(audio: np.ndarray, cfg: ASR, language: str, offset: float, out: list[Segment]) -> list[Segment]:
    """`out` (the segments of `audio`, times offset by `offset` s) with the speech they left without a word
    decoded again alone, in runs (speech_runs), in `language`: the segments whose words are sure enough
    (FILL_WORD_PROB)."""
    from .vad import speech_regions

    skipped = missed([(a + offset, b + offset) for a, b in speech_regions(audio)], out)
    if not skipped:
        return out
    runs = speech_runs([(a - offset, b - offset) for a, b in skipped], len(audio) / SPEECH_RATE)
    heard, _ = _transcribe(audio, cfg, language, offset, None, False, runs)
    again = [s for s in heard if s.words and float(np.mean([w.probability for w in s.words])) >= FILL_WORD_PROB]
    log.info("the decode skipped %.1f s of speech in %d places; %d segments heard there when decoded alone "
             "(%d too unsure to keep)", sum(b - a for a, b in skipped), len(skipped), len(again), len(heard) - len(again))
    return [s.model_copy(update={"id": k}) for k, s in enumerate(sorted(out + again, key=lambda s: s.start))]


def missed(regions: list[tuple[float, float]], segments: list[Segment], least: float = MISSED_SECONDS,
           margin: float = MISSED_MARGIN) -> list[tuple[float, float]]:
    """Spans (start s, end s) of the speech `regions` (s, in time order) at least `least` s long with no
    word of `segments` within `margin` s: speech a decode skipped."""
    words = sorted((w.start - margin, w.end + margin) for s in segments for w in s.words)
    starts = [a for a, _ in words]
    out = []
    for a, b in regions:
        at = a
        for ws, we in words[max(0, bisect.bisect_left(starts, a - 60.0)):]:  # no word is a minute long
            if ws >= b:
                break
            if we <= at:
                continue
            if ws - at >= least:
                out.append((at, ws))
            at = max(at, we)
        if b - at >= least:
            out.append((at, b))
    return out


def _segments(segments, offset: float, progress: Callable[[float], None] | None) -> list[Segment]:
    """faster-whisper's segments as records, their times offset by `offset` s (empty ones dropped)."""
    out: list[Segment] = []
    for s in segments:
        words = [Word(start=round(offset + w.start, 3), end=round(offset + w.end, 3), text=w.word.strip(),
                      probability=round(w.probability, 4)) for w in (s.words or []) if w.word.strip()]
        if not words and not s.text.strip():
            continue
        out.append(Segment(id=len(out), start=round(offset + s.start, 3), end=round(offset + s.end, 3),
                           text=s.text.strip(), words=words, avg_logprob=round(s.avg_logprob, 4),
                           no_speech_prob=round(s.no_speech_prob, 4), compression_ratio=round(s.compression_ratio, 4)))
        if progress:
            progress(s.end)
    return out
