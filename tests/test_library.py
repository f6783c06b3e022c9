"""The library flow: what is stale, locking, failure isolation, layout, cron checks (fast, with a fake
dub function); and for real, a Prefect server and worker running a deployment on small clips (slow)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from conftest import spoken_clip
from dubbing.errors import DubError, NoSpeech
from flows import library as lib
from flows.deploy import next_fire, validate_cron
from flows.runners import task_runner

ROOT = Path(__file__).resolve().parents[1]


class FakeDub:
    """Stands in for the dub-video flow: writes out/<stem>/<stem>.<lang>.mp4, records its calls.
    Files named *bad* fail, *quiet* hold no speech; `delay` seconds per call."""

    def __init__(self, delay: float = 0.0, fail: set[str] = frozenset()):
        self.calls: list[tuple[str, list[str]]] = []
        self.delay, self.fail = delay, set(fail)
        self.lock = threading.Lock()

    def __call__(self, input_path: str, targets: list[str], out: str, config_path, lipsync) -> dict:
        with self.lock:
            self.calls.append((Path(input_path).name, list(targets)))
        time.sleep(self.delay)
        name = Path(input_path).name
        if "bad" in name or name in self.fail:
            raise RuntimeError(f"decoder exploded on {name}\nsecond line of traceback text")
        if "quiet" in name:
            raise NoSpeech(f"no speech found in {name}")
        job = Path(out) / Path(input_path).stem
        job.mkdir(parents=True, exist_ok=True)
        outputs = {}
        for code in targets:
            p = job / f"{Path(input_path).stem}.{code}.mp4"
            p.write_bytes(Path(input_path).read_bytes()[:64] + code.encode())
            outputs[code] = {"output": str(p)}
        return {"status": "ok", "languages": outputs}

    def names(self) -> list[str]:
        return sorted(n for n, _ in self.calls)


def run(root: Path | None, out: Path, dub: FakeDub, targets=("es",), **kw) -> dict:
    return lib.library_run(root and str(root), kw.pop("manifest", None), list(targets), str(out), each=lib.in_turn(dub), **kw)


@pytest.fixture
def library(tmp_path) -> Path:
    root = tmp_path / "lib"
    (root / "sub").mkdir(parents=True)
    (root / "a.mp4").write_bytes(b"video a" * 100)
    (root / "sub" / "b.wav").write_bytes(b"audio b" * 100)
    (root / "notes.txt").write_text("not media, ignored")
    (root / ".a.mp4.part").write_bytes(b"half-written temp file, hidden")
    return root


def test_dubs_missing_then_nothing_then_only_what_changed(library, tmp_path):
    out, dub = tmp_path / "out", FakeDub()
    s1 = run(library, out, dub)
    assert dub.names() == ["a.mp4", "b.wav"] and s1["counts"]["dubbed"] == 2
    assert (out / "a" / "a.es.mp4").exists() and (out / "sub" / "b" / "b.es.mp4").exists()
    assert json.loads((out / lib.SUMMARY).read_text())["counts"] == s1["counts"]

    dub.calls.clear()
    s2 = run(library, out, dub)
    assert dub.calls == [] and s2["counts"]["up to date"] == 2

    (library / "a.mp4").write_bytes(b"video a, re-cut" * 100)  # content changed
    os.utime(library / "sub" / "b.wav")  # touched only: same bytes, not stale
    s3 = run(library, out, dub)
    assert dub.names() == ["a.mp4"]
    assert [d["input"] for d in s3["dubbed"]] == [str(library / "a.mp4")]


def test_language_set_settings_and_lost_outputs(library, tmp_path):
    out, dub = tmp_path / "out", FakeDub()
    run(library, out, dub)
    dub.calls.clear()
    run(library, out, dub, targets=("es", "fr"))  # only the new language is made
    assert sorted(dub.calls) == [("a.mp4", ["fr"]), ("b.wav", ["fr"])]

    dub.calls.clear()
    (out / "a" / "a.fr.mp4").unlink()  # a deleted output is remade
    run(library, out, dub, targets=("es", "fr"))
    assert dub.calls == [("a.mp4", ["fr"])]

    dub.calls.clear()
    cfg = tmp_path / "slow.yaml"
    cfg.write_text("fit:\n  tolerance: 0.1\n")
    run(library, out, dub, targets=("es", "fr"), config_path=str(cfg))  # settings changed: all redone
    assert sorted(dub.calls) == [("a.mp4", ["es", "fr"]), ("b.wav", ["es", "fr"])]


def test_one_failure_does_not_stop_the_others_and_keeps_the_last_good_dub(library, tmp_path):
    out, dub = tmp_path / "out", FakeDub()
    (library / "bad.mp4").write_bytes(b"junk")
    (library / "quiet.wav").write_bytes(b"silence")
    s = run(library, out, dub)
    assert s["counts"] == {"dubbed": 2, "up to date": 0, "busy": 0, "no speech": 1, "failed": 1}
    assert s["failed"][0]["error"] == "RuntimeError: decoder exploded on bad.mp4"
    state = lib.VideoState.load(out / "bad" / lib.STATE)
    assert state.error.startswith("RuntimeError") and not state.languages

    dub.calls.clear()
    run(library, out, dub)  # the failure is retried, no-speech is not (same source and settings)
    assert dub.names() == ["bad.mp4"]

    good = (out / "a" / "a.es.mp4").read_bytes()
    (library / "a.mp4").write_bytes(b"new cut that will fail" * 10)
    dub.fail.add("a.mp4")
    s = run(library, out, dub)
    assert str(library / "a.mp4") in [f["input"] for f in s["failed"]]
    assert (out / "a" / "a.es.mp4").read_bytes() == good  # last good dub kept
    state = lib.VideoState.load(out / "a" / lib.STATE)
    assert "es" in state.languages and state.languages["es"].source != state.source and state.error

    dub.fail.clear()
    dub.calls.clear()
    run(library, out, dub)  # still stale, so redone once it works
    assert ("a.mp4", ["es"]) in dub.calls
    assert not lib.VideoState.load(out / "a" / lib.STATE).error


def _run_and_log(library: Path, out: Path, log: Path) -> None:
    """One worker process: a library run whose fake dubs append their file names to `log`."""
    class Logged(FakeDub):
        def __call__(self, input_path, *rest):
            with open(log, "a") as f:
                f.write(Path(input_path).name + "\n")
            return super().__call__(input_path, *rest)

    s = run(library, out, Logged(delay=0.5))
    with open(log, "a") as f:
        f.write(json.dumps(s["counts"]) + "\n")


def test_same_video_never_dubbed_twice_at_once(library, tmp_path):
    import multiprocessing

    out, log = tmp_path / "out", tmp_path / "calls.log"
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_run_and_log, args=(library, out, log)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    lines = log.read_text().splitlines()
    counts = [json.loads(x) for x in lines if x.startswith("{")]
    assert sorted(x for x in lines if not x.startswith("{")) == ["a.mp4", "b.wav"]  # each once
    assert sum(c["dubbed"] for c in counts) == 2
    assert sum(c["busy"] + c["up to date"] for c in counts) == 4  # the others saw it busy or done


def _hold(path: Path, ready) -> None:
    lib.VideoLock(path).acquire()
    ready.send("held")
    time.sleep(60)


def test_lock_held_by_a_live_process_then_recovered_when_it_dies(tmp_path):
    import multiprocessing

    path = tmp_path / "job" / lib.LOCK
    ctx = multiprocessing.get_context("fork")
    ours, theirs = ctx.Pipe()
    holder = ctx.Process(target=_hold, args=(path, theirs))
    holder.start()
    try:
        assert ours.poll(20) and ours.recv() == "held"
        with pytest.raises(lib.Busy, match=f"pid {holder.pid}"):
            lib.VideoLock(path).acquire()
    finally:
        holder.kill()
        holder.join()
    assert path.exists()  # left behind by a killed run, naming a dead pid
    with lib.VideoLock(path):
        with pytest.raises(lib.Busy):  # a second holder in the same process is refused too
            lib.VideoLock(path).acquire()
    assert not path.exists()


def test_busy_video_is_skipped_and_the_rest_dubbed(library, tmp_path):
    out, dub = tmp_path / "out", FakeDub()
    with lib.VideoLock(out / "a" / lib.LOCK):
        s = run(library, out, dub)
    assert dub.names() == ["b.wav"]
    assert s["busy"][0]["input"] == str(library / "a.mp4") and "pid" in s["busy"][0]["error"]


def test_job_folders_never_collide(tmp_path):
    base, out = tmp_path / "lib", tmp_path / "out"
    paths = [base / p for p in ("talk.mp4", "talk.mov", "talk" / Path("x.mp4"), "sub/talk.mp4", "sub/other.mp4")]
    videos, refused = lib.place(paths, base, out)
    assert refused == [] and len(videos) == len(paths)
    jobs = [v.job_dir for v in videos]
    assert len(set(jobs)) == len(jobs)
    assert not any(a in j.parents for a in jobs for j in jobs)  # none inside another
    assert all(v.job_dir.name == v.path.stem for v in videos)  # where dub_video puts it
    assert out / "sub" / "other" in jobs  # no clash: plain mirror of the tree


def test_output_folder_inside_root_is_not_scanned(library):
    out, dub = library / "dubbed", FakeDub()
    run(library, out, dub)
    dub.calls.clear()
    s = run(library, out, dub)
    assert dub.calls == [] and s["counts"]["up to date"] == 2


def test_manifest_text_and_yaml(library, tmp_path):
    out, dub = tmp_path / "out", FakeDub()
    m = library / "list.txt"
    m.write_text("# nightly\na.mp4\n\nsub/b.wav\nmissing.mp4\nnotes.txt\n")
    s = run(None, out, dub, manifest=str(m))
    assert dub.names() == ["a.mp4", "b.wav"]
    assert {Path(f["input"]).name: f["error"] for f in s["failed"]} == {
        "missing.mp4": "listed in list.txt but not found", "notes.txt": "not a media file (extension .txt)"}
    y = library / "list.yaml"  # same base folder, so the same job folders
    y.write_text(f"videos:\n  - {library / 'a.mp4'}\n")
    assert run(None, out, FakeDub(), manifest=str(y))["counts"]["up to date"] == 1
    y.write_text("videos: [a.mp4\n")
    with pytest.raises(DubError, match="not valid YAML"):
        run(None, out, dub, manifest=str(y))


def test_bad_root_targets_and_dask_setting(tmp_path):
    with pytest.raises(DubError, match="library root not found"):
        run(tmp_path / "nope", tmp_path / "out", FakeDub())
    (tmp_path / "file.mp4").write_bytes(b"x")
    with pytest.raises(DubError, match="not a folder"):
        run(tmp_path / "file.mp4", tmp_path / "out", FakeDub())
    with pytest.raises(DubError, match="unknown language code 'xx'"):
        run(tmp_path, tmp_path / "out", FakeDub(), targets=("xx",))
    with pytest.raises(DubError, match="local:N"):
        task_runner("local:0")
    assert type(task_runner("tcp://127.0.0.1:8786")).__name__ == "DaskTaskRunner"


@pytest.mark.parametrize("expr", ["61 2 * * *", "* * *", "0 2 * * * *", "0 2 31 2 mon-", "every night"])
def test_invalid_cron_is_one_clear_line(expr):
    with pytest.raises(DubError) as e:
        validate_cron(expr)
    assert "invalid cron expression" in str(e.value) and "\n" not in str(e.value)


def test_valid_cron_and_next_fire():
    assert validate_cron(" 0  2 * * * ") == "0 2 * * *"
    assert validate_cron("*/15 9-17 * * mon-fri") == "*/15 9-17 * * mon-fri"
    after = datetime.fromisoformat("2026-03-07T02:30:00+00:00")  # a Saturday
    assert next_fire("0 2 * * *", "UTC", after).isoformat() == "2026-03-08T02:00:00+00:00"
    assert next_fire("0 9 * * mon-fri", "UTC", after).isoformat() == "2026-03-09T09:00:00+00:00"


def test_deploy_refuses_bad_input_before_touching_prefect(tmp_path):
    from flows.deploy import deploy_command

    with pytest.raises(DubError, match="invalid cron"):
        deploy_command(tmp_path, None, ["es"], "0 25 * * *", "dub", "nightly", tmp_path / "out")
    with pytest.raises(DubError, match="library root not found"):
        deploy_command(tmp_path / "gone", None, ["es"], "0 2 * * *", "dub", "nightly", tmp_path / "out")


def test_deploy_needs_a_real_server(tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.deploy import deploy_command

    args = (tmp_path, None, ["es"], "0 2 * * *", "dub", "nightly", tmp_path / "out")
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        with pytest.raises(DubError, match="PREFECT_API_URL is unset.*prefect server start"):
            deploy_command(*args)
    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{_free_port()}/api"}):
        with pytest.raises(DubError, match="does not answer.*prefect server start"):
            deploy_command(*args)


# --- for real: a Prefect server, a worker, a deployment -------------------------------------------

PREFECT = str(Path(sys.executable).with_name("prefect"))
FAST = "translation:\n  backend: apertium\nseparation:\n  backend: none\nlipsync:\n  enabled: false\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """Terminate a process group started with start_new_session=True; kill it if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_healthy(url: str, server: subprocess.Popen, seconds: float = 240) -> None:
    import urllib.request

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        assert server.poll() is None, "prefect server exited"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(2)
    pytest.fail(f"prefect server at {url} not healthy after {seconds} s")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/espeak-ng").exists(), reason="espeak-ng not installed")
def test_deployment_on_a_real_server_and_worker(tmp_path):
    lib_dir, out, logs = tmp_path / "library", tmp_path / "out", tmp_path / "logs"
    (lib_dir / "talks").mkdir(parents=True)
    logs.mkdir()
    spoken_clip(lib_dir / "hello.mp4", "Hello, the weather is nice today.")
    spoken_clip(lib_dir / "talks" / "train.mp4", "The train leaves at nine.")
    (lib_dir / "broken.mp4").write_bytes(os.urandom(4000))  # media by name only
    (lib_dir / "readme.txt").write_text("not media")
    (tmp_path / "fast.yaml").write_text(FAST)
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

    def prefect(*args: str, timeout: float = 120) -> str:
        r = subprocess.run([PREFECT, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def run_now() -> dict:
        prefect("deployment", "run", "dub-library/nightly", "--watch", "--watch-timeout", "1500", timeout=1600)
        return json.loads((out / lib.SUMMARY).read_text())

    started: list[subprocess.Popen] = []
    try:
        started.append(subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                        env=env, cwd=tmp_path, start_new_session=True,
                                        stdout=open(logs / "server.log", "w"), stderr=subprocess.STDOUT))
        _wait_healthy(api, started[0])
        deploy = subprocess.run(
            [sys.executable, "-c", "import sys; from pathlib import Path; from flows.deploy import deploy_command; "
             "deploy_command(Path(sys.argv[1]), None, ['es'], '0 2 * * *', 'dub-test', 'nightly', Path(sys.argv[2]), "
             "config=Path(sys.argv[3]))", str(lib_dir), str(out), str(tmp_path / "fast.yaml")],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert deploy.returncode == 0, deploy.stderr
        assert "prefect worker start --pool dub-test" in deploy.stdout and f"127.0.0.1:{port}" in deploy.stdout
        assert "'0 2 * * *'" in prefect("deployment", "inspect", "dub-library/nightly")
        started.append(subprocess.Popen([PREFECT, "worker", "start", "--pool", "dub-test"], env=env, cwd=tmp_path,
                                        start_new_session=True, stdout=open(logs / "worker.log", "w"),
                                        stderr=subprocess.STDOUT))

        first = run_now()
        outputs = {name: out / job / f"{name}.es.mp4" for name, job in (("hello", "hello"), ("train", "talks/train"))}
        assert first["counts"]["dubbed"] == 2, first
        assert all(p.stat().st_size > 1000 for p in outputs.values())
        assert [Path(f["input"]).name for f in first["failed"]] == ["broken.mp4"]
        assert first["failed"][0]["error"] and "\n" not in first["failed"][0]["error"]
        mtimes = {n: p.stat().st_mtime_ns for n, p in outputs.items()}

        second = run_now()
        assert second["counts"]["dubbed"] == 0 and second["counts"]["up to date"] == 2, second
        assert {n: p.stat().st_mtime_ns for n, p in outputs.items()} == mtimes

        spoken_clip(lib_dir / "talks" / "train.mp4", "The last train leaves at ten.", size="176x144")
        third = run_now()
        assert [Path(d["input"]).name for d in third["dubbed"]] == ["train.mp4"], third
        assert outputs["hello"].stat().st_mtime_ns == mtimes["hello"]
        assert outputs["train"].stat().st_mtime_ns != mtimes["train"]
    finally:
        for proc in reversed(started):
            _stop(proc)


HOLD = """
import sys
from flows import library as lib
with lib.server_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.readline()
print("released", flush=True)
"""


@pytest.mark.slow
def test_a_video_another_host_is_dubbing_is_busy_through_the_prefect_server(tmp_path, monkeypatch):
    """Another host (a process reporting to the same Prefect server, seeing the library at another path,
    so no file lock of ours can meet it) is dubbing talks/a: here talks/a is busy, talks/b is not, and
    talks/a is dubbed once the other host lets go. A holder killed mid-dub (talks/c) blocks the video only
    until its holder record goes stale, not forever."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.server import LocalServer

    (tmp_path / "lib" / "talks").mkdir(parents=True)
    a, b, c = (tmp_path / "lib" / "talks" / f"{n}.mp4" for n in "abc")
    for f in (a, b, c):
        f.write_bytes(f.name.encode() * 100)
    here = tmp_path / "this-host-out" / "talks"
    server = LocalServer.start(tmp_path / "server.log")
    holder = None
    try:
        url = server.wait()
        holder = subprocess.Popen([sys.executable, "-c", HOLD, "talks/a"], cwd=ROOT, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  env={**os.environ, "PREFECT_API_URL": url})
        assert holder.stdout.readline().strip() == "held"
        dub = FakeDub()
        with temporary_settings(updates={PREFECT_API_URL: url}):
            t0 = time.monotonic()
            busy = lib.visit(lib.Video(a, here, "talks/a"), ["es"], "s", dub=dub, shared=lib.server_lock)
            assert busy.status == "busy" and "Prefect concurrency limit" in busy.error, busy
            assert time.monotonic() - t0 < lib.PATIENCE / 4  # a held slot is busy at once, no waiting
            assert lib.visit(lib.Video(b, here, "talks/b"), ["es"], "s", dub=dub, shared=lib.server_lock).status == "dubbed"
            holder.stdin.write("\n")
            holder.stdin.flush()
            assert holder.stdout.readline().strip() == "released"
            done = lib.visit(lib.Video(a, here, "talks/a"), ["es"], "s", dub=dub, shared=lib.server_lock)
            assert done.status == "dubbed", done

            killed = subprocess.Popen([sys.executable, "-c", HOLD, "talks/c"], cwd=ROOT, text=True,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      env={**os.environ, "PREFECT_API_URL": url})
            assert killed.stdout.readline().strip() == "held"
            killed.kill()  # mid-dub: neither the slot nor its holder record is given back
            killed.wait()
            busy = lib.visit(lib.Video(c, here, "talks/c"), ["es"], "s", dub=dub, shared=lib.server_lock)
            assert busy.status == "busy" and f":{killed.pid} " in busy.error, busy  # its record is fresh
            monkeypatch.setattr(lib, "STALE", 2.0)  # records older than this are stale (300 s in use)
            time.sleep(2.5)
            taken = lib.visit(lib.Video(c, here, "talks/c"), ["es"], "s", dub=dub, shared=lib.server_lock)
            assert taken.status == "dubbed", taken
        assert dub.names() == ["a.mp4", "b.mp4", "c.mp4"]
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
        server.stop()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/espeak-ng").exists(), reason="espeak-ng not installed")
def test_library_on_a_dask_local_cluster_of_two_worker_processes(tmp_path):
    """`dub library run --dask local:2` dubs a folder of small videos on two Dask worker processes (real
    dubs, cheap settings): every video dubbed once, by a worker process, both workers used; a re-run
    finds everything up to date from the records the workers wrote."""
    from dubbing import media

    lib_dir, out = tmp_path / "library", tmp_path / "out"
    lib_dir.mkdir()
    for i, sentence in enumerate(["Hello, the weather is nice today.", "The train leaves at nine.",
                                  "My sister lives in a small house.", "We eat bread and cheese."]):
        spoken_clip(lib_dir / f"clip{i}.mp4", sentence)
    (tmp_path / "fast.yaml").write_text(FAST)
    cmd = [sys.executable, "-m", "dub", "library", "run", "--root", str(lib_dir), "--to", "es", "--out", str(out),
           "--config", str(tmp_path / "fast.yaml"), "--dask", "local:2"]
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((out / lib.SUMMARY).read_text())
    assert summary["counts"]["dubbed"] == 4, {k: summary[k] for k in ("counts", "busy", "no speech", "failed")}
    workers = {d["worker"] for d in summary["dubbed"]}
    assert len(workers) == 2, workers  # both worker processes took videos
    for d in summary["dubbed"]:
        src = Path(d["input"])
        dubbed = Path(lib.VideoState.load(out / src.stem / lib.STATE).languages["es"].output)
        info = media.probe(dubbed)
        assert out / src.stem in dubbed.parents and info.has_video and info.has_audio, d
        assert abs(info.duration - media.probe(src).duration) < 0.3, (d, info.duration)
    again = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((out / lib.SUMMARY).read_text())["counts"]["up to date"] == 4


def test_progress_sent_to_a_dask_worker_shows_nothing_there():
    """A flow's parameters travel with each task sent to a worker: the CLI's bars (which hold locks)
    must pickle, and show nothing there."""
    import pickle
    import threading

    from dubbing import pipeline

    class Bars:
        def __init__(self):
            self.lock, self.seen = threading.RLock(), []

        def __call__(self, *a):
            self.seen.append(a)

    bars = Bars()
    progress = pipeline.LocalProgress(bars)
    progress("dub es", 1, 2)
    assert bars.seen == [("dub es", 1, 2)]
    with pytest.raises((TypeError, AttributeError)):
        pickle.dumps(bars)
    assert pickle.loads(pickle.dumps(progress)) is pipeline.quiet
