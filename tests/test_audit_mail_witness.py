"""The mail witness (`witness = "mail:NAME"`): each checkpoint head is mailed through a
`[[connectors]]` mail toolset, with its login from the vault, and read back over IMAP — against
the real Dovecot and aiosmtpd servers of `tests/_servers.py`. The log's tail is cut for real on
the SQLite file and `valet audit verify` catches it through the mailbox; an SMTP server that
refuses or is down loses no record; an unreadable mailbox is reported."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests._servers import DOMAIN, Dovecot, MailDrop, free_port, smtp_server
from tests.test_audit_tamper import (
    caught,
    cli,
    entry,
    open_log,
    pin,
    records,
    sql,
    verify,
    write,
)

from valet.audit import (
    KEY_ENV,
    AuditConfigError,
    Head,
    MailWitness,
    WitnessError,
    witness_from,
)
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault


class Mailbox:
    """A Dovecot user whose login is vault credential `name`, as mail toolset `name`."""

    def __init__(self, name: str, user: str, dovecot: Dovecot, smtp_port: int) -> None:
        self.name, self.user = name, user
        self.address = f"{user}@{DOMAIN}"
        self.settings: dict[str, Any] = {
            "imap_host": "127.0.0.1",
            "imap_port": dovecot.port,
            "imap_tls": "none",
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_tls": "none",
            "credential": name,
            "address": self.address,
            "timeout": 10,
        }

    def toml(self) -> list[str]:
        table = {"name": self.name, "connector": "mail", **self.settings}
        return ["[[connectors]]", *(f"{key} = {json.dumps(v)}" for key, v in table.items())]


@pytest.fixture
def vault(home: Path, monkeypatch: pytest.MonkeyPatch) -> Vault:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())
    return Vault.open(home, create=True)


def mailbox(name: str, dovecot: Dovecot, vault: Vault, smtp_port: int) -> Mailbox:
    box = Mailbox(name, dovecot.add_user(), dovecot, smtp_port)
    vault.add(
        Credential(
            name=name,
            domains=("127.0.0.1",),
            username=box.user,
            password=dovecot.passwords[box.user],
        )
    )
    vault.save()
    return box


def configure(home: Path, audit: list[str], *boxes: Mailbox) -> None:
    lines = ["[audit]", *audit, *(line for box in boxes for line in box.toml())]
    (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def box(home: Path, dovecot: Dovecot, smtp: tuple[MailDrop, int], vault: Vault) -> Mailbox:
    """A mailbox configured as the log's witness (`witness = "mail:box"`)."""
    found = mailbox("box", dovecot, vault, smtp[1])
    configure(home, ['witness = "mail:box"'], found)
    return found


def mailed(dovecot: Dovecot, user: str) -> list[tuple[str, dict[str, object]]]:
    """(subject, JSON body) of every message in the user's INBOX."""
    found: list[tuple[str, dict[str, object]]] = []
    for raw in dovecot.messages(user, "INBOX"):
        message = message_from_bytes(raw, policy=default_policy)
        body = message.get_body(("plain",))
        assert body is not None
        found.append((str(message["Subject"]), json.loads(str(body.get_content()))))
    return found


def test_each_head_arrives_in_the_mailbox_and_verify_reads_it_back(
    home: Path, box: Mailbox, dovecot: Dovecot
) -> None:
    write(home, 10)  # checkpoints at 4, 8 and on close (10)
    arrived = mailed(dovecot, box.user)
    assert [subject for subject, _ in arrived] == [
        "valet audit head valet #4",
        "valet audit head valet #8",
        "valet audit head valet #10",
    ]
    assert {body["public_key"] for _, body in arrived} == {pin(home).removeprefix("ed25519:")}
    other = b"From: a@b.c\r\nSubject: valet audit head valet2 #3\r\n\r\nnot a head\r\n"
    dovecot.append(box.user, "INBOX", other)  # another log's subject: not this log's head
    witness = witness_from("mail:box", log="valet")
    assert isinstance(witness, MailWitness)
    assert [head.seq for head in witness.heads()] == [4, 8, 10]
    report = verify(home, pinned=pin(home))
    assert report.ok and report.notes() == [], report.summary()
    result = cli(home, "verify", "--key", pin(home))
    assert result.exit_code == 0, result.output
    assert "witness mail:box up to record 10" in result.output


def test_a_tail_cut_with_its_checkpoints_is_caught_through_the_mailbox(
    home: Path, box: Mailbox
) -> None:
    write(home, 10)
    sql(home, "DELETE FROM records WHERE seq > 7", "DELETE FROM checkpoints WHERE record_seq > 7")
    assert verify(home, pinned=pin(home), witnessed=False).ok  # the file alone looks fine
    caught(home, "truncated", pinned=pin(home))
    caught(home, "truncated")
    result = cli(home, "verify", "--key", pin(home), "--witness", "mail:box")
    assert result.exit_code == 1 and "mail:box saw record 10 signed" in result.output


def test_heads_can_go_to_another_mailbox_read_with_its_own_toolset(
    home: Path, dovecot: Dovecot, smtp: tuple[MailDrop, int], vault: Vault
) -> None:
    own = mailbox("work", dovecot, vault, smtp[1])
    other = mailbox("backup", dovecot, vault, smtp[1])
    spec = f"mail:work?to={other.address}&read=backup"
    configure(home, [f'witness = "{spec}"', 'name = "laptop"'], own, other)
    write(home, 5)
    assert dovecot.messages(own.user, "INBOX") == []
    subjects = [subject for subject, _ in mailed(dovecot, other.user)]
    assert subjects == ["valet audit head laptop #4", "valet audit head laptop #5"]
    result = cli(home, "verify", "--key", pin(home))
    assert result.exit_code == 0, result.output
    assert f"witness mail:work to {other.address} read by backup up to record 5" in (result.output)
    sql(home, "DELETE FROM checkpoints")
    caught(home, "checkpoint_deleted", pinned=pin(home))


class Refusing:
    """An SMTP server that signs anyone in and then refuses every message."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "451 4.3.0 try again later"


@pytest.fixture(params=["refusing", "down"])
def broken_smtp(request: pytest.FixtureRequest) -> Iterator[int]:
    if request.param == "down":
        yield free_port()  # nothing listens there
        return

    def anyone(*args: object) -> AuthResult:
        return AuthResult(success=True)

    with smtp_server(Refusing(), anyone) as port:
        yield port


def test_a_broken_smtp_server_loses_no_record(
    home: Path,
    dovecot: Dovecot,
    vault: Vault,
    broken_smtp: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure(home, ['witness = "mail:box"'], mailbox("box", dovecot, vault, broken_smtp))
    with caplog.at_level(logging.WARNING, logger="valet.audit"):
        log = open_log(home)
        for i in range(1, 11):
            log.append(entry(i))  # checkpoints at 4 and 8 fail to send
        log.close()  # and the one on close (10)
    assert log.unwitnessed == 3
    assert [r.seq for r in records(home)] == list(range(1, 11))
    warnings = [r.getMessage() for r in caplog.records if r.name == "valet.audit"]
    assert len(warnings) == 3 and all("not witnessed: mail:box" in w for w in warnings)
    result = cli(home, "verify", "--key", pin(home))
    assert result.exit_code == 0, result.output  # readable, holding nothing: it lags
    assert "witness mail:box lags: it holds heads up to record 0" in result.output


def test_an_unreadable_mailbox_is_reported_by_verify(
    home: Path, dovecot: Dovecot, smtp: tuple[MailDrop, int], vault: Vault
) -> None:
    box = mailbox("box", dovecot, vault, smtp[1])
    configure(home, ['witness = "mail:box"'], box)
    write(home, 4)
    box.settings["imap_port"] = closed = free_port()
    configure(home, ['witness = "mail:box"'], box)
    result = cli(home, "verify", "--key", pin(home))
    assert result.exit_code == 1, result.output
    assert "witness_unreadable" in result.output
    assert f"cannot reach the IMAP server 127.0.0.1:{closed}" in result.output


def test_a_mail_witness_names_a_configured_mail_toolset(home: Path, dovecot: Dovecot) -> None:
    (home / "config.toml").write_text(
        '[[connectors]]\nname = "notes"\nconnector = "files"\nroot = "/tmp"\n', encoding="utf-8"
    )
    with pytest.raises(AuditConfigError, match="no mail toolset 'box'"):
        witness_from("mail:box")
    with pytest.raises(AuditConfigError, match="no mail toolset 'notes'"):
        witness_from("mail:notes")
    result = cli(home, "verify", "--witness", "mail:box")
    assert result.exit_code == 2 and "no mail toolset 'box'" in result.output
    with pytest.raises(AuditConfigError, match="unknown options bcc"):
        witness_from("mail:box?bcc=a@b.c")
    with pytest.raises(AuditConfigError, match="not one e-mail address"):
        witness_from("mail:box?to=nobody")
    (home / "config.toml").write_text("\n".join(Mailbox("box", "u1", dovecot, 25).toml()))
    witness = witness_from("mail:box?to=me+audit@elsewhere.example&folder=Audit%20heads")
    assert isinstance(witness, MailWitness) and witness.reader is witness.sender
    assert (witness.to, witness.folder) == ("me+audit@elsewhere.example", "Audit heads")


def test_a_mail_witness_needs_an_address_to_send_from(
    home: Path, dovecot: Dovecot, smtp: tuple[MailDrop, int], vault: Vault
) -> None:
    box = mailbox("box", dovecot, vault, smtp[1])
    del box.settings["address"]  # the vault's username "uN" is no address
    configure(home, [], box)
    witness = witness_from("mail:box")
    with pytest.raises(WitnessError, match="has no address"):
        witness.send(Head.sign(Ed25519PrivateKey.generate(), 1, "a" * 64))
