"""The voice library: cloned Kokoro voices kept on disk, keyed by the speaker's embedding.

Lives in `<models home>/voices/` (dubbing.models.home(); DUB_HOME moves it): `index.json` (a
VoiceLibrary record) and one `<id>.npy` style tensor per voice, (510, 256) float32, one style row per
input length as Kokoro's stock voices. A speaker whose Resemblyzer embedding is within MATCH cosine of
a kept voice's key gets that voice again, with no search.

Voice names the synthesizer resolves (Kokoro.style): "lib:<id>" (a library voice), "file:<path>" (a
user's .npy, or a .pt as Kokoro's own voice files); stock names and blends stay dubbing.kokoro's.
"""

from __future__ import annotations

import re
import threading
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
from pydantic import Field

from . import models
from .errors import DubError
from .schema import Record

# Resemblyzer cosine between a speaker's embedding and a kept voice's key at which they count as the
# same person: two halves of one person's speech score 0.83-0.88, different people 0.68-0.74
# (MODELS.md; pa_sample's two speakers: see bench/voices.py).
MATCH = 0.80
STYLE_SHAPE = (510, 256)
LIB = "lib:"
FILE = "file:"
_lock = threading.Lock()


class LibraryVoice(Record):
    """One kept voice: the speaker it was cloned from (embedding) and how it was found."""

    id: str  # file stem and the name after "lib:"
    name: str = ""  # the user's name for it ("anna"), unique when set
    key: list[float]  # unit Resemblyzer embedding (256) of the source speaker's speech
    pitch: float = 0.0  # semitones of pitch shift after synthesis, found with the style
    eq: list[float] = Field(default_factory=list)  # dB per dubbing.timbre.BANDS; the cast's Voice.eq (pipeline.coloured)
    formant: float = 1.0  # formant ratio after the pitch shift (dubbing.formant; 1: as synthesized), found with the style
    start: str = ""  # the stock voice or blend the search started from
    language: str = ""  # the language of the sentences the search scored
    similarity: float = 0.0  # Resemblyzer cosine to the speaker's speech, search sentences (the optimised figure)
    start_similarity: float = 0.0  # the same for the starting voice
    cer: float = 0.0  # back-transcription character error rate of the search sentences, 0..1
    heard: dict[str, float] = Field(default_factory=dict)  # language -> CER of its search sentence, checked
    unclear: list[str] = Field(default_factory=list)  # languages it is not understood in: the stock voice speaks
    seconds: float = 0.0  # wall time of the search
    evaluations: int = 0  # candidate voices synthesized
    source: str = ""  # the input it was first cloned from
    created: float = Field(default_factory=time.time)  # Unix time


class VoiceLibrary(Record):
    voices: list[LibraryVoice] = Field(default_factory=list)


def root() -> Path:
    d = models.home() / "voices"
    d.mkdir(parents=True, exist_ok=True)
    return d


def load() -> VoiceLibrary:
    index = root() / "index.json"
    return VoiceLibrary.load(index) if index.exists() else VoiceLibrary()


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def match(embedding, library: VoiceLibrary | None = None, threshold: float = MATCH) -> LibraryVoice | None:
    """The kept voice whose key is nearest `embedding` if at least `threshold` cosine, else None."""
    lib = library or load()
    scored = [(cosine(v.key, embedding), v) for v in lib.voices]
    best = max(scored, key=lambda sv: sv[0], default=(0.0, None))
    return best[1] if best[0] >= threshold else None


def add(entry: LibraryVoice, style: np.ndarray) -> LibraryVoice:
    """Keep `style` (STYLE_SHAPE) under `entry.id`; the index is rewritten atomically."""
    style = np.asarray(style, np.float32).reshape(STYLE_SHAPE)
    with _lock:
        lib = load()
        path = root() / f"{entry.id}.npy"
        tmp = path.with_suffix(".part.npy")
        np.save(tmp, style)
        tmp.replace(path)
        lib.voices = [v for v in lib.voices if v.id != entry.id] + [entry]
        lib.save(root() / "index.json")
    return entry


def note_heard(vid: str, language: str, cer: float, understood: bool) -> LibraryVoice:
    """Record how well voice `vid` is understood in `language`."""
    with _lock:
        lib = load()
        v = find(vid, lib)
        v.heard[language] = round(cer, 4)
        v.unclear = sorted(set(v.unclear) - {language} | ({language} if not understood else set()))
        lib.save(root() / "index.json")
    return v


def rename(ref: str, name: str) -> LibraryVoice:
    """Give the library voice `ref` (id or name) the name `name`."""
    if not re.fullmatch(r"[\w.-]+", name):
        raise DubError(f"voice name {name!r}: use letters, digits, '.', '-' or '_'")
    with _lock:
        lib = load()
        v = find(ref, lib)
        if any(o.name == name and o.id != v.id for o in lib.voices):
            raise DubError(f"a library voice is already named {name!r}")
        v.name = name
        lib.save(root() / "index.json")
    return v


def find(ref: str, library: VoiceLibrary | None = None) -> LibraryVoice:
    """The library voice with id or name `ref`; DubError naming the choices if none."""
    lib = library or load()
    for v in lib.voices:
        if ref in (v.id, v.name):
            return v
    known = ", ".join(v.name or v.id for v in lib.voices) or "none yet"
    raise DubError(f"no voice {ref!r} in the voice library ({root()}); kept voices: {known}")


def is_custom(name: str) -> bool:
    return name.startswith((LIB, FILE))


def style(name: str) -> np.ndarray:
    """The (510, 256) style tensor of a "lib:" or "file:" voice name."""
    if name.startswith(LIB):
        return read_style(root() / f"{find(name[len(LIB):]).id}.npy")
    if name.startswith(FILE):
        return read_style(Path(name[len(FILE):]))
    raise DubError(f"not a library or file voice: {name!r}")


def read_style(path: Path) -> np.ndarray:
    """A style tensor from a .npy, or a .pt (torch, as Kokoro's voice files: (510, 1, 256))."""
    if not path.exists():
        raise DubError(f"voice file not found: {path}")
    return _read_style(path, path.stat().st_mtime_ns).copy()


@lru_cache(maxsize=32)
def _read_style(path: Path, mtime_ns: int) -> np.ndarray:  # every line asks: read each file once
    try:
        if path.suffix == ".pt":
            import torch

            arr = torch.load(str(path), map_location="cpu", weights_only=True).numpy()
        else:
            arr = np.load(path, allow_pickle=False)
    except Exception as e:  # a corrupt or foreign file: one line, no traceback
        raise DubError(f"voice file {path}: not a style tensor ({type(e).__name__}: {e})") from None
    arr = np.asarray(arr, np.float32)
    if arr.size != STYLE_SHAPE[0] * STYLE_SHAPE[1] or not np.isfinite(arr).all():
        raise DubError(f"voice file {path}: expected {STYLE_SHAPE[0]}x{STYLE_SHAPE[1]} finite numbers, "
                       f"got shape {arr.shape}")
    return arr.reshape(STYLE_SHAPE)
