"""Where a durable task keeps its browser for a restart: the page (its URL and typed fields)
and the cookies and storage.

The restart reads them from the task's state folder (`home/tasks/<run>/page.json` and
`storage.json`, private). On one machine that folder is where they are written (`FileState`).
When valet's database is shared by processes on several machines (Postgres) and the vault key
is there, they are written to the database instead (`DatabaseState`: `valet_task_state`,
encrypted with a key derived from the vault key), and a restart on any machine first puts
them in its own state folder. Either way they go when the run ends (`forget_state`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy.exc import SQLAlchemyError

from valet._home import private_dir
from valet.store import StateTable, forget_resume, reason_of, shared_database
from valet.vault import VaultKeyError, derive_key, load_vault_key

log = logging.getLogger("valet.runtime")

PAGE = "page.json"
STORAGE = "storage.json"


class SavedState(Protocol):
    """Keeps a task's browser for a restart."""

    def write(self, page: str, storage: str | None) -> None:
        """Keep `page` and, unless None (unchanged), `storage`."""
        ...

    def restore(self) -> None:
        """Put what was kept in the task's state folder (where a restart reads it)."""
        ...


@dataclass(frozen=True)
class FileState:
    """The state folder itself."""

    folder: Path

    def write(self, page: str, storage: str | None) -> None:
        if storage is None:
            _replace(self.folder / PAGE, page)
            return
        # The storage first: a page saved without the cookies it needs would reopen signed out.
        private_dir(self.folder)
        _replace(self.folder / STORAGE, storage)
        _replace(self.folder / PAGE, page)

    def restore(self) -> None:
        return


@dataclass(frozen=True)
class DatabaseState:
    """The shared database, encrypted (cookies are sign-ins), put in `folder` to restart."""

    table: StateTable
    cipher: Fernet
    folder: Path

    def write(self, page: str, storage: str | None) -> None:
        sealed = None if storage is None else self._seal(storage)
        self.table.write(self._seal(page), sealed)

    def restore(self) -> None:
        page, storage = self.table.read()
        try:
            opened = [None if text is None else self._open(text) for text in (page, storage)]
        except InvalidToken:  # another vault key: nothing is put back, and the model is told
            task = self.table.task_id
            log.warning("task %s: its saved browser was sealed with another vault key", task)
            return
        if opened[0] is not None:
            FileState(self.folder).write(opened[0], opened[1])

    def _seal(self, text: str) -> str:
        return self.cipher.encrypt(text.encode()).decode("ascii")

    def _open(self, text: str) -> str:
        return self.cipher.decrypt(text.encode("ascii")).decode()


def saved_state(home: Path, run_id: str) -> SavedState:
    """Where run `run_id` keeps its browser: the shared database when valet runs on Postgres
    and the vault key is here (a worker on another machine may resume the run), else its
    state folder."""
    folder = home / "tasks" / run_id
    if (url := shared_database(home)) is None:
        return FileState(folder)
    try:
        key = load_vault_key(home)
    except VaultKeyError:
        return FileState(folder)
    cipher = Fernet(derive_key(key.key, "valet task browser state"))
    return DatabaseState(StateTable(url, run_id), cipher, folder)


def lost_state(folder: Path) -> str | None:
    """What a restart could not restore of the task's browser, in words for the model."""
    lost: list[str] = []
    if not isinstance(read_json(folder / PAGE).get("url"), str):
        lost.append("where the task was (its saved page is missing)")
    if not (folder / STORAGE).is_file():
        lost.append("its cookies and storage (sites it had signed in to will ask again)")
    if not lost:
        return None
    return "; ".join(lost)


def forget_state(home: Path, *run_ids: str) -> None:
    """Delete what runs kept to resume after a restart (`tasks/<run>/`: the browser's cookies
    and storage, the page and its typed fields, the action journal; in the database too when
    it is shared). Called whenever a run ends, however it ends (done, failed, cancelled,
    stopped, given up after a restart). Rows the database could not delete now stay (they
    are only read for a run that resumes, which an ended one never does)."""
    for run_id in run_ids:
        shutil.rmtree(home / "tasks" / run_id, ignore_errors=True)
    if (url := shared_database(home)) is None:
        return
    try:
        for start in range(0, len(run_ids), 500):
            forget_resume(url, list(run_ids[start : start + 500]))
    except SQLAlchemyError as exc:
        log.warning("could not delete what ended tasks kept to resume: %s", reason_of(exc))


def _replace(path: Path, text: str) -> None:
    """Write `path` whole or not at all (a crash mid-write leaves the previous one), private."""
    private_dir(path.parent)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return cast(dict[str, Any], data) if isinstance(data, dict) else {}
