"""XTTS v2 through coqui's own HTTP server: the `xtts` speech backend's client.

coqui-tts and the XTTS weights live where the user runs
`tts-server --model_name tts_models/multilingual/multi-dataset/xtts_v2` (often a GPU box). Its endpoint
`/api/tts` (TTS/server/server.py) takes the values `text`, `speaker_id`, `language_id`, `style_wav` and
`speaker_wav` (a reference WAV's PATH on the server's host: the voice to clone) and answers with a 16-bit
PCM WAV (400/500 with a JSON `error` otherwise). This module only carries a line there and its audio back;
dubbing/speak.py aligns phones to it and applies the speed.
"""

from __future__ import annotations

import functools
import io

import httpx
import numpy as np

from .config import XTTSServer
from .errors import DubError, excerpt

CONNECT_TIMEOUT = 5.0  # seconds to open a connection; the reply itself gets cfg.timeout
SILENT_PEAK = 1e-3  # a reply whose loudest sample is below this (full scale 1.0) holds no speech
MIN_SECONDS = 0.05  # a shorter reply holds no speech either
START = "tts-server --model_name tts_models/multilingual/multi-dataset/xtts_v2"
# XTTS v2's language ids where they differ from the project's codes (languages/<code>.yaml)
LANGUAGE_IDS = {"zh": "zh-cn"}


class XTTSError(DubError):
    """The XTTS server is down, too slow, refuses a line or answers something that is not speech."""


class XTTS:
    """A client of one tts-server; thread-safe (the server itself speaks one line at a time)."""

    def __init__(self, cfg: XTTSServer, transport: httpx.BaseTransport | None = None):
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/")
        self.client = httpx.Client(base_url=self.url + "/", transport=transport,
                                   timeout=httpx.Timeout(cfg.timeout, connect=CONNECT_TIMEOUT))

    def speak(self, text: str, language: str, speaker_wav: str) -> tuple[np.ndarray, int]:
        """`text` in language `language` (the project's code, e.g. "es") in the voice of the reference
        WAV at `speaker_wav` (a path on the server's host): (float32 mono audio in [-1, 1], sample rate Hz).

        A silent or empty reply is bad model output: asked once more, then XTTSError."""
        for attempt in range(2):
            audio, sr = self._request(text, language, speaker_wav)
            if len(audio) >= MIN_SECONDS * sr and np.max(np.abs(audio)) >= SILENT_PEAK:
                return audio, sr
        raise XTTSError(f"XTTS server {self.url} answered silence twice for {excerpt(text, 60)!r} "
                        f"(reference {speaker_wav}): the model gave no speech; try a cleaner reference clip")

    def check(self) -> str:
        """A short line if the server answers on its base URL; XTTSError saying how to start it if not."""
        try:
            r = self.client.get("")
        except httpx.TransportError as e:
            raise XTTSError(self._unreachable(e)) from None
        return f"{self.url} answers (HTTP {r.status_code})"

    def _request(self, text: str, language: str, speaker_wav: str) -> tuple[np.ndarray, int]:
        values = {"text": text, "language_id": LANGUAGE_IDS.get(language, language), "speaker_id": "",
                  "speaker_wav": speaker_wav}
        try:
            r = self.client.post("api/tts", data=values)
        except httpx.TimeoutException:
            raise XTTSError(f"XTTS server {self.url} did not answer within {self.cfg.timeout:g} s "
                            f"(tts.xtts.timeout)") from None
        except httpx.TransportError as e:
            raise XTTSError(self._unreachable(e)) from None
        if r.status_code != 200:
            raise XTTSError(f"XTTS server {self.url} refused {excerpt(text, 60)!r} (HTTP {r.status_code}: "
                            f"{_reason(r)})")
        try:
            return decode_wav(r.content)
        except ValueError as e:
            raise XTTSError(f"XTTS server {self.url} answered something that is not a WAV ({e}; "
                            f"{r.headers.get('content-type', 'no content type')}: {_reason(r)})") from None

    def _unreachable(self, e: httpx.TransportError) -> str:
        why = "connection refused" if "refused" in str(e).lower() else (str(e) or type(e).__name__).splitlines()[0]
        return (f"XTTS server {self.url} cannot be reached ({why[:120]}): start coqui's server where coqui-tts "
                f"and the XTTS v2 weights are (`{START}`, port 5002) and set tts.xtts.base_url")

    def close(self) -> None:
        self.client.close()


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """A WAV file's bytes as (float32 mono audio in [-1, 1], sample rate Hz); ValueError if it is not one."""
    import soundfile as sf

    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("no RIFF/WAVE header")
    try:
        audio, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise ValueError(f"unreadable WAV: {e}") from None
    return audio.mean(axis=1).astype(np.float32), int(sr)


def _reason(r: httpx.Response) -> str:
    """The server's own error text if it sent JSON {"error": ...}, else an excerpt of the body."""
    try:
        data = r.json()
        if isinstance(data, dict) and data.get("error"):
            return excerpt(str(data["error"]))
    except ValueError:
        pass
    if r.content[:4] == b"RIFF":
        return f"{len(r.content)} bytes of WAV"
    return excerpt(r.text)


def client(cfg: XTTSServer) -> XTTS:
    """One client (and its connection pool) per server setting, for the whole process."""
    return _client(cfg.base_url, cfg.timeout)


@functools.lru_cache(maxsize=None)
def _client(base_url: str, timeout: float) -> XTTS:
    return XTTS(XTTSServer(base_url=base_url, timeout=timeout))
