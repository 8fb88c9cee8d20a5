"""Telling the person when a task finishes, fails or waits for them, away from its page.

Three ways, chosen in `config.toml` (read afresh for each notification, so a change applies at
once):

```toml
[notifications]
on = ["succeeded", "failed", "waiting"]   # the default; "stopped" and "cancelled" may be added
email = "mail"                # a [[connectors]] mail toolset that sends them (its own login)
email_to = "me@example.com"   # default: that mailbox's own address
webhook = "https://hooks.example.com/valet"
```

- Live in the web app: always. Every page shows a notice with a link to the task (the status
  events the pages follow already carry it; see static/stream.js).
- E-mail: sent with the mail connector's client as the toolset signs in, marked as valet's
  (`X-Valet-Notification: <event>`, `X-Valet-Task: <task id>`, subject starting `[valet]`), with
  the link to the task.
- Webhook: a JSON POST signed per the Standard Webhooks scheme (`webhook-id`,
  `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` over
  `id.timestamp.body`), with the secret in `home/webhook-secret` (`whsec_…`, made on first use,
  mode 0600: give it to the receiver). Tried three times (1 s, then 5 s apart); a receiver
  that keeps failing is logged, never a task's failure.

Each notification runs in the background: a slow mail server or webhook never holds a task.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, cast

import httpx

from valet._home import write_private
from valet.errors import ConfigError, ValetError
from valet.settings import load_config

log = logging.getLogger("valet.notify")

EVENTS = ("succeeded", "failed", "waiting", "stopped", "cancelled")
DEFAULT_ON = ("succeeded", "failed", "waiting")
SECRET_FILE = "webhook-secret"
_RETRIES = (1.0, 5.0)


@dataclass(frozen=True)
class Notice:
    """What happened to a task, for the person."""

    event: str
    task_id: str
    task: str
    """The task's request, as the person wrote it."""
    link: str
    """The task's page."""
    detail: str | None = None
    """The answer, the error, or what it waits for."""

    @property
    def title(self) -> str:
        what = {
            "succeeded": "done",
            "failed": "failed",
            "waiting": "waits for you",
            "stopped": "stopped",
            "cancelled": "cancelled",
        }[self.event]
        short = self.task if len(self.task) <= 60 else self.task[:59] + "…"
        return f"[valet] {what}: {short}"

    def payload(self) -> dict[str, Any]:
        return {
            "type": f"task.{self.event}",
            "timestamp": _now(),
            "data": {
                "task_id": self.task_id,
                "task": self.task,
                "status": self.event,
                "detail": self.detail,
                "link": self.link,
            },
        }


@dataclass(frozen=True)
class NotifySettings:
    on: tuple[str, ...] = DEFAULT_ON
    email: str | None = None
    email_to: str = ""
    webhook: str | None = None


def notify_settings(config: dict[str, Any]) -> NotifySettings:
    """`[notifications]` of `config.toml`; raises `ConfigError` saying what is wrong."""
    raw: object = config.get("notifications", {})
    if not isinstance(raw, dict):
        raise ConfigError("config.toml: [notifications] must be a table")
    found = cast(dict[str, object], raw)
    unknown = set(found) - {"on", "email", "email_to", "webhook"}
    if unknown:
        raise ConfigError(
            f"config.toml: [notifications] has no {', '.join(sorted(unknown))} "
            "(it takes on, email, email_to, webhook)"
        )
    on: object = found.get("on", list(DEFAULT_ON))
    if not isinstance(on, list) or not all(e in EVENTS for e in cast(list[object], on)):
        raise ConfigError(
            f"config.toml: [notifications] on must be a list of {', '.join(EVENTS)}, not {on!r}"
        )
    webhook = found.get("webhook")
    if webhook is not None and (
        not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))
    ):
        raise ConfigError(
            f"config.toml: [notifications] webhook must be an http(s) URL, not {webhook!r}"
        )
    email, email_to = found.get("email"), found.get("email_to", "")
    if email is not None and not isinstance(email, str):
        raise ConfigError("config.toml: [notifications] email names a mail toolset")
    if not isinstance(email_to, str) or (email_to and "@" not in email_to):
        raise ConfigError(
            f"config.toml: [notifications] email_to must be one address, not {email_to!r}"
        )
    return NotifySettings(tuple(cast(list[str], on)), email, email_to, webhook)


class Notifier:
    """Sends notices as `config.toml` of `home` says, in the background."""

    def __init__(self, home: Path, base_url: str = "") -> None:
        self.home = home
        self.base_url = base_url
        """The web app's address for links (set by `valet serve` once it listens)."""
        self._pending: set[asyncio.Task[None]] = set()

    def link(self, task_id: str) -> str:
        return f"{self.base_url.rstrip('/')}/tasks/{task_id}"

    def task_changed(self, event: str, task_id: str, task: str, detail: str | None) -> None:
        """A task's status changed: notify in the background when the settings ask for it."""
        if event not in EVENTS:
            return
        notice = Notice(event, task_id, task, self.link(task_id), detail)
        job = asyncio.get_running_loop().create_task(self._send(notice))
        self._pending.add(job)
        job.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for the notifications under way (shutdown, tests)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _send(self, notice: Notice) -> None:
        try:
            settings = notify_settings(await asyncio.to_thread(load_config, self.home))
        except ConfigError as exc:
            log.warning("no notification sent: %s", exc)
            return
        if notice.event not in settings.on:
            return
        jobs: list[Coroutine[Any, Any, None]] = []
        if settings.webhook:
            jobs.append(self._webhook(settings.webhook, notice))
        if settings.email:
            jobs.append(asyncio.to_thread(self._mail, settings, notice))
        for failed in await asyncio.gather(*jobs, return_exceptions=True):
            if isinstance(failed, BaseException):
                log.warning("a %s notification was not delivered: %s", notice.event, failed)

    async def _webhook(self, url: str, notice: Notice) -> None:
        body = json.dumps(notice.payload(), separators=(",", ":")).encode()
        message_id = f"msg_{secrets.token_hex(12)}"
        secret = await asyncio.to_thread(webhook_secret, self.home)
        problem = ""
        async with httpx.AsyncClient(timeout=10) as client:
            for pause in (0.0, *_RETRIES):
                await asyncio.sleep(pause)
                headers = sign(secret, message_id, int(time.time()), body)
                try:
                    answer = await client.post(
                        url, content=body, headers=headers | {"content-type": "application/json"}
                    )
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}"
                    continue
                if answer.is_success:
                    return
                problem = f"HTTP {answer.status_code}"
        raise ValetError(f"the webhook did not take it ({problem}), three tries")

    def _mail(self, settings: NotifySettings, notice: Notice) -> None:
        from valet.audit._settings import mail_toolset
        from valet.connectors.mail import MailConnector, send

        toolset = mail_toolset(str(settings.email), load_config(self.home), "notifications")
        source = MailConnector(home=self.home).login(toolset.name, toolset.settings)
        login = asyncio.run(_signed_in(source))
        own = toolset.settings.address or (login.username if "@" in login.username else "")
        if not own:
            raise ValetError(f"the mail toolset {toolset.name!r} has no address (set `address`)")
        message = EmailMessage()
        message["From"] = own
        message["To"] = settings.email_to or own
        message["Subject"] = notice.title
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=own.rpartition("@")[2] or None)
        message["X-Valet-Notification"] = notice.event
        message["X-Valet-Task"] = notice.task_id
        lines = [f"Task: {notice.task}", f"Status: {notice.event}"]
        if notice.detail:
            lines.append(f"Detail: {notice.detail}")
        lines += ["", f"Open it: {notice.link}", "", "-- sent by valet, your agent"]
        message.set_content("\n".join(lines) + "\n")
        refused = send(toolset.settings, login, message)
        if refused:
            raise ValetError(f"the mail server refused {', '.join(refused)}")


async def _signed_in(source: Any) -> Any:
    return await source()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers for `body`: HMAC-SHA256 of `id.timestamp.body` with the
    secret's bytes (base64 after `whsec_`)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{digest}",
    }


def webhook_secret(home: Path) -> str:
    """The secret webhooks are signed with (`home/webhook-secret`), made on first use."""
    path = home / SECRET_FILE
    if path.is_file():
        found = path.read_text(encoding="utf-8").strip()
        if found.startswith("whsec_"):
            return found
    made = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    write_private(path, made + "\n")
    return made


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
