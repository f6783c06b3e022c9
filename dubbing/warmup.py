"""Load the models of a dub ahead of their stages, while the process would otherwise wait.

`dub translate` spends its first ~9 s waiting for Prefect's local server to start: a subprocess that keeps
one core busy importing, while the other is idle. Loading the models in that time takes their ~6 s off
the run. Each loader is thread-safe and loads once (models.load_once), so a stage that needs a model
still loading waits for it; a model that fails to load here is left for its stage to report.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import languages

from .config import Config
from .errors import DubError


def steps(cfg: Config, targets: list[str], source: str | None = None) -> list[Callable[[], object]]:
    """The loads, in the order the stages need them: speech recognition, speaker embeddings, the LLM with
    its fixed prompt starts for the targets (llm.prime; the source taken as English when not given),
    speech."""
    from . import diarize, kokoro, llm, transcribe

    out: list[Callable[[], object]] = [lambda: transcribe.load(cfg.asr.model, cfg.asr.compute_type)]
    if cfg.diarization.backend == "embedded":
        out.append(diarize.voice_encoder)
    backend = cfg.translation.backend  # a configured backend other than the LLM uses it only as a fallback
    by_llm = [lang for lang in map(languages.get, targets)
              if backend == "llm" or (backend == "auto" and "llm" in lang.translation.route)]
    if by_llm:
        out.append(lambda: llm.prime(cfg.translation.llm_model, source or "en", by_llm))
    if any(_speaks_with_kokoro(t, cfg.tts.backend) for t in targets):
        out.append(kokoro.engine)
    return out


def _speaks_with_kokoro(code: str, backend: str) -> bool:
    from . import voices

    try:
        return voices.resolve_backend(languages.get(code), backend) == "kokoro"
    except DubError:  # a bad setting: the speech stage says so
        return False


def _run(loads: list[Callable[[], object]]) -> None:
    for load in loads:
        try:
            load()
        except Exception:  # the stage that needs it raises the real error, with its message
            pass


def start(cfg: Config, targets: list[str], source: str | None = None) -> threading.Thread:
    """Run the loads in a daemon thread; join it before the process exits."""
    thread = threading.Thread(target=_run, args=(steps(cfg, targets, source),), name="warm-up", daemon=True)
    thread.start()
    return thread
