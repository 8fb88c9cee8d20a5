"""Where valet keeps its files and reads its configuration."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Generator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from valet._home import install_of
from valet.errors import ConfigError

_SIGNING_HOME: ContextVar[Path | None] = ContextVar("valet_signing_home", default=None)


def valet_home() -> Path:
    """`$VALET_HOME`, else `~/.valet`: runs, workflows, profiles and `config.toml` live here."""
    return Path(os.environ.get("VALET_HOME") or Path.home() / ".valet").expanduser()


def secrets_home() -> Path:
    """The home whose vault and connector accounts code running now signs in with: a person's
    space while their task runs (`signing_in_as`), else valet's home."""
    return _SIGNING_HOME.get() or valet_home()


@contextmanager
def signing_in_as(space: Path) -> Generator[None]:
    """Within it (and in the tasks and threads it starts), connectors that were given no home
    sign in with the accounts and vault of `space` (a person's), never the installation's."""
    token = _SIGNING_HOME.set(space)
    try:
        yield
    finally:
        _SIGNING_HOME.reset(token)


def load_config(home: Path | None = None) -> dict[str, Any]:
    """`config.toml` in valet's home, or an empty table when there is none. A person's space
    has the configuration of the installation it is in."""
    where = home or valet_home()
    path = (install_of(where) or where) / "config.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
