"""What each Dask worker does as it starts (registered by flows.runners.cluster)."""

from __future__ import annotations

from distributed.diagnostics.plugin import WorkerPlugin


class FreedMemory(WorkerPlugin):
    """A Dask worker's memory freed as dub's own process frees it (dubbing.malloc). Without it (and with
    Dask's MALLOC_TRIM_THRESHOLD_=65536, which also fixes glibc's mmap threshold at 128 KB: each frame
    and audio window mapped and unmapped anew), one worker tracked a 10-minute video's faces in parts
    34 % slower than one pass in dub's process (189 s against 141). flows.runners.cluster leaves that
    variable out of the workers of a LocalCluster; on a cluster of your own, unset it."""

    name = "dub-freed-memory"

    def setup(self, worker) -> None:
        from dubbing.malloc import return_freed_memory

        return_freed_memory()
