"""The person's connector accounts: which services valet may act with, and since when.

`home/connectors.toml` lists each account (no secret in it):

    [[accounts]]
    name = "github"                 # how the person and toolsets refer to it
    connector = "github"
    auth = "oauth2"                 # tokens in the vault, under the account's name
    provider = "github"
    login = "octocat"
    scopes = ["read:user"]
    created = 2026-11-03T10:00:00+00:00
    last_used = 2026-11-04T08:12:00+00:00

    [[accounts]]
    name = "mail"
    connector = "mail"
    auth = "password"               # an app password or token: the vault credential named here
    credential = "mail"
    credential_owned = true         # stored with the account (web app): removed with it

OAuth tokens live in the vault (encrypted, like every secret); an app password is a vault
credential the account names. An account unused for `unused_after_days` (config.toml
`[accounts]`, default 90) is flagged so the person can revoke it.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from valet.errors import ConfigError
from valet.vault._credential import NAME_PATTERN

AccountAuth = Literal["oauth2", "password"]
UNUSED_AFTER_DAYS = 90


class Account(BaseModel):
    """One connector account: no secret, only what it is and how it signs in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN)
    connector: str
    """The connector it is for (`github`, `mail`, `calendar`…)."""
    auth: AccountAuth
    provider: str | None = None
    """The OAuth provider (`github`, `google`, `microsoft`, or one in config.toml)."""
    credential: str | None = None
    """The vault credential holding the app password or token (`auth = "password"`)."""
    credential_owned: bool = False
    """The credential was stored together with the account (its secret given when connecting it
    in the web app), so removing the account deletes it; a credential the person put in the
    vault themselves (and may use elsewhere) stays."""
    login: str = ""
    """The account's name at the service, when it said (`octocat`, `me@example.com`)."""
    scopes: tuple[str, ...] = ()
    """The scopes the service granted."""
    created: datetime
    last_used: datetime | None = None

    def unused(self, days: int, now: datetime | None = None) -> bool:
        """Whether it has not been used for `days` days (counting from its creation)."""
        moment = now or datetime.now(UTC)
        return moment - (self.last_used or self.created) > timedelta(days=days)


_ACCOUNTS = TypeAdapter(list[Account])


def accounts_path(home: Path) -> Path:
    return home / "connectors.toml"


def unused_after_days(config: Mapping[str, Any]) -> int:
    """`[accounts] unused_after_days` of config.toml (default 90)."""
    table: object = config.get("accounts", {})
    value = (
        cast(dict[str, object], table).get("unused_after_days") if isinstance(table, dict) else None
    )
    if value is None:
        return UNUSED_AFTER_DAYS
    if not isinstance(value, int) or value < 1:
        raise ConfigError("config.toml: [accounts] unused_after_days must be a whole number ≥ 1")
    return value


class Accounts:
    """The accounts in `home/connectors.toml`. Load with `Accounts.load(home)`; `save` writes."""

    def __init__(self, path: Path, accounts: Iterable[Account] = ()) -> None:
        self.path = path
        self._items: dict[str, Account] = {a.name: a for a in accounts}

    @classmethod
    def load(cls, home: Path) -> Accounts:
        path = accounts_path(home)
        if not path.is_file():
            return cls(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            return cls(path, _ACCOUNTS.validate_python(data.get("accounts", [])))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"{path}: accounts.{where}: {first['msg']}") from exc

    @property
    def accounts(self) -> tuple[Account, ...]:
        return tuple(sorted(self._items.values(), key=lambda a: a.name))

    def get(self, name: str) -> Account | None:
        return self._items.get(name)

    def add(self, account: Account, *, replace: bool = False) -> None:
        if account.name in self._items and not replace:
            raise ConfigError(
                f"there is already an account named {account.name!r} (use --replace, or remove it)"
            )
        self._items[account.name] = account

    def remove(self, name: str) -> Account:
        found = self._items.pop(name, None)
        if found is None:
            raise ConfigError(f"no connector account named {name!r} (see: valet connectors list)")
        return found

    def touch(self, name: str, when: datetime | None = None) -> None:
        """Record that account `name` was just used."""
        found = self._items.get(name)
        if found is not None:
            moment = when or datetime.now(UTC)
            self._items[name] = found.model_copy(update={"last_used": moment})

    def save(self) -> None:
        """Write the file atomically (mode 0600: it says which services the person uses)."""
        lines = ["# valet's connector accounts (no secrets: tokens are in the vault)", ""]
        for account in self.accounts:
            lines.append("[[accounts]]")
            for key, value in account.model_dump(exclude_defaults=True).items():
                lines.append(f"{key} = {_toml(value)}")
            lines.append("")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines))
        os.replace(tmp, self.path)


def _toml(value: object) -> str:
    """A TOML value for a string, boolean, datetime or list of strings (JSON strings are TOML
    strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in cast(Iterable[object], value)) + "]"
    return json.dumps(str(value))
