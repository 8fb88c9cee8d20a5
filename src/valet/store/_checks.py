"""The checks `valet serve` runs on its database files before it says it is serving.

A damaged SQLite file is named with what the server keeps (nothing is changed) and how to
recover: move it aside, and what is lost then. Nothing here changes the data (opening a file
rolls back a crash's unfinished transaction, as any open does); a missing file is fine (it is
created on first use).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from valet.errors import DamagedDatabase


@dataclass(frozen=True)
class DatabaseFile:
    """One of valet's SQLite files and what moving it aside costs."""

    name: str
    what: str
    if_moved: str
    thorough: bool = True
    """Run `PRAGMA quick_check` (else only read its schema: for files that grow large)."""


DATABASE_FILES = (
    DatabaseFile(
        "valet.db",
        "the task database",
        "valet starts with an empty task list: the tasks, your messages to them and their "
        "requests to you are no longer shown (run records in runs/ and the audit log are "
        "kept); if some tasks had not finished, the next start says which and how to go on",
    ),
    DatabaseFile(
        "workflows.db",
        "the workflow database",
        "finished tasks stay listed; tasks that had not finished cannot resume and are marked "
        "failed (their run records in runs/ are kept)",
    ),
    DatabaseFile(
        "audit.db",
        "the audit log",
        "valet starts a new, empty audit log; the entries of the old one are no longer "
        "shown or verified (keep the moved file to inspect it)",
        thorough=False,
    ),
)


def check_files(home: Path, files: tuple[DatabaseFile, ...] = DATABASE_FILES) -> None:
    """Raises `DamagedDatabase` for the first of `files` in `home` that cannot be read."""
    for file in files:
        path = home / file.name
        problem = _problem(path, file.thorough)
        if problem is not None:
            raise DamagedDatabase(damaged_message(path, file, problem))


def damaged_message(path: Path, file: DatabaseFile, problem: str) -> str:
    aside = path.with_name(path.name + ".damaged")
    return (
        f"{file.what} {path} is damaged ({problem}).\n"
        "valet did not start and changed nothing: the file is kept as it is.\n"
        f"To recover, restore it from a backup, or move it aside (mv {path} {aside}) and "
        f"start again: {file.if_moved}."
    )


def _problem(path: Path, thorough: bool) -> str | None:
    """What is wrong with the SQLite file at `path`, or None (also when it does not exist)."""
    if not path.exists():
        return None
    query = "PRAGMA quick_check" if thorough else "SELECT count(*) FROM sqlite_master"
    try:  # read-write: a crash's hot journal is rolled back, as SQLite does on any open
        with closing(sqlite3.connect(path)) as db:
            rows = db.execute(query).fetchall()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if thorough and rows != [("ok",)]:
        return "; ".join(str(row[0]) for row in rows[:3])
    return None
