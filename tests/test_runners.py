"""Where a flow's tasks run (flows.runners): the Dask cluster `dub translate --dask local:N` starts."""

import os
import shutil

import pytest

from flows import runners


def _worker_state(dask_worker) -> tuple:
    return os.environ.get("MALLOC_TRIM_THRESHOLD_"), "dub-freed-memory" in dask_worker.plugins


def test_a_local_cluster_frees_memory_as_dub_does_and_takes_parts_from_any_thread(tmp_path):
    """Its workers start without Dask's MALLOC_TRIM_THRESHOLD_ and run dubbing.malloc's settings
    (flows.worker_memory); cluster_map sends parts to them from a thread of this process."""
    import threading

    from distributed import Client

    with runners.cluster("local:2") as address:
        with Client(address, set_as_default=False) as client:
            states = client.run(_worker_state)
        got = []
        thread = threading.Thread(target=lambda: got.append(runners.cluster_map(address)(abs, [-1, -2, 3])))
        thread.start()
        thread.join(60)
    assert len(states) == 2 and all(s == (None, True) for s in states.values()), states
    assert got == [[1, 2, 3]]
    with runners.cluster(None) as nothing:
        assert nothing is None


@pytest.mark.skipif(shutil.which("apertium") is None, reason="Debian apertium not installed")
def test_a_translation_in_parts_on_local_cluster_workers_is_the_translation_here(tmp_path):
    """pipeline._translated's parts (whole LLM pages, about 120 s of lines each) pickled to two worker
    processes and joined: the lines, texts, flags and backend the same call gives in this process
    (Apertium as the backend, so the test needs no model). The user's own translation file, which names
    every line of the transcript, is never cut into parts."""
    import json

    import languages
    from dubbing import config, pipeline
    from dubbing.schema import Line

    many = [Line(id=f"L{i + 1:04d}", start=10.0 * i, end=10.0 * i + 8, speaker=f"S{i % 2}",
                 source=f"The house number {i} is very big and the garden is green, and we like it a lot. " * 3)
            for i in range(80)]
    es = languages.get("es")
    from dubbing import translate

    assert len(translate.page_parts(many, pipeline.TRANSLATION_PART_S)) >= 3
    cfg = config.load(None, {"translation": {"backend": "apertium"}})
    here = pipeline._translated(many, "en", es, cfg, None, None)
    with runners.cluster("local:2") as address:
        there = pipeline._translated(many, "en", es, cfg, None, runners.cluster_map(address))
    assert there == here and here.backend == "apertium" and "casa" in here.lines[41].text
    path = tmp_path / "es.json"
    path.write_text(json.dumps({l.id: f"Línea {i}." for i, l in enumerate(many)}))
    own = config.load(None, {"translation": {"backend": "file", "file": str(path)}})
    never = pipeline._translated(many, "en", es, own, None, lambda fn, items: pytest.fail("cut into parts"))
    assert never.lines[41].text == "Línea 41."
