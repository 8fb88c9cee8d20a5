"""An intruder running as valet's user rewrites the audit log on disk: truncates the tail with
its checkpoints, deletes every checkpoint, re-signs with valet's key file or a new key, deletes
the records after the last checkpoint, deletes `audit.db-wal` after a crash. Each is done for
real on the SQLite files and caught by `valet audit verify` and `AuditLog.verify` once a witness
(a file on another mount, a webhook on 127.0.0.1, a PostgreSQL table) holds the heads, and with
the key pinned; without them the same edits pass, which the report says."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.test_durable_postgres import postgres_url  # noqa: F401  (a throwaway cluster)
from typer.testing import CliRunner, Result

from valet.audit import (
    KEY_ENV,
    AuditEntry,
    AuditLog,
    AuditRecord,
    AuditSettings,
    DatabaseWitness,
    FileWitness,
    Head,
    VerifyReport,
    fingerprint,
    load_signing_key,
    parse_fingerprint,
    witness_from,
)
from valet.cli import app


def entry(i: int) -> AuditEntry:
    return AuditEntry(
        actor="agent",
        on_behalf_of="alice",
        task_id=f"task-{i % 2}",
        tool="send_email",
        effect="send",
        args={"to": f"n{i}@example.com"},
        verdict="ask",
        rule_id="builtin.ask.send",
        reason="send asks you first",
        approver="person:alice",
        outcome="executed",
    )


@pytest.fixture
def heads_file(tmp_path: Path) -> Path:
    """The witness: a file on "another mount" (a folder outside valet's home)."""
    folder = tmp_path / "other-mount"
    folder.mkdir()
    return folder / "valet-heads.jsonl"


@pytest.fixture
def witnessed(home: Path, heads_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home whose config sends every checkpoint head to `heads_file`, with a log of 10
    records checkpointed at 4, 8 and on close (10)."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    configure(home, f'witness = "file:{heads_file}"')
    write(home, 10)
    return home


def configure(home: Path, *lines: str) -> None:
    (home / "config.toml").write_text("[audit]\n" + "\n".join(lines) + "\n", encoding="utf-8")


def write(home: Path, count: int) -> None:
    with open_log(home) as log:
        for i in range(1, count + 1):
            log.append(entry(i))


def open_log(home: Path) -> AuditLog:
    return AuditLog.open(home / "audit.db", home / "keys" / "audit.key", checkpoint_every=4)


def verify(home: Path, *, pinned: str | None = None, witnessed: bool = True) -> VerifyReport:
    """The Python API's check, as valet's own key (or the pin) and witness see it."""
    log = AuditLog.read(home / "audit.db") if pinned else open_log(home)
    try:
        key = parse_fingerprint(pinned) if pinned else None
        return log.verify(key, None if witnessed else ())
    finally:
        log.close(checkpoint=False)


def cli(home: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["audit", *args], env={"VALET_HOME": str(home)})


def sql(home: Path, *statements: str) -> None:
    db = sqlite3.connect(home / "audit.db")
    with db:
        for statement in statements:
            db.execute(statement)
    db.close()


def records(home: Path) -> list[AuditRecord]:
    log = AuditLog.read(home / "audit.db", settings=AuditSettings())
    try:
        return list(log.records())
    finally:
        log.close(checkpoint=False)


def pin(home: Path) -> str:
    return fingerprint(load_signing_key(home / "keys" / "audit.key").public_key())


def caught(home: Path, *kinds: str, pinned: str | None = None) -> None:
    """Both the API and `valet audit verify` report the tampering (exit 1, kinds named)."""
    report = verify(home, pinned=pinned)
    assert not report.ok
    assert set(kinds) <= report.kinds(), report.summary()
    result = cli(home, "verify", *(["--key", pinned] if pinned else []))
    assert result.exit_code == 1, result.output
    for kind in kinds:
        assert f"{kind} at" in result.output


def test_a_witnessed_log_verifies_and_the_witness_holds_every_head(
    witnessed: Path, heads_file: Path
) -> None:
    heads = [json.loads(line) for line in heads_file.read_text().splitlines()]
    assert [h["seq"] for h in heads] == [4, 8, 10]
    assert {h["public_key"] for h in heads} == {pin(witnessed).removeprefix("ed25519:")}
    report = verify(witnessed, pinned=pin(witnessed))
    assert report.ok, report.summary()
    assert report.witnesses[0].latest_seq == 10 and report.notes() == []
    result = cli(witnessed, "verify", "--key", pin(witnessed))
    assert result.exit_code == 0, result.output
    assert "pinned key" in result.output and f"witness file:{heads_file} up to record 10" in (
        result.output
    )


def test_without_witness_or_pin_verify_says_what_it_cannot_detect(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    write(home, 3)
    result = cli(home, "verify")
    assert result.exit_code == 0, result.output
    assert "the key is not pinned" in result.output
    assert "no witness: truncating the log together with its checkpoints" in result.output


def test_truncating_the_tail_with_its_checkpoints_is_caught(witnessed: Path) -> None:
    sql(
        witnessed,
        "DELETE FROM records WHERE seq > 6",
        "DELETE FROM checkpoints WHERE record_seq > 6",
    )
    assert verify(witnessed, witnessed=False).ok  # the log alone cannot tell
    caught(witnessed, "truncated")
    assert {p.seq for p in verify(witnessed).problems if p.kind == "truncated"} == {8, 10}


def test_deleting_every_checkpoint_is_caught(witnessed: Path) -> None:
    sql(witnessed, "DELETE FROM checkpoints")
    assert verify(witnessed, witnessed=False).ok
    caught(witnessed, "checkpoint_deleted")


def test_rewriting_and_re_signing_with_the_key_file_is_caught(witnessed: Path) -> None:
    """The intruder reads keys/audit.key, changes who approved record 3, recomputes the chain
    from there and signs fresh checkpoints for it: signatures and chain are all valid."""
    key = load_signing_key(witnessed / "keys" / "audit.key")
    before = records(witnessed)
    prev = before[1].hash
    db = sqlite3.connect(witnessed / "audit.db")
    with db:
        for record in before[2:]:
            changes: dict[str, object] = {"prev_hash": prev}
            if record.seq == 3:
                changes["approver"] = "person:mallory"
            fixed = record.model_copy(update=changes)
            fixed = fixed.model_copy(update={"hash": fixed.compute_hash()})
            db.execute(
                "UPDATE records SET approver = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                (fixed.approver, fixed.prev_hash, fixed.hash, fixed.seq),
            )
            prev = fixed.hash
        db.execute("DELETE FROM checkpoints")
        hashes = {seq: h for seq, h in db.execute("SELECT seq, hash FROM records")}
        for seq in (4, 8, 10):
            head = Head.sign(key, seq, hashes[seq])
            db.execute(
                "INSERT INTO checkpoints (record_seq, record_hash, time, public_key, signature) "
                "VALUES (?, ?, ?, ?, ?)",
                (head.seq, head.hash, head.time, head.public_key, head.signature),
            )
    db.close()
    assert verify(witnessed, pinned=pin(witnessed), witnessed=False).ok  # same key: no pin helps
    caught(witnessed, "witness_mismatch", pinned=pin(witnessed))


def test_re_signing_with_a_new_key_is_caught_by_the_pin(witnessed: Path) -> None:
    """The intruder truncates, replaces keys/audit.key by a key of their own and re-signs."""
    pinned = pin(witnessed)
    sql(witnessed, "DELETE FROM records WHERE seq > 6", "DELETE FROM checkpoints")
    (witnessed / "keys" / "audit.key").write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    intruder = AuditLog.open(
        witnessed / "audit.db", witnessed / "keys" / "audit.key", settings=AuditSettings()
    )
    assert intruder.checkpoint() is True
    intruder.close()
    assert verify(witnessed, witnessed=False).ok  # unpinned, unwitnessed: it passes
    caught(witnessed, "checkpoint_forged", "truncated", pinned=pinned)
    caught(witnessed, "witness_forged")  # unpinned, the witness still holds the old key's heads


def test_deleting_records_after_the_last_checkpoint_is_caught(
    home: Path, heads_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records 9 and 10 follow the checkpoint at 8; the intruder deletes them while valet
    still has the log open, then the checkpoint valet writes at the task's end."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    configure(home, f'witness = "file:{heads_file}"')
    log = open_log(home)
    for i in range(1, 11):
        log.append(entry(i))
    sql(home, "DELETE FROM records WHERE seq > 8")
    log.close()  # the task ends: valet signs what it wrote, record 10
    assert "truncated" in verify(home, witnessed=False).kinds()
    sql(home, "DELETE FROM checkpoints WHERE record_seq > 8")
    assert verify(home, witnessed=False).ok
    caught(home, "truncated", pinned=pin(home))


CRASHING_WRITER = """
import sys
from pathlib import Path
from valet.audit import AuditEntry, AuditLog
home = Path(sys.argv[1])
log = AuditLog.open(home / "audit.db", home / "keys" / "audit.key", checkpoint_every=5)
for i in range(13):
    log.append(AuditEntry(actor="agent", on_behalf_of="alice", tool="click", effect="read",
                          verdict="allow", rule_id="r", reason="", outcome="executed"))
print("appended", flush=True)
sys.stdin.read()  # killed here, before SQLite moves the WAL into the database
"""


def test_deleting_the_wal_after_a_crash_is_caught(
    home: Path, heads_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    configure(home, f'witness = "file:{heads_file}"')
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    writer = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(home)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "appended"
    finally:
        writer.kill()
        writer.wait()
    assert (home / "audit.db-wal").stat().st_size > 0
    before = home.parent / "before"  # a copy to count (opening the log itself would merge it)
    before.mkdir()
    for name in ("audit.db", "audit.db-wal"):
        shutil.copy(home / name, before / name)
    assert len(records(before)) == 13
    (home / "audit.db-wal").unlink()
    (home / "audit.db-shm").unlink(missing_ok=True)
    assert records(home) == []
    assert verify(home, witnessed=False).ok  # 13 records → 0, unnoticed without the witness
    caught(home, "truncated", pinned=pin(home))
    assert {p.seq for p in verify(home).problems} == {5, 10}


# ---- webhook witness: a real HTTP server on 127.0.0.1 ----------------------------------------


class HeadsServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HeadsHandler)
        self.heads: list[dict[str, object]] = []
        self.refusing = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/witness/s3cret"


class HeadsHandler(BaseHTTPRequestHandler):
    server: HeadsServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.refusing or self.path != "/witness/s3cret":
            self.send_response(503)
            self.end_headers()
            return
        self.server.heads.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        data = json.dumps(self.server.heads).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[HeadsServer]:
    server = HeadsServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_webhook_witness_catches_truncation(
    home: Path, webhook: HeadsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    configure(home, f'witness = "{webhook.url}"')
    write(home, 10)
    assert [h["seq"] for h in webhook.heads] == [4, 8, 10]
    assert verify(home, pinned=pin(home)).ok
    sql(home, "DELETE FROM records WHERE seq > 5", "DELETE FROM checkpoints WHERE record_seq > 5")
    caught(home, "truncated", pinned=pin(home))
    assert "s3cret" not in cli(home, "verify").output  # the webhook's path stays private


def test_a_failing_witness_loses_nothing_and_shows_as_lag(
    home: Path,
    webhook: HeadsServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    configure(home, f'witness = "{webhook.url}"')
    log = open_log(home)
    for i in range(1, 6):
        log.append(entry(i))  # head 4 witnessed
    webhook.refusing = True
    for i in range(6, 11):
        log.append(entry(i))  # head 8 refused
    log.close()  # head 10 refused
    assert log.unwitnessed == 2
    assert [r.seq for r in records(home)] == list(range(1, 11))
    refused = [r.getMessage() for r in caplog.records if r.name == "valet.audit"]
    assert refused == [
        "audit checkpoint 8 not witnessed: http://127.0.0.1:"
        f"{webhook.server_address[1]}/…: answered 503",
        "audit checkpoint 10 not witnessed: http://127.0.0.1:"
        f"{webhook.server_address[1]}/…: answered 503",
    ]
    report = verify(home, pinned=pin(home))
    assert report.ok, report.summary()
    assert report.witnesses[0].latest_seq == 4
    result = cli(home, "verify")
    assert result.exit_code == 0
    assert "lags: it holds heads up to record 4, the log's checkpoints reach record 10" in (
        " ".join(result.output.split())
    )
    webhook.shutdown()
    webhook.server_close()
    down = cli(home, "verify")
    assert down.exit_code == 1 and "witness_unreadable" in down.output


# ---- PostgreSQL witness ------------------------------------------------------------------------


@pytest.fixture
def database_url(request: pytest.FixtureRequest) -> str:
    if not (shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))):
        pytest.skip("PostgreSQL's initdb is missing (make test installs it)")
    return str(request.getfixturevalue("postgres_url"))


def test_a_postgres_witness_catches_a_lost_tail(
    home: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("VALET_DATABASE_URL", database_url)
    configure(home, 'witness = "database"', 'name = "tamper-test"')
    write(home, 10)
    witness = witness_from("database", log="tamper-test")
    assert isinstance(witness, DatabaseWitness)
    assert [h.seq for h in witness.heads()] == [4, 8, 10]
    assert DatabaseWitness(database_url, "another-log").heads() == []
    assert verify(home, pinned=pin(home)).ok
    sql(home, "DELETE FROM records WHERE seq > 7", "DELETE FROM checkpoints WHERE record_seq > 7")
    caught(home, "truncated", pinned=pin(home))


# ---- pinning -----------------------------------------------------------------------------------


def test_valet_audit_pin_prints_and_writes_the_fingerprint(
    witnessed: Path, heads_file: Path, tmp_path: Path
) -> None:
    inside = cli(witnessed, "pin", str(witnessed / "audit.pub"))
    assert inside.exit_code == 2 and "inside valet's home" in inside.output
    target = tmp_path / "usb" / "valet-audit.pub"
    result = cli(witnessed, "pin", str(target))
    assert result.exit_code == 0, result.output
    printed = result.stdout.strip()
    assert printed == pin(witnessed) == target.read_text().strip()
    assert printed.startswith("ed25519:") and len(printed) == len("ed25519:") + 64
    configure(witnessed, f'witness = "file:{heads_file}"', f'pin = "{target}"')
    assert "pinned key" in cli(witnessed, "verify").output  # the pin file is used
    wrong = cli(
        witnessed, "verify", "--key", fingerprint(Ed25519PrivateKey.generate().public_key())
    )
    assert wrong.exit_code == 1 and "checkpoint_forged" in wrong.output
    garbage = cli(witnessed, "verify", "--key", "ed25519:nothex")
    assert garbage.exit_code == 2 and "not an audit key fingerprint" in garbage.output


def test_a_file_witness_outside_the_home_is_read_back(tmp_path: Path) -> None:
    witness = witness_from(f"file:{tmp_path / 'heads.jsonl'}")
    assert isinstance(witness, FileWitness)
    key = Ed25519PrivateKey.generate()
    witness.send(Head.sign(key, 3, "a" * 64))
    witness.send(Head.sign(key, 7, "b" * 64))
    heads = witness.heads()
    assert [(h.seq, h.hash) for h in heads] == [(3, "a" * 64), (7, "b" * 64)]
    assert all(h.signed_by(key.public_key()) for h in heads)
    assert not heads[0].signed_by(Ed25519PrivateKey.generate().public_key())


def test_the_server_signs_and_witnesses_the_persons_records_at_each_tasks_end(
    home: Path, heads_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from valet.agent import HandBack
    from valet.server._person import PersonDesk

    monkeypatch.delenv(KEY_ENV, raising=False)
    configure(home, f'witness = "file:{heads_file}"')
    desk = PersonDesk(home, lambda task_id, what: None)
    back = HandBack(by="person", seconds=3.0, url_before="http://a/", url_after="http://b/")
    desk.note_takeover("task-1", "the person asked to take over", back)
    desk.end("task-1")  # the task ends: its records are signed and witnessed
    assert [h.seq for h in FileWitness(heads_file).heads()] == [1]
    desk.note_takeover("task-2", "the person asked to take over", back)
    desk.close()  # the server shuts down
    assert [h.seq for h in FileWitness(heads_file).heads()] == [1, 2]
    assert verify(home, pinned=pin(home)).ok
