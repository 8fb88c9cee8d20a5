"""Witnesses: somewhere outside valet's home that keeps every signed checkpoint head.

Each time the log signs a checkpoint it sends the head (`Head`: record number, record hash,
time, public key, signature) to each witness the person configured; `verify` reads the heads
back and checks the log against them. Someone who can rewrite valet's files but not the
witness cannot then truncate the log, delete its checkpoints or re-sign a rewritten chain
unnoticed. A witness is only as strong as the person makes it: an append-only file on another
device or mount, a webhook on another machine, a table valet's database role may only insert
into and read.

- `FileWitness(path)`: one JSON line per head, appended.
- `WebhookWitness(url)`: POSTs each head as JSON; GET on the same URL must answer with the
  heads it received (a JSON array) for `verify` to compare.
- `DatabaseWitness(url, log)`: rows of table `valet_audit_heads` in a SQLAlchemy database
  (valet's Postgres when it runs on one), one `log` name per audit log.
- `MailWitness` (`_mail_witness.py`): mails each head through a `[[connectors]]` mail toolset
  and reads them back over IMAP.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

import httpx

from valet.audit._head import Head
from valet.errors import ValetError

if TYPE_CHECKING:  # SQLAlchemy is loaded when a database witness is used (it is slow to load)
    import sqlalchemy as sa

_T = TypeVar("_T")


class WitnessError(ValetError):
    """A witness cannot be written or read (unreachable, refused, or holding something else
    than heads). Writing failures are logged and never stop the log; `verify` reports them."""


class Witness(Protocol):
    """Keeps the heads it is sent and gives them back."""

    @property
    def name(self) -> str:
        """Where the heads go, for people (no secrets: a webhook's path is left out)."""
        ...

    def send(self, head: Head) -> None:
        """Keep `head`; raises `WitnessError` when it cannot."""
        ...

    def heads(self) -> list[Head]:
        """Every head kept so far, in the order received; raises `WitnessError`."""
        ...


class FileWitness:
    """Appends each head as one JSON line to `path` (best on another device or mount, and
    append-only for valet's user, e.g. `chattr +a` by root)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        return f"file:{self.path}"

    def send(self, head: Head) -> None:
        line = (json.dumps(head.as_json(), sort_keys=True) + "\n").encode("utf-8")
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)  # one write: concurrent writers never interleave a line
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise WitnessError(f"{self.name}: {exc}") from exc

    def heads(self) -> list[Head]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise WitnessError(f"{self.name}: {exc}") from exc
        found: list[Head] = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    found.append(Head.from_json(json.loads(line)))
                except ValueError as exc:
                    raise WitnessError(f"{self.name} line {number}: {exc}") from exc
        return found


class WebhookWitness:
    """POSTs each head as JSON to `url`; reads them back with GET on the same URL."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout

    @property
    def name(self) -> str:
        parts = httpx.URL(self.url)
        return f"{parts.scheme}://{parts.netloc.decode('ascii')}/…"

    def send(self, head: Head) -> None:
        try:
            httpx.post(self.url, json=head.as_json(), timeout=self.timeout).raise_for_status()
        except httpx.HTTPError as exc:
            raise WitnessError(f"{self.name}: {_without_url(exc)}") from exc

    def heads(self) -> list[Head]:
        try:
            response = httpx.get(self.url, timeout=self.timeout)
            response.raise_for_status()
            data: object = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise WitnessError(f"{self.name}: {_without_url(exc)}") from exc
        if not isinstance(data, list):
            raise WitnessError(f"{self.name}: GET must answer with a JSON array of heads")
        items = cast(list[object], data)
        try:
            return [Head.from_json(item) for item in items]
        except ValueError as exc:
            raise WitnessError(f"{self.name}: {exc}") from exc


@cache
def _heads() -> sa.Table:
    import sqlalchemy as sa

    return sa.Table(
        "valet_audit_heads",
        sa.MetaData(),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("log", sa.String(200), nullable=False, index=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
    )


class DatabaseWitness:
    """Inserts each head into table `valet_audit_heads` of the database at `url` (created on
    first use); `log` tells several logs apart in one database."""

    def __init__(self, url: str, log: str) -> None:
        self.url = _engine_url(url)
        self.log = log

    @property
    def name(self) -> str:
        import sqlalchemy as sa

        shown = sa.make_url(self.url).render_as_string(hide_password=True)
        return f"{shown}#{self.log}"

    def send(self, head: Head) -> None:
        row = head.as_json() | {"log": self.log}
        self._run(lambda db: db.execute(_heads().insert().values(**row)))

    def heads(self) -> list[Head]:
        import sqlalchemy as sa

        heads = _heads()
        query = sa.select(heads).where(heads.c.log == self.log).order_by(heads.c.id)
        rows = self._run(lambda db: db.execute(query).mappings().all())
        return [
            Head.from_json({k: v for k, v in row.items() if k not in ("id", "log")}) for row in rows
        ]

    def _run(self, work: Callable[[sa.Connection], _T]) -> _T:
        import sqlalchemy as sa
        from sqlalchemy.exc import SQLAlchemyError

        try:
            engine = sa.create_engine(self.url, connect_args=_timeout(self.url))
        except (SQLAlchemyError, ImportError) as exc:
            raise WitnessError(f"{self.name}: {exc}") from exc
        try:
            _heads().metadata.create_all(engine, checkfirst=True)
            with engine.begin() as db:
                return work(db)
        except SQLAlchemyError as exc:
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise WitnessError(f"{self.name}: {exc.__class__.__name__}: {first}") from exc
        finally:
            engine.dispose()


def _engine_url(url: str) -> str:
    """SQLAlchemy's spelling of a `postgresql://` URL (psycopg 3)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _timeout(url: str) -> dict[str, object]:
    return {"connect_timeout": 5} if url.startswith("postgresql") else {}


def _without_url(exc: Exception) -> str:
    """An httpx error without the URL (a webhook's path may be its secret)."""
    if isinstance(exc, httpx.HTTPStatusError):
        return f"answered {exc.response.status_code}"
    return f"{exc.__class__.__name__}: {exc}"
