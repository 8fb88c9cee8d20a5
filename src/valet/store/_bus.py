"""What one valet process does that the others sharing its Postgres must know (the web server
and the workers): a table, `valet_bus`, and Postgres LISTEN/NOTIFY.

`Bus.send` writes a row and announces it (`NOTIFY valet_bus`) in one transaction. Each process
LISTENs and also reads the table every `POLL_S` seconds (so a notification missed while its
connection was down is still read), taking the rows it has not seen that other processes
wrote, in order. A row's number is taken when its transaction starts, so a row may become
visible after a later one: each read looks `_WINDOW` rows back and skips those already seen.
Rows older than `KEEP` are deleted as new ones are written.

`valet_endpoints` says where each worker serves the live views of the tasks it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from valet.errors import StoreUnavailable
from valet.store._lock import engine_url, reason_of

log = logging.getLogger("valet.store")

CHANNEL = "valet_bus"
POLL_S = 1.0
KEEP = timedelta(hours=1)
_WINDOW = 100
_meta = sa.MetaData()
bus = sa.Table(
    "valet_bus",
    _meta,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("origin", sa.String(120), nullable=False),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("task_id", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
)


endpoints = sa.Table(
    "valet_endpoints",
    _meta,
    sa.Column("executor_id", sa.String(120), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)
"""Where each worker serves the live views of the tasks it runs (the server forwards to it)."""


@dataclass(frozen=True)
class BusMessage:
    origin: str
    """The executor id of the process that sent it."""
    kind: str
    task_id: str
    body: dict[str, Any]


class Bus:
    """This process's end of the bus: `send`, and `deliver` called (on the event loop) with
    every message another process sent, in order."""

    def __init__(self, url: str, origin: str, deliver: Callable[[BusMessage], None]) -> None:
        self._url = url
        self.origin = origin
        self._deliver = deliver
        self._engine = sa.create_engine(engine_url(url), pool_size=2, pool_pre_ping=True)
        self._seen: deque[int] = deque(maxlen=4 * _WINDOW)
        self._last = 0
        self._reader: asyncio.Task[None] | None = None
        self._sent = 0

    async def start(self) -> None:
        """Create the table when missing, skip what was sent before now, start reading."""

        def prepare() -> None:
            _meta.create_all(self._engine)
            with self._engine.connect() as db:
                last = db.execute(sa.select(sa.func.max(bus.c.seq))).scalar()
                if last is not None:
                    self._last = int(last)
                    recent = db.execute(sa.select(bus.c.seq).where(bus.c.seq > last - _WINDOW))
                    self._seen.extend(int(seq) for seq in recent.scalars())

        await asyncio.to_thread(prepare)
        self._reader = asyncio.create_task(self._read(), name="valet-bus")

    def send(self, kind: str, task_id: str, body: dict[str, Any]) -> None:
        """Write and announce one message; `StoreUnavailable` when the database refuses."""
        now = datetime.now(UTC)
        try:
            with self._engine.begin() as db:
                db.execute(
                    bus.insert().values(
                        origin=self.origin,
                        kind=kind,
                        task_id=task_id,
                        body=json.dumps(body),
                        at=now,
                    )
                )
                db.execute(sa.text("SELECT pg_notify(:c, '')"), {"c": CHANNEL})
                self._sent += 1
                if self._sent % 200 == 0:
                    db.execute(bus.delete().where(bus.c.at < now - KEEP))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"cannot tell the other valet processes: {reason_of(exc)}"
            ) from exc

    def advertise(self, url: str) -> None:
        """Say where this process serves the live views of its tasks."""
        now = datetime.now(UTC)
        with self._engine.begin() as db:
            db.execute(endpoints.delete().where(endpoints.c.executor_id == self.origin))
            db.execute(endpoints.insert().values(executor_id=self.origin, url=url, at=now))
            db.execute(endpoints.delete().where(endpoints.c.at < now - timedelta(days=7)))

    def endpoint(self, executor_id: str) -> str | None:
        """Where `executor_id` serves live views (None: it said nothing)."""
        query = sa.select(endpoints.c.url).where(endpoints.c.executor_id == executor_id)
        with self._engine.connect() as db:
            url = db.execute(query).scalar()
        return None if url is None else str(url)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        await asyncio.to_thread(self._engine.dispose)

    async def _read(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True
                ) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    while True:
                        await self._take()
                        async for _ in conn.notifies(timeout=POLL_S, stop_after=1):
                            pass
            except (psycopg.Error, SQLAlchemyError, OSError) as exc:
                log.warning("the bus between valet processes is down (%s); retrying", exc)
                await asyncio.sleep(POLL_S)

    async def _take(self) -> None:
        def fetch() -> list[tuple[Any, ...]]:
            query = (
                sa.select(bus.c.seq, bus.c.origin, bus.c.kind, bus.c.task_id, bus.c.body)
                .where(bus.c.seq > self._last - _WINDOW)
                .order_by(bus.c.seq)
            )
            with self._engine.connect() as db:
                return [tuple(row) for row in db.execute(query)]

        for seq_, origin, kind, task_id, body in await asyncio.to_thread(fetch):
            seq = int(seq_)
            if seq in self._seen or seq <= self._last - _WINDOW:
                continue
            self._seen.append(seq)
            self._last = max(self._last, seq)
            if origin == self.origin:
                continue
            message = BusMessage(str(origin), str(kind), str(task_id), json.loads(body))
            try:
                self._deliver(message)
            except Exception:  # one bad message never stops the bus
                log.exception("cannot apply %s for task %s", message.kind, message.task_id)
