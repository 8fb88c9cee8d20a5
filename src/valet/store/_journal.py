"""The action journal's lines in the database valet shares with other machines (Postgres), so
that whichever process resumes a task after a crash reads what the one that died had started:
`valet_journal`, one row per line, in the order written.

Each line is committed before `append` returns (the line that says an action starts is in the
database before the action runs). A task's lines are deleted when it ends (`forget`).
"""

from __future__ import annotations

import threading

import sqlalchemy as sa
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

_opened: dict[str, sa.Engine] = {}
_opening = threading.Lock()


def _engine(url: str) -> sa.Engine:
    """One engine per database for the whole process (every task's journal shares it)."""
    with _opening:
        if (engine := _opened.get(url)) is None:
            engine = sa.create_engine(engine_url(url), pool_pre_ping=True)
            _meta.create_all(engine)
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


def forget_journals(url: str, task_ids: list[str]) -> None:
    """Delete the journal lines of tasks that ended (nothing resumes them)."""
    if not task_ids:
        return
    with _engine(url).begin() as db:
        db.execute(journal_lines.delete().where(journal_lines.c.task_id.in_(task_ids)))
