"""Models loaded ahead of their stages: once per process, whichever thread asks first."""

import threading
import time

import pytest

from dubbing import config, models
from flows import warmup


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


def test_preparation_before_the_flow_is_redone_by_the_flow_from_the_job_folder(tmp_path, monkeypatch):
    """run() prepares the source while Prefect's server starts; the flow's own prepare task runs again (it
    finds the job folder's records fresh, so no stage is redone) and handles its outcome, here no speech:
    an untouched copy and a job.json that says so. No state is handed around outside the job folder."""
    import json

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
    with pytest.raises(NoSpeech):
        flow.run(str(clip), ["es"], str(out))
    assert calls == ["before the flow", "in the flow"]
    assert (out / "clip" / "clip.wav").exists()  # the flow's answer to no speech: an untouched copy
    assert json.loads((out / "clip" / "job.json").read_text())["status"] == "no speech"
