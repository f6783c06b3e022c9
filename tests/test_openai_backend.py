"""The "openai" translation backend: a server on loopback that is down, slow, garbled, picky about its
model or flaky; and, marked slow, llama-cpp-python's own OpenAI-compatible server with the embedded GGUF
dubbing vr_face1, compared with the embedded backend."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import languages
from dubbing import openai_chat, translate
from dubbing.errors import DubError
from dubbing.schema import Line
from test_translate import cfg

ES = languages.get("es")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeServer:
    """An HTTP server on loopback answering each request with the next of `answers`: (status, body, delay
    in seconds); the last answer repeats. Records the requests' paths and JSON bodies."""

    def __init__(self, answers: list[tuple[int, str, float]], models: list[str] = ("m",)):
        self.answers, self.requests, self.models = list(answers), [], list(models)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                self._send(200, json.dumps({"object": "list", "data": [{"id": m} for m in fake.models]}), 0)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append((self.path, body, self.headers.get("Authorization")))
                status, text, delay = fake.answers.pop(0) if len(fake.answers) > 1 else fake.answers[0]
                self._send(status, text, delay)

            def _send(self, status, text, delay):
                time.sleep(delay)
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def reply(text: str) -> tuple[int, str, float]:
    return 200, json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]}), 0.0


def server_cfg(url: str, **kw):
    base = cfg(backend="openai")
    return base.model_copy(update={"openai": base.openai.model_copy(update={
        "base_url": url, "model": "m", "timeout": 1.0, "retries": 1, **kw})})


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(openai_chat, "BACKOFF", 0.01)


def lines(*texts: str) -> list[Line]:
    return [Line(id=f"L{i + 1:04d}", start=2.0 * i, end=2.0 * i + 1.8, speaker="A", source=t)
            for i, t in enumerate(texts)]


def one_line_error(fn) -> str:
    with pytest.raises(DubError) as e:
        fn()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_translates_through_the_server_with_the_embedded_prompts_and_key(no_backoff, monkeypatch):
    monkeypatch.setenv("DUB_TEST_KEY", "sekret")
    s = FakeServer([reply("Hola a todos."), reply("Sure! Here is the translation:"), reply("Gracias.")])
    try:
        c = server_cfg(s.url, api_key_env="DUB_TEST_KEY")
        t = translate.translate(lines("Hello everyone.", "Thank you."), "en", ES, c)
    finally:
        s.close()
    assert [l.text for l in t.lines] == ["Hola a todos.", "Gracias."] and t.backend == "openai"
    paths, bodies, auth = zip(*s.requests)
    assert set(paths) == {"/v1/chat/completions"} and set(auth) == {"Bearer sekret"}
    assert bodies[0]["model"] == "m" and bodies[0]["temperature"] == 0.0
    assert "Spanish" in bodies[0]["messages"][0]["content"]  # llm.system_prompt
    assert bodies[2]["messages"][0]["content"] != bodies[1]["messages"][0]["content"]  # the strict retry


def test_a_server_that_is_down_is_one_line(no_backoff):
    c = server_cfg(f"http://127.0.0.1:{free_port()}/v1")
    msg = one_line_error(lambda: translate.translate(lines("Hello."), "en", ES, c))
    assert "cannot be reached (connection refused)" in msg and "2 tries" in msg


def test_a_slow_server_times_out_in_one_line(no_backoff):
    s = FakeServer([reply("Hola.")])
    s.answers = [(200, json.dumps({"choices": [{"message": {"content": "Hola."}}]}), 3.0)]
    try:
        t0 = time.perf_counter()
        msg = one_line_error(lambda: openai_chat.OpenAIChat(server_cfg(s.url).openai).reply(
            [{"role": "user", "content": "Hello."}], 10))
        assert time.perf_counter() - t0 < 4  # two tries of 1 s, not two of 3 s
    finally:
        s.close()
    assert "did not answer within 1 s" in msg


@pytest.mark.parametrize("answer, words", [
    ((200, "<html>Bad gateway</html>", 0), ["not JSON", "<html>Bad gateway"]),
    ((200, json.dumps({"result": "ok"}), 0), ["without a chat reply"]),
    ((500, "boom", 0), ["HTTP 500: boom", "2 tries"]),
    ((401, json.dumps({"error": "no key"}), 0), ["HTTP 401", "$OPENAI_API_KEY"]),
    ((404, json.dumps({"error": {"message": "model 'm' not found"}}), 0), ["does not know model 'm'"]),
])
def test_garbage_and_refusals_are_one_line(no_backoff, answer, words):
    s = FakeServer([answer])
    try:
        msg = one_line_error(lambda: openai_chat.OpenAIChat(server_cfg(s.url).openai).reply(
            [{"role": "user", "content": "Hello."}], 10))
    finally:
        s.close()
    assert all(w in msg for w in words), msg


def test_a_flaky_server_is_asked_again(no_backoff):
    s = FakeServer([(503, "busy", 0), reply("Hola.")])
    try:
        assert openai_chat.OpenAIChat(server_cfg(s.url).openai).reply([{"role": "user", "content": "Hi"}], 10) == "Hola."
    finally:
        s.close()


def test_a_wrong_model_name_lists_what_the_server_serves():
    s = FakeServer([reply("Hola.")], models=["qwen2.5:7b", "llama3.1:8b"])
    try:
        msg = one_line_error(lambda: translate.BACKENDS["openai"].check("en", ES, server_cfg(s.url)))
    finally:
        s.close()
    assert "does not serve model 'm'" in msg and "qwen2.5:7b, llama3.1:8b" in msg


def test_no_model_set_is_one_line():
    c = server_cfg("http://127.0.0.1:9/v1", model="")
    assert "translation.openai.model is not set" in one_line_error(lambda: translate.BACKENDS["openai"].check("en", ES, c))


def test_batched_and_parallel_requests(no_backoff):
    s = FakeServer([reply("1. Hola.\n2. Gracias.\n3. Adiós.")])
    try:
        t = translate.translate(lines("Hello.", "Thank you.", "Goodbye."), "en", ES, server_cfg(s.url, batch=3))
        assert [l.text for l in t.lines] == ["Hola.", "Gracias.", "Adiós."] and len(s.requests) == 1
        s.requests.clear()
        s.answers = [(200, json.dumps({"choices": [{"message": {"content": "Hola."}}]}), 0.5)]
        t0 = time.perf_counter()
        translate.translate(lines("Hello.", "Hi.", "Hey.", "Howdy."), "en", ES, server_cfg(s.url, parallel=4))
        assert len(s.requests) == 4 and time.perf_counter() - t0 < 1.5  # 4 x 0.5 s at once, not in turn
    finally:
        s.close()


# --- for real: llama-cpp-python's server with the embedded model -----------------------------------------

@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """llama_cpp.server with the embedded GGUF on a free loopback port, stopped after the module. Its extra
    dependencies (sse-starlette, starlette-context) are looked for on the path, then in DUB_SERVER_SITE."""
    pytest.importorskip("llama_cpp")
    from dubbing import llm
    from dubbing.errors import MissingModel

    try:
        gguf = llm.model_path(llm.EMBEDDED)
    except MissingModel as e:
        pytest.skip(str(e))
    env = dict(os.environ)
    extra = os.environ.get("DUB_SERVER_SITE", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (extra, env.get("PYTHONPATH", "")) if p)
    probe = subprocess.run([sys.executable, "-c", "import llama_cpp.server.app"], env=env, capture_output=True)
    if probe.returncode:
        pytest.skip("llama_cpp.server's dependencies are missing (sse-starlette, starlette-context): "
                    + probe.stderr.decode().strip().splitlines()[-1])
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--model_alias",
                                 "qwen-embedded", "--host", "127.0.0.1", "--port", str(port), "--n_threads", "2",
                                 "--n_ctx", str(llm.N_CTX), "--seed", str(llm.SEED)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        for _ in range(120):
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-500:]}")
            try:
                if httpx.get(url + "/models", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("llama_cpp.server did not start within 60 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.slow
def test_a_served_model_translates_vr_face1_like_the_embedded_one(llama_server, media_dir, tmp_path):
    """vr_face1 (prepared once) translated into es by the embedded backend and by the same GGUF behind
    llama_cpp.server, then spoken and checked: the served translation's back-transcription CER and timing
    are those of the embedded one (same prompts, greedy decoding). Where the two texts are the same, the
    dub (a function of the text) is made once."""
    from dubbing import config, pipeline
    from dubbing.workspace import Job

    base = config.load().model_copy(deep=True)
    base.lipsync.enabled = False
    base.separation.backend = "none"  # the background plays no part in CER or timing
    served = base.model_copy(deep=True)
    served.translation.backend = "openai"
    served.translation.openai = served.translation.openai.model_copy(update={
        "base_url": llama_server, "model": "qwen-embedded", "timeout": 120.0})
    job = Job(tmp_path / "job")
    src = pipeline.prepare(media_dir / "video" / "vr_face1.mp4", job, base, "en")
    pipeline.separate_source(src, base)
    translations, seconds, quality = {}, {}, {}
    for name, c in (("served", served), ("embedded", base)):
        t0 = time.perf_counter()
        translations[name] = translate.translate(src.lines, "en", ES, c.translation)
        seconds[name] = time.perf_counter() - t0
    assert translations["served"].backend == "openai" and translations["embedded"].backend == "llm"
    texts = {k: [l.text for l in tr.lines] for k, tr in translations.items()}
    for name, c in (("served", served), ("embedded", base)):
        if name == "embedded" and texts["embedded"] == texts["served"]:
            quality[name] = quality["served"]
            continue
        out = tmp_path / name
        out.mkdir()
        quality[name] = pipeline.dub_language(src, translations[name], c, out).quality
        job.path("es").rename(tmp_path / f"es-{name}")  # the next dub starts its language folder afresh
    print({k: (round(q["cer"], 3), q["within_0.3s"], round(seconds[k], 1)) for k, q in quality.items()}, texts)
    assert all(texts["served"]) and not any(l.startswith(("Sure", "Claro")) for l in texts["served"])
    assert quality["served"]["cer"] <= quality["embedded"]["cer"] + 0.05
    assert quality["served"]["within_0.3s"] >= quality["embedded"]["within_0.3s"] - 0.2


def test_cli_stops_before_any_work_when_the_server_is_down(made, tmp_path):
    from test_cli_errors import assert_one_line_error, dub

    conf = tmp_path / "server.yaml"
    conf.write_text(f"translation:\n  backend: openai\n  openai:\n    base_url: http://127.0.0.1:{free_port()}/v1\n"
                    f"    model: m\n    retries: 0\n")
    t0 = time.perf_counter()
    r = dub("translate", made["tone"], "--to", "es", "--config", conf, "--out", tmp_path / "out")
    assert_one_line_error(r, "cannot be reached (connection refused)")
    assert not (tmp_path / "out" / "tone" / "source").exists()  # no speech recognition was started
    print(f"failed in {time.perf_counter() - t0:.1f} s")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/usr/bin/espeak-ng").exists(), reason="espeak-ng not installed")
def test_dask_workers_share_one_served_model(llama_server, tmp_path):
    """`dub library run --dask local:2` with translation.backend openai: both worker processes translate
    through the one served model (no model of their own), and each video is dubbed from its reply."""
    import yaml

    from conftest import spoken_clip

    lib_dir, out = tmp_path / "library", tmp_path / "out"
    lib_dir.mkdir()
    for i, sentence in enumerate(["The weather is nice today.", "The train leaves at nine.",
                                  "My sister lives in a small house."]):
        spoken_clip(lib_dir / f"clip{i}.mp4", sentence)
    settings = {"translation": {"backend": "openai", "openai": {"base_url": llama_server, "model": "qwen-embedded",
                                                                "timeout": 300.0}},
                "separation": {"backend": "none"}, "lipsync": {"enabled": False}}
    (tmp_path / "served.yaml").write_text(yaml.safe_dump(settings))
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    proc = subprocess.run([sys.executable, "-m", "dub", "library", "run", "--root", str(lib_dir), "--to", "es",
                           "--out", str(out), "--config", str(tmp_path / "served.yaml"), "--dask", "local:2"],
                          cwd=Path(__file__).resolve().parents[1], env=env, capture_output=True, text=True,
                          timeout=1500)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads((out / "library-summary.json").read_text())
    assert summary["counts"]["dubbed"] == 3, {k: summary[k] for k in ("counts", "busy", "no speech", "failed")}
    assert len({d["worker"] for d in summary["dubbed"]}) == 2
    for d in summary["dubbed"]:
        tr = json.loads((out / Path(d["input"]).stem / "es" / "translation.json").read_text())
        assert tr["backend"] == "openai" and all(l["text"] for l in tr["lines"]), tr
