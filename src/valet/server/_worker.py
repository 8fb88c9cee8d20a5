"""`valet worker`: a process that runs the tasks the web server (`valet serve`) queues, on the
Postgres they share.

A worker serves nothing: it takes tasks from the durable queue (as many at once as the server's
`--max-tasks`, which DBOS keeps with the queue for every process on it),
runs them in its own browser(s), and tells the server what they do through the bus (status,
steps, requests to the person), from which it also takes the person's answers, messages and
cancels. When a worker dies, another process (a worker or the server) resumes its tasks from
their last finished step (see `valet.runtime._durable`); a worker that loses its connection
to the database stops at once (exit status 75) rather than risk running a task twice.

Workers share the server's valet home (its vault, audit log, runs and config): on one machine,
or a home on storage all of them mount.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from pathlib import Path

from valet.errors import ConfigError, StartupError
from valet.runtime._traces import start_tracing
from valet.server._serve import URL_FILE
from valet.server._settings import ServerSettings, build_model_choice, shared_browsers
from valet.server._tasks import TaskManager
from valet.settings import load_config, valet_home
from valet.store import database_url


def work(
    *,
    home: Path | None = None,
    model: str | None = None,
    browsers: int = 1,
    remote_browsers: tuple[str, ...] = (),
    announce: Callable[[str], object] | None = None,
) -> None:
    """Run queued tasks until SIGINT/SIGTERM; then the tasks it runs stay pending and another
    process resumes them. Raises `StartupError` when it cannot start (not on Postgres, the
    database unreachable, a bad config)."""
    home = home or valet_home()
    url = database_url(home)
    if not url.startswith("postgresql"):
        raise StartupError(
            "valet worker needs the Postgres database the server uses: set "
            "VALET_DATABASE_URL=postgresql://… for both (on SQLite, `valet serve` runs the "
            "tasks itself)"
        )
    try:
        config = load_config(home)
        tracing = start_tracing(config)
    except ConfigError as exc:
        raise StartupError(str(exc)) from exc
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

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await manager.start()
            say(f"valet worker {manager.executor_id} takes tasks from the queue")
            await stop.wait()
            say("valet worker stopping: its tasks resume in another process")
        finally:
            await manager.shutdown()

    try:
        asyncio.run(run())
    finally:
        if tracing is not None:
            tracing.close()
