"""Models loaded ahead of their stages: once per process, whichever thread asks first."""

import threading
import time

from dubbing import config, models, warmup


def test_a_model_asked_for_by_two_threads_at_once_loads_once():
    loads = []

    @models.load_once
    def load(name):
        loads.append(name)
        time.sleep(0.2)  # a slow load: the second caller arrives while it runs
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(load("m"))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["m"] and got[0] is got[1]


def test_a_load_that_fails_ahead_is_left_for_its_stage_and_the_others_still_load():
    done = []

    def broken():
        raise RuntimeError("no such model")

    warmup._run([broken, lambda: done.append("next")])
    assert done == ["next"]


def test_the_loads_follow_the_settings():
    cfg = config.load()
    assert len(warmup.steps(cfg, ["es"])) == 4  # ASR, speaker embeddings, LLM, Kokoro
    cfg = cfg.model_copy(update={"diarization": cfg.diarization.model_copy(update={"backend": "pyannote"}),
                                 "tts": cfg.tts.model_copy(update={"backend": "espeak"})})
    assert len(warmup.steps(cfg, ["es"])) == 2  # neither the embedded diarizer nor Kokoro is used
    cfg = cfg.model_copy(update={"translation": cfg.translation.model_copy(update={"backend": "file"})})
    assert len(warmup.steps(cfg, ["es"])) == 1  # the user's own translations: no LLM to load
