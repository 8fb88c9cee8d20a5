"""One `valet serve` per valet home and per database, held for the server's whole life.

A second server on the same data is refused at start: the web server keeps the person's
side of the tasks (requests, sign-ins, live views) in its memory. More processes run tasks as
`valet worker`s (see `valet.store._liveness`). `ServerLock.acquire` takes

- an `flock` on `<home>/serve.lock` (the home holds the audit log, runs and browser state), and
- on Postgres, a session-level `pg_try_advisory_lock` on a connection of its own.

Both are released by the kernel or the database when the process ends, even by SIGKILL, so a
restart right after a crash takes them at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from valet.errors import AlreadyServing, StartupError

LOCK_FILE = "serve.lock"
_ADVISORY = (0x76616C65, 0x7365)
"""The advisory lock's two int4 keys ("vale", "se"): the same in every valet database."""
_HOLDER = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.classid = :a AND l.objid = :b AND l.granted
"""


def shown_url(url: str) -> str:
    """The database URL without its password, to name it in messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def engine_url(url: str) -> str:
    """SQLAlchemy's spelling of a `postgresql://` URL (psycopg 3)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


class ServerLock:
    """Held while a server runs; `release()` (or the process's end) lets the next one start."""

    def __init__(self, fd: int, database: sa.Connection | None) -> None:
        self._fd: int | None = fd
        self._database = database

    @classmethod
    def acquire(cls, home: Path, database_url: str) -> ServerLock:
        """Raises `AlreadyServing` when another server holds the home or the database, and
        `StartupError` when the database cannot be reached."""
        try:
            home.mkdir(parents=True, exist_ok=True)
            fd = os.open(home / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StartupError(f"cannot open {home / LOCK_FILE}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyServing(
                f"another valet server ({holder}) is already serving {home}; stop it first "
                "(one server per valet home and database)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, _me().encode(), 0)
        database = None
        if database_url.startswith("postgresql"):
            try:
                database = _advisory_lock(database_url)
            except BaseException:
                os.close(fd)
                raise
        return cls(fd, database)

    def release(self) -> None:
        if self._database is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._database.close()
            self._database = None
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None


def _me() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def _advisory_lock(url: str) -> sa.Connection:
    """A connection holding the server's advisory lock; raises when another session holds it."""
    engine = sa.create_engine(
        engine_url(url),
        poolclass=NullPool,
        connect_args={"application_name": f"valet serve {_me()}"[:63], "connect_timeout": 10},
    )
    try:
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    except SQLAlchemyError as exc:
        raise StartupError(
            f"cannot reach the database {shown_url(url)}: {reason_of(exc)}"
        ) from None
    keys = {"a": _ADVISORY[0], "b": _ADVISORY[1]}
    taken = connection.execute(sa.text("SELECT pg_try_advisory_lock(:a, :b)"), keys).scalar()
    if taken:
        return connection
    holder = connection.execute(sa.text(_HOLDER), keys).scalar() or "unknown"
    connection.close()
    raise AlreadyServing(
        f"another valet server ({str(holder).removeprefix('valet serve ')}) is already serving "
        f"the database {shown_url(url)}; stop it first (one server per database; add "
        "`valet worker` processes to run more tasks)"
    )


def reason_of(exc: BaseException) -> str:
    """The first line of a database error (the driver's message, without SQLAlchemy's SQL)."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
