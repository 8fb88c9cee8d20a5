"""Where valet keeps its files and reads its configuration."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from valet.errors import ConfigError


def valet_home() -> Path:
    """`$VALET_HOME`, else `~/.valet`: runs, workflows, profiles and `config.toml` live here."""
    return Path(os.environ.get("VALET_HOME") or Path.home() / ".valet").expanduser()


def load_config(home: Path | None = None) -> dict[str, Any]:
    """`config.toml` in valet's home, or an empty table when there is none."""
    path = (home or valet_home()) / "config.toml"
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
