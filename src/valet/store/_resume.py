"""What a task needs to resume on any machine, in the database valet shares with the other
machines (Postgres), so that whichever process resumes it after a crash finds it:

- `valet_journal`: its action journal, one row per line, in the order written. Each line is
  committed before `append` returns (the line that says an action starts is in the database
  before the action runs).
- `valet_task_state`: its browser's saved state (the page, its typed fields, the cookies and
  storage), one row per task, as the caller gives it (encrypted by the runtime).

Both are deleted when the task ends (`forget_resume`).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.exc import SQLAlchemyError

from valet.errors import StoreUnavailable
from valet.store._lock import engine_url, reason_of, shown_url

_meta = sa.MetaData()
journal_lines = sa.Table(
    "valet_journal",
    _meta,
    sa.Column("seq", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("task_id", sa.String(64), nullable=False, index=True),
    sa.Column("line", sa.Text, nullable=False),
)

task_states = sa.Table(
    "valet_task_state",
    _meta,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("page", sa.Text, nullable=False),
    sa.Column("storage", sa.Text, nullable=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

_opened: dict[str, sa.Engine] = {}
_opening = threading.Lock()


_DDL_LOCK = 0x76616C6574  # "valet": processes creating these tables take turns
"""The Postgres advisory lock held while the tables are created: two processes starting
their first tasks at once would otherwise both try, and one fail (a duplicate type)."""


def _engine(url: str) -> sa.Engine:
    """One engine per database for the whole process (every task's journal shares it)."""
    with _opening:
        if (engine := _opened.get(url)) is None:
            engine = sa.create_engine(engine_url(url), pool_pre_ping=True)
            try:
                with engine.begin() as db:
                    db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK})
                    _meta.create_all(db)
            except BaseException:
                engine.dispose()
                raise
            _opened[url] = engine
        return engine


class JournalTable:
    """One task's journal lines in the database at `url`."""

    def __init__(self, url: str, task_id: str) -> None:
        self.url = url
        self.task_id = task_id

    def append(self, line: str, sync: bool = True) -> None:
        """Store one line (committed: `sync` changes nothing here). Raises `StoreUnavailable`
        when the database cannot take it (an action whose start is not stored does not run)."""
        try:
            with _engine(self.url).begin() as db:
                db.execute(journal_lines.insert().values(task_id=self.task_id, line=line))
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"could not write the action journal in {shown_url(self.url)}: {reason_of(exc)}"
            ) from exc

    def read(self) -> list[str]:
        """The task's lines in the order they were written."""
        try:
            with _engine(self.url).connect() as db:
                rows = db.execute(
                    sa.select(journal_lines.c.line)
                    .where(journal_lines.c.task_id == self.task_id)
                    .order_by(journal_lines.c.seq)
                ).all()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"could not read the action journal in {shown_url(self.url)}: {reason_of(exc)}"
            ) from exc
        return [str(row.line) for row in rows]


class StateTable:
    """One task's saved browser state in the database at `url` (Postgres)."""

    def __init__(self, url: str, task_id: str) -> None:
        self.url = url
        self.task_id = task_id

    def write(self, page: str, storage: str | None) -> None:
        """Keep `page` and, unless None (unchanged since the last write), `storage`, in one
        transaction. Raises `StoreUnavailable` when the database cannot take them."""
        values: dict[str, object] = {"page": page, "at": datetime.now(UTC)}
        if storage is not None:
            values["storage"] = storage
        statement = upsert(task_states).values(task_id=self.task_id, **values)
        statement = statement.on_conflict_do_update(index_elements=["task_id"], set_=values)
        try:
            with _engine(self.url).begin() as db:
                db.execute(statement)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"could not save the task's browser in {shown_url(self.url)}: {reason_of(exc)}"
            ) from exc

    def read(self) -> tuple[str | None, str | None]:
        """The saved page and storage (None, None: nothing saved)."""
        try:
            with _engine(self.url).connect() as db:
                row = db.execute(
                    sa.select(task_states.c.page, task_states.c.storage).where(
                        task_states.c.task_id == self.task_id
                    )
                ).first()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"could not read the task's browser in {shown_url(self.url)}: {reason_of(exc)}"
            ) from exc
        return (None, None) if row is None else (str(row.page), row.storage)


def forget_resume(url: str, task_ids: list[str]) -> None:
    """Delete the journal lines and saved browsers of tasks that ended (nothing resumes them)."""
    if not task_ids:
        return
    with _engine(url).begin() as db:
        db.execute(journal_lines.delete().where(journal_lines.c.task_id.in_(task_ids)))
        db.execute(task_states.delete().where(task_states.c.task_id.in_(task_ids)))
