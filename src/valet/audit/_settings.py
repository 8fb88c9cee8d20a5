"""The `[audit]` table of `config.toml`: where checkpoint heads are witnessed, where the public
key is pinned.

```toml
[audit]
witness = "file:/mnt/usb/valet-audit-heads.jsonl"  # or "https://…", "database", a list
pin = "/mnt/usb/valet-audit.pub"                    # written by `valet audit pin PATH`
name = "laptop"                                     # this log's name in a database witness
```

A witness is `file:PATH` (or an absolute path), an `http(s)://` webhook URL, a
`postgresql://…` URL, or `database` for the database valet runs on (`VALET_DATABASE_URL`).
Whoever can rewrite valet's home can rewrite this file too: what it names protects records
already witnessed, and the person who verifies should give the witness and key on the command
line (`valet audit verify --witness … --key …`) from their own notes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valet.audit._witness import DatabaseWitness, FileWitness, WebhookWitness, Witness
from valet.errors import ConfigError
from valet.settings import load_config

DATABASE_ENV = "VALET_DATABASE_URL"


class AuditConfigError(ConfigError):
    """The `[audit]` table of `config.toml` (or a `--witness`) is invalid."""


@dataclass(frozen=True, slots=True)
class AuditSettings:
    witnesses: tuple[Witness, ...] = ()
    """Where each checkpoint head is sent, and what `verify` compares with."""
    pin: Path | None = None
    """A file holding the pinned public key's fingerprint (outside valet's home)."""
    name: str = "valet"
    """This log's name in a database witness (several logs may share one database)."""

    @classmethod
    def from_home(cls, home: Path) -> AuditSettings:
        """The `[audit]` table of `home/config.toml` (no witness, no pin when absent)."""
        return cls.from_config(load_config(home))

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> AuditSettings:
        table: object = config.get("audit", {})
        if not isinstance(table, dict):
            raise AuditConfigError("[audit] must be a table")
        audit: dict[str, object] = {str(k): v for k, v in table.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        unknown = set(audit) - {"witness", "pin", "name"}
        if unknown:
            raise AuditConfigError(f"[audit] has unknown keys: {', '.join(sorted(unknown))}")
        name, pin, specs = audit.get("name", "valet"), audit.get("pin"), audit.get("witness", [])
        if not isinstance(name, str) or not name:
            raise AuditConfigError("[audit] name must be a non-empty string")
        if pin is not None and not isinstance(pin, str):
            raise AuditConfigError("[audit] pin must be a file path")
        if isinstance(specs, str):
            specs = [specs]
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):  # pyright: ignore[reportUnknownVariableType]
            raise AuditConfigError("[audit] witness must be a string or a list of strings")
        witnesses = tuple(witness_from(str(spec), log=name) for spec in specs)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        return cls(witnesses, Path(pin).expanduser() if pin else None, name)


def witness_from(spec: str, *, log: str = "valet") -> Witness:
    """The witness a spec names: `file:PATH` or `/abs/path`, `http(s)://…`, `postgresql://…`,
    or `database` (`$VALET_DATABASE_URL`). `log` names this log in a database witness."""
    spec = spec.strip()
    if spec.startswith("file:"):
        return FileWitness(Path(spec.removeprefix("file:")).expanduser())
    if spec.startswith("/") or spec.startswith("~"):
        return FileWitness(Path(spec).expanduser())
    if spec.startswith(("https://", "http://")):
        return WebhookWitness(spec)
    if spec.startswith(("postgresql://", "postgresql+psycopg://")):
        return DatabaseWitness(spec, log)
    if spec == "database":
        url = os.environ.get(DATABASE_ENV, "")
        if not url.startswith("postgresql"):
            raise AuditConfigError(
                f"witness 'database' needs ${DATABASE_ENV} to name a PostgreSQL database"
            )
        return DatabaseWitness(url, log)
    raise AuditConfigError(
        f"unknown witness {spec!r}: use file:PATH, https://URL, postgresql://URL or database"
    )
