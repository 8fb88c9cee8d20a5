"""One `valet serve` per valet home on SQLite, held for the server's whole life.

On SQLite a second server on the same home is refused at start: only one process may take over
what a dead one left running. `ServerLock.acquire` takes an `flock` on `<home>/serve.lock`,
released by the kernel when the process ends, even by SIGKILL, so a restart right after a
crash takes it at once. On Postgres `valet serve` takes no lock: several servers and
`valet worker`s share the database (see `valet.store._liveness` for who is alive,
`valet.store._bus` for what they tell each other).
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

import sqlalchemy as sa

from valet.errors import AlreadyServing, StartupError

LOCK_FILE = "serve.lock"


def shown_url(url: str) -> str:
    """The database URL without its password, to name it in messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def engine_url(url: str) -> str:
    """SQLAlchemy's spelling of a `postgresql://` URL (psycopg 3)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def sqlite_file(url: str) -> Path | None:
    """The file of a `sqlite:///path` URL; None for another database, an in-memory one or
    SQLite's `file:` URI form (whose caller chose how it opens, read-only for one)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path)


class ServerLock:
    """Held while a server runs; `release()` (or the process's end) lets the next one start."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, home: Path) -> ServerLock:
        """Raises `AlreadyServing` when another server holds the home."""
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
        return cls(fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock
            self._fd = None


def _me() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}"


def reason_of(exc: BaseException) -> str:
    """The first line of a database error (the driver's message, without SQLAlchemy's SQL)."""
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
