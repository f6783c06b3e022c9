"""The Prefect server a run starts ends with the run, however the run ends; a configured one is left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

HOLD = """
import time
from pathlib import Path
from flows.server import prefect_api
with prefect_api(Path({log!r})) as api:
    print(api.process.pid, flush=True)
    {then}
"""


def alive(pid: int) -> bool:
    """Running (a zombie whose parent died counts as ended: it is only waiting to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def gone_within(pid: int, seconds: float) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def hold(tmp_path: Path, then: str) -> tuple[subprocess.Popen, int]:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    p = subprocess.Popen([sys.executable, "-c", HOLD.format(log=str(tmp_path / "server.log"), then=then)],
                         stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    return p, int(p.stdout.readline())


@pytest.mark.skipif(sys.platform != "linux", reason="the end-with-parent signal is Linux's")
def test_a_run_killed_with_kill_9_leaves_no_server_behind(tmp_path):
    run, server = hold(tmp_path, "api.wait(); time.sleep(600)")
    time.sleep(1.0)
    assert alive(server)
    run.kill()  # SIGKILL: no exit handler of the run can stop the server
    run.wait()
    assert gone_within(server, 15), "the server outlived the killed run"


def test_a_run_that_ends_stops_its_server(tmp_path):
    run, server = hold(tmp_path, "pass")
    assert run.wait(timeout=60) == 0
    assert gone_within(server, 5)


def test_a_configured_server_is_used_and_not_started(tmp_path, monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.server import SharedServer, prefect_api

    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        with prefect_api(tmp_path / "server.log") as api, api.connected() as url:
            assert isinstance(api, SharedServer) and url == "http://127.0.0.1:9/api"
    assert not (tmp_path / "server.log").exists()
