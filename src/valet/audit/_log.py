"""The audit log: append-only records in SQLite, chained by SHA-256, with signed checkpoints.

Storage: one SQLite file in WAL mode, table `records` (one row per record, one column per
field) and table `checkpoints`. Each record stores the hash of the previous record, so changing,
removing, inserting or reordering records breaks the chain. Every `checkpoint_every` records
and on `close()`, an Ed25519 signature over (record number, record hash) is stored; the private
key lives outside the database (see `load_signing_key`), so someone who can edit the file but
not read the key cannot rewrite history unnoticed, not even by recomputing the whole chain.

Durability: each `append` is its own committed transaction (one INSERT; several writers keep
one chain: a taken record number makes the append re-read the chain's end and retry). With
`synchronous=NORMAL` (the default here) a committed record survives a crash of the process; the
last moments may be lost on power failure. Pass `synchronous="FULL"` to fsync every append.
Records after the last checkpoint are protected by the chain only; truncating them is caught
once the next checkpoint is written (at latest on close).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from valet.audit._keys import load_signing_key, public_hex
from valet.audit._record import GENESIS, AuditEntry, AuditRecord, now_iso
from valet.audit._redact import Redactor, canonical_json, digest
from valet.audit._verify import Problem, VerifyReport

_FIELDS: tuple[str, ...] = tuple(AuditRecord.model_fields)
assert _FIELDS[-1] == "hash", "the hash column must come last"
_JSON_FIELDS = frozenset({"args", "sources", "findings"})
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS records (
    {
    ", ".join(
        f"{name} {'INTEGER PRIMARY KEY' if name == 'seq' else 'TEXT NOT NULL'}" for name in _FIELDS
    )
}
);
CREATE INDEX IF NOT EXISTS records_task ON records(task_id);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    record_seq INTEGER NOT NULL,
    record_hash TEXT NOT NULL,
    time TEXT NOT NULL,
    public_key TEXT NOT NULL,
    signature TEXT NOT NULL
);
"""
_INSERT = f"INSERT INTO records ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})"


class AuditLog:
    """An append-only, tamper-evident log. Not writable by tools: only the gateway holds it."""

    def __init__(
        self,
        path: Path,
        key: Ed25519PrivateKey,
        *,
        checkpoint_every: int = 1000,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        redactor: Redactor | None = None,
    ) -> None:
        self.path = path
        self._key = key
        self._redactor = redactor or Redactor()
        self._public = public_hex(key.public_key())
        self.checkpoint_every = checkpoint_every
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous}")
        self._db.executescript(_SCHEMA)
        self._since_checkpoint = self._count_since_checkpoint()
        self._next = self._end()

    @classmethod
    def open(
        cls,
        path: Path,
        key_path: Path | None = None,
        *,
        checkpoint_every: int = 1000,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        redactor: Redactor | None = None,
    ) -> AuditLog:
        """Open (or create) the log at `path`; the key comes from `$VALET_AUDIT_KEY` or
        `key_path` (default: `audit.key` next to the database, created with mode 0600; keep it
        elsewhere, e.g. outside a backup of the database, for the signatures to mean much).
        `redactor` (default: secret shapes only) cleans arguments, reasons and findings."""
        key = load_signing_key(key_path or path.with_name("audit.key"))
        return cls(
            path,
            key,
            checkpoint_every=checkpoint_every,
            synchronous=synchronous,
            redactor=redactor,
        )

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
            try:
                self._db.execute(_INSERT, [*cells, hash_])
            except sqlite3.IntegrityError:
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
        last = self._db.execute(
            "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))

    def checkpoint(self) -> bool:
        """Sign the latest record now; False when there is nothing new to sign."""
        last = self._db.execute(
            "SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        done = self._db.execute("SELECT MAX(record_seq) FROM checkpoints").fetchone()
        if last is None or (done[0] is not None and int(done[0]) >= int(last[0])):
            return False
        time = now_iso()
        payload = _signed(int(last[0]), str(last[1]), time, self._public)
        signature = self._key.sign(payload).hex()
        self._db.execute(
            "INSERT INTO checkpoints (record_seq, record_hash, time, public_key, signature) "
            "VALUES (?, ?, ?, ?, ?)",
            (int(last[0]), str(last[1]), time, self._public, signature),
        )
        self._since_checkpoint = 0
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
        query = f"SELECT {', '.join(_FIELDS)} FROM records"
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
        for row in self._db.execute(query + " ORDER BY seq", params):
            yield AuditRecord.model_validate(_row_dict(tuple(row)))

    def export_jsonl(self, path: Path) -> int:
        """Write every record as one JSON line; returns the number written."""
        count = 0
        query = f"SELECT {', '.join(_FIELDS)} FROM records ORDER BY seq"
        with path.open("w", encoding="utf-8") as out:
            for row in self._db.execute(query):
                out.write(canonical_json(_row_dict(tuple(row))) + "\n")  # as stored, even if bad
                count += 1
        return count

    def verify(self) -> VerifyReport:
        """Check the chain and every checkpoint; see `VerifyReport` for what is detected."""
        rows = [
            _row_dict(tuple(r))
            for r in self._db.execute(f"SELECT {', '.join(_FIELDS)} FROM records ORDER BY seq")
        ]
        problems = _check_chain(rows)
        cps = self._db.execute(
            "SELECT id, record_seq, record_hash, time, public_key, signature FROM checkpoints "
            "ORDER BY id"
        ).fetchall()
        problems.extend(self._check_checkpoints(cps, rows))
        good = [int(cp[1]) for cp in cps if self._signature_ok(cp)]
        return VerifyReport(
            records=len(rows),
            checkpoints=len(cps),
            last_checkpointed_seq=max(good, default=0),
            problems=tuple(problems),
        )

    def _signature_ok(self, cp: tuple[object, ...]) -> bool:
        _, seq, hash_, time, public, signature = cp
        if public != self._public:
            return False
        try:
            payload = _signed(int(str(seq)), str(hash_), str(time), self._public)
            self._key.public_key().verify(bytes.fromhex(str(signature)), payload)
        except (InvalidSignature, ValueError):
            return False
        return True

    def _check_checkpoints(
        self, cps: list[tuple[object, ...]], rows: list[dict[str, object]]
    ) -> list[Problem]:
        problems: list[Problem] = []
        by_seq = {row["seq"]: row for row in rows}
        last_seq = max((int(str(row["seq"])) for row in rows), default=0)
        for cp in cps:
            number, seq, hash_ = int(str(cp[0])), int(str(cp[1])), str(cp[2])
            if not self._signature_ok(cp):
                problems.append(Problem("checkpoint_forged", number, "signature is not valet's"))
                continue
            row = by_seq.get(seq)
            if row is None:
                kind = "truncated" if seq > last_seq else "deleted"
                problems.append(Problem(kind, seq, f"checkpoint {number} signed record {seq}"))
            elif row["hash"] != hash_:
                problems.append(
                    Problem("checkpoint_mismatch", seq, f"checkpoint {number} signed another hash")
                )
        return problems

    def _count_since_checkpoint(self) -> int:
        done = self._db.execute("SELECT MAX(record_seq) FROM checkpoints").fetchone()[0]
        query = "SELECT COUNT(*) FROM records WHERE seq > ?"
        return int(self._db.execute(query, (int(done or 0),)).fetchone()[0])


def _signed(seq: int, hash_: str, time: str, public: str) -> bytes:
    body = {"record_seq": seq, "record_hash": hash_, "time": time, "public_key": public}
    return canonical_json(body).encode("utf-8")


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


def _hash_of(row: dict[str, object]) -> str:
    body = {name: row[name] for name in _FIELDS if name != "hash"}
    return digest(body)


def _check_chain(rows: list[dict[str, object]]) -> list[Problem]:
    problems: list[Problem] = []
    index_of_hash = {str(row["hash"]): i for i, row in enumerate(rows)}
    for i, row in enumerate(rows):
        seq = int(str(row["seq"]))
        if _hash_of(row) != row["hash"]:
            problems.append(Problem("altered", seq, "content does not match its hash"))
        expected_seq = 1 if i == 0 else int(str(rows[i - 1]["seq"])) + 1
        if seq > expected_seq:
            problems.append(
                Problem("deleted", expected_seq, f"records {expected_seq}..{seq - 1} are missing")
            )
        expected_prev = GENESIS if i == 0 else str(rows[i - 1]["hash"])
        prev = str(row["prev_hash"])
        if prev == expected_prev:
            continue
        if i >= 2 and prev == rows[i - 2]["hash"]:
            inserted = int(str(rows[i - 1]["seq"]))
            problems.append(Problem("inserted", inserted, "the chain skips over this record"))
        elif prev in index_of_hash:
            other = int(str(rows[index_of_hash[prev]]["seq"]))
            problems.append(Problem("reordered", seq, f"links to record {other}, out of order"))
        elif seq == expected_seq:
            problems.append(Problem("broken_link", seq, "previous-record hash matches no record"))
    return problems
