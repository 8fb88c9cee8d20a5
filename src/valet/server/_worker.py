"""`valet worker`: a process that runs the tasks the web server (`valet serve`) queues, on the
Postgres they share.

A worker serves nothing: it takes tasks from the durable queue (as many at once as the server's
`--max-tasks`, which DBOS keeps with the queue for every process on it),
runs them in its own browser(s), and tells the server what they do through the bus (status,
steps, requests to the person), from which it also takes the person's answers, messages and
cancels. When a worker dies, another process (a worker or the server) resumes its tasks from
their last finished step (see `valet.runtime._durable`); a worker that loses its connection
to the database stops at once (exit status 75) rather than risk running a task twice.

Workers share the server's valet home (its vault, audit log, runs, config and install token):
on one machine, or a home on storage all of them mount. Each serves the live views of its
tasks on `--listen` (loopback by default; `--advertise` the address the server should use),
for the web server only: it forwards the person's live view and takeover there.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path

import uvicorn

from valet.errors import CannotListen, StartupError
from valet.server._app import create_worker_app
from valet.server._serve import URL_FILE, bind_socket, read_config, server_url
from valet.server._settings import (
    ServerSettings,
    build_model_choice,
    load_or_create_token,
    shared_browsers,
)
from valet.server._tasks import TaskManager
from valet.settings import valet_home
from valet.store import database_url


def work(
    *,
    home: Path | None = None,
    model: str | None = None,
    browsers: int = 1,
    remote_browsers: tuple[str, ...] = (),
    listen: str = "127.0.0.1:0",
    advertise: str | None = None,
    announce: Callable[[str], object] | None = None,
) -> None:
    """Run queued tasks until SIGINT/SIGTERM; then the tasks it runs stay pending and another
    process resumes them. Raises `StartupError` when it cannot start (not on Postgres, the
    database unreachable, a bad config)."""
    home = home or valet_home()
    listen_host, _, port_text = listen.rpartition(":")
    listen_host = listen_host.strip("[]")
    if not listen_host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise CannotListen(f"--listen {listen!r} is not HOST:PORT (e.g. 127.0.0.1:8701)")
    listen_port = int(port_text)
    url = database_url(home)
    if not url.startswith("postgresql"):
        raise StartupError(
            "valet worker needs the Postgres database the server uses: set "
            "VALET_DATABASE_URL=postgresql://… for both (on SQLite, `valet serve` runs the "
            "tasks itself)"
        )
    _, tracing = read_config(home)
    settings = ServerSettings(
        home=home,
        model=model,
        shared_browsers=browsers,
        remote_browsers=remote_browsers,
        durable=True,
    )
    manager = TaskManager(
        home,
        build_model_choice(settings),
        settings.browser,
        settings.max_concurrent_tasks,  # unused: the queue's setting applies
        settings.default_max_steps,
        durable=True,
        browsers=shared_browsers(settings),
        worker=True,
    )
    with contextlib.suppress(OSError):  # links in notifications: the server's address
        manager.notifier.base_url = (home / URL_FILE).read_text(encoding="utf-8").strip()
    say = announce or print
    sock = bind_socket(listen_host, listen_port)
    address = advertise or server_url(listen_host, int(sock.getsockname()[1])).rstrip("/")
    app = create_worker_app(manager, load_or_create_token(home))
    endpoint = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", ws="websockets-sansio")
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        serving: asyncio.Task[None] | None = None
        try:
            await manager.start()
            await asyncio.to_thread(manager.advertise, address)
            serving = asyncio.create_task(endpoint.serve(sockets=[sock]))
            say(
                f"valet worker {manager.executor_id} takes tasks from the queue; the live views "
                f"of its tasks at {address}"
            )
            await stop.wait()
            say("valet worker stopping: its tasks resume in another process")
        finally:
            endpoint.should_exit = True
            if serving is not None:
                await serving
            await manager.shutdown()
            app.state.sessions.close()

    try:
        with sock:
            asyncio.run(run())
    finally:
        if tracing is not None:
            tracing.close()
