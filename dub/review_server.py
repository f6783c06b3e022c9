"""`dub review`: build a job's review page, serve the job folder on 127.0.0.1 and open a browser.

The server is Python's http.server, threaded, with single-range HTTP Range requests added so a
<video> can seek (SimpleHTTPRequestHandler always sends the whole file).
"""

from __future__ import annotations

import errno
import os
import re
import sys
import threading
import webbrowser
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dubbing.errors import DubError

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single-range `Range` header for a file of `size` bytes.

    None: serve the whole file (no usable single range). ValueError: the range is unsatisfiable (416).
    """
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    first, last = m.group(1), m.group(2)
    if not first:  # "bytes=-N": the last N bytes
        n = int(last)
        if n == 0:
            raise ValueError("empty suffix range")
        return max(0, size - n), size - 1
    a = int(first)
    b = min(int(last), size - 1) if last else size - 1
    if a >= size or b < a:
        raise ValueError(f"range {header} outside 0-{size - 1}")
    return a, b


class RangeRequestHandler(SimpleHTTPRequestHandler):
    """Serves files with `Range: bytes=a-b` support, no caching, and no per-request log lines."""

    _left: int | None = None  # bytes still to send of a partial response

    def send_head(self):
        self._left = None
        if self.path in ("", "/"):
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", "/review/index.html")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        header = self.headers.get("Range")
        path = self.translate_path(self.path)
        if not header or not os.path.isfile(path):
            return super().send_head()
        try:
            f = open(path, "rb")
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        size = os.fstat(f.fileno()).st_size
        try:
            rng = byte_range(header, size)
        except ValueError:
            f.close()
            self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if rng is None:
            f.close()
            return super().send_head()
        a, b = rng
        f.seek(a)
        self._left = b - a + 1
        self.send_response(HTTPStatus.PARTIAL_CONTENT)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {a}-{b}/{size}")
        self.send_header("Content-Length", str(self._left))
        self.send_header("Last-Modified", self.date_time_string(int(os.fstat(f.fileno()).st_mtime)))
        self.end_headers()
        return f

    def end_headers(self):
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def copyfile(self, source, outputfile):
        if self._left is None:
            return super().copyfile(source, outputfile)
        while self._left > 0:
            buf = source.read(min(1 << 16, self._left))
            if not buf:
                break
            outputfile.write(buf)
            self._left -= len(buf)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        pass


class ReviewServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a browser that stops a video download mid-way resets the connection: not an error
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


def serve(folder: str | os.PathLike, port: int = DEFAULT_PORT) -> ReviewServer:
    """A server for `folder` on 127.0.0.1:`port` (0 = any free port), not yet running: call serve_forever()."""
    handler = partial(RangeRequestHandler, directory=str(folder))
    try:
        return ReviewServer((HOST, port), handler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise DubError(f"port {port} is in use: pass --port with another number (0 picks a free one)") from None
        raise DubError(f"cannot serve on {HOST}:{port}: {e.strerror}") from None


def _has_display() -> bool:
    """Whether a graphical browser can open here (a console browser would take over the terminal)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def review_command(job_dir: Path, approve: list[str] | None, port: int, open_browser: bool) -> None:
    """`dub review JOB_DIR`: with `approve`, mark those languages reviewed, rebuild the page and return;
    otherwise build the page and serve the job folder until Ctrl-C."""
    from dubbing import review

    job_dir = Path(job_dir)
    if not job_dir.is_dir():
        raise DubError(f"no job folder at {job_dir}: pass the folder dub translate wrote (OUT/<input name>)")
    codes = [c.strip().lower() for a in approve or [] for c in a.split(",") if c.strip()]
    if codes:
        for code in codes:
            review.approve(job_dir, code)
        page = review.build(job_dir)
        print(f"approved {', '.join(codes)}; page: {page}")
        return
    page = review.build(job_dir)
    try:
        server = serve(job_dir, port)
    except DubError:
        if port != DEFAULT_PORT:
            raise
        server = serve(job_dir, 0)  # the default port is taken: any free one will do
    url = f"http://{HOST}:{server.server_address[1]}/review/index.html"
    print(f"review page: {url}  (also {page.resolve().as_uri()}); Ctrl-C stops", flush=True)
    if open_browser and _has_display():
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    elif open_browser:
        print("no display here: open the address above in a browser (from another machine: "
              f"ssh -L {server.server_address[1]}:{HOST}:{server.server_address[1]} this-host)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("\nstopped serving the review page", flush=True)
    finally:
        server.server_close()
