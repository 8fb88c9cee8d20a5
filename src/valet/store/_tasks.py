"""Tasks, messages and requests to the person in SQL (SQLAlchemy Core): the server's memory
across restarts."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from valet._home import private_file
from valet.billing import Charged, DuplicateRequest, ledger_tables
from valet.errors import StoreUnavailable
from valet.store._columns import create_tables
from valet.store._lock import engine_url, reason_of, shown_url, sqlite_file

DATABASE_ENV = "VALET_DATABASE_URL"

T = TypeVar("T")

_meta = sa.MetaData()

tasks = sa.Table(
    "valet_tasks",
    _meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("request", sa.Text, nullable=False),
    sa.Column("model_name", sa.String(200)),
    sa.Column("max_steps", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("started_at", sa.String(40)),
    sa.Column("finished_at", sa.String(40)),
    sa.Column("run_id", sa.String(64)),
    sa.Column("answer", sa.Text),
    sa.Column("detail", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("owner", sa.String(16)),
)
"""`owner`: the person who asked (multi-person mode), None: the install's."""

messages = sa.Table(
    "valet_messages",
    _meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("task_id", sa.String(32), sa.ForeignKey("valet_tasks.id"), index=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(40), nullable=False),
    sa.Column("delivered", sa.Boolean, nullable=False, default=False),
)


person_requests = sa.Table(
    "valet_requests",
    _meta,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("task_id", sa.String(32), index=True, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("claimed", sa.Boolean, nullable=False, default=False),
    sa.Column("record", sa.Text, nullable=False),
)
"""Approvals, takeovers and questions: `record` is the request as JSON; `claimed` once the
waiting task has read the answer (an unclaimed answer is still owed to the task)."""

task_steps = sa.Table(
    "valet_steps",
    _meta,
    sa.Column("task_id", sa.String(32), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("step", sa.Text, nullable=False),
)
"""A task's steps as its timeline shows them (JSON), kept by the process that runs it when the
database is shared: the web server shows the timeline of a task a worker on another machine
ran (whose run record is on that machine)."""


def database_url(home: Path) -> str:
    """`VALET_DATABASE_URL` (e.g. `postgresql://…`) or a SQLite file in the valet home."""
    return os.environ.get(DATABASE_ENV) or f"sqlite:///{(home / 'valet.db').resolve()}"


def shared_database(home: Path) -> str | None:
    """The URL of the Postgres valet shares with other processes and machines, or None (a
    SQLite file of this machine's)."""
    url = database_url(home)
    return url if url.startswith("postgresql") else None


@dataclass(frozen=True)
class StoredTask:
    id: str
    request: dict[str, Any]
    model_name: str | None
    max_steps: int
    status: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    run_id: str | None
    answer: str | None
    detail: str | None
    error: str | None
    owner: str | None = None


@dataclass(frozen=True)
class StoredRequest:
    id: str
    task_id: str
    fingerprint: str
    claimed: bool
    record: dict[str, Any]


@dataclass(frozen=True)
class StoredMessage:
    id: str
    task_id: str
    text: str
    created_at: str
    delivered: bool


class TaskStore:
    """Reads and writes tasks and messages; every write is its own committed transaction, and
    a write that fails raises `StoreUnavailable` (nothing was changed)."""

    def __init__(self, url: str) -> None:
        self.url = url
        if file := sqlite_file(url):  # private from the start, as valet's home
            private_file(file)
        self.engine = sa.create_engine(engine_url(url))
        create_tables(self.engine, _meta)
        ledger_tables.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raise (a SQLAlchemy error) when the database cannot be reached."""
        with self.engine.connect() as db:
            db.execute(sa.text("SELECT 1"))

    @contextmanager
    def _writing(self, what: str) -> Generator[sa.Connection]:
        """One committed transaction; its failure (disk full, read-only file, database gone)
        becomes `StoreUnavailable` naming what could not be saved."""
        try:
            with self.engine.begin() as db:
                yield db
        except SQLAlchemyError as exc:
            reason = reason_of(exc)
            raise StoreUnavailable(
                f"could not save {what} in {shown_url(self.url)}: {reason}"
            ) from exc

    def add_task(
        self,
        task_id: str,
        request: dict[str, Any],
        model_name: str | None,
        max_steps: int,
        status: str,
        created_at: str,
        admit: Callable[[sa.Connection], Charged] | None = None,
        owner: str | None = None,
    ) -> Charged | None:
        """Add a task; with `admit`, the task request is charged in the same transaction
        (`valet.billing.charge`): refused (`QuotaExceeded`), nothing is added; charged before
        under the same idempotency key (`Charged.again`), the earlier task stands instead."""
        for attempt in (1, 2):
            try:
                with self._writing(f"task {task_id}") as db:
                    charged = admit(db) if admit is not None else None
                    if charged is not None and charged.again:
                        return charged
                    db.execute(
                        tasks.insert().values(
                            id=task_id,
                            request=json.dumps(request),
                            model_name=model_name,
                            max_steps=max_steps,
                            status=status,
                            created_at=created_at,
                            owner=owner,
                        )
                    )
                    return charged
            except DuplicateRequest:  # sent twice at once: the other one's charge stands now
                if attempt == 2:
                    raise
        return None

    def refund(self, task_id: str, give_back: Callable[[sa.Connection], bool]) -> bool:
        return self.write(f"the refund of task {task_id}", give_back)

    def write(self, what: str, writer: Callable[[sa.Connection], T]) -> T:
        """`writer` run in one committed transaction (`StoreUnavailable` naming `what`)."""
        with self._writing(what) as db:
            return writer(db)

    def read(self, reader: Callable[[sa.Connection], T]) -> T:
        """`reader` run on a connection of the store (e.g. `valet.billing.summary`)."""
        with self.engine.connect() as db:
            return reader(db)

    def update_task(self, task_id: str, **fields: str | None) -> None:
        with self._writing(f"task {task_id}") as db:
            db.execute(tasks.update().where(tasks.c.id == task_id).values(**fields))

    def tasks(self) -> list[StoredTask]:
        """Every task, oldest first."""
        with self.engine.connect() as db:
            rows = db.execute(tasks.select().order_by(tasks.c.created_at)).mappings().all()
        return [_task(row) for row in rows]

    def task(self, task_id: str) -> StoredTask | None:
        """One task, or None when the database has no such task."""
        with self.engine.connect() as db:
            row = db.execute(tasks.select().where(tasks.c.id == task_id)).mappings().first()
        return None if row is None else _task(row)

    def add_message(self, message: StoredMessage) -> None:
        with self._writing(f"the message to task {message.task_id}") as db:
            db.execute(
                messages.insert().values(
                    id=message.id,
                    task_id=message.task_id,
                    text=message.text,
                    created_at=message.created_at,
                    delivered=message.delivered,
                )
            )

    def deliver(self, ids: list[str]) -> None:
        if not ids:
            return
        with self._writing("which messages the agent has read") as db:
            db.execute(messages.update().where(messages.c.id.in_(ids)).values(delivered=True))

    def messages(self, task_id: str) -> list[StoredMessage]:
        with self.engine.connect() as db:
            query = messages.select().where(messages.c.task_id == task_id)
            rows = db.execute(query.order_by(messages.c.created_at)).mappings().all()
        return [StoredMessage(**row) for row in rows]

    def save_request(self, request: StoredRequest) -> None:
        """Insert or replace one request to the person (an empty fingerprint, as a process
        that did not open the request knows it, keeps the stored one)."""
        values: dict[str, Any] = {
            "task_id": request.task_id,
            "claimed": request.claimed,
            "record": json.dumps(request.record),
        }
        if request.fingerprint:
            values["fingerprint"] = request.fingerprint
        with self._writing(f"request {request.id}") as db:
            updated = db.execute(
                person_requests.update().where(person_requests.c.id == request.id).values(**values)
            )
            if not updated.rowcount:
                values.setdefault("fingerprint", "")
                db.execute(person_requests.insert().values(id=request.id, **values))

    def put_step(self, task_id: str, index: int, step: str) -> None:
        """Keep one step of a task (a step a restart replayed replaces the one kept)."""
        key = (task_steps.c.task_id == task_id) & (task_steps.c.idx == index)
        with self._writing(f"step {index} of task {task_id}") as db:
            db.execute(task_steps.delete().where(key))
            db.execute(task_steps.insert().values(task_id=task_id, idx=index, step=step))

    def steps(self, task_id: str) -> list[str]:
        """A task's kept steps (JSON), in order."""
        with self.engine.connect() as db:
            query = sa.select(task_steps.c.step).where(task_steps.c.task_id == task_id)
            rows = db.execute(query.order_by(task_steps.c.idx)).all()
        return [str(row.step) for row in rows]

    def requests(self) -> list[StoredRequest]:
        with self.engine.connect() as db:
            rows = db.execute(person_requests.select()).mappings().all()
        return [StoredRequest(**{**row, "record": json.loads(str(row["record"]))}) for row in rows]


def _task(row: sa.RowMapping) -> StoredTask:
    return StoredTask(**{**row, "request": json.loads(str(row["request"]))})
