"""Toolsets in served durable tasks: `valet serve` (durable, as people run it) runs a mail
connector and an MCP server, and a kill in the middle of a send never sends twice.

Mail goes to a real Dovecot (IMAP) through an aiosmtpd server that can hold a message at a
chosen point of the SMTP exchange (before the recipients are accepted, or after the message
was taken but before the server answered) so that the test kills valet exactly there; the mail
the SMTP server received is counted on the server itself.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiosmtpd.smtp import SMTP, Envelope, Session
from cryptography.fernet import Fernet
from tests._servers import DOMAIN, Dovecot, MailDrop, smtp_server
from tests.test_durable import Server, _final, _steps, _wait
from tests.test_toolsets import RECORDER, calls_of

from valet.audit import KEY_ENV
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault

ORDER_MAIL = {
    "to": ["shop@example.org"],
    "subject": "Order 1042: please ship to the new address",
    "body": "Hello, please ship order 1042 to 12 Circuit Lane. Thanks!",
}


class HeldDrop(MailDrop):
    """A mail server that can hold a message: `hold_rcpt` before the recipients are accepted
    (nothing was sent yet), `hold_data` after it took the message and before it answers (it
    was sent). With `keep_sent` it files a copy in the sender's Sent folder, as Gmail and
    Outlook do on their side."""

    def __init__(self, dovecot: Dovecot) -> None:
        super().__init__(dovecot)
        self.hold_rcpt = 0.0
        self.hold_data = 0.0
        self.keep_sent = False
        self.holding = threading.Event()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.hold_rcpt:
            self.holding.set()
            await asyncio.sleep(self.hold_rcpt)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        sender = str(envelope.mail_from).partition("@")[0]
        if self.keep_sent and sender in self.dovecot.passwords:
            self.dovecot.append(sender, "Sent", envelope.original_content or b"", "\\Seen")
        if self.hold_data:
            self.holding.set()
            await asyncio.sleep(self.hold_data)
        return answer


@pytest.fixture
def drop(dovecot: Dovecot) -> Iterator[tuple[HeldDrop, int]]:
    held = HeldDrop(dovecot)
    with smtp_server(held, held.authenticate) as port:
        yield held, port


@dataclass
class Mailbox:
    home: Path
    user: str
    drop: HeldDrop
    calls: Path
    """The recording MCP server's log of the tool calls it received."""

    def received(self, subject: str) -> int:
        return sum(1 for r in self.drop.received if r.message["Subject"] == subject)

    def start(self, script: list[Any]) -> Server:
        path = self.home / "script.yaml"
        path.write_text(yaml.safe_dump(script), encoding="utf-8")
        server = Server(self.home, path)
        server.start()
        return server


@pytest.fixture
def mailbox(
    tmp_path: Path,
    dovecot: Dovecot,
    drop: tuple[HeldDrop, int],
    monkeypatch: pytest.MonkeyPatch,
) -> Mailbox:
    """A valet home whose config.toml has a mail connector (Dovecot + the holding SMTP server)
    and a recording MCP server; the vault holds the mail login."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())  # the server inherits it
    user = dovecot.add_user()
    vault = Vault.open(home, create=True)
    vault.add(
        Credential(
            name="mail", domains=("127.0.0.1",), username=user, password=dovecot.passwords[user]
        )
    )
    vault.save()
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    calls = tmp_path / "calls.txt"
    calls.touch()
    mail = {
        "name": "mail",
        "connector": "mail",
        "imap_host": "127.0.0.1",
        "imap_port": dovecot.port,
        "imap_tls": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": drop[1],
        "smtp_tls": "none",
        "credential": "mail",
        "address": f"{user}@{DOMAIN}",
        "timeout": 60,
    }
    lines = ["[[connectors]]", *(f"{key} = {json.dumps(v)}" for key, v in mail.items())]
    lines += [
        "[[mcp]]",
        'name = "rec"',
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(script))}]",
        f"env = {{ CALLS = {json.dumps(str(calls))} }}",
        "[grants]",  # the person lets tasks send through both (each send is still asked)
        'mail = ["send"]',
        'rec = ["send"]',
    ]
    (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Mailbox(home, user, drop[0], calls)


def _request(server: Server, task_id: str, kind: str) -> dict[str, Any]:
    def asked() -> dict[str, Any] | None:
        found = server.get(f"/api/requests?task_id={task_id}").json()
        return found[0] if len(found) == 1 and found[0]["kind"] == kind else None

    found: dict[str, Any] = _wait(asked, f"a {kind} request", 120)
    return found


def _approve(server: Server, task_id: str, tool: str) -> None:
    asked = _request(server, task_id, "approval")
    assert asked["tool"] == tool, asked
    approved = server.post(f"/api/requests/{asked['id']}/approve", {})
    assert approved.status_code == 200, approved.text


def _create(server: Server, task: str) -> str:
    created = server.post("/api/tasks", {"task": task})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@contextmanager
def _killed_while_sending(mailbox: Mailbox, after: str) -> Iterator[tuple[Server, str]]:
    """A served task sends ORDER_MAIL (approved), valet is killed while the mail server holds
    it, and started again; the block gets the server and the task. `after` is what the model
    expects to read once the send's step ends."""
    script: list[Any] = [
        {"raw": {"tool": "mail_send", "args": ORDER_MAIL}},
        {"expect": {"prompt": after}, "done": "mailed once"},
    ]
    server = mailbox.start(script)
    try:
        task_id = _create(server, "mail the shop about order 1042")
        _approve(server, task_id, "mail_send")
        assert mailbox.drop.holding.wait(60)
        server.kill()
        mailbox.drop.hold_data = mailbox.drop.hold_rcpt = 0.0
        server.start()
        yield server, task_id
    finally:
        server.stop()


@pytest.mark.timeout(300)
def test_a_served_durable_task_runs_a_connector_and_an_mcp_tool(mailbox: Mailbox) -> None:
    """Before, the checkpoint of the model's turn could not store a toolset's action and every
    connector or MCP action crashed a served task."""
    script: list[Any] = [
        {"raw": {"tool": "rec_lookup", "args": {"what": "order 1042"}}},
        {
            "expect": {"prompt": "rec_lookup returned"},
            "raw": {"tool": "rec_post", "args": {"what": "shipped"}},
        },
        {"raw": {"tool": "mail_send", "args": ORDER_MAIL}},
        {"expect": {"prompt": '"sent_to"'}, "done": "posted and mailed"},
    ]
    server = mailbox.start(script)
    try:
        task_id = _create(server, "look up order 1042, post that it shipped and mail the shop")
        # the post is stated, with the person's words: it runs unasked; the mail is asked
        _approve(server, task_id, "mail_send")
        final = _final(server, task_id, "the task to end")
    finally:
        server.stop()
    assert final["status"] == "succeeded", final
    assert calls_of(mailbox.calls) == ["lookup", "post"]
    assert mailbox.received(ORDER_MAIL["subject"]) == 1
    steps = _steps(mailbox.home, final)
    assert [s["action"]["kind"] for s in steps] == ["rec_lookup", "rec_post", "mail_send", "done"]


@pytest.mark.timeout(300)
def test_killed_while_the_mail_server_took_the_message_it_is_found_in_sent_not_resent(
    mailbox: Mailbox,
) -> None:
    """The mail server took the message and filed it in Sent, valet died before the answer:
    after the restart valet finds its Message-ID in Sent and does not send it again."""
    mailbox.drop.keep_sent = True
    mailbox.drop.hold_data = 30.0
    with _killed_while_sending(mailbox, "it had taken effect") as (server, task_id):
        final = _final(server, task_id, "the task to end")
    assert final["status"] == "succeeded", final
    assert mailbox.received(ORDER_MAIL["subject"]) == 1  # once, never twice
    (step,) = [s for s in _steps(mailbox.home, final) if s["action"]["kind"] == "mail_send"]
    assert "Message-ID" in step["result"] and "'Sent'" in step["result"], step


@pytest.mark.timeout(300)
def test_killed_after_the_server_took_a_message_not_filed_in_sent_the_person_is_asked(
    mailbox: Mailbox,
) -> None:
    """No copy in Sent (this server does not file one), and the message had gone past the
    point of no return: valet cannot know, so the person is asked, shown the mail; they check
    with the recipient and say it arrived. It is not sent again."""
    mailbox.drop.hold_data = 30.0
    with _killed_while_sending(mailbox, "confirmed it took effect") as (server, task_id):
        question = _request(server, task_id, "question")
        assert "mail_send" in question["summary"] and "shop@example.org" in question["summary"]
        assert "may have taken the message" in question["summary"], question
        server.post(f"/api/requests/{question['id']}/answer", {"text": "yes"})
        final = _final(server, task_id, "the task to end")
    assert final["status"] == "succeeded", final
    assert mailbox.received(ORDER_MAIL["subject"]) == 1


@pytest.mark.timeout(300)
def test_killed_before_the_message_left_it_is_sent_after_the_restart_once(
    mailbox: Mailbox,
) -> None:
    """Killed while the server was still accepting the recipients: nothing went out, valet
    knows it (the point of no return was not reached), so the send runs again, asked again."""
    mailbox.drop.hold_rcpt = 30.0
    with _killed_while_sending(mailbox, '"sent_to"') as (server, task_id):
        _approve(server, task_id, "mail_send")  # asked again: it runs again
        final = _final(server, task_id, "the task to end")
    assert final["status"] == "succeeded", final
    assert mailbox.received(ORDER_MAIL["subject"]) == 1


@pytest.mark.timeout(300)
def test_an_mcp_call_a_kill_interrupted_is_shown_to_the_person_with_its_arguments(
    mailbox: Mailbox, tmp_path: Path
) -> None:
    """An MCP server gives no way to look a call up: the person is asked, shown the tool and
    its original arguments; "yes" and it is not called again."""
    slow = tmp_path / "slow.py"
    answer = '        send({"id": rid, "result": {"content"'
    assert answer in RECORDER
    held = '        if params["name"] == "post":\n            import time; time.sleep(60)\n'
    slow.write_text(RECORDER.replace(answer, held + answer))
    config = (mailbox.home / "config.toml").read_text()
    (mailbox.home / "config.toml").write_text(config.replace("recorder.py", "slow.py"))
    script: list[Any] = [
        {"raw": {"tool": "rec_post", "args": {"what": "order 1042 shipped"}}},
        {"expect": {"prompt": "confirmed it took effect"}, "done": "posted once"},
    ]
    server = mailbox.start(script)
    try:
        task_id = _create(server, "post that order 1042 shipped")  # stated: runs unasked
        _wait(lambda: calls_of(mailbox.calls) == ["post"], "the MCP server to get the call")
        server.kill()
        server.start()
        question = _request(server, task_id, "question")
        assert 'rec_post {"what": "order 1042 shipped"}' in question["summary"], question
        server.post(f"/api/requests/{question['id']}/answer", {"text": "yes"})
        final = _final(server, task_id, "the task to end")
    finally:
        server.stop()
    assert final["status"] == "succeeded", final
    assert calls_of(mailbox.calls) == ["post"]  # never called again
