"""`valet serve`: take the server lock, check and open the databases, bind, and only then
print the address with a one-time sign-in link (like a notebook server), and serve.

Whatever stops the start (another server on the same data, a damaged database, tasks missing
from the task database) raises a `StartupError` before the link is printed; the CLI prints its
message and exits with its `exit_code`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from valet._home import make_private
from valet.errors import CannotListen, ConfigError, StartupError
from valet.runtime._traces import Tracing, start_tracing
from valet.server._app import create_app
from valet.server._settings import (
    ServerSettings,
    load_or_create_token,
    oidc_settings,
    people_mode,
    rotate_token,
    takeover_grace,
)
from valet.server._tasks import TaskManager
from valet.settings import load_config, valet_home
from valet.store import ServerLock, SessionStore, database_url, install_of, shared_database

_LOOPBACK = {"127.0.0.1": "localhost", "localhost": "127.0.0.1", "::1": None}
URL_FILE = "server-url"
"""Where a running server writes its address (no secret), for `valet link`."""


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


def server_address(home: Path, base_url: str | None = None) -> str:
    """`base_url`, else the address the server of `home` last started at; raises
    `LookupError` when neither is known."""
    if base_url is not None:
        return base_url.rstrip("/")
    path = home / URL_FILE
    if not path.is_file():
        raise LookupError("no valet server has started on this home yet")
    return path.read_text(encoding="utf-8").strip().rstrip("/")


def new_link(home: Path, base_url: str | None = None) -> str:
    """A one-time sign-in link for the server of `home` (its address as the running server
    wrote it, or `base_url`); raises `LookupError` when neither is known."""
    url = server_address(home, base_url)
    sessions = SessionStore(database_url(home))
    try:
        secret = sessions.new_link(install_of(load_or_create_token(home)))
    finally:
        sessions.close()
    return url + f"/?token={secret}"


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket; `CannotListen` with why, in one line, when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)  # a link opened at once waits in the kernel until uvicorn accepts
    except socket.gaierror:
        sock.close()
        raise CannotListen(f"--host {host!r} is not an address or a name that resolves") from None
    except OSError as exc:
        sock.close()
        why = {
            errno.EADDRINUSE: f"port {port} is in use on {host} (another program listens "
            "there); choose another --port, or 0 for any free one",
            errno.EADDRNOTAVAIL: f"--host {host} is not an address of this machine",
            errno.EACCES: f"port {port} needs more privileges; use one above 1023",
        }.get(exc.errno or 0, f"cannot listen on {host}:{port}: {exc.strerror or exc}")
        raise CannotListen(why) from None
    return sock


def read_config(home: Path) -> tuple[dict[str, Any], Tracing | None]:
    """`config.toml` and the traces it asks for; `StartupError` when either is unusable."""
    try:
        config = load_config(home)
        return config, start_tracing(config)
    except ConfigError as exc:
        raise StartupError(str(exc)) from exc


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
    new_token: bool = False,
    shared_browsers: int = 1,
    remote_browsers: tuple[str, ...] = (),
    web_only: bool = False,
) -> None:
    """Run the server until interrupted. Prints the address and a one-time sign-in link once
    the databases are checked and open. With `new_token`, first replaces the install token
    (every earlier link, session and API token stops working). Tasks share
    `shared_browsers` local Chromium processes (0: one each), or the `remote_browsers`.
    Raises `StartupError` (nothing printed) when it cannot start safely, `CannotListen` when
    it cannot listen."""
    home = home or valet_home()
    if not 0 <= port <= 65535:
        raise CannotListen(f"--port {port} is not a port: use 1 to 65535 (0: any free port)")
    if web_only and shared_database(home) is None:
        raise StartupError(
            "--web-only needs the Postgres database workers share (VALET_DATABASE_URL); on "
            "SQLite the server runs the tasks itself"
        )
    shared = shared_database(home) is not None
    # On SQLite one server per home; servers sharing a Postgres know of each other (see
    # `valet.store._liveness`, `valet.store._bus`).
    lock = None if shared else ServerLock.acquire(home)
    try:
        make_private(home)  # what an older valet left readable by others
        sock = bind_socket(host, port)
        port = int(sock.getsockname()[1])
        token = rotate_token(home) if new_token else load_or_create_token(home)
        config, tracing = read_config(home)
        try:
            grace = takeover_grace(config)
            people = people_mode(config)
            oidc = oidc_settings(config)
            if oidc is not None and not people:
                raise ConfigError(
                    "config.toml: [people.oidc] signs people in: it needs [people] enabled = true"
                )
        except ConfigError as exc:
            raise StartupError(str(exc)) from exc
        settings = ServerSettings(
            home=home,
            model=model,
            token=token,
            allowed_origins=own_origins(host, port),
            max_concurrent_tasks=max_concurrent_tasks,
            shared_browsers=shared_browsers,
            remote_browsers=remote_browsers,
            runs_tasks=not web_only,
            durable=True,
            takeover_grace_s=grace,
            people=people,
            oidc=oidc,
        )
        app = create_app(settings)
        say: Callable[[str], object] = announce or _to_stderr
        sessions: SessionStore = app.state.sessions
        uvicorn_config = uvicorn.Config(
            app, log_level="warning", lifespan="on", ws="websockets-sansio"
        )
        server = uvicorn.Server(uvicorn_config)
        manager: TaskManager = app.state.tasks
        manager.notifier.base_url = server_url(host, port)

        async def run() -> None:
            try:  # before the link: a failed start prints only why
                await manager.start(forget_lost_tasks=forget_lost_tasks)
            except BaseException:
                await manager.shutdown()
                raise
            if new_token:
                ended = await asyncio.to_thread(sessions.revoke_all)
                say(f"the install token was replaced: {ended} browser session(s) ended")
            secret = await asyncio.to_thread(sessions.new_link, install_of(token))
            (home / URL_FILE).write_text(server_url(host, port) + "\n", encoding="utf-8")
            say(f"valet is serving at {server_url(host, port)}")
            say(
                f"open this link to sign in (once, within a day):  {server_url(host, port, secret)}"
            )
            say("another sign-in link: valet link")
            if people:
                say(
                    f"people sign in at {server_url(host, port).rstrip('/')}/signin "
                    "(add them with `valet users add`); the link signs in the installation's "
                    "operator, who sees everyone's tasks"
                )
            if host not in _LOOPBACK:
                say(
                    "warning: not bound to loopback; anyone who can reach this port and has a "
                    "link or the token can use valet"
                )
            # Other servers forward the live views of the tasks this one runs here.
            own = server_url("127.0.0.1" if host in ("0.0.0.0", "::", "") else host, port)
            await asyncio.to_thread(manager.advertise, own.rstrip("/"))
            await server.serve(sockets=[sock])  # the lifespan's start is a no-op now

        try:
            with sock, asyncio.Runner(loop_factory=uvicorn_config.get_loop_factory()) as runner:
                runner.run(run())
        finally:
            if tracing is not None:
                tracing.close()  # what is pending goes out
    finally:
        if lock is not None:
            lock.release()
