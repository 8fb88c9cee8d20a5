"""The mail connector against real servers on 127.0.0.1, started by the test session
(`tests/_servers.py`): Dovecot (IMAP, with its own config, run as `nobody` when the tests run as
root) and aiosmtpd (SMTP, in-process, delivering to Dovecot's mailboxes). Every call goes
through the gateway."""

from __future__ import annotations

import os
import secrets
from contextlib import AsyncExitStack
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from tests._servers import DOMAIN, Dovecot, Introspection, MailDrop, free_port

from valet.audit import AuditLog
from valet.connectors import ConnectorError, Toolset, ToolsetConfig, open_toolsets
from valet.connectors import registered_connectors as registry
from valet.connectors.mail import TASK_HEADER, MailConnector
from valet.gateway import Approval, Gateway, ScriptedApprover, TaskContext
from valet.policy import AllowedRecipientDomains, Policy, RuleSet
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault

# Plain SMTP AUTH is fine on loopback.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

TASK = "task-42"

REQUEST = "Sort my mail: reply, move, flag and delete what needs it"
"""What the tests' task asks: the actions it takes are ones the person asked for."""


@dataclass
class Account:
    user: str
    address: str
    settings: dict[str, object]


@pytest.fixture
def account(
    dovecot: Dovecot, smtp: tuple[MailDrop, int], home: Path, monkeypatch: pytest.MonkeyPatch
) -> Account:
    """A fresh Dovecot user whose password is only in the vault of a fresh valet home."""
    from cryptography.fernet import Fernet

    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())
    user = dovecot.add_user()
    vault = Vault.open(home, create=True)
    vault.add(
        Credential(
            name="work-mail",
            domains=("127.0.0.1",),
            username=user,
            password=dovecot.passwords[user],
        )
    )
    vault.save()
    settings: dict[str, object] = {
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "imap_tls": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp[1],
        "smtp_tls": "none",
        "credential": "work-mail",
        "address": f"{user}@{DOMAIN}",
        "display_name": "Alice Example",
        "attachments_dir": str(home / "attachments"),
        "timeout": 10,
    }
    return Account(user, f"{user}@{DOMAIN}", settings)


@dataclass
class Mail:
    toolset: Toolset
    gateway: Gateway
    approver: ScriptedApprover

    async def call(self, operation: str, **args: object) -> Any:
        """Call `mail_<operation>` through the gateway; returns its value (asserting it ran)."""
        result = await self.gateway.call(f"mail_{operation}", args)
        assert result.ok, result.message
        return result.value

    async def fail(self, operation: str, **args: object) -> str:
        result = await self.gateway.call(f"mail_{operation}", args)
        assert not result.ok, result.value
        return result.message


def opened(
    account: Account,
    audit: AuditLog,
    *,
    approve: int = 0,
    rules: RuleSet | None = None,
    connector: MailConnector | None = None,
    **overrides: object,
) -> OpenedMail:
    return OpenedMail(account, audit, approve, rules, connector, overrides)


class OpenedMail:
    """`async with opened(account, audit, approve=N) as mail:` a mail toolset behind a gateway
    whose approver approves N asks, then declines."""

    def __init__(
        self,
        account: Account,
        audit: AuditLog,
        approve: int,
        rules: RuleSet | None,
        connector: MailConnector | None,
        overrides: dict[str, object],
    ) -> None:
        self.config = ToolsetConfig(
            name="mail", connector="mail", settings={**account.settings, **overrides}
        )
        self.audit = audit
        self.approver = ScriptedApprover.of([Approval.approved("person:alice")] * approve)
        self.rules = rules
        self.registry = None if connector is None else {"mail": connector}
        self.stack = AsyncExitStack()

    async def __aenter__(self) -> Mail:
        (toolset,) = await open_toolsets([self.config], self.stack, self.registry)
        gateway = Gateway(
            toolset.tools(),
            rules=Policy(rules=self.rules or RuleSet()),
            audit=self.audit,
            approver=self.approver,
            task=TaskContext(task_id=TASK, request=REQUEST),
        )
        return Mail(toolset, gateway, self.approver)

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()


def file_bytes(path: Path) -> bytes:
    return path.read_bytes()


def letter(
    subject: str,
    body: str = "Hello",
    *,
    sender: str = "carol@example.org",
    to: str = f"someone@{DOMAIN}",
    attachment: tuple[str, bytes, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = "Mon, 02 Nov 2026 10:00:00 +0000"
    message["Message-ID"] = f"<{secrets.token_hex(6)}@example.org>"
    message.set_content(body)
    if attachment is not None:
        name, data, kind = attachment
        maintype, subtype = kind.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


# The connector and its operations


async def test_mail_registers_through_the_entry_point_with_declared_effects(
    account: Account, audit: AuditLog
) -> None:
    connector = registry()["mail"]
    assert connector.scopes == ("mail.read", "mail.modify", "mail.compose", "mail.send")
    async with opened(account, audit) as mail:
        effects = {op.name: (op.effect.value, op.scopes) for op in mail.toolset.operations}
        send = next(op for op in mail.toolset.operations if op.name == "send")
    assert effects == {
        "list_folders": ("read", ("mail.read",)),
        "search": ("read", ("mail.read",)),
        "read_message": ("read", ("mail.read",)),
        "move": ("update", ("mail.modify",)),
        "flag": ("update", ("mail.modify",)),
        "draft": ("create", ("mail.compose",)),
        "send": ("send", ("mail.send",)),
    }
    assert send.recipient_args == ("to", "cc", "bcc")
    assert mail.toolset.auth == "basic"


async def test_reads_run_without_asking_and_do_not_mark_mail_seen(
    account: Account, dovecot: Dovecot, audit: AuditLog, home: Path
) -> None:
    dovecot.append(
        account.user,
        "INBOX",
        letter("Invoice 7", "Please pay 12 EUR.", sender="billing@shop.example"),
        "(\\Seen)",
    )
    pdf = b"%PDF-1.4 invoice " * 100
    dovecot.append(
        account.user,
        "INBOX",
        letter(
            "Minutes", "See the attached notes.", attachment=("notes.pdf", pdf, "application/pdf")
        ),
    )
    dovecot.append(
        account.user, "INBOX", letter("Lunch?", "Friday at noon", sender="dave@example.org")
    )
    async with opened(account, audit) as mail:
        folders = await mail.call("list_folders")
        everything = await mail.call("search")
        unseen = await mail.call("search", unseen=True)
        by_sender = await mail.call("search", sender="billing@shop.example")
        by_subject = await mail.call("search", subject="minutes", since="2000-01-01")
        none = await mail.call("search", folder="INBOX", text="no such words anywhere")
        minutes = by_subject["messages"][0]
        read = await mail.call("read_message", uid=minutes["uid"])
        again = await mail.call("read_message", uid=minutes["uid"])
        missing = await mail.fail("read_message", uid=999)
        no_folder = await mail.fail("search", folder="Nope")
    assert mail.approver.requests == []
    roles = {f["name"]: f.get("role") for f in folders}
    assert roles == {
        "INBOX": None,
        "Drafts": "drafts",
        "Sent": "sent",
        "Trash": "trash",
        "Archive": "archive",
    }
    inbox = next(f for f in folders if f["name"] == "INBOX")
    assert (inbox["messages"], inbox["unseen"]) == (3, 2)
    assert [m["subject"] for m in everything["messages"]] == ["Lunch?", "Minutes", "Invoice 7"]
    assert [m["subject"] for m in unseen["messages"]] == ["Lunch?", "Minutes"]
    assert [m["from"] for m in by_sender["messages"]] == ["billing@shop.example"]
    assert by_sender["messages"][0]["flags"] == ["seen"]
    assert none == {"folder": "INBOX", "found": 0, "messages": []}
    assert read["subject"] == "Minutes" and read["text"] == "See the attached notes."
    (attachment,) = read["attachments"]
    saved = Path(attachment["saved_to"])
    assert file_bytes(saved) == pdf and saved.is_relative_to(home / "attachments" / "mail")
    assert again["attachments"][0]["saved_to"] == str(saved)  # read twice: no second copy
    assert "seen" not in read["flags"]
    assert all(b"\\Seen" not in line for line in dovecot.flags(account.user, "INBOX")[1:])
    assert "no message 999" in missing
    assert "no folder 'Nope'" in no_folder
    assert {r.verdict for r in audit.records()} == {"allow"}


async def test_without_an_attachments_folder_attachments_land_in_the_tasks_workspace(
    account: Account, dovecot: Dovecot, audit: AuditLog, home: Path
) -> None:
    """Text attachments are shown; every attachment is also a file of the task's workspace,
    for its shell and its files page (read twice: the same file)."""
    pdf = b"%PDF-1.4 binary \x00\xff"
    dovecot.append(
        account.user,
        "INBOX",
        letter("Data", "two files", attachment=("list.csv", b"name,qty\ntea,2\n", "text/csv")),
    )
    dovecot.append(
        account.user,
        "INBOX",
        letter("Scan", "a scan", attachment=("scan.pdf", pdf, "application/pdf")),
    )
    async with opened(account, audit, attachments_dir=None) as mail:
        read = await mail.call("read_message", uid=1)
        scan = await mail.call("read_message", uid=2)
        again = await mail.call("read_message", uid=2)
    assert read["attachments"] == [
        {
            "name": "list.csv",
            "type": "text/csv",
            "size": 15,
            "in_workspace": "attachments/mail/INBOX-1/list.csv",
            "text": "name,qty\ntea,2\n",
        }
    ]
    workspace = home / "runs" / TASK / "workspace"
    assert (workspace / "attachments/mail/INBOX-1/list.csv").read_bytes() == b"name,qty\ntea,2\n"
    (attachment,) = scan["attachments"]
    assert attachment["in_workspace"] == "attachments/mail/INBOX-2/scan.pdf"
    assert "note" not in attachment and "text" not in attachment
    assert (workspace / attachment["in_workspace"]).read_bytes() == pdf
    assert again["attachments"] == scan["attachments"]  # no second copy


MALFORMED = (
    b"From: =?x-unknown?Q?Bro=ken?= <broken@example.org>\r\n"
    b"To: <<<not an address\r\n"
    b"Subject: =?utf-8?B?not base64!!?=\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="never-used"\r\n'
    b"\r\n"
    b"--wrong-boundary\r\n"
    b"Content-Type: text/plain; charset=klingon-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"This is not base64 at all %%%\r\n"
    b"--wrong-boundary--\r\n"
)

BAD_PARTS = (
    b"From: eve@example.org\r\n"
    b"Subject: parts\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/alternative; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/html; charset=no-such-charset\r\n"
    b"\r\n"
    b"<html><body><p>Meeting <b>moved</b></p><script>alert(1)</script>"
    b"<p>to 3 pm</p></body></html>\r\n"
    b"--b1\r\n"
    b'Content-Type: application/octet-stream; name="x.bin"\r\n'
    b'Content-Disposition: attachment; filename="x.bin"\r\n'
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"!!!not-base64\r\n"
)


async def test_malformed_mime_is_read_best_effort_with_its_problems_named(
    account: Account, dovecot: Dovecot, audit: AuditLog
) -> None:
    dovecot.append(account.user, "INBOX", MALFORMED)
    dovecot.append(account.user, "INBOX", BAD_PARTS)
    async with opened(account, audit) as mail:
        listed = await mail.call("search")
        broken = await mail.call("read_message", uid=1)
        parts = await mail.call("read_message", uid=2)
    assert len(listed["messages"]) == 2
    assert "broken@example.org" in broken["from"]
    assert "This is not base64 at all" in broken["text"]
    assert any("boundary" in p for p in broken["problems"])
    assert parts["text"] == "Meeting moved\n\nto 3 pm"
    assert any("no-such-charset" in p for p in parts["problems"])
    assert parts["attachments"][0]["name"] == "x.bin"
    assert any("malformed MIME" in p for p in parts["problems"])


async def test_a_huge_attachment_is_capped_with_a_clear_message(
    account: Account, dovecot: Dovecot, audit: AuditLog
) -> None:
    big = os.urandom(600_000)
    dovecot.append(
        account.user,
        "INBOX",
        letter(
            "Scan",
            "The scan is attached.",
            attachment=("scan.bin", big, "application/octet-stream"),
        ),
    )
    async with opened(account, audit, max_attachment_bytes=200_000) as mail:
        capped = await mail.call("read_message", uid=1)
    async with opened(account, audit, max_message_bytes=100_000) as mail:
        partial = await mail.call("read_message", uid=1)
    (attachment,) = capped["attachments"]
    assert attachment["size"] == 600_000 and "saved_to" not in attachment
    assert attachment["note"] == "not saved: 0.6 MB is over the 0.2 MB cap"
    assert partial["text"] == "The scan is attached."
    assert partial["size"] > 800_000
    assert "over the 0.1 MB cap: only its first 0.1 MB were read" in partial["note"]
    assert partial["attachments"] == [
        {
            "name": "scan.bin",
            "type": "application/octet-stream",
            "note": "not fetched: the message is over the size cap",
        }
    ]


# Changes: asked, and nothing lost


@pytest.mark.parametrize("server", ["move", "copy"])
async def test_move_loses_nothing(
    server: str, account: Account, dovecot: Dovecot, audit: AuditLog
) -> None:
    for subject in ("one", "two", "three"):
        dovecot.append(account.user, "INBOX", letter(subject))
    before = dovecot.messages(account.user, "INBOX")
    port = dovecot.port if server == "move" else dovecot.plain_port
    async with opened(account, audit, approve=3, imap_port=port) as mail:
        moved = await mail.call("move", uid=2, to_folder="Archive")
        nowhere = await mail.fail("move", uid=3, to_folder="No such folder")
        gone = await mail.fail("move", uid=2, to_folder="Archive")  # a retry of a done move
        declined = await mail.fail("move", uid=1, to_folder="Trash")
    assert moved["from"] == "INBOX" and moved["to"] == "Archive"
    assert moved["uid_in_target"] == 1 and "note" not in moved
    assert "no folder 'No such folder'" in nowhere
    assert "no message 2 in 'INBOX'" in gone
    assert "declined" in declined
    assert dovecot.messages(account.user, "INBOX") == [before[0], before[2]]
    assert dovecot.messages(account.user, "Archive") == [before[1]]
    assert dovecot.messages(account.user, "Trash") == []
    assert [r.effect for r in mail.approver.requests] == ["update"] * 4


async def test_flag_sets_and_clears_a_flag(
    account: Account, dovecot: Dovecot, audit: AuditLog
) -> None:
    dovecot.append(account.user, "INBOX", letter("flag me"))
    async with opened(account, audit, approve=3) as mail:
        flagged = await mail.call("flag", uid=1, flag="flagged")
        seen = await mail.call("flag", uid=1, flag="seen")
        cleared = await mail.call("flag", uid=1, flag="flagged", on=False)
    assert sorted(flagged["flags"]) == ["flagged"]
    assert sorted(seen["flags"]) == ["flagged", "seen"]
    assert cleared["flags"] == ["seen"]
    (line,) = dovecot.flags(account.user, "INBOX")
    assert b"\\Seen" in line and b"\\Flagged" not in line


async def test_a_draft_is_saved_with_valets_mark(
    account: Account, dovecot: Dovecot, audit: AuditLog
) -> None:
    async with opened(account, audit, approve=2) as mail:
        draft = await mail.call(
            "draft", to=[f"bob@{DOMAIN}"], subject="Plan", body="Shall we meet on Friday?"
        )
    async with opened(account, audit, approve=1, footer=False) as mail:
        await mail.call("draft", to=[], subject="No footer", body="Just text.")
    first, second = (
        message_from_bytes(m, policy=default_policy)
        for m in dovecot.messages(account.user, "Drafts")
    )
    assert draft == {"saved_in": "Drafts", "message_id": first["Message-ID"], "uid": 1}
    assert first[TASK_HEADER] == TASK and second[TASK_HEADER] == TASK
    assert first["From"] == f"Alice Example <{account.address}>"
    body = first.get_body().get_content().replace("\r\n", "\n")
    assert body.startswith("Shall we meet on Friday?\n\n— sent by valet on behalf of Alice Example")
    assert "sent by valet" not in second.get_body().get_content()
    assert mail.approver.requests[0].effect == "create"


async def test_send_is_asked_marked_and_delivered(
    account: Account, dovecot: Dovecot, smtp: tuple[MailDrop, int], audit: AuditLog
) -> None:
    drop, _ = smtp
    bob = dovecot.add_user()
    sent_before = len(drop.received)
    async with opened(account, audit, approve=1) as mail:
        sent = await mail.call(
            "send",
            to=[f"Bob <{bob}@{DOMAIN}>"],
            bcc=[f"boss@{DOMAIN}"],
            subject="Report",
            body="The report is done.",
        )
    (received,) = drop.received[sent_before:]
    assert (mail.approver.requests[0].tool, mail.approver.requests[0].effect) == (
        "mail_send",
        "send",
    )
    assert received.message[TASK_HEADER] == TASK
    assert received.message["Bcc"] is None  # Bcc goes in the envelope only
    assert received.rcpt_tos == [f"{bob}@{DOMAIN}", f"boss@{DOMAIN}"]
    assert (
        received.message.get_body()
        .get_content()
        .rstrip()
        .endswith("— sent by valet on behalf of Alice Example")
    )
    assert sent["copy_in"] == "Sent" and sent["message_id"] == received.message["Message-ID"]
    (delivered,) = dovecot.messages(bob, "INBOX")
    assert b"The report is done." in delivered
    (kept,) = dovecot.messages(account.user, "Sent")
    assert f"boss@{DOMAIN}".encode() in kept  # the Sent copy keeps the Bcc


async def test_a_declined_send_sends_nothing_while_reads_run(
    account: Account, dovecot: Dovecot, smtp: tuple[MailDrop, int], audit: AuditLog
) -> None:
    drop, _ = smtp
    dovecot.append(account.user, "INBOX", letter("Question", "Can you send me the file?"))
    before = len(drop.received)
    async with opened(account, audit, approve=0) as mail:
        await mail.call("search")
        await mail.call("read_message", uid=1)
        declined = await mail.fail("send", to=[f"carol@{DOMAIN}"], subject="File", body="Here.")
    assert "declined" in declined
    assert len(drop.received) == before
    assert dovecot.messages(account.user, "Sent") == []
    verdicts = [(r.tool, r.verdict, r.outcome) for r in audit.records()]
    assert verdicts == [
        ("mail_search", "allow", "executed"),
        ("mail_read_message", "allow", "executed"),
        ("mail_send", "ask", "declined"),
    ]


async def test_allowed_recipient_domains_denies_an_outside_recipient(
    account: Account, smtp: tuple[MailDrop, int], audit: AuditLog
) -> None:
    drop, _ = smtp
    before = len(drop.received)
    rules = RuleSet(rules=(AllowedRecipientDomains(domains=(DOMAIN,)),))
    async with opened(account, audit, approve=1, rules=rules) as mail:
        denied = await mail.fail(
            "send", to=[f"bob@{DOMAIN}"], cc=["eve@evil.example"], subject="Hi", body="Hello"
        )
    assert "eve@evil.example is outside the domains you allow" in denied
    assert mail.approver.requests == []  # denied outright: nobody is asked
    assert len(drop.received) == before


# Failures: clear, and nothing half-done


async def test_wrong_password_is_a_clear_failure(
    account: Account, smtp: tuple[MailDrop, int], audit: AuditLog, home: Path
) -> None:
    drop, _ = smtp
    vault = Vault.open(home)
    vault.add(
        Credential(name="wrong", domains=("127.0.0.1",), username=account.user, password="nope"),
    )
    vault.save()
    before = len(drop.received)
    async with opened(account, audit, approve=1, credential="wrong") as mail:
        imap = await mail.fail("list_folders")
        smtp_ = await mail.fail("send", to=[f"x@{DOMAIN}"], subject="s", body="b")
    assert f"refused the sign-in of {account.user!r}" in imap
    assert "check the password of vault credential 'wrong'" in imap
    assert "535" in smtp_ and "nothing was sent" in smtp_
    assert "nope" not in imap + smtp_
    assert len(drop.received) == before


async def test_a_server_that_is_down_is_a_clear_failure(account: Account, audit: AuditLog) -> None:
    closed = free_port()
    async with opened(account, audit, approve=1, imap_port=closed, smtp_port=closed) as mail:
        imap = await mail.fail("search")
        smtp_ = await mail.fail("send", to=[f"x@{DOMAIN}"], subject="s", body="b")
    assert imap == (
        f"cannot reach the IMAP server 127.0.0.1:{closed}: connection refused (is the server "
        "running?)"
    )
    assert smtp_ == (
        f"cannot reach the SMTP server 127.0.0.1:{closed}: connection refused (is the server "
        "running?); nothing was sent"
    )


async def test_bad_settings_fail_when_the_toolset_opens(account: Account, audit: AuditLog) -> None:
    async def opens(**overrides: object) -> str:
        with pytest.raises(ConnectorError) as caught:
            async with opened(account, audit, **overrides):
                pass
        return str(caught.value)

    assert "only allowed for a server on this machine" in await opens(smtp_host="smtp.example.com")
    assert "no OAuth2 token source" in await opens(auth="xoauth2", username=account.user)
    with_tokens = MailConnector(tokens=no_token)
    assert "XOAUTH2 needs `username`" in await opens(auth="xoauth2", connector=with_tokens)


async def no_token(account: str) -> str:
    raise AssertionError("never asked")


async def test_a_missing_or_misbound_credential_is_a_clear_failure(
    account: Account, audit: AuditLog
) -> None:
    async with opened(account, audit, credential="missing") as mail:
        missing = await mail.fail("list_folders")
    async with opened(account, audit, imap_host="localhost") as mail:
        misbound = await mail.fail("search")
    assert missing.startswith("the vault has no credential 'missing'")
    assert "bound to 127.0.0.1, not to the IMAP server localhost" in misbound


async def test_xoauth2_signs_in_with_a_token_from_the_token_source(
    account: Account, dovecot: Dovecot, smtp: tuple[MailDrop, int], audit: AuditLog
) -> None:
    drop, _ = smtp
    Introspection.tokens["good-token"] = account.user
    asked: list[str] = []

    async def tokens(name: str) -> str:
        asked.append(name)
        return "expired-token" if len(asked) > 3 else "good-token"

    connector = MailConnector(tokens=tokens)
    before = len(drop.received)
    overrides = {"auth": "xoauth2", "username": account.user, "credential": "oauth-account"}
    async with opened(account, audit, approve=2, connector=connector, **overrides) as mail:
        folders = await mail.call("list_folders")
        sent = await mail.call("send", to=[f"x@{DOMAIN}"], subject="token", body="b")
        refused = await mail.fail("send", to=[f"x@{DOMAIN}"], subject="token", body="b")
    async with opened(account, audit, connector=connector, **overrides) as mail:
        imap_refused = await mail.fail("search")
    assert mail.toolset.auth == "oauth2"
    assert set(asked) == {"oauth-account"}
    assert "INBOX" in {f["name"] for f in folders}
    assert sent["sent_to"] == [f"x@{DOMAIN}"] and len(drop.received) == before + 1
    assert sent["copy_in"] == "Sent"  # kept through IMAP, signed in with the token too
    assert len(dovecot.messages(account.user, "Sent")) == 1
    assert "check the access token of vault credential 'oauth-account'" in refused
    assert "nothing was sent" in refused
    assert f"refused the sign-in of {account.user!r}" in imap_refused


async def test_non_ascii_folders_and_searches(
    account: Account, dovecot: Dovecot, audit: AuditLog
) -> None:
    conn = dovecot.imap(account.user)
    try:
        typ, data = conn.create('"Re&AOc-us"')  # "Reçus" in IMAP's modified UTF-7
        assert typ == "OK", data
    finally:
        conn.logout()
    dovecot.append(account.user, "INBOX", letter("Café au lait", "Merci beaucoup"))
    dovecot.append(account.user, "INBOX", letter("Tea", "Thanks"))
    async with opened(account, audit, approve=1) as mail:
        found = await mail.call("search", subject="Café")
        moved = await mail.call("move", uid=found["messages"][0]["uid"], to_folder="Reçus")
        folders = await mail.call("list_folders")
        there = await mail.call("search", folder="Reçus")
    assert [m["subject"] for m in found["messages"]] == ["Café au lait"]
    assert moved["to"] == "Reçus"
    assert {"name": "Reçus", "messages": 1, "unseen": 1} in folders
    assert [m["subject"] for m in there["messages"]] == ["Café au lait"]
