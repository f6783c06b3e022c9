"""Load the models of a dub ahead of their stages, while the process would otherwise wait.

`dub translate` spends its first ~10 s starting Prefect's local server: a subprocess that keeps one core
busy importing. Loading the models in that time, beside the source's preparation, takes their ~6 s off
the run. Each loader is thread-safe and loads once (dubbing.models.load_once), so a stage that needs a model
still loading waits for it; a model that fails to load here is left for its stage to report.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import languages

from dubbing.config import Config
from dubbing.errors import DubError

log = logging.getLogger(__name__)


def steps(cfg: Config, targets: list[str], source: str | None = None) -> list[Callable[[], object]]:
    """The loads, in the order the stages need them: speech recognition, speaker embeddings, the LLM with
    its fixed prompt starts for the targets (llm.prime; the source taken as English when not given),
    speech. Each imports its module itself, in the loading thread: the speaker embeddings' alone (scikit-learn,
    SciPy) took ~1.6 s of the caller's start."""
    from importlib import import_module

    def load(module: str, name: str, *args) -> Callable[[], object]:
        return lambda: getattr(import_module(f"dubbing.{module}"), name)(*args)

    out = [load("transcribe", "load", cfg.asr.model, cfg.asr.compute_type)]
    if cfg.diarization.backend == "embedded":
        out.append(load("diarize", "voice_encoder"))
    backend = cfg.translation.backend  # a configured backend other than the LLM uses it only as a fallback
    by_llm = [lang for lang in map(languages.get, targets)
              if backend == "llm" or (backend == "auto" and "llm" in lang.translation.route)]
    if by_llm:
        out.append(load("llm", "prime", cfg.translation.llm_model, source or "en", by_llm))
    if any(_speaks_with_kokoro(t, cfg.tts.backend) for t in targets):
        out.append(load("kokoro", "engine"))
    return out


def _speaks_with_kokoro(code: str, backend: str) -> bool:
    from dubbing import voices

    try:
        return voices.resolve_backend(languages.get(code), backend) == "kokoro"
    except DubError:  # a bad setting: the speech stage says so
        return False


def _run(loads: list[Callable[[], object]], stop: threading.Event) -> None:
    for load in loads:
        if stop.is_set():
            return
        try:
            load()
        except Exception as e:  # the stage that needs it raises the real error, with its message
            log.debug("warm-up load failed (%s: %s); its stage will report it", type(e).__name__, e)


class Loading:
    """The loads under way in a daemon thread."""

    def __init__(self, loads: list[Callable[[], object]]):
        self._stop = threading.Event()
        self.thread = threading.Thread(target=_run, args=(loads, self._stop), name="warm-up", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Skip the loads not begun and wait for the one under way: a process that exits while a model loads
        in native code can abort ("terminate called without an active exception")."""
        self._stop.set()
        self.thread.join()


def start(cfg: Config, targets: list[str], source: str | None = None) -> Loading:
    """Begin the loads; call stop() before the process exits."""
    return Loading(steps(cfg, targets, source))
