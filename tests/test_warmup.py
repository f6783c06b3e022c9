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

    warmup._run([broken, lambda: done.append("next")], threading.Event())
    assert done == ["next"]


def test_stopping_waits_for_the_load_under_way_and_skips_the_rest():
    begun, done = [], []

    def slow():
        begun.append("slow")
        time.sleep(0.3)
        done.append("slow")

    loading = warmup.Loading([slow, lambda: done.append("next")])
    while not begun:
        time.sleep(0.01)
    loading.stop()
    assert done == ["slow"]


def test_the_loads_follow_the_settings():
    cfg = config.load()
    assert len(warmup.steps(cfg, ["es"])) == 4  # ASR, speaker embeddings, LLM, Kokoro
    cfg = cfg.model_copy(update={"diarization": cfg.diarization.model_copy(update={"backend": "pyannote"}),
                                 "tts": cfg.tts.model_copy(update={"backend": "espeak"})})
    assert len(warmup.steps(cfg, ["es"])) == 2  # neither the embedded diarizer nor Kokoro is used
    cfg = cfg.model_copy(update={"translation": cfg.translation.model_copy(update={"backend": "file"})})
    assert len(warmup.steps(cfg, ["es"])) == 1  # the user's own translations: no LLM to load


def test_the_flow_joins_the_preparation_started_while_prefect_starts(tmp_path, monkeypatch):
    """run() prepares the source while Prefect starts its server; the flow's prepare task takes that result
    (here its error) instead of doing the work again."""
    import numpy as np
    import soundfile as sf

    from dubbing.errors import NoSpeech
    from flows import dub_video as flow

    calls = []

    def prepare(input_path, job, *args):
        from prefect.context import FlowRunContext

        calls.append("in the flow" if FlowRunContext.get() else "before the flow")
        raise NoSpeech(f"no speech found in {input_path}")

    monkeypatch.setattr(flow.pipeline, "prepare", prepare)
    monkeypatch.setattr(flow.warmup, "start", lambda *args: warmup.Loading([]))
    clip = tmp_path / "clip.wav"
    sf.write(clip, np.zeros(16000, np.float32), 16000)
    out = tmp_path / "out"
    try:
        flow.run(str(clip), ["es"], str(out))
    except NoSpeech:
        pass
    else:
        raise AssertionError("the early error did not reach the flow")
    assert calls == ["before the flow"]
    assert (out / "clip" / "clip.wav").exists()  # the flow's answer to no speech: an untouched copy
    assert not flow._EARLY
