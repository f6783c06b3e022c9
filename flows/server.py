"""The Prefect API a run reports to.

Where the user configured one (PREFECT_API_URL, e.g. a `prefect server start` of their own, or Prefect
Cloud), that shared server is used on purpose and left running. Otherwise the run starts its own local
server as Prefect documents it (`prefect server start`, webserver only), as a child of this process that
ends with it: stopped when the run ends, and, on Linux, sent SIGTERM by the kernel when the run dies in any
other way (`kill -9` included), so no server is left behind as an orphan.

The server takes a few seconds to start (on 2 cores, mostly imports): `LocalServer.start()` returns at
once, and `connected()` waits for it only when the flow is about to run, so the caller can prepare work
in the meantime.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from dubbing.errors import DubError

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # linux/prctl.h
STARTUP_TIMEOUT = float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"))  # seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _end_with_parent(parent: int) -> None:
    """Runs in the child before exec: ask the kernel for SIGTERM when the thread that started us dies."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


class LocalServer:
    """`prefect server start` on a free loopback port, owned by this process."""

    def __init__(self, process: subprocess.Popen, port: int, log_path: Path):
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}/api"
        self.log_path = log_path

    @classmethod
    def start(cls, log_path: Path) -> "LocalServer":
        """Start the server and return at once. Call from the main thread: the kernel's end-with-parent
        signal follows the thread that started the child."""
        port = _free_port()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = os.environ | {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false",
                            "PREFECT_SERVER_LOGGING_LEVEL": "WARNING"}
        env.pop("PREFECT_API_URL", None)
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port),
                 "--no-services"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to handle, not the server's
                preexec_fn=(lambda parent=os.getpid(): _end_with_parent(parent)) if sys.platform == "linux" else None)
        log.debug("prefect server starting on port %d (pid %d, log %s)", port, proc.pid, log_path)
        return cls(proc, port, log_path)

    def wait(self, timeout: float = STARTUP_TIMEOUT) -> str:
        """The API URL once the server answers its health check; DubError if it exits or times out."""
        import httpx

        t0 = time.monotonic()
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() - t0 < timeout:
                if self.process.poll() is not None:
                    raise DubError(f"the local Prefect server exited with code {self.process.returncode}; "
                                   f"its log: {self.log_path}")
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        log.debug("prefect server ready after %.1f s", time.monotonic() - t0)
                        return self.url
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise DubError(f"the local Prefect server did not answer within {timeout:.0f} s; its log: {self.log_path}")

    @contextlib.contextmanager
    def connected(self) -> Iterator[str]:
        """Wait for the server, and point this process's Prefect client at it while inside."""
        from prefect.settings import PREFECT_API_URL, temporary_settings

        url = self.wait()
        with temporary_settings(updates={PREFECT_API_URL: url}):
            try:
                yield url
            finally:
                drain()

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the server and reap it (killed if it does not stop within `grace` seconds)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                log.warning("prefect server did not stop within %.0f s: killed", grace)
                self.process.kill()
                self.process.wait()


def drain(timeout: float = 10.0) -> None:
    """Send the logs and events Prefect still holds for the API (its client sends them in the background),
    so they reach the server before it stops rather than failing against a closed port at exit. As
    Prefect's own test harness does before it stops its server."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (APILogWorker, EventsWorker):
        logging.getLogger(worker.__name__).setLevel(logging.ERROR)  # its "still processing" notes: not for users
        try:
            worker.drain_all(timeout=timeout)
        except Exception as e:  # nothing left to send, or the worker never started
            log.debug("draining %s: %s: %s", worker.__name__, type(e).__name__, e)


class SharedServer:
    """The server the user configured (PREFECT_API_URL): used as it is, never started or stopped here."""

    def __init__(self, url: str):
        self.url = url

    @contextlib.contextmanager
    def connected(self) -> Iterator[str]:
        yield self.url

    def stop(self) -> None:
        pass


@contextlib.contextmanager
def prefect_api(log_path: Path) -> Iterator[LocalServer | SharedServer]:
    """The API for this run: the configured one, or a local server started now and stopped on exit.
    Use `.connected()` around the flow call."""
    from prefect.settings import PREFECT_API_URL

    configured = PREFECT_API_URL.value()
    server = SharedServer(configured) if configured else LocalServer.start(log_path)
    try:
        yield server
    finally:
        server.stop()
