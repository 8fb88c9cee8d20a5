"""One task across three connectors, end to end, the way valet runs it (`run_task`: the loop, the
gateway, the audit log; and as a served task, with the person answering through the REST API)
with a scripted model, against real servers on 127.0.0.1: Dovecot and aiosmtpd for mail,
Radicale for the calendar, a folder for the person's files.

"Read the invoice email, save its attachment to my files, add the due date to my calendar, and
reply to confirm": the task's grants allow the file and the event without asking and the reply
only after asking the person; a read-only task can write nowhere whatever the model asks; a
declined reply sends nothing and the task still ends cleanly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import caldav
import pytest
from cryptography.fernet import Fernet
from tests._servers import CAL_PASSWORD, DOMAIN, Dovecot, MailDrop, Radicale
from tests.test_server_approvals import next_request
from tests.test_server_harness import running_server
from typer.testing import CliRunner

from valet.agent import Finished
from valet.audit import KEY_ENV, AuditLog
from valet.cli import app
from valet.connectors import ToolsetConfig
from valet.connectors._ical import parse
from valet.connectors.mail import TASK_HEADER
from valet.effects import Effect
from valet.gateway import Approval, ApprovalRequest, Approver, ScriptedApprover
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.policy import ConnectorGrant
from valet.record import RunStore
from valet.runtime import TaskSpec, run_task
from valet.server import ModelChoice
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault

# Plain SMTP AUTH is fine on loopback.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

TASK = (
    "Read the invoice email, save its attachment to my files, add the due date to my calendar, "
    "and reply to confirm"
)
INVOICE_ID = "<invoice-2026-117@acme.example>"
VENDOR = "ACME Billing <billing@acme.example>"
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
SAVED_AS = "Invoices/ACME 2026-117.pdf"
DUE = date(2026, 12, 15)
REPLY = "Hello, we received invoice 2026-117 and will pay it by 15 December 2026. Alice"

ALLOWED = (
    ConnectorGrant.of("mail", Effect.SEND),  # may send, but only after asking the person
    ConnectorGrant.of("files", Effect.UPDATE, approved=[Effect.UPDATE]),
    ConnectorGrant.of("calendar", Effect.CREATE, approved=[Effect.CREATE]),
)


def invoice(to: str) -> bytes:
    """The vendor's invoice as it arrives: text with the due date, and a PDF attached."""
    message = EmailMessage()
    message["From"] = VENDOR
    message["To"] = f"Alice Example <{to}>"
    message["Subject"] = "Invoice 2026-117"
    message["Date"] = "Mon, 23 Nov 2026 09:12:00 +0100"
    message["Message-ID"] = INVOICE_ID
    message.set_content(
        "Dear Alice,\n\nPlease find attached invoice 2026-117 for 1,250.00 EUR.\n"
        "Payment is due by 15 December 2026.\n\nKind regards,\nACME Billing\n"
    )
    message.add_attachment(PDF, maintype="application", subtype="pdf", filename="invoice.pdf")
    return message.as_bytes()


@dataclass
class Person:
    """Everything the person has: a mailbox, a calendar account, a files folder, a valet home."""

    home: Path
    user: str
    files: Path
    bills: caldav.Calendar
    toolsets: tuple[ToolsetConfig, ...]

    @property
    def address(self) -> str:
        return f"{self.user}@{DOMAIN}"

    @property
    def attachment(self) -> Path:
        """Where the mail toolset keeps the invoice's attachment when it is read."""
        return self.home / "attachments" / "mail" / "INBOX-1" / "invoice.pdf"


@pytest.fixture
def person(
    home: Path,
    tmp_path: Path,
    dovecot: Dovecot,
    smtp: tuple[MailDrop, int],
    radicale: Radicale,
    monkeypatch: pytest.MonkeyPatch,
) -> Person:
    """A fresh mailbox with the invoice in its INBOX, a fresh calendar account with an empty
    Bills calendar, a files folder, and the vault holding both logins."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())
    user, cal_user = dovecot.add_user(), radicale.add_user()
    dovecot.append(user, "INBOX", invoice(f"{user}@{DOMAIN}"))
    bills = radicale.client(cal_user).principal().make_calendar(name="Bills", cal_id="bills")
    files = tmp_path / "files"
    (files / "Invoices").mkdir(parents=True)
    (files / "Invoices" / "ACME 2026-098.pdf").write_bytes(b"%PDF-1.4 an older invoice\n")
    (files / "notes.txt").write_text("call the bank\n")
    vault = Vault.open(home, create=True)
    vault.add(
        Credential(
            name="mail", domains=("127.0.0.1",), username=user, password=dovecot.passwords[user]
        )
    )
    vault.add(
        Credential(
            name="cal",
            domains=(f"127.0.0.1:{radicale.port}",),
            username=cal_user,
            password=CAL_PASSWORD,
        )
    )
    vault.save()
    mail = {
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "imap_tls": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp[1],
        "smtp_tls": "none",
        "credential": "mail",
        "address": f"{user}@{DOMAIN}",
        "display_name": "Alice Example",
        "attachments_dir": str(home / "attachments"),
        "timeout": 10,
    }
    toolsets = (
        ToolsetConfig(name="mail", connector="mail", settings=mail),
        ToolsetConfig(
            name="files",
            connector="files",
            settings={"root": str(files), "import_from": [str(home / "attachments")]},
        ),
        ToolsetConfig(
            name="calendar",
            connector="calendar",
            settings={
                "url": radicale.url,
                "credential": "cal",
                "timezone": "Europe/Paris",
                "calendar": "Bills",
            },
        ),
    )
    return Person(home, user, files, bills, toolsets)


def script(person: Person, *, after_send: str) -> list[dict[str, Any]]:
    """What the model does, each step checking it read what the step before returned."""
    reply = {
        "to": [VENDOR],
        "subject": "Re: Invoice 2026-117",
        "body": REPLY,
        "in_reply_to": INVOICE_ID,
    }
    event = {
        "summary": "Pay ACME invoice 2026-117 (1,250.00 EUR)",
        "start": DUE.isoformat(),
        "end": date(2026, 12, 16).isoformat(),
    }
    source = {"source": str(person.attachment), "destination": SAVED_AS}
    return [
        {"raw": {"tool": "mail_search", "args": {"subject": "invoice"}}},
        {
            "expect": {"prompt": '"subject": "Invoice 2026-117"'},
            "raw": {"tool": "mail_read_message", "args": {"uid": 1}},
        },
        {
            "expect": {"prompt": "Payment is due by 15 December 2026"},
            "raw": {"tool": "files_import_file", "args": source},
        },
        {"raw": {"tool": "calendar_create_event", "args": event}},
        {"raw": {"tool": "mail_send", "args": reply}},
        {"expect": {"prompt": after_send}, "done": "invoice handled"},
    ]


@dataclass
class Run:
    id: str
    end: Finished
    steps: list[dict[str, Any]]
    audit: list[tuple[str, str, str, str, str, str]]

    @property
    def kinds(self) -> list[str]:
        return [s["action"]["kind"] for s in self.steps]


async def run(person: Person, approver: Approver, steps: list[dict[str, Any]], **spec: Any) -> Run:
    """Run the task through `run_task` with `spec`'s grants; its record and audit entries."""
    result = await run_task(
        TaskSpec(task=TASK, toolsets=person.toolsets, **spec),
        scripted_model(ScriptPlayer(parse_steps(steps))),
        home=person.home,
        model_info={"model": "scripted:test"},
        approver=approver,
    )
    header, recorded = RunStore(person.home / "runs").load(result.run_id)
    assert header["id"] == result.run_id
    assert isinstance(result.end, Finished), result.end
    with AuditLog.open(person.home / "audit.db", person.home / "keys" / "audit.key") as log:
        audit = [
            (r.actor, r.tool, r.verdict, r.rule_id, r.approver, r.outcome)
            for r in log.records(task_id=result.run_id)
        ]
    return Run(result.run_id, result.end, recorded, audit)


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def events_of(calendar: caldav.Calendar) -> list[Any]:
    """Every event on the server, read with a direct CalDAV client (not valet)."""
    return [next(iter(parse(str(e.data)).walk("VEVENT"))) for e in calendar.events()]


def verify_audit(home: Path) -> str:
    verified = CliRunner().invoke(app, ["audit", "verify"], env={"VALET_HOME": str(home)})
    assert verified.exit_code == 0, verified.output
    return verified.output


READS = [
    ("agent", "mail_search", "allow", "builtin.allow.read", "", "executed"),
    ("agent", "mail_read_message", "allow", "builtin.allow.read", "", "executed"),
]


async def test_the_invoice_task_saves_adds_and_replies_after_asking(
    person: Person, smtp: tuple[MailDrop, int], dovecot: Dovecot
) -> None:
    drop, _ = smtp
    sent_before = len(drop.received)
    approver = ScriptedApprover.of([Approval.approved("person:alice")])
    done = await run(person, approver, script(person, after_send='"sent_to"'), grants=ALLOWED)

    assert done.end.success, done.end.answer
    assert done.kinds == [
        "mail_search",
        "mail_read_message",
        "files_import_file",
        "calendar_create_event",
        "mail_send",
        "done",
    ]
    assert all(step["ok"] for step in done.steps), [s["result"] for s in done.steps]

    # Only the reply was asked, and the person saw to whom and what.
    (asked,) = approver.requests
    assert (asked.tool, asked.effect, asked.task_id) == ("mail_send", "send", done.id)
    assert asked.args["to"] == [VENDOR] and asked.args["subject"] == "Re: Invoice 2026-117"
    assert asked.decision.rule_id == "builtin.ask.send"
    assert asked.rules == ("builtin.ask.send: send asks you first",)
    # The address came from the invoice mail the request reads: the person pointed to it, so
    # nothing is untrusted and nothing warns; the ask says which message it came from.
    (origin,) = asked.provenance
    assert origin.startswith(f"to = {VENDOR}: from what your request points to (")
    assert "mail_read_message#2: from ACME Billing" in origin and "Invoice 2026-117" in origin
    assert asked.sources == () and asked.warnings == ()

    # The files folder holds the attachment, byte for byte.
    assert (person.files / SAVED_AS).read_bytes() == PDF

    # The calendar has the due date, marked as valet's, with this run's id.
    (event,) = events_of(person.bills)
    assert event.decoded("DTSTART") == DUE
    assert str(event["SUMMARY"]) == "Pay ACME invoice 2026-117 (1,250.00 EUR)"
    assert str(event["X-VALET-TASK"]) == done.id
    assert f"Added by valet, an AI agent, for task {done.id}." in str(event["DESCRIPTION"])

    # The vendor got the reply, in the invoice's thread, with valet's mark and this run's id.
    (received,) = drop.received[sent_before:]
    reply = received.message
    assert received.rcpt_tos == ["billing@acme.example"]
    assert reply[TASK_HEADER] == done.id
    assert reply["In-Reply-To"] == INVOICE_ID and reply["References"] == INVOICE_ID
    assert reply["From"] == f"Alice Example <{person.address}>"
    assert isinstance(reply, EmailMessage)
    body = reply.get_body()
    assert body is not None
    text = body.get_content().replace("\r\n", "\n")
    assert text.startswith(REPLY) and "— sent by valet on behalf of Alice Example" in text
    assert len(dovecot.messages(person.user, "Sent")) == 1

    # The audit log: each step, in order, by the agent, with the rule that allowed or asked and
    # who answered the ask; the chain verifies. (Here nothing but that record names the person;
    # a served task also records their answer as their own act: see the served test below.)
    assert done.audit == [
        *READS,
        ("agent", "files_import_file", "allow", "builtin.preapproved.update", "", "executed"),
        ("agent", "calendar_create_event", "allow", "builtin.preapproved.create", "", "executed"),
        ("agent", "mail_send", "ask", "builtin.ask.send", "person:alice", "executed"),
    ]
    assert verify_audit(person.home).startswith("ok: ")


class ApprovesEverything:
    """A person who would approve anything: a read-only grant must still win."""

    def __init__(self) -> None:
        self.asked: list[ApprovalRequest] = []

    async def decide(self, request: ApprovalRequest) -> Approval:
        self.asked.append(request)
        return Approval.approved("person:reckless")


async def test_a_read_only_task_writes_nowhere_whatever_the_model_asks(
    person: Person, smtp: tuple[MailDrop, int], dovecot: Dovecot
) -> None:
    drop, _ = smtp
    sent_before = len(drop.received)
    files_before = files_of(person.files)
    approver = ApprovesEverything()
    steps = script(person, after_send="denied by rule grant.read_only")
    done = await run(person, approver, steps)  # no grants: every toolset is read-only

    assert done.kinds[:2] == ["mail_search", "mail_read_message"]
    assert done.steps[0]["ok"] and done.steps[1]["ok"]
    for step, connector in zip(done.steps[2:5], ("files", "calendar", "mail"), strict=True):
        assert not step["ok"]
        assert step["result"].startswith("denied by rule grant.read_only: ")
        assert f"this task may only read {connector}" in step["result"]
    assert approver.asked == []  # denied outright: nobody is asked, whoever would say yes
    assert files_of(person.files) == files_before
    assert events_of(person.bills) == []
    assert len(drop.received) == sent_before
    assert dovecot.messages(person.user, "Sent") == []
    assert done.audit == [
        *READS,
        ("agent", "files_import_file", "deny", "grant.read_only", "", "denied"),
        ("agent", "calendar_create_event", "deny", "grant.read_only", "", "denied"),
        ("agent", "mail_send", "deny", "grant.read_only", "", "denied"),
    ]
    # Reading the mail kept its attachment in valet's own folder, not in the person's files.
    assert person.attachment.read_bytes() == PDF
    assert verify_audit(person.home).startswith("ok: ")


async def test_a_declined_reply_sends_nothing_and_the_task_ends_cleanly(
    person: Person, smtp: tuple[MailDrop, int], dovecot: Dovecot
) -> None:
    drop, _ = smtp
    sent_before = len(drop.received)
    approver = ScriptedApprover.of([Approval.declined("person:alice", "I will call them")])
    steps = script(person, after_send="declined by person:alice")
    done = await run(person, approver, steps, grants=ALLOWED)

    assert done.end.success and done.end.answer == "invoice handled"  # it read the decline
    assert done.kinds[-2:] == ["mail_send", "done"]
    send = done.steps[-2]
    assert not send["ok"]
    assert send["result"].startswith("declined by person:alice (rule builtin.ask.send: ")
    assert [r.tool for r in approver.requests] == ["mail_send"]
    assert len(drop.received) == sent_before
    assert dovecot.messages(person.user, "Sent") == []
    assert (person.files / SAVED_AS).read_bytes() == PDF  # the allowed steps still ran
    assert [e.decoded("DTSTART") for e in events_of(person.bills)] == [DUE]
    assert done.audit[-1] == (
        "agent",
        "mail_send",
        "ask",
        "builtin.ask.send",
        "person:alice",
        "declined",
    )
    assert verify_audit(person.home).startswith("ok: ")


def config_toml(person: Person) -> str:
    """The person's `config.toml`: the three toolsets and the same grants, as standing grants."""
    lines: list[str] = []
    for toolset in person.toolsets:
        table = {"name": toolset.name, "connector": toolset.connector, **toolset.settings}
        lines += ["[[connectors]]", *(f"{key} = {json.dumps(v)}" for key, v in table.items())]
    lines += [
        "[grants]",
        'mail = ["send"]',
        'files = { effects = ["update"], approved = ["update"] }',
        'calendar = { effects = ["create"], approved = ["create"] }',
    ]
    return "\n".join(lines) + "\n"


async def test_served_the_person_approves_in_the_inbox_and_one_id_names_the_task(
    person: Person, smtp: tuple[MailDrop, int]
) -> None:
    drop, _ = smtp
    sent_before = len(drop.received)
    (person.home / "config.toml").write_text(config_toml(person))
    steps = parse_steps(script(person, after_send='"sent_to"'))

    def factory(spec: str | None) -> ModelChoice:
        return ModelChoice(scripted_model(ScriptPlayer(steps)), {"model": "scripted:invoice"})

    async with running_server(person.home, model_factory=factory) as srv:
        created = await srv.client.post("/api/tasks", json={"task": TASK})
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        asked = await next_request(srv, set())
        approved = await srv.client.post(f"/api/requests/{asked['id']}/approve")
        events = await srv.final_events(task_id)
        task = (await srv.client.get(f"/api/tasks/{task_id}")).json()

    assert approved.status_code == 200, approved.text
    assert events[-1]["status"] == "succeeded", events[-1]
    assert (asked["task_id"], asked["kind"], asked["tool"]) == (task_id, "approval", "mail_send")
    assert asked["args"]["to"] == [VENDOR] and asked["args"]["subject"] == "Re: Invoice 2026-117"
    assert asked["rule"] == "builtin.ask.send"

    # The server's task, its run record, the audit log and the marks on the mail and the event
    # all carry the same id.
    assert task["run_id"] == task_id
    (received,) = drop.received[sent_before:]
    assert received.message[TASK_HEADER] == task_id
    (event,) = events_of(person.bills)
    assert str(event["X-VALET-TASK"]) == task_id
    assert (person.files / SAVED_AS).read_bytes() == PDF
    with AuditLog.open(person.home / "audit.db", person.home / "keys" / "audit.key") as log:
        audit = [(r.actor, r.tool, r.verdict, r.rule_id) for r in log.records(task_id=task_id)]
    assert audit == [
        ("agent", "mail_search", "allow", "builtin.allow.read"),
        ("agent", "mail_read_message", "allow", "builtin.allow.read"),
        ("agent", "files_import_file", "allow", "builtin.preapproved.update"),
        ("agent", "calendar_create_event", "allow", "builtin.preapproved.create"),
        ("person", "approval", "allow", "person.approval"),
        ("agent", "mail_send", "ask", "builtin.ask.send"),
    ]
    assert verify_audit(person.home).startswith("ok: ")
