"""Where a flow's tasks run: threads of this process, a Dask LocalCluster of worker processes, or an
existing Dask cluster (prefect-dask)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

from prefect.task_runners import ThreadPoolTaskRunner

from dubbing.errors import DubError


def task_runner(dask: str | None, threads: int = 1):
    """Prefect task runner: `threads` threads here (None), a Dask LocalCluster ("local" or "local:N"
    workers, one thread each), or an existing Dask scheduler (its address)."""
    if not dask:
        return ThreadPoolTaskRunner(max_workers=threads)
    from prefect_dask import DaskTaskRunner

    n = local_workers(dask)
    if n is None:
        return DaskTaskRunner(address=dask)
    from prefect.client.orchestration import get_client

    # workers report to this run's API, even a local one started by this run (not in their env)
    with get_client(sync_client=True) as client:
        env = {"PREFECT_API_URL": str(client.api_url)}
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs={"n_workers": n, "threads_per_worker": 1, "env": env})


def local_workers(dask: str) -> int | None:
    """The N of "local" (2) or "local:N"; None for a scheduler address; DubError for a bad N (checked
    before any work)."""
    if dask != "local" and not dask.startswith("local:"):
        return None
    n = dask.partition(":")[2] or "2"
    if not n.isdigit() or int(n) < 1:
        raise DubError(f"bad Dask setting {dask!r}: use local, local:N or a scheduler address")
    return int(n)


def dask_map(fn, items: list) -> list:
    """[fn(x) for x in items], each as a task of the Dask cluster that runs the caller (a task on one of
    its workers): the parts of one language's work spread over every worker, the caller's included
    (it leaves the worker's thread pool while it waits)."""
    from distributed import worker_client

    with worker_client() as client:
        return _gathered(client, fn, items)


@contextlib.contextmanager
def cluster(dask: str | None) -> Iterator[str | None]:
    """The scheduler address of the Dask cluster `dask` names (as task_runner reads it): a LocalCluster
    started here for "local[:N]" (its workers report to this process's Prefect API, when one is set)
    and closed at the end, or the address given; None without Dask. Known before the flow starts, so
    its body can send parts of the source's preparation there (cluster_map). Every worker, now or
    later, frees memory as this process does (flows.worker_memory)."""
    if not dask:
        yield None
        return
    from distributed import Client, LocalCluster
    from prefect.settings import PREFECT_API_URL

    n = local_workers(dask)
    with contextlib.ExitStack() as stack:
        if n is None:
            address = dask
        else:
            import dask.config as dask_config

            api = PREFECT_API_URL.value()
            # not Dask's MALLOC_TRIM_THRESHOLD_ (which fixes glibc's thresholds at start): the plugin sets ours
            spawn = {k: v for k, v in dask_config.get("distributed.nanny.pre-spawn-environ").items()
                     if not k.startswith("MALLOC_")}
            with dask_config.set({"distributed.nanny.pre-spawn-environ": spawn}):
                local = stack.enter_context(LocalCluster(n_workers=n, threads_per_worker=1,
                                                         env={"PREFECT_API_URL": str(api)} if api else {}))
            address = local.scheduler_address
        from .worker_memory import FreedMemory

        with Client(address, set_as_default=False) as client:
            client.register_plugin(FreedMemory())
        yield address


def cluster_map(address: str) -> Callable[[Callable, list], list]:
    """A map like dask_map that sends the items to the cluster at `address` from this process, from any
    thread of it (the source's preparation, which the flow runs here)."""
    return functools.partial(_map_at, address)


def _map_at(address: str, fn: Callable, items: list) -> list:
    """[fn(x) for x in items] as tasks of the Dask scheduler at `address`."""
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        return _gathered(client, fn, items)


def _gathered(client, fn: Callable, items: list) -> list:
    """[fn(x) for x in items], each a task of `client`'s cluster (not cached: pure=False), in order."""
    return client.gather(client.map(fn, items, pure=False))
