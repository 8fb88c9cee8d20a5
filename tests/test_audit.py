"""The audit log: append, checkpoints, export, and verify catching every kind of tampering
(done the way an intruder would: by editing the SQLite file directly)."""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from valet.audit import (
    GENESIS,
    KEY_ENV,
    AuditEntry,
    AuditKeyError,
    AuditLog,
    AuditRecord,
    canonical_json,
    load_signing_key,
)

CARD = "4111 1111 1111 1111"


def entry(i: int, **changes: object) -> AuditEntry:
    base: dict[str, object] = {
        "actor": "agent" if i % 3 else "person",
        "on_behalf_of": "alice",
        "task_id": f"task-{i % 2}",
        "tool": "send_email",
        "effect": "send",
        "args": {"to": f"n{i}@example.com", "password": "hunter2", "note": f"card {CARD}"},
        "verdict": "ask",
        "rule_id": "builtin.ask.send",
        "reason": "send asks you first",
        "approver": "person:alice",
        "outcome": "executed",
        "result_digest": hashlib.sha256(str(i).encode()).hexdigest(),
        "sources": ("untrusted:read_inbox#1",),
        "findings": ("override: ignore previous instructions",),
    }
    return AuditEntry.model_validate(base | changes)


@pytest.fixture
def key_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv(KEY_ENV, raising=False)
    return tmp_path / "keys" / "audit.key"


@pytest.fixture
def db(tmp_path: Path, key_path: Path) -> Iterator[Path]:
    """A closed log of 10 records with checkpoints every 4 records (and one on close)."""
    path = tmp_path / "audit.db"
    with AuditLog.open(path, key_path, checkpoint_every=4) as log:
        for i in range(1, 11):
            log.append(entry(i))
    yield path


def reopen(path: Path, key_path: Path) -> AuditLog:
    return AuditLog.open(path, key_path, checkpoint_every=4)


def tamper(path: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    con = sqlite3.connect(path)
    with con:
        for sql, params in statements:
            con.execute(sql, params)
    con.close()


def row(path: Path, seq: int) -> dict[str, object]:
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    found = dict(con.execute("SELECT * FROM records WHERE seq = ?", (seq,)).fetchone())
    con.close()
    return found


def test_a_clean_log_verifies(db: Path, key_path: Path) -> None:
    log = reopen(db, key_path)
    report = log.verify()
    assert report.ok, report.summary()
    assert (report.records, report.checkpoints, report.last_checkpointed_seq) == (10, 3, 10)
    records = list(log.records())
    assert [r.seq for r in records] == list(range(1, 11))
    assert records[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    assert [r.seq for r in log.records(task_id="task-1")] == [1, 3, 5, 7, 9]
    assert [r.seq for r in log.records(actor="person")] == [3, 6, 9]
    log.close()


def test_secrets_never_reach_the_file(db: Path) -> None:
    first = row(db, 1)
    args = json.loads(str(first["args"]))
    assert args["password"] == "[redacted]"
    assert args["note"] == "card [redacted]"
    raw = b"".join(p.read_bytes() for p in db.parent.glob("audit.db*"))
    assert b"hunter2" not in raw
    assert CARD.encode() not in raw and CARD.replace(" ", "").encode() not in raw


def test_export_jsonl(db: Path, key_path: Path, tmp_path: Path) -> None:
    log = reopen(db, key_path)
    out = tmp_path / "audit.jsonl"
    assert log.export_jsonl(out) == 10
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["seq"] for line in lines] == list(range(1, 11))
    record = AuditRecord.model_validate(lines[4])
    assert record.compute_hash() == record.hash
    log.close()


CHANGES: dict[str, object] = {
    "seq": 99,
    "time": "2020-01-01T00:00:00.000000+00:00",
    "actor": "person",
    "on_behalf_of": "mallory",
    "task_id": "task-x",
    "tool": "read_inbox",
    "effect": "read",
    "args": canonical_json({"to": "n5@example.com", "password": "[redacted]", "note": "x"}),
    "args_digest": "0" * 64,
    "verdict": "allow",
    "rule_id": "builtin.allow.read",
    "reason": "sending is fine",
    "approver": "",
    "outcome": "declined",
    "result_digest": "f" * 64,
    "sources": "[]",
    "findings": "[]",
    "prev_hash": "a" * 64,
    "hash": "b" * 64,
}


def test_every_field_is_covered() -> None:
    assert set(CHANGES) == set(AuditRecord.model_fields)


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_verify_catches_a_changed_field(db: Path, key_path: Path, field: str) -> None:
    before = row(db, 5)[field]
    assert before != CHANGES[field]
    tamper(db, (f"UPDATE records SET {field} = ? WHERE seq = 5", (CHANGES[field],)))
    report = reopen(db, key_path).verify()
    assert not report.ok
    assert report.kinds() & {"altered", "deleted", "broken_link", "reordered"}, report.summary()


def test_verify_catches_a_deleted_record(db: Path, key_path: Path) -> None:
    tamper(db, ("DELETE FROM records WHERE seq = 5", ()))
    report = reopen(db, key_path).verify()
    assert "deleted" in report.kinds(), report.summary()
    assert any(p.seq == 5 for p in report.problems if p.kind == "deleted")


def test_verify_catches_a_truncated_tail(db: Path, key_path: Path) -> None:
    tamper(db, ("DELETE FROM records WHERE seq >= 9", ()))
    report = reopen(db, key_path).verify()
    assert "truncated" in report.kinds(), report.summary()


def test_verify_catches_an_inserted_record(db: Path, key_path: Path) -> None:
    """A well-formed forged record: right format, right link backwards, right own hash."""
    con = sqlite3.connect(db)
    with con:
        for seq in range(10, 4, -1):
            con.execute("UPDATE records SET seq = ? WHERE seq = ?", (seq + 1, seq))
    con.close()
    prev = row(db, 4)
    forged = AuditRecord.model_validate(
        entry(0, tool="send_money", args={"iban": "GB33BUKB20201555555555"}).model_dump()
        | {"seq": 5, "time": str(prev["time"]), "args_digest": "0" * 64, "prev_hash": prev["hash"]}
    )
    forged = forged.model_copy(update={"hash": forged.compute_hash()})
    data = forged.model_dump(mode="json")
    cells = [
        canonical_json(v) if k in ("args", "sources", "findings") else v for k, v in data.items()
    ]
    marks = ", ".join("?" * len(cells))
    tamper(db, (f"INSERT INTO records ({', '.join(data)}) VALUES ({marks})", tuple(cells)))
    report = reopen(db, key_path).verify()
    assert "inserted" in report.kinds(), report.summary()
    assert any(p.seq == 5 for p in report.problems if p.kind == "inserted")


def test_verify_catches_a_reordered_pair(db: Path, key_path: Path) -> None:
    tamper(
        db,
        ("UPDATE records SET seq = -1 WHERE seq = 6", ()),
        ("UPDATE records SET seq = 6 WHERE seq = 7", ()),
        ("UPDATE records SET seq = 7 WHERE seq = -1", ()),
    )
    report = reopen(db, key_path).verify()
    assert "reordered" in report.kinds(), report.summary()


def test_verify_catches_a_rewritten_chain(db: Path, key_path: Path) -> None:
    """An intruder who knows the format recomputes every hash after a change: only the
    signed checkpoints (whose key is not in the database) can tell."""
    log = reopen(db, key_path)
    records = list(log.records())
    log.close()
    prev = records[2].hash
    con = sqlite3.connect(db)
    with con:
        for record in records[3:]:
            changes: dict[str, object] = {"prev_hash": prev}
            if record.seq == 4:
                changes["approver"] = "person:mallory"
            fixed = record.model_copy(update=changes)
            fixed = fixed.model_copy(update={"hash": fixed.compute_hash()})
            con.execute(
                "UPDATE records SET approver = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (fixed.approver, fixed.prev_hash, fixed.hash, fixed.seq),
            )
            prev = fixed.hash
    con.close()
    report = reopen(db, key_path).verify()
    assert report.kinds() == {"checkpoint_mismatch"}, report.summary()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("signature", "00" * 64),
        ("record_hash", "c" * 64),
        ("record_seq", 3),
        ("time", "2030-01-01T00:00:00.000000+00:00"),
    ],
)
def test_verify_catches_an_altered_checkpoint(
    db: Path, key_path: Path, column: str, value: object
) -> None:
    tamper(db, (f"UPDATE checkpoints SET {column} = ? WHERE id = 2", (value,)))
    report = reopen(db, key_path).verify()
    assert "checkpoint_forged" in report.kinds(), report.summary()


def test_verify_catches_a_checkpoint_signed_by_another_key(db: Path, key_path: Path) -> None:
    other = Ed25519PrivateKey.generate()
    intruder = AuditLog(db, other)
    intruder.append(entry(11))
    intruder.close()  # signs a checkpoint with the intruder's key
    report = reopen(db, key_path).verify()
    assert "checkpoint_forged" in report.kinds(), report.summary()


def test_checkpoints_every_n_records(tmp_path: Path, key_path: Path) -> None:
    log = AuditLog.open(tmp_path / "a.db", key_path, checkpoint_every=3)
    for i in range(7):
        log.append(entry(i))
    assert log.verify().checkpoints == 2
    assert log.checkpoint() is True
    assert log.checkpoint() is False  # nothing new to sign
    log.close()
    assert reopen(tmp_path / "a.db", key_path).verify().checkpoints == 3


def test_key_file_is_created_private(tmp_path: Path, key_path: Path) -> None:
    first = load_signing_key(key_path)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    again = load_signing_key(key_path)
    assert first.public_key().public_bytes_raw() == again.public_key().public_bytes_raw()
    assert not (tmp_path / "audit.db").exists()  # the key lives apart from the log


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    monkeypatch.setenv(KEY_ENV, key.private_bytes_raw().hex())
    loaded = load_signing_key(None)
    assert loaded.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    monkeypatch.setenv(KEY_ENV, "not hex")
    with pytest.raises(AuditKeyError):
        load_signing_key(tmp_path / "k")
