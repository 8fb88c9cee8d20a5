"""The audit log in a shared Postgres (`[audit] store = "database"`): processes on several
machines (here: homes of their own, one audit key) append to one chain, at the same time too;
a record changed in the database shows; a dropped connection is opened again."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from tests._postgres import fresh_database
from tests.test_durable_postgres import postgres_url

from valet.audit import KEY_ENV, AuditConfigError, AuditEntry, AuditLog, AuditSettings

__all__ = ["postgres_url"]  # a fixture used here


def _entry(who: str, n: int) -> AuditEntry:
    return AuditEntry(
        actor="agent",
        on_behalf_of=who,
        task_id=f"{who}-task",
        tool="mail_send",
        effect="send",
        args={"to": f"n{n}@example.com"},
        verdict="ask",
        rule_id="builtin.ask.send",
        reason="send asks you first",
        approver=f"person:{who}",
        outcome="executed",
    )


@pytest.fixture
def shared(tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Two machines' homes with `[audit] store = "database"`, one audit key between them."""
    url = fresh_database(postgres_url)
    monkeypatch.setenv("VALET_DATABASE_URL", url)
    key = Ed25519PrivateKey.generate().private_bytes(
        Encoding.Raw, PrivateFormat.Raw, NoEncryption()
    )
    monkeypatch.setenv(KEY_ENV, key.hex())
    for machine in ("a", "b"):
        home = tmp_path / machine
        home.mkdir()
        (home / "config.toml").write_text('[audit]\nstore = "database"\n')
    return url


def test_two_machines_append_to_one_chain(tmp_path: Path, shared: str) -> None:
    here, there = AuditLog.of_home(tmp_path / "a"), AuditLog.of_home(tmp_path / "b")
    try:
        assert here.path == there.path == shared
        for n in range(3):
            here.append(_entry("alice", n))
            there.append(_entry("bob", n))

        def many(log: AuditLog, who: str) -> None:
            for n in range(3, 40):
                log.append(_entry(who, n))

        writers = [
            threading.Thread(target=many, args=(here, "alice")),
            threading.Thread(target=many, args=(there, "bob")),
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
    finally:
        here.close()
        there.close()
    assert not (tmp_path / "a" / "audit.db").exists() and not (tmp_path / "b" / "audit.db").exists()
    reader = AuditLog.of_home(tmp_path / "a", write=False)
    try:
        records = list(reader.records())
        signing = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(os.environ[KEY_ENV]))
        report = reader.verify(signing.public_key())  # the key both machines sign with
    finally:
        reader.close(checkpoint=False)
    assert [r.seq for r in records] == list(range(1, 81))
    assert sum(r.on_behalf_of == "bob" for r in records) == 40
    assert report.ok and report.checkpoints >= 1, report.problems


def test_a_record_changed_in_the_database_shows(tmp_path: Path, shared: str) -> None:
    log = AuditLog.of_home(tmp_path / "a")
    for n in range(5):
        log.append(_entry("alice", n))
    log.close()
    with psycopg.connect(shared, autocommit=True) as db:
        db.execute("UPDATE valet_audit_records SET args = '{}' WHERE seq = 3")
    checked = AuditLog.of_home(tmp_path / "b")
    try:
        report = checked.verify()
    finally:
        checked.close(checkpoint=False)
    assert not report.ok and 3 in {p.seq for p in report.problems}, report.problems


def test_a_dropped_connection_is_opened_again(tmp_path: Path, shared: str) -> None:
    log = AuditLog.of_home(tmp_path / "a")
    try:
        log.append(_entry("alice", 1))
        with psycopg.connect(shared, autocommit=True) as db:  # the database restarts, say
            db.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        log.append(_entry("alice", 2))
        assert [r.seq for r in log.records()] == [1, 2]
        assert log.verify().ok
    finally:
        log.close()


def test_the_store_must_be_a_file_or_a_postgres_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VALET_DATABASE_URL", raising=False)
    with pytest.raises(AuditConfigError, match=r"needs \$VALET_DATABASE_URL"):
        AuditSettings.from_config({"audit": {"store": "database"}})
    with pytest.raises(AuditConfigError, match='must be "file" or "database"'):
        AuditSettings.from_config({"audit": {"store": "s3"}})
    assert AuditSettings.from_config({"audit": {"store": "file"}}).database is None
