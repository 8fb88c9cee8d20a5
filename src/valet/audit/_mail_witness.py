"""The mail witness: each checkpoint head sent as a small e-mail, read back over IMAP.

It signs in as a `[[connectors]]` mail toolset of `config.toml` (its servers, and its login from
the vault or its connector account) with the mail connector's own client: `MailConnector.login`,
`send` (SMTP) and `ImapSession` (IMAP). Each head goes to `to` (default: the mailbox's own
address) with the subject `valet audit head <log> #<seq>` and the head as JSON in the body;
`heads` searches `folder` of the reading toolset (default: the sending one) for that subject and
parses each body. The connector is imported when first used (it imports the gateway, which
imports this package).
"""

from __future__ import annotations

import asyncio
import imaplib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from valet.audit._head import Head
from valet.audit._witness import WitnessError
from valet.errors import ValetError

if TYPE_CHECKING:
    from valet.connectors.mail import Login, MailSettings

_SUBJECT = re.compile(r"valet audit head (?P<log>.+) #(?P<seq>\d+)")


def subject(log: str, seq: int) -> str:
    """The subject of the message that carries the head of record `seq` of log `log`."""
    return f"valet audit head {log} #{seq}"


@dataclass(frozen=True, slots=True)
class MailToolset:
    """A mail toolset of `config.toml`: its name (the vault's login goes with it) and settings."""

    name: str
    settings: MailSettings


class MailWitness:
    """Mails each head from `sender` to `to` (default: `sender`'s own address); reads them back
    from `folder` of `reader` (default: `sender`). `log` names this log in the subjects."""

    def __init__(
        self,
        sender: MailToolset,
        *,
        log: str = "valet",
        to: str = "",
        reader: MailToolset | None = None,
        folder: str = "INBOX",
        home: Path | None = None,
    ) -> None:
        self.sender = sender
        self.reader = reader or sender
        self.log = log
        self.to = to
        self.folder = folder
        self.home = home
        """The valet home whose vault holds the logins (default: `VALET_HOME`)."""

    @property
    def name(self) -> str:
        parts = [f"mail:{self.sender.name}"]
        if self.to:
            parts.append(f"to {self.to}")
        if self.reader.name != self.sender.name:
            parts.append(f"read by {self.reader.name}")
        if self.folder != "INBOX":
            parts.append(f"in {self.folder}")
        return " ".join(parts)

    def send(self, head: Head) -> None:
        from valet.connectors.mail import send

        settings = self.sender.settings
        login = self._login(self.sender)
        own = settings.address or (login.username if "@" in login.username else "")
        if not own:
            raise WitnessError(
                f"{self.name}: toolset {self.sender.name!r} has no address "
                "(set `address` in its [[connectors]] table)"
            )
        message = EmailMessage()
        message["From"] = own
        message["To"] = self.to or own
        message["Subject"] = subject(self.log, head.seq)
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=own.rpartition("@")[2] or None)
        message.set_content(json.dumps(head.as_json(), indent=2, sort_keys=True) + "\n")
        try:
            refused = send(settings, login, message)
        except ValetError as exc:
            raise WitnessError(f"{self.name}: {exc}") from exc
        if refused:
            said = "; ".join(f"{who}: {answer}" for who, answer in refused.items())
            raise WitnessError(f"{self.name}: the SMTP server refused {said}")

    def heads(self) -> list[Head]:
        from valet.connectors.mail import ImapSession

        login = self._login(self.reader)
        session = ImapSession(self.reader.settings)
        try:
            conn = session.open(login)
            session.select(conn, self.folder, readonly=True)
            uids = session.search(
                conn,
                sender=None,
                recipient=None,
                subject=subject(self.log, 0)[:-1],  # "valet audit head <log> #"
                text=None,
                since=None,
                unseen=False,
            )
            fetched = session.fetch(conn, uids, "BODY.PEEK[]")
        except ValetError as exc:
            raise WitnessError(f"{self.name}: {exc}") from exc
        except (imaplib.IMAP4.error, OSError) as exc:
            raise WitnessError(f"{self.name}: {session.where} failed: {exc}") from exc
        finally:
            session.close()
        found: list[Head] = []
        for message in sorted(fetched, key=lambda m: m.uid):  # the order they arrived in
            head = self._head(message.uid, message.body)
            if head is not None:
                found.append(head)
        return found

    def _head(self, uid: int, raw: bytes) -> Head | None:
        """The head mailed in `raw`; None for a message of another log (the server's search
        matches subjects by substring)."""
        parsed = message_from_bytes(raw, policy=default_policy)
        match = _SUBJECT.fullmatch(str(parsed.get("Subject", "")).strip())
        if match is None or match["log"] != self.log:
            return None
        body = parsed.get_body(("plain",))
        try:
            if not isinstance(body, EmailMessage):
                raise ValueError("it has no plain-text body")
            return Head.from_json(json.loads(str(body.get_content())))
        except (ValueError, LookupError) as exc:
            raise WitnessError(
                f"{self.name}: message {uid} in {self.folder} is titled as a head but holds "
                f"none: {exc}"
            ) from exc

    def _login(self, toolset: MailToolset) -> Login:
        """The toolset's login, as its tools would sign in (vault password or OAuth token)."""
        from valet.connectors.mail import MailConnector

        try:
            source = MailConnector(home=self.home).login(toolset.name, toolset.settings)

            async def signed_in() -> Login:
                return await source()

            with ThreadPoolExecutor(1) as pool:  # an event loop may be running in this thread
                return pool.submit(asyncio.run, signed_in()).result()
        except ValetError as exc:
            raise WitnessError(f"{self.name}: {exc}") from exc
