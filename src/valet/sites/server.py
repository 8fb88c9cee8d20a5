# pyright: strict
"""Run the demo sites with uvicorn in a background thread (tests) or the foreground (demo)."""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from .app import create_app


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.setblocking(False)
    return sock


def _make_server(app: FastAPI, host: str, port: int, log_level: str) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        timeout_keep_alive=2,
    )
    return uvicorn.Server(config)


class SiteServer:
    """Serve :func:`create_app` on ``host`` in a daemon thread.

    ``port=0`` picks a free port; the socket is bound before the thread starts, so
    :attr:`url` is known immediately and nothing can steal the port.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, app: FastAPI | None = None) -> None:
        self.host = host
        self.requested_port = port
        self.app = app if app is not None else create_app()
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("SiteServer is not running; call start() first")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + (path if path.startswith("/") else "/" + path)

    def start(self, timeout: float = 10.0) -> SiteServer:
        if self._thread is not None:
            return self
        sock = _bind(self.host, self.requested_port)
        self._sock = sock
        self.port = int(sock.getsockname()[1])
        server = _make_server(self.app, self.host, self.port, "warning")
        self._server = server

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # surfaced by start()
                self._error = exc

        self._thread = threading.Thread(target=run, name=f"valet-sites:{self.port}", daemon=True)
        self._thread.start()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            if self._error is not None or (
                self._thread is not None and not self._thread.is_alive()
            ):
                self.stop()
                raise RuntimeError(f"site server failed to start: {self._error!r}")
            if self._server is not None and self._server.started:
                try:
                    with urllib.request.urlopen(self.url_for("/healthz"), timeout=1) as resp:
                        if resp.status == 200:
                            return
                except (urllib.error.URLError, OSError):
                    pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"site server did not answer within {timeout} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive() and server is not None:
                server.force_exit = True
                thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None
        self.port = None

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(host: str = "127.0.0.1", port: int = 8765) -> None:
    """Foreground server for ``python -m valet.sites``; prints the URL, Ctrl-C to stop."""
    sock = _bind(host, port)
    actual = int(sock.getsockname()[1])
    shown = f"[{host}]" if ":" in host else host
    print(f"valet demo sites: http://{shown}:{actual}/", flush=True)  # noqa: T201
    server = _make_server(create_app(), host, actual, "info")
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
