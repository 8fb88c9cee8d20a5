"""Which valet processes on a shared Postgres are alive, as the database itself knows it.

Every process that runs tasks on Postgres (`valet serve`, each `valet worker`) holds, on a
connection of its own, a session-level advisory lock named after its DBOS executor id. The
database releases it when the process ends, even by SIGKILL (its connection closes; from
another machine, TCP keepalives notice a dead peer within about 30 seconds). A process that
can take another executor's lock therefore knows that executor is gone, and only then takes
over its unfinished workflows; it keeps that lock for its own life, so no second process
takes the same workflows over again.

A process whose own connection breaks while it still runs can no longer prove it is alive:
another may take its tasks over. `Liveness.check` tells it so, and the caller stops at once
rather than run a task twice.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from valet.errors import StartupError
from valet.store._lock import engine_url, reason_of, shown_url

_KEY = "SELECT pg_try_advisory_lock(hashtextextended(:name, 7613))"
"""One 64-bit key per executor id (a key space apart from the server lock's two int4 keys)."""
_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
              "keepalives_count": 3}  # fmt: skip


class Liveness:
    """This process's proof of life on Postgres, and the locks of the dead it took over."""

    def __init__(self, connection: sa.Connection, executor_id: str) -> None:
        self._connection = connection
        self.executor_id = executor_id
        self._claimed: set[str] = set()
        self._using = threading.Lock()

    @classmethod
    def acquire(cls, url: str, executor_id: str) -> Liveness:
        """Take `executor_id`'s lock; `StartupError` when the database cannot be reached."""
        engine = sa.create_engine(
            engine_url(url),
            poolclass=NullPool,
            connect_args={
                "application_name": f"valet {executor_id}"[:63],
                "connect_timeout": 10,
                **_KEEPALIVE,
            },
        )
        try:
            connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            taken = connection.execute(sa.text(_KEY), {"name": executor_id}).scalar()
        except SQLAlchemyError as exc:
            raise StartupError(
                f"cannot reach the database {shown_url(url)}: {reason_of(exc)}"
            ) from None
        if not taken:  # executor ids are unique per process: only a clash of hashes
            connection.close()
            raise StartupError(f"the executor id {executor_id} is already in use")
        return cls(connection, executor_id)

    def check(self) -> bool:
        """Whether this process still holds its lock (its connection answers)."""
        with self._using:
            try:
                self._connection.execute(sa.text("SELECT 1"))
            except SQLAlchemyError:
                return False
        return True

    def dead(self, executors: Iterable[str]) -> set[str]:
        """Those of `executors` that have ended: their locks are now this process's (kept, so
        that no other process takes their workflows over as well)."""
        found: set[str] = set()
        with self._using:
            for executor in set(executors) - {self.executor_id}:
                if executor not in self._claimed:
                    taken = self._connection.execute(sa.text(_KEY), {"name": executor}).scalar()
                    if not taken:
                        continue
                    self._claimed.add(executor)
                found.add(executor)
        return found

    def close(self) -> None:
        with self._using, contextlib.suppress(SQLAlchemyError):
            self._connection.close()
