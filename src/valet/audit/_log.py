"""The audit log: append-only records in SQLite, chained by SHA-256, with signed checkpoints.

Storage: one SQLite file in WAL mode, table `records` (one row per record, one column per
field) and table `checkpoints`; or, for processes on several machines sharing one Postgres
(`[audit] store = "database"`), the same two tables in that database, `valet_audit_records`
and `valet_audit_checkpoints`, where every machine appends to the one chain. Each record
stores the hash of the previous record, so changing, removing, inserting or reordering records
breaks the chain. Every `checkpoint_every` records
and on `close()` (so at the end of every task, and when the server shuts down), an Ed25519
signature over (record number, record hash) is stored — the head this writer knows it wrote,
so records deleted from under an open log show as truncated — and sent to each witness of
`AuditSettings` (a file on another mount, a webhook, a database). A witness that cannot be
reached is logged (logger `valet.audit`) and never stops the log.

What `verify` can tell depends on what the verifier brings. The chain alone catches edits that
do not recompute it. The key (from valet's home) catches a recomputed chain unless the intruder
can read the key. A pinned public key (`verify(key=...)`) catches a log re-signed with a new
key. A witness catches truncation together with the checkpoints, deleted checkpoints, a chain
rewritten and re-signed with valet's own key, and a lost `audit.db-wal` — for every record up
to the witness's latest head. Records after the last checkpoint are protected by the chain
only.

Durability: each `append` is its own committed transaction (one INSERT; several writers keep
one chain: a taken record number makes the append re-read the chain's end and retry). With
`synchronous=NORMAL` (the default here) a committed record survives a crash of the process; the
last moments may be lost on power failure. Pass `synchronous="FULL"` to fsync every append.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self, cast

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from valet._home import private_file
from valet.audit._head import Head
from valet.audit._keys import AuditKeyError, load_signing_key
from valet.audit._record import GENESIS, AuditEntry, AuditRecord, now_iso
from valet.audit._redact import Redactor, canonical_json, digest
from valet.audit._settings import AuditSettings
from valet.audit._verify import (
    Problem,
    VerifyReport,
    WitnessCheck,
    check_chain,
    check_checkpoints,
    check_witness,
)
from valet.audit._witness import Witness, WitnessError

log = logging.getLogger("valet.audit")

_FIELDS: tuple[str, ...] = tuple(AuditRecord.model_fields)
assert _FIELDS[-1] == "hash", "the hash column must come last"
_JSON_FIELDS = frozenset({"args", "sources", "findings"})


def _schema(records: str, checkpoints: str, seq: str, identity: str) -> list[str]:
    columns = ", ".join(f"{name} {seq if name == 'seq' else 'TEXT NOT NULL'}" for name in _FIELDS)
    return [
        f"CREATE TABLE IF NOT EXISTS {records} ({columns})",
        f"CREATE INDEX IF NOT EXISTS {records}_task ON {records}(task_id)",
        f"CREATE TABLE IF NOT EXISTS {checkpoints} (id {identity}, record_seq {seq.split()[0]} "
        "NOT NULL, record_hash TEXT NOT NULL, time TEXT NOT NULL, public_key TEXT NOT NULL, "
        "signature TEXT NOT NULL)",
    ]


_SQLITE_SCHEMA = ";\n".join(
    _schema("records", "checkpoints", "INTEGER PRIMARY KEY", "INTEGER PRIMARY KEY")
)


class _Tables(Protocol):
    """Where a log's two tables are: `records` and `checkpoints` name them there."""

    records: str
    checkpoints: str

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Run a query (`?` placeholders) and return its rows."""
        ...

    def insert(self, sql: str, params: Sequence[object]) -> bool:
        """Run an INSERT; False when its key is already taken (another writer was first)."""
        ...

    def close(self) -> None: ...


class _SqliteTables:
    records = "records"
    checkpoints = "checkpoints"

    def __init__(self, path: Path, synchronous: str) -> None:
        private_file(path)
        self._db = _connect(path, synchronous)

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._db.execute(sql, tuple(params)).fetchall()]

    def insert(self, sql: str, params: Sequence[object]) -> bool:
        try:
            self._db.execute(sql, tuple(params))
        except sqlite3.IntegrityError:
            return False
        return True

    def close(self) -> None:
        self._db.close()


_DDL_LOCK = 0x76616C6574_61  # the Postgres advisory lock held while the tables are created


class _PostgresTables:
    """The log in a shared Postgres: each statement committed on its own (autocommit); a
    connection the database dropped is opened again once before a statement fails."""

    records = "valet_audit_records"
    checkpoints = "valet_audit_checkpoints"

    def __init__(self, url: str) -> None:
        self._url = url
        self._db = self._connect()

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        db = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        identity = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
        with db.transaction():  # processes opening the log at once take turns creating it
            db.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            for statement in _schema(
                self.records, self.checkpoints, "BIGINT PRIMARY KEY", identity
            ):
                db.execute(cast(Any, statement))
        return db

    def _run(self, sql: str, params: Sequence[object]) -> psycopg.Cursor[tuple[Any, ...]]:
        query = cast(Any, sql.replace("?", "%s"))
        try:
            return self._db.execute(query, tuple(params))
        except psycopg.OperationalError:
            if not self._db.closed:
                raise
            self._db = self._connect()
            return self._db.execute(query, tuple(params))

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self._run(sql, params).fetchall()

    def insert(self, sql: str, params: Sequence[object]) -> bool:
        try:
            self._run(sql, params)
        except psycopg.errors.UniqueViolation:
            return False
        return True

    def close(self) -> None:
        self._db.close()


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """The log's connection, in WAL mode. Several processes share the log (the server and its
    workers): while one closes the last connection (SQLite then removes the WAL's files) another
    opening it may get `disk I/O error` or `database is locked`; it tries again, for a while."""
    for attempt in range(50):
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={synchronous}")
            db.executescript(_SQLITE_SCHEMA)
        except sqlite3.OperationalError as exc:
            db.close()
            if attempt == 49 or not any(w in str(exc) for w in ("disk I/O", "locked")):
                raise
            time.sleep(0.02 * (1 + attempt % 5))
            continue
        return db
    raise AssertionError("unreachable")


class AuditLog:
    """An append-only, tamper-evident log. Not writable by tools: only the gateway holds it.

    `key` is the signing key; None opens the log for reading and verifying only."""

    def __init__(
        self,
        path: Path | str,
        key: Ed25519PrivateKey | None,
        *,
        checkpoint_every: int = 1000,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        redactor: Redactor | None = None,
        settings: AuditSettings | None = None,
    ) -> None:
        self.path = path
        """The SQLite file, or the `postgresql://` URL of a log shared by several machines."""
        self._key = key
        self._redactor = redactor or Redactor()
        self.settings = settings or AuditSettings()
        self.checkpoint_every = checkpoint_every
        self.unwitnessed = 0
        """Heads this log could not send to a witness (each is logged as a warning)."""
        self._db: _Tables = (
            _PostgresTables(path) if isinstance(path, str) else _SqliteTables(path, synchronous)
        )
        self._records, self._checkpoints = self._db.records, self._db.checkpoints
        self._insert = (
            f"INSERT INTO {self._records} ({', '.join(_FIELDS)}) "
            f"VALUES ({', '.join('?' * len(_FIELDS))})"
        )
        self._since_checkpoint = self._count_since_checkpoint()
        self._next = self._end()

    @classmethod
    def open(
        cls,
        path: Path | str,
        key_path: Path | None = None,
        *,
        checkpoint_every: int = 1000,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        redactor: Redactor | None = None,
        settings: AuditSettings | None = None,
    ) -> AuditLog:
        """Open (or create) the log at `path` for writing; the key comes from
        `$VALET_AUDIT_KEY` or `key_path` (default: `audit.key` next to the database, created
        with mode 0600). `redactor` (default: secret shapes only) cleans arguments, reasons and
        findings. `settings` (witnesses) default to the `[audit]` table of the `config.toml`
        beside the database (valet's home). A `postgresql://` URL as `path` (a log shared by
        several machines) needs `key_path` and `settings`."""
        if isinstance(path, str):
            assert key_path is not None and settings is not None, "a shared log's key, settings"
        else:
            key_path = key_path or path.with_name("audit.key")
            settings = settings or AuditSettings.from_home(path.parent)
        return cls(
            path,
            load_signing_key(key_path),
            checkpoint_every=checkpoint_every,
            synchronous=synchronous,
            redactor=redactor,
            settings=settings,
        )

    @classmethod
    def read(cls, path: Path | str, *, settings: AuditSettings | None = None) -> AuditLog:
        """Open the log at `path` to read and verify, without the signing key."""
        if settings is None:
            assert isinstance(path, Path), "a shared log is read with its settings"
            settings = AuditSettings.from_home(path.parent)
        return cls(path, None, settings=settings)

    @classmethod
    def of_home(
        cls,
        home: Path,
        *,
        write: bool = True,
        redactor: Redactor | None = None,
        settings: AuditSettings | None = None,
    ) -> AuditLog:
        """The log of valet's home: `audit.db` in it, or the shared database with `[audit]
        store = "database"`; signed with `keys/audit.key` (or `$VALET_AUDIT_KEY`) when
        `write`, else opened to read and verify."""
        settings = settings or AuditSettings.from_home(home)
        where: Path | str = settings.database or home / "audit.db"
        if not write:
            return cls.read(where, settings=settings)
        return cls.open(where, home / "keys" / "audit.key", redactor=redactor, settings=settings)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def append(self, entry: AuditEntry) -> AuditRecord:
        """Store `entry` as the next record (arguments redacted) and return it.

        One INSERT, committed at once. The next number and previous hash are kept in memory;
        if another writer appended meanwhile, the number is taken (primary key) and the append
        re-reads the chain's end and retries, so several writers still build one chain.
        """
        if self._key is None:
            raise AuditKeyError(f"{self.path} was opened for reading: it cannot be appended to")
        body = entry.model_dump(mode="json")
        for name in ("reason", "sources", "findings"):
            body[name] = self._redactor.data(body[name])
        args_json = canonical_json(_redacted_args(entry.args, self._redactor))
        body["args"] = json.loads(args_json)
        body["args_digest"] = hashlib.sha256(args_json.encode("utf-8")).hexdigest()
        for _ in range(100):
            seq, prev = self._next
            body |= {"seq": seq, "time": now_iso(), "prev_hash": prev}
            hash_ = digest(body)
            cells = [
                args_json if name == "args" else _cell(name, body[name]) for name in _FIELDS[:-1]
            ]
            if not self._db.insert(self._insert, [*cells, hash_]):
                self._next = self._end()
                continue
            self._next = (seq + 1, hash_)
            break
        else:
            raise sqlite3.OperationalError("could not append: the log keeps changing underneath")
        self._since_checkpoint += 1
        if self._since_checkpoint >= self.checkpoint_every:
            self.checkpoint()
        return AuditRecord.model_construct(**body, hash=hash_)

    def _end(self) -> tuple[int, str]:
        """(number of the next record, hash of the last one)."""
        found = self._db.rows(f"SELECT seq, hash FROM {self._records} ORDER BY seq DESC LIMIT 1")
        return (1, GENESIS) if not found else (int(found[0][0]) + 1, str(found[0][1]))

    def checkpoint(self) -> bool:
        """Sign the latest record now and send the head to the witnesses; False when there is
        nothing new to sign. The head signed is the later of the file's last record and the
        last one this writer appended: records deleted underneath an open log stay vouched for,
        so their absence shows."""
        if self._key is None:
            return False
        next_seq, hash_ = max(self._end(), self._next, key=lambda end: end[0])
        done = self._db.rows(f"SELECT MAX(record_seq) FROM {self._checkpoints}")[0][0]
        if next_seq == 1 or (done is not None and int(done) >= next_seq - 1):
            return False
        head = Head.sign(self._key, next_seq - 1, hash_)
        self._db.insert(
            f"INSERT INTO {self._checkpoints} "
            "(record_seq, record_hash, time, public_key, signature) VALUES (?, ?, ?, ?, ?)",
            (head.seq, head.hash, head.time, head.public_key, head.signature),
        )
        self._since_checkpoint = 0
        for witness in self.settings.witnesses:
            try:
                witness.send(head)
            except WitnessError as exc:
                self.unwitnessed += 1
                log.warning("audit checkpoint %d not witnessed: %s", head.seq, exc)
        return True

    def close(self, *, checkpoint: bool = True) -> None:
        """Write a final checkpoint (unless `checkpoint=False`, for readers such as `verify`:
        signing after a check would vouch for whatever the check found) and close."""
        try:
            if checkpoint:
                self.checkpoint()
        finally:
            self._db.close()

    def records(
        self, *, task_id: str | None = None, actor: str | None = None
    ) -> Iterator[AuditRecord]:
        """Stored records in order, optionally only one task's or one actor's."""
        query = f"SELECT {', '.join(_FIELDS)} FROM {self._records}"
        clauses: list[str] = []
        params: list[str] = []
        if task_id is not None:
            clauses.append("task_id = ?")
            params.append(task_id)
        if actor is not None:
            clauses.append("actor = ?")
            params.append(actor)
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        for row in self._db.rows(query + " ORDER BY seq", params):
            yield AuditRecord.model_validate(_row_dict(row))

    def export_jsonl(self, path: Path) -> int:
        """Write every record as one JSON line; returns the number written."""
        count = 0
        query = f"SELECT {', '.join(_FIELDS)} FROM {self._records} ORDER BY seq"
        with path.open("w", encoding="utf-8") as out:
            for row in self._db.rows(query):
                out.write(canonical_json(_row_dict(row)) + "\n")  # as stored, even if bad
                count += 1
        return count

    def verify(
        self, key: Ed25519PublicKey | None = None, witnesses: Sequence[Witness] | None = None
    ) -> VerifyReport:
        """Check the chain, every checkpoint's signature by `key` (a pinned public key; default:
        the signing key's own, which an intruder may have replaced), and every head each of
        `witnesses` kept (default: the log's own witnesses). See `VerifyReport`."""
        verifying = key or (self._key.public_key() if self._key is not None else None)
        if verifying is None:
            raise AuditKeyError("verifying a log opened for reading needs its public key")
        rows = [
            _row_dict(r)
            for r in self._db.rows(f"SELECT {', '.join(_FIELDS)} FROM {self._records} ORDER BY seq")
        ]
        hashes = {int(str(row["seq"])): str(row["hash"]) for row in rows}
        checkpoints = [
            (int(cp[0]), Head(int(cp[1]), str(cp[2]), str(cp[3]), str(cp[4]), str(cp[5])))
            for cp in self._db.rows(
                "SELECT id, record_seq, record_hash, time, public_key, signature "
                f"FROM {self._checkpoints} ORDER BY id"
            )
        ]
        problems = check_chain(rows)
        problems.extend(check_checkpoints(checkpoints, hashes, verifying))
        checks: list[WitnessCheck] = []
        for witness in self.settings.witnesses if witnesses is None else witnesses:
            try:
                heads = witness.heads()
            except WitnessError as exc:
                checks.append(WitnessCheck(witness.name, 0, 0, str(exc)))
                problems.append(Problem("witness_unreadable", 0, str(exc)))
                continue
            check, found = check_witness(witness.name, heads, checkpoints, hashes, verifying)
            checks.append(check)
            problems.extend(found)
        good = [head.seq for _, head in checkpoints if head.signed_by(verifying)]
        return VerifyReport(
            records=len(rows),
            checkpoints=len(checkpoints),
            last_checkpointed_seq=max(good, default=0),
            problems=tuple(problems),
            last_seq=max(hashes, default=0),
            pinned=key is not None,
            witnesses=tuple(checks),
        )

    def _count_since_checkpoint(self) -> int:
        done = self._db.rows(f"SELECT MAX(record_seq) FROM {self._checkpoints}")[0][0]
        query = f"SELECT COUNT(*) FROM {self._records} WHERE seq > ?"
        return int(self._db.rows(query, (int(done or 0),))[0][0])


def _redacted_args(args: dict[str, object], redactor: Redactor) -> dict[str, object]:
    cleaned = redactor.args(args)
    assert isinstance(cleaned, dict)
    return cast(dict[str, object], cleaned)


def _cell(name: str, value: object) -> object:
    return canonical_json(value) if name in _JSON_FIELDS else value


def _row_dict(row: tuple[object, ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in zip(_FIELDS, row, strict=True):
        if name in _JSON_FIELDS and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        out[name] = value
    return out
