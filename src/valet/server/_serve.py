"""`valet serve`: take the server lock, check and open the databases, bind, and only then
print the address with the token (like a notebook server), and serve.

Whatever stops the start (another server on the same data, a damaged database, tasks missing
from the task database) raises a `StartupError` before the link is printed; the CLI prints its
message and exits with its `exit_code`.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from valet._home import make_private
from valet.errors import ConfigError, StartupError
from valet.server._app import create_app
from valet.server._settings import ServerSettings, load_or_create_token, takeover_grace
from valet.server._tasks import TaskManager
from valet.settings import load_config, valet_home
from valet.store import ServerLock, database_url

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
    forget_lost_tasks: bool = False,
) -> None:
    """Run the server until interrupted. Prints the address to open, token included, once the
    databases are checked and open. Raises `StartupError` (nothing printed) when it cannot
    start safely, `OSError` when it cannot listen."""
    home = home or valet_home()
    lock = ServerLock.acquire(home, database_url(home))
    try:
        make_private(home)  # what an older valet left readable by others
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        port = int(sock.getsockname()[1])
        token = load_or_create_token(home)
        try:
            grace = takeover_grace(load_config(home))
        except ConfigError as exc:
            raise StartupError(str(exc)) from exc
        settings = ServerSettings(
            home=home,
            model=model,
            token=token,
            allowed_origins=own_origins(host, port),
            max_concurrent_tasks=max_concurrent_tasks,
            durable=True,
            takeover_grace_s=grace,
        )
        app = create_app(settings)
        say: Callable[[str], object] = announce or _to_stderr
        lines = [
            f"valet is serving at {server_url(host, port)}",
            f"open this link to sign in:  {server_url(host, port, token)}",
        ]
        if host not in _LOOPBACK:
            lines.append(
                "warning: not bound to loopback; anyone who can reach this port needs only the "
                "token"
            )
        config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
        server = uvicorn.Server(config)
        manager: TaskManager = app.state.tasks

        async def run() -> None:
            try:  # before the link: a failed start prints only why
                await manager.start(forget_lost_tasks=forget_lost_tasks)
            except BaseException:
                await manager.shutdown()
                raise
            for line in lines:
                say(line)
            await server.serve(sockets=[sock])  # the lifespan's start is a no-op now

        with sock, asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(run())
    finally:
        lock.release()
