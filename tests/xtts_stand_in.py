"""A stand-in for coqui's `tts-server` (TTS/server/server.py) for the xtts tests: coqui-tts cannot be
installed on this machine (it imports torchaudio, which has no loadable build here), so this serves the
same /api/tts contract with the stdlib and speaks with espeak-ng instead of XTTS v2.

The contract, as coqui's: GET or POST /api/tts with `text`, `speaker_id`, `language_id`, `style_wav`,
`speaker_wav` as query or form values (or the headers `text`, `speaker-id`, `language-id`, `style-wav`,
`speaker-wav`); a 16-bit PCM WAV normalized to full scale on success; {"error": ...} with HTTP 400 for an
empty text and 500 when synthesis fails (here: a speaker_wav that is not a file, as XTTS fails to load it).

    python tests/xtts_stand_in.py PORT [MODE]

MODE: ok (default); silent (every reply is silence); silent-once (the first reply is silence); error (HTTP
500); html (HTTP 200 with a web page, as a proxy in front of a dead server). GET /requests: /api/tts
calls so far.
"""

from __future__ import annotations

import io
import json
import sys
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dubbing import espeak  # noqa: E402
from languages import get as language  # noqa: E402

MODE = sys.argv[2] if len(sys.argv) > 2 else "ok"
calls = 0


def wav_bytes(audio: np.ndarray, sr: int) -> bytes:
    """As coqui's save_wav: scaled to full scale (at least x1/0.01), 16-bit PCM."""
    scaled = audio * (32767 / max(0.01, float(np.max(np.abs(audio))) if len(audio) else 0.01))
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(np.clip(scaled, -32767, 32767).astype("<i2").tobytes())
    return buf.getvalue()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(status, json.dumps({"error": message}).encode(), "application/json")

    def _values(self) -> dict[str, str]:
        url = urlparse(self.path)
        values = {k: v[0] for k, v in parse_qs(url.query).items()}
        if self.command == "POST":
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            values.update({k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()})
        for header, name in (("text", "text"), ("speaker-id", "speaker_id"), ("language-id", "language_id"),
                             ("style-wav", "style_wav"), ("speaker-wav", "speaker_wav")):
            if self.headers.get(header):
                values[name] = self.headers[header]
        return values

    def do_GET(self) -> None:
        if urlparse(self.path).path == "/requests":
            self._send(200, str(calls).encode(), "text/plain")
        elif urlparse(self.path).path == "/api/tts":
            self._tts()
        else:
            self._send(200, b"<html>TTS stand-in</html>", "text/html")

    def do_POST(self) -> None:
        if urlparse(self.path).path == "/api/tts":
            self._tts()
        else:
            self._send(404, b"not found", "text/plain")

    def _tts(self) -> None:
        global calls
        calls += 1
        values = self._values()
        text, ref = values.get("text", ""), values.get("speaker_wav", "")
        if not text.strip():
            return self._error(400, "Text parameter is required")
        if MODE == "error":
            return self._error(500, "TTS synthesis failed: CUDA out of memory")
        if MODE == "html":
            return self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        if not Path(ref).is_file():
            return self._error(500, f"TTS synthesis failed: [Errno 2] No such file or directory: '{ref}'")
        audio, sr, _ = espeak.synthesize(text, language(values.get("language_id", "en").split("-")[0]).espeak)
        if MODE == "silent" or (MODE == "silent-once" and calls == 1):
            audio = np.zeros_like(audio)
        self._send(200, wav_bytes(audio, sr), "audio/wav")


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
