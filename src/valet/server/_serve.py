"""`valet serve`: bind, print the address with the token (like a notebook server), serve."""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from valet.server._app import create_app
from valet.server._settings import ServerSettings, load_or_create_token
from valet.settings import valet_home

_LOOPBACK = {"127.0.0.1": "localhost", "localhost": "127.0.0.1", "::1": None}


def server_url(host: str, port: int, token: str | None = None) -> str:
    """The web app's address; with the token it is the one-time link that signs the browser in."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


def own_origins(host: str, port: int) -> tuple[str, ...]:
    """Origins of the server itself; empty for a wildcard bind (then the Host header decides)."""
    if host in ("0.0.0.0", "::", ""):
        return ()
    origins = [server_url(host, port).rstrip("/")]
    alias = _LOOPBACK.get(host)
    if alias:
        origins.append(server_url(alias, port).rstrip("/"))
    return tuple(origins)


def _to_stderr(text: str) -> None:
    sys.stderr.write(text + "\n")


def serve(
    host: str = "127.0.0.1",
    port: int = 8700,
    *,
    home: Path | None = None,
    model: str | None = None,
    max_concurrent_tasks: int = 2,
    announce: Callable[[str], object] | None = None,
) -> None:
    """Run the server until interrupted. Prints the address to open, token included."""
    home = home or valet_home()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = int(sock.getsockname()[1])
    token = load_or_create_token(home)
    settings = ServerSettings(
        home=home,
        model=model,
        token=token,
        allowed_origins=own_origins(host, port),
        max_concurrent_tasks=max_concurrent_tasks,
        durable=True,
    )
    app = create_app(settings)
    say: Callable[[str], object] = announce or _to_stderr
    say(f"valet is serving at {server_url(host, port)}")
    say(f"open this link to sign in:  {server_url(host, port, token)}")
    if host not in _LOOPBACK:
        say("warning: not bound to loopback; anyone who can reach this port needs only the token")
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
    uvicorn.Server(config).run(sockets=[sock])
