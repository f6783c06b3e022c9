"""Speech recognition with word times and language identification (faster-whisper)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import models
from .config import ASR
from .constants import SPEECH_RATE
from .errors import MissingModel
from .schema import Segment, Transcript, Word


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


def transcribe(audio: np.ndarray, cfg: ASR, language: str | None = None,
               progress: Callable[[float], None] | None = None, check: bool = False) -> Transcript:
    """Transcribe 16 kHz mono audio; `language` None means detect it. `progress` gets seconds done.
    `check` decodes for scoring synthesized speech (CHECK_DECODING): deterministic, no word times."""
    model = load(cfg.model, cfg.compute_type)
    segments, info = model.transcribe(
        audio, language=language, beam_size=cfg.beam_size, vad_filter=cfg.vad_filter,
        condition_on_previous_text=False, **(CHECK_DECODING if check else SOURCE_DECODING),
    )
    out: list[Segment] = []
    for s in segments:
        words = [Word(start=round(w.start, 3), end=round(w.end, 3), text=w.word.strip(), probability=round(w.probability, 4))
                 for w in (s.words or []) if w.word.strip()]
        if not words and not s.text.strip():
            continue
        out.append(Segment(id=len(out), start=round(s.start, 3), end=round(s.end, 3), text=s.text.strip(), words=words,
                           avg_logprob=round(s.avg_logprob, 4), no_speech_prob=round(s.no_speech_prob, 4),
                           compression_ratio=round(s.compression_ratio, 4)))
        if progress:
            progress(s.end)
    return Transcript(language=info.language, language_probability=round(info.language_probability, 4),
                      duration=round(len(audio) / SPEECH_RATE, 3), model=cfg.model, segments=out)
