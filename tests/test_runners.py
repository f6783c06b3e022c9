"""Where a flow's tasks run (flows.runners): the Dask cluster `dub translate --dask local:N` starts."""

import os

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
