"""valet's home folder stays private: only its owner can enter it or read what is in it.

Folders valet makes under its home are created 0700 and the files that hold secrets or state
(databases, keys, a task's saved cookies and page) 0600, at creation (`private_dir`,
`private_file`); `make_private` puts right what an older valet (or a copy, or a restore) left
readable by others, and runs at the start of `valet serve` and `valet run`.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

log = logging.getLogger("valet")

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_OTHERS = 0o077
"""The group's and everyone else's permission bits."""


def private_dir(path: Path) -> Path:
    """`path` as a folder, made (with any missing parents) 0700."""
    missing: list[Path] = []
    here = path
    while not here.exists():
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # made meanwhile (another task, another process)
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode passes through the umask
    return path


def private_file(path: Path) -> Path:
    """`path` as a file (empty when it was not there), readable by its owner only: made so
    before anything writes to it (SQLite gives its -wal and -shm files the same mode)."""
    private_dir(path.parent)
    # An existing file is never opened here: closing any descriptor of a file drops the POSIX
    # locks this process holds on it, and SQLite (the audit log, open in another connection of
    # the same process) relies on them; without them processes sharing it corrupt each other.
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
        mode = os.fstat(fd).st_mode
        os.close(fd)
    if mode & _OTHERS:
        os.chmod(path, stat.S_IMODE(mode) & ~_OTHERS)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `path` whole (through a temporary file and a rename) and readable by its owner
    only (0600), its folder made first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)
    os.replace(tmp, path)


def make_private(home: Path) -> None:
    """Make `home` and everything valet keeps in it private: folders 0700, files without any
    group or other access (0644 becomes 0600). Symbolic links are left alone and not followed;
    what cannot be changed (a file of another user) is logged, not raised."""
    private_dir(home)
    _restrict(home, PRIVATE_DIR)
    for root, folders, files in os.walk(home):
        for name in folders:
            _restrict(Path(root, name), PRIVATE_DIR)
        for name in files:
            path = Path(root, name)
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISREG(mode) and mode & _OTHERS:
                _restrict(path, stat.S_IMODE(mode) & ~_OTHERS)


def _restrict(path: Path, mode: int) -> None:
    try:
        current = path.lstat().st_mode
        if stat.S_ISLNK(current) or stat.S_IMODE(current) == mode:
            return
        os.chmod(path, mode)
    except OSError as exc:
        log.warning("cannot make %s private: %s", path, exc)


SPACE_MARK = "space.txt"
"""The file that makes a folder a person's space (it holds the person's id)."""
_PERSON_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def person_space(home: Path, person: str) -> Path:
    """A person's own space in valet's home, `people/<id>/` (made 0700 on first use): their
    connector accounts (`connectors.toml`) and their vault, under a key derived from the
    installation's (see `valet.vault.load_vault_key`). Nothing in it is the installation's or
    another person's; its configuration is the installation's (`valet.settings.load_config`)."""
    if not _PERSON_ID.fullmatch(person):
        raise ValueError(f"not a person's id: {person!r}")
    space = private_dir(home / "people" / person)
    mark = space / SPACE_MARK
    if not mark.is_file():
        write_private(mark, person + "\n")
    return space


def install_of(path: Path) -> Path | None:
    """The installation's home when `path` is a person's space, else None."""
    return path.parent.parent if (path / SPACE_MARK).is_file() else None
