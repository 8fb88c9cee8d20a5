"""The `[audit]` table of `config.toml`: where checkpoint heads are witnessed, where the public
key is pinned.

```toml
[audit]
witness = "file:/mnt/usb/valet-audit-heads.jsonl"  # or "https://…", "database", a list
pin = "/mnt/usb/valet-audit.pub"                    # written by `valet audit pin PATH`
name = "laptop"                                     # this log's name in a database witness
store = "database"  # the log itself in $VALET_DATABASE_URL (Postgres), shared by every machine
```

A witness is `file:PATH` (or an absolute path), an `http(s)://` webhook URL, a
`postgresql://…` URL, `database` for the database valet runs on (`VALET_DATABASE_URL`), or
`mail:NAME` for the `[[connectors]]` mail toolset NAME, optionally followed by
`?to=ADDRESS&read=OTHER&folder=FOLDER` (see `witness_from`).
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
from urllib.parse import unquote

from pydantic import ValidationError

from valet.audit._mail_witness import MailToolset, MailWitness
from valet.audit._witness import DatabaseWitness, FileWitness, WebhookWitness, Witness
from valet.errors import ConfigError
from valet.settings import load_config, valet_home

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
    database: str | None = None
    """`[audit] store = "database"`: the `postgresql://` URL the log itself is kept in (every
    machine sharing that database appends to one chain); None: `audit.db` in valet's home."""

    @classmethod
    def from_home(cls, home: Path) -> AuditSettings:
        """The `[audit]` table of `home/config.toml` (no witness, no pin when absent)."""
        return cls.from_config(load_config(home), home)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], home: Path | None = None) -> AuditSettings:
        """`home`: the valet home whose vault a mail witness signs in with (default:
        `VALET_HOME`)."""
        table: object = config.get("audit", {})
        if not isinstance(table, dict):
            raise AuditConfigError("[audit] must be a table")
        audit: dict[str, object] = {str(k): v for k, v in table.items()}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        unknown = set(audit) - {"witness", "pin", "name", "store"}
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
        witnesses = tuple(
            witness_from(str(spec), log=name, config=config, home=home)  # pyright: ignore[reportUnknownArgumentType]
            for spec in specs  # pyright: ignore[reportUnknownVariableType]
        )
        return cls(witnesses, Path(pin).expanduser() if pin else None, name, _store(audit))


def _store(audit: dict[str, object]) -> str | None:
    """Where `[audit] store` keeps the log: None for the file (`"file"`, the default), else
    the URL of the shared database (`"database"`)."""
    store = audit.get("store", "file")
    if store == "file":
        return None
    if store != "database":
        raise AuditConfigError(f'[audit] store must be "file" or "database", not {store!r}')
    url = os.environ.get(DATABASE_ENV, "")
    if not url.startswith("postgresql://"):
        raise AuditConfigError(
            f'[audit] store = "database" needs ${DATABASE_ENV} to name a PostgreSQL database '
            "(postgresql://…)"
        )
    return url


def witness_from(
    spec: str,
    *,
    log: str = "valet",
    config: Mapping[str, Any] | None = None,
    home: Path | None = None,
) -> Witness:
    """The witness a spec names: `file:PATH` or `/abs/path`, `http(s)://…`, `postgresql://…`,
    `database` (`$VALET_DATABASE_URL`), or `mail:NAME[?to=ADDRESS&read=OTHER&folder=FOLDER]`
    (the mail toolset NAME of `config`, default `home`'s `config.toml`, sends each head to
    ADDRESS, default its own; toolset OTHER, default NAME, reads them back from FOLDER, default
    INBOX). `log` names this log in a database witness and in the mails' subjects."""
    spec = spec.strip()
    if spec.startswith("mail:"):
        return _mail_witness(spec.removeprefix("mail:"), log, config, home)
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
        f"unknown witness {spec!r}: use file:PATH, https://URL, postgresql://URL, database "
        "or mail:NAME"
    )


def _mail_witness(
    spec: str, log: str, config: Mapping[str, Any] | None, home: Path | None
) -> MailWitness:
    name, _, query = spec.partition("?")
    pairs = (pair.partition("=") for pair in query.split("&") if pair)
    options = {key: unquote(value) for key, _, value in pairs}  # a "+" stays (me+audit@…)
    unknown = set(options) - {"to", "read", "folder"}
    if unknown:
        raise AuditConfigError(
            f"witness mail:{spec}: unknown options {', '.join(sorted(unknown))} "
            "(use to=ADDRESS, read=TOOLSET, folder=FOLDER)"
        )
    to = options.get("to", "")
    if to and ("@" not in to or any(c in to for c in "\r\n,;<> ")):
        raise AuditConfigError(f"witness mail:{spec}: to={to!r} is not one e-mail address")
    home = home or valet_home()
    config = load_config(home) if config is None else config
    sender = mail_toolset(name, config)
    reader = mail_toolset(options["read"], config) if options.get("read") else sender
    folder = options.get("folder") or "INBOX"
    return MailWitness(sender, log=log, to=to, reader=reader, folder=folder, home=home)


def mail_toolset(name: str, config: Mapping[str, Any], user: str = "") -> MailToolset:
    """The `[[connectors]]` mail toolset `name` of `config`, its settings checked. `user`:
    who asks, in errors (default: the witness `mail:<name>`)."""
    user = user or f"witness mail:{name}"
    from valet.connectors import configured_toolsets
    from valet.connectors.mail import MailSettings

    found = [t for t in configured_toolsets(config) if t.name == name]
    if not found or found[0].connector != "mail":
        mail = [t.name for t in configured_toolsets(config) if t.connector == "mail"]
        raise AuditConfigError(
            f"{user}: config.toml has no mail toolset {name!r} "
            f"(its mail toolsets: {', '.join(mail) or 'none'}; add a [[connectors]] table "
            'with connector = "mail")'
        )
    try:
        settings = MailSettings.model_validate(found[0].settings)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        raise AuditConfigError(f"{user}: {where}: {first['msg']}") from exc
    return MailToolset(name, settings)
