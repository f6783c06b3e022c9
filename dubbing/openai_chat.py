"""Chat with a model behind an OpenAI-compatible server (Ollama, llama.cpp's server, vLLM, OpenAI):
the `openai` translation backend. The prompts, checks, retries and shortening are those of the embedded
model (dubbing/llm.py): this module only carries messages to the server and replies back.

Every request has a timeout and is tried again after a connection error, a timeout, a server error
(5xx) or an answer that is not a chat completion; what still fails becomes one DubError line naming
the server and what to do.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time

import httpx

from .config import OpenAIServer
from .errors import DubError, excerpt

CONNECT_TIMEOUT = 5.0  # seconds to open a connection; the reply itself gets cfg.timeout
BACKOFF = 1.0  # seconds before the first retry, doubled for each further one
BYTES_PER_TOKEN = 3.0  # estimate for max_tokens (the server's tokenizer is not ours): ~4 for English, ~3 for CJK


class ServerError(DubError):
    """The translation server is down, too slow, answers garbage or does not serve the model."""


class OpenAIChat:
    """ChatModel (dubbing/llm.py) of one model on an OpenAI-compatible server; thread-safe."""

    def __init__(self, cfg: OpenAIServer, transport: httpx.BaseTransport | None = None):
        if not cfg.model:
            raise DubError("translation.openai.model is not set: name the served model (the server's "
                           "GET /v1/models lists them)")
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/")
        key = os.environ.get(cfg.api_key_env, "") if cfg.api_key_env else ""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.client = httpx.Client(base_url=self.url + "/", headers=headers, transport=transport,
                                   timeout=httpx.Timeout(cfg.timeout, connect=CONNECT_TIMEOUT))

    # --- ChatModel ---------------------------------------------------------------------------------

    def reply(self, messages: list[dict], max_tokens: int, temperature: float = 0.0, seed: int = 0,
              one_line: bool = True) -> str:
        """The reply's text. Greedy at temperature 0; `seed` fixes a sampled reply where the server
        honours it. (`one_line` is for streaming; a whole reply is asked here, bounded by `max_tokens`.)"""
        body = {"model": self.cfg.model, "messages": messages, "max_tokens": max_tokens,
                "temperature": max(temperature, 0.0), "seed": seed, "stream": False}
        if temperature > 0:
            body["top_p"] = 0.95
        data = self._request("POST", "chat/completions", body)
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ServerError(f"translation server {self.url} answered without a chat reply "
                              f"({excerpt(json.dumps(data))})") from None
        return content if isinstance(content, str) else ""

    def count_tokens(self, text: str) -> int:
        return math.ceil(len(text.encode()) / BYTES_PER_TOKEN)

    # --- checks --------------------------------------------------------------------------------------

    def check_model(self) -> None:
        """ServerError unless the server answers and serves cfg.model (a server without GET /models, or
        one that lists nothing, is trusted with any name)."""
        try:
            data = self._request("GET", "models")
        except ServerError as e:
            if "HTTP 404" in str(e):
                return
            raise
        served = [m.get("id") for m in (data.get("data") or []) if isinstance(m, dict)] \
            if isinstance(data, dict) else []
        if served and self.cfg.model not in served:
            raise ServerError(f"translation server {self.url} does not serve model {self.cfg.model!r}; it serves "
                              f"{', '.join(map(str, served[:8]))}: set translation.openai.model to one of them")

    # --- transport -----------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        """The JSON answer, after up to cfg.retries further tries of what may pass (connection refused,
        timeout, 5xx, 429, not JSON); ServerError with the last reason otherwise. 4xx fail at once."""
        why = ""
        for attempt in range(self.cfg.retries + 1):
            if attempt:
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                r = self.client.request(method, path, json=body)
            except httpx.TimeoutException:
                why = f"did not answer within {self.cfg.timeout:g} s (translation.openai.timeout)"
                continue
            except httpx.TransportError as e:
                why = f"cannot be reached ({_reason(e)}): is it running?"
                continue
            if r.status_code >= 500 or r.status_code == 429:
                why = f"failed (HTTP {r.status_code}: {excerpt(r.text)})"
                continue
            if r.status_code >= 400:
                raise ServerError(self._refused(r))
            try:
                data = r.json()
            except ValueError:
                why = f"answered something that is not JSON ({excerpt(r.text)})"
                continue
            if isinstance(data, dict):
                return data
            why = f"answered JSON that is not an object ({excerpt(r.text)})"
        tries = f" ({self.cfg.retries + 1} tries)" if self.cfg.retries else ""
        raise ServerError(f"translation server {self.url} {why}{tries}")

    def _refused(self, r: httpx.Response) -> str:
        detail = excerpt(r.text)
        if r.status_code in (401, 403):
            return (f"translation server {self.url} refused the request (HTTP {r.status_code}): set the key in "
                    f"${self.cfg.api_key_env} (translation.openai.api_key_env)")
        if r.status_code == 404 and "model" in detail.lower():
            return (f"translation server {self.url} does not know model {self.cfg.model!r} (HTTP 404: {detail}): "
                    f"set translation.openai.model")
        if r.status_code == 404:
            return (f"translation server {self.url}: {r.request.url.path} not found (HTTP 404): "
                    f"translation.openai.base_url should end in /v1")
        return f"translation server {self.url} refused the request (HTTP {r.status_code}: {detail})"

    def close(self) -> None:
        self.client.close()


def _reason(e: httpx.TransportError) -> str:
    text = str(e) or type(e).__name__
    return "connection refused" if "refused" in text.lower() else text.splitlines()[0][:120]


_CLIENTS: dict[str, OpenAIChat] = {}
_CLIENTS_LOCK = threading.Lock()


def client(cfg: OpenAIServer) -> OpenAIChat:
    """One client (and its connection pool) per server setting, for the whole process."""
    key = cfg.model_dump_json()
    with _CLIENTS_LOCK:
        if key not in _CLIENTS:
            _CLIENTS[key] = OpenAIChat(cfg)
        return _CLIENTS[key]
