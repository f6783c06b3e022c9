"""`dub review`: build a job's review page, serve the job folder on 127.0.0.1 and open a browser.

The server is starlette's StaticFiles (HTTP Range requests, so a <video> can seek; conditional GETs)
run by uvicorn, with "/" sent to the page and nothing cached by the browser, so a rebuilt page or
re-rendered dub is what the next reload shows.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import threading
import webbrowser
from pathlib import Path

from dubbing.errors import DubError

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
PAGE = "/review/index.html"


class _NoStore:
    """ASGI middleware: every response says Cache-Control: no-store."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        async def send_no_store(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"cache-control", b"no-store")]
            await send(message)

        await self.app(scope, receive, send_no_store)


def app(folder: str | os.PathLike):
    """The ASGI app serving `folder` (symlinks followed: the page links the input where it lies)."""
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    async def to_page(request):
        return RedirectResponse(PAGE, status_code=302)

    return _NoStore(Starlette(routes=[
        Route("/", to_page),
        Mount("/", app=StaticFiles(directory=str(folder), follow_symlink=True)),
    ]))


class ReviewServer:
    """uvicorn serving app(folder) on a socket bound now; serve_forever() runs it (Ctrl-C stops it when run in
    the main thread), shutdown() stops it from another thread, server_close() frees the port."""

    def __init__(self, folder: str | os.PathLike, sock: socket.socket):
        import uvicorn

        self.socket = sock
        self.server_address = sock.getsockname()
        self._server = uvicorn.Server(uvicorn.Config(app(folder), log_level="warning", access_log=False,
                                                     lifespan="off", timeout_graceful_shutdown=2))
        self._stopped = threading.Event()

    def serve_forever(self) -> None:
        try:
            self._server.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self) -> None:
        self._server.should_exit = True
        self._stopped.wait(10)

    def server_close(self) -> None:
        self.socket.close()


def serve(folder: str | os.PathLike, port: int = DEFAULT_PORT) -> ReviewServer:
    """A server for `folder` on 127.0.0.1:`port` (0 = any free port), not yet running: call serve_forever()."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port left in TIME_WAIT is free; one in use is not
    try:
        sock.bind((HOST, port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise DubError(f"port {port} is in use: pass --port with another number (0 picks a free one)") from None
        raise DubError(f"cannot serve on {HOST}:{port}: {e.strerror}") from None
    return ReviewServer(folder, sock)


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
    url = f"http://{HOST}:{server.server_address[1]}{PAGE}"
    print(f"review page: {url}  (also {page.resolve().as_uri()}); Ctrl-C stops", flush=True)
    if open_browser and _has_display():
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
    elif open_browser:
        print("no display here: open the address above in a browser (from another machine: "
              f"ssh -L {server.server_address[1]}:{HOST}:{server.server_address[1]} this-host)", flush=True)
    try:
        server.serve_forever()  # returns when uvicorn has stopped on Ctrl-C or SIGTERM
    except KeyboardInterrupt:  # the Ctrl-C, raised again by uvicorn once stopped
        pass
    finally:
        server.server_close()
    print("\nstopped serving the review page", flush=True)
