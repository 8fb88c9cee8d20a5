"""Notifications when a task ends or waits: a signed webhook (verified with the Standard
Webhooks reference library) to a real receiver on 127.0.0.1, an e-mail through the mail
connector's client to the test SMTP server (marked as valet's, with the link), the settings
checked, and the notice in the web app in real Chromium."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook
from tests._chromium import chromium
from tests._servers import MailDrop
from tests.test_audit_mail_witness import mailbox, vault  # noqa: F401  (a fixture used below)
from tests.test_server_harness import running_server

from valet.errors import ConfigError
from valet.server._notify import notify_settings, webhook_secret
from valet.sites import SiteServer
from valet.vault import Vault


class Receiver:
    """A webhook receiver: keeps each request's headers and body; answers `status` (a list
    of statuses, one per request, then 204)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                receiver.received.append(
                    ({k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length))
                )
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def _configure(home: Path, *lines: str) -> None:
    (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


async def _until(check: Any, what: str, within: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_finished_task_is_posted_to_the_webhook_signed(
    home: Path, sites: SiteServer, receiver: Receiver
) -> None:
    _configure(home, "[notifications]", f'webhook = "{receiver.url}"')
    async with running_server(home) as srv:
        task = await srv.create("quick", sites)
        await srv.final_events(task["id"])
        await _until(lambda: receiver.received, "the webhook")
        await srv.manager.notifier.drain()
    assert len(receiver.received) == 1  # "running" and "queued" are not notified
    headers, body = receiver.received[0]
    verified = Webhook(webhook_secret(home)).verify(body, headers)
    assert verified["type"] == "task.succeeded"
    data = verified["data"]
    assert data["task_id"] == task["id"] and data["status"] == "succeeded"
    assert data["link"] == f"{srv.url}/tasks/{task['id']}"
    assert data["detail"] == "The cart is open"
    with pytest.raises(Exception, match=r"[Ss]ignature"):  # a changed body no longer verifies
        Webhook(webhook_secret(home)).verify(body.replace(b"succeeded", b"failed"), headers)
    assert oct((home / "webhook-secret").stat().st_mode & 0o777) == "0o600"


async def test_a_failing_receiver_is_tried_again(home: Path, sites: SiteServer) -> None:
    flaky = Receiver([500])
    try:
        _configure(home, "[notifications]", f'webhook = "{flaky.url}"', 'on = ["succeeded"]')
        async with running_server(home) as srv:
            task = await srv.create("quick", sites)
            await srv.final_events(task["id"])
            await _until(lambda: len(flaky.received) == 2, "the second try", 15)
            await srv.manager.notifier.drain()
        ids = {headers["webhook-id"] for headers, _ in flaky.received}
        assert len(ids) == 1  # the same message, tried again
    finally:
        flaky.server.shutdown()


async def test_a_finished_task_is_mailed_marked_as_valets(
    home: Path,
    sites: SiteServer,
    dovecot: Any,
    smtp: tuple[MailDrop, int],
    vault: Vault,  # noqa: F811
) -> None:
    drop, port = smtp
    box = mailbox("mine", dovecot, vault, port)
    _configure(home, "[notifications]", 'email = "mine"', "", *box.toml())
    async with running_server(home) as srv:
        task = await srv.create("quick", sites)
        await srv.final_events(task["id"])
        await _until(
            lambda: any(r.message["X-Valet-Task"] == task["id"] for r in drop.received), "the mail"
        )
    mail = next(r.message for r in drop.received if r.message["X-Valet-Task"] == task["id"])
    assert mail["To"] == box.address and mail["X-Valet-Notification"] == "succeeded"
    assert str(mail["Subject"]).startswith("[valet] done: ")
    text = str(mail.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert f"{srv.url}/tasks/{task['id']}" in text and "sent by valet" in text


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"on": ["finished"]}, "on must be a list of"),
        ({"webhook": "ftp://x"}, "webhook must be an http"),
        ({"email_to": "nobody"}, "email_to must be one address"),
        ({"emails": "x"}, "has no emails"),
    ],
)
def test_bad_settings_say_what_is_wrong(table: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        notify_settings({"notifications": table})


async def test_the_web_app_shows_a_notice_with_the_tasks_link(
    home: Path, sites: SiteServer
) -> None:
    async with running_server(home) as srv, chromium() as browser:
        page = await browser.new_page()
        await page.goto(srv.sign_in_link("/"))
        # A selector wait: the app's CSP (script-src 'self') refuses the string a function
        # wait would evaluate whenever its first check comes before the stream is open.
        await page.locator("body[data-stream='open']").wait_for(state="attached")
        task = await srv.create("quick", sites)
        notice = page.locator(f'.toast[data-task-id="{task["id"]}"]')
        await notice.wait_for(timeout=30_000)
        assert "A task is done" in (await notice.inner_text())
        href = await notice.get_by_role("link", name="Open it").get_attribute("href")
        assert href == f"/tasks/{task['id']}"
