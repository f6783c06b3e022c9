"""Settings as data: configs/default.yaml, with a user's YAML file merged over it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ASR(_Section):
    model: str
    compute_type: str
    beam_size: int
    vad_filter: bool


class Diarization(_Section):
    backend: str
    pyannote_model: str
    window: float
    hop: float
    max_speakers: int


class Translation(_Section):
    backend: str
    llm_model: str
    seq2seq_model: str
    file: str


class TTS(_Section):
    backend: str
    clone: bool = False  # clone each speaker's voice (dubbing/clone.py) instead of a stock voice
    clone_seconds: float = 60.0  # search budget per new speaker, wall seconds
    voices: dict[str, str] = {}  # speaker -> voice pinned by the user (library name, .npy/.pt file, stock name)


class Separation(_Section):
    backend: str


class Fit(_Section):
    stretch_min: float
    stretch_max: float
    speed_min: float
    speed_max: float
    max_borrow: float
    tolerance: float
    max_pause: float


class Mix(_Section):
    loudness_lufs: float
    background_db: float
    duck_db: float


class Output(_Section):
    crf: int
    preset: str
    audio_bitrate: str


class Lipsync(_Section):
    enabled: bool
    strength: float
    jaw_from_voice: float
    own_motion: bool


class Config(_Section):
    asr: ASR
    diarization: Diarization
    translation: Translation
    tts: TTS
    separation: Separation
    fit: Fit
    mix: Mix
    output: Output
    lipsync: Lipsync

    def digest(self, *sections: str) -> str:
        """A short hash of the named sections (all if none), for cache keys."""
        data = self.model_dump()
        if sections:
            data = {k: data[k] for k in sections}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


class ConfigError(ValueError):
    pass


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load(path: str | Path | None = None) -> Config:
    """The default configuration, with the YAML file at `path` (if any) merged over it."""
    data = yaml.safe_load((CONFIGS / "default.yaml").read_text())
    if path:
        p = Path(path)
        try:
            user = yaml.safe_load(p.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {p}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
        if not isinstance(user, dict):
            raise ConfigError(f"{p}: expected a mapping of settings")
        data = _merge(data, user)
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"{path or 'default config'}: {where}: {first['msg']}") from None
