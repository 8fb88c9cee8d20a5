"""The mail toolset's operations: their typed arguments and what each one does.

Every operation runs in a worker thread on the toolset's one IMAP connection (one at a time).
Reading never marks a message as seen; sent mail and drafts carry valet's mark.
"""

from __future__ import annotations

import asyncio
import imaplib
import re
from collections.abc import Awaitable, Callable
from datetime import date
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, Field, field_validator

from valet.connectors._toolset import DidNotHappen, Happened, Reconciled, Unsure
from valet.connectors.mail._imap import FolderRole, ImapSession, Login
from valet.connectors.mail._mime import Part, attachment_text, compose, parse, sender_of
from valet.connectors.mail._settings import MailSettings
from valet.connectors.mail._smtp import send
from valet.gateway import ToolFailure, current_task, running_action
from valet.workspace import current_workspace, put_in_workspace

T = TypeVar("T")
_HEADER_ITEMS = "BODY.PEEK[HEADER.FIELDS (FROM TO CC SUBJECT DATE MESSAGE-ID)]"
_FLAGS = {"seen": "\\Seen", "flagged": "\\Flagged", "answered": "\\Answered"}
_UNSAFE_NAME = re.compile(r"[^\w.\- ()+@,]")


def _addresses(values: list[str]) -> list[str]:
    for value in values:
        if "\n" in value or "\r" in value:
            raise ValueError(f"{value!r}: an address cannot span lines")
        parsed = getaddresses([value])
        if len(parsed) != 1 or "@" not in parsed[0][1]:
            raise ValueError(f"{value!r} is not one e-mail address")
    return values


def _one_line(value: str | None) -> str | None:
    if value is not None and ("\n" in value or "\r" in value):
        raise ValueError("must be one line")
    return value


class ListFolders(BaseModel):
    pass


class Search(BaseModel):
    folder: str = Field(default="INBOX", description="The folder to search (see list_folders).")
    sender: str | None = Field(default=None, description="Text in the From address or name.")
    recipient: str | None = Field(default=None, description="Text in the To address or name.")
    subject: str | None = Field(default=None, description="Text in the subject.")
    text: str | None = Field(default=None, description="Text anywhere in the message.")
    since: date | None = Field(default=None, description="Only mail received on or after.")
    unseen: bool = Field(default=False, description="Only messages not read yet.")
    limit: int = Field(default=20, ge=1, le=100, description="At most this many, newest first.")


class MessageRef(BaseModel):
    folder: str = Field(default="INBOX", description="The folder the message is in.")
    uid: int = Field(gt=0, description="The message's id in that folder (from search).")


class Move(MessageRef):
    to_folder: str = Field(description="The folder to move it to.")


class Flag(MessageRef):
    flag: Literal["seen", "flagged", "answered"]
    on: bool = Field(default=True, description="Set the flag (true) or clear it (false).")


class Compose(BaseModel):
    to: list[str] = Field(description="Recipients' addresses.", examples=[["ann@example.com"]])
    cc: list[str] = Field(default_factory=list[str])
    bcc: list[str] = Field(default_factory=list[str])
    subject: str
    body: str = Field(description="The plain-text body.")
    in_reply_to: str | None = Field(
        default=None, description="The Message-ID of the mail this answers (from read_message)."
    )

    _to = field_validator("to", "cc", "bcc")(_addresses)
    _subject = field_validator("subject", "in_reply_to")(_one_line)


class Send(Compose):
    to: list[str] = Field(
        min_length=1, description="Recipients' addresses.", examples=[["ann@example.com"]]
    )


LoginSource = Callable[[], Awaitable[Login]]


class Mailbox:
    """One person's mailbox, opened as a toolset named `name`."""

    def __init__(self, name: str, settings: MailSettings, login: LoginSource) -> None:
        self.name = name
        self.settings = settings
        self._login = login
        self._session = ImapSession(settings)
        self._lock = asyncio.Lock()

    async def close(self) -> None:
        async with self._lock:
            await asyncio.to_thread(self._session.close)

    async def _imap(self, body: Callable[[imaplib.IMAP4], T]) -> T:
        login = await self._login()
        async with self._lock:
            return await asyncio.to_thread(self._in_thread, login, body)

    def _in_thread(self, login: Login, body: Callable[[imaplib.IMAP4], T]) -> T:
        conn = self._session.open(login)
        try:
            return body(conn)
        except (imaplib.IMAP4.abort, OSError) as exc:
            self._session.close()
            raise ToolFailure(
                f"{self._session.where} dropped the connection ({exc}); whatever it had not "
                "confirmed did not happen (a move deletes nothing before its copy is verified)"
            ) from exc
        except imaplib.IMAP4.error as exc:
            raise ToolFailure(f"{self._session.where} answered with an error: {exc}") from exc

    # Reading

    async def list_folders(self, args: ListFolders) -> list[dict[str, object]]:
        def run(conn: imaplib.IMAP4) -> list[dict[str, object]]:
            found: list[dict[str, object]] = []
            for folder in self._session.folders(conn):
                entry: dict[str, object] = {"name": folder.name}
                if folder.role:
                    entry["role"] = folder.role
                counts = self._session.count(conn, folder.name) if folder.selectable else None
                if counts is not None:
                    entry["messages"], entry["unseen"] = counts
                found.append(entry)
            return found

        return await self._imap(run)

    async def search(self, args: Search) -> dict[str, object]:
        def run(conn: imaplib.IMAP4) -> dict[str, object]:
            self._session.select(conn, args.folder, readonly=True)
            uids = self._session.search(
                conn,
                sender=args.sender,
                recipient=args.recipient,
                subject=args.subject,
                text=args.text,
                since=args.since,
                unseen=args.unseen,
            )
            chosen = uids[-args.limit :]
            fetched = self._session.fetch(conn, chosen, _HEADER_ITEMS)
            messages = [
                {
                    "uid": item.uid,
                    **{k.lower(): v for k, v in parse(item.body).headers.items() if v},
                    "flags": _flag_names(item.flags),
                    "size": item.size,
                }
                for item in sorted(fetched, key=lambda f: f.uid, reverse=True)
            ]
            return {"folder": args.folder, "found": len(uids), "messages": messages}

        return await self._imap(run)

    async def read_message(self, args: MessageRef) -> dict[str, object]:
        cap = self.settings.max_message_bytes

        def run(conn: imaplib.IMAP4) -> tuple[bytes, int, tuple[str, ...]]:
            self._session.select(conn, args.folder, readonly=True)
            size = self._session.one(conn, args.folder, args.uid, "").size
            section = "BODY.PEEK[]" if size <= cap else f"BODY.PEEK[]<0.{cap}>"
            item = self._session.one(conn, args.folder, args.uid, section)
            return item.body, size, item.flags

        raw, size, flags = await self._imap(run)
        parsed = await asyncio.to_thread(parse, raw)
        partial = size > cap
        text, cut = _cap(parsed.text, self.settings.max_text_chars)
        result: dict[str, object] = {
            "folder": args.folder,
            "uid": args.uid,
            **{k.lower(): v for k, v in parsed.headers.items() if v},
            "flags": _flag_names(flags),
            "size": size,
            "text": text,
        }
        if cut:
            result["text_note"] = f"only the first {self.settings.max_text_chars} characters"
        if partial:
            result["note"] = (
                f"the message is {_mb(size)}, over the {_mb(cap)} cap: only its first {_mb(cap)} "
                "were read, so its text may be cut and its attachments were not fetched"
            )
        folder = self._attachment_folder(args)
        result["attachments"] = [
            await asyncio.to_thread(self._attachment, part, folder, partial, _where(args))
            for part in parsed.attachments
        ]
        if parsed.problems:
            result["problems"] = parsed.problems
        return result

    def _attachment_folder(self, args: MessageRef) -> Path | None:
        if self.settings.attachments_dir is None:
            return None
        return self.settings.attachments_dir.expanduser() / self.name / _where(args)

    def _attachment(
        self, part: Part, folder: Path | None, partial: bool, where: str
    ) -> dict[str, object]:
        entry: dict[str, object] = {"name": part.name, "type": part.content_type}
        if partial:
            entry["note"] = "not fetched: the message is over the size cap"
            return entry
        entry["size"] = len(part.data)
        cap = self.settings.max_attachment_bytes
        if len(part.data) > cap:
            entry["note"] = f"not saved: {_mb(len(part.data))} is over the {_mb(cap)} cap"
        elif folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            path = _free_path(folder / _safe_name(part.name), part.data)
            path.write_bytes(part.data)
            entry["saved_to"] = str(path)
        else:
            notes: list[str] = []
            if current_task() is not None:  # in the task's workspace, for its shell and files
                try:
                    entry["in_workspace"] = self._into_workspace(part, where)
                except ToolFailure as exc:  # a file a command made is in the way: say so
                    notes.append(f"not put in the workspace: {exc}")
            if (text := attachment_text(part)) is not None:
                entry["text"], cut = _cap(text, self.settings.max_text_chars)
                if cut:
                    notes.append(f"only the first {self.settings.max_text_chars} characters")
            elif "in_workspace" not in entry and not notes:
                notes.append("not saved: the mail toolset has no attachments_dir")
            if notes:
                entry["note"] = "; ".join(notes)
        return entry

    def _into_workspace(self, part: Part, where: str) -> str:
        """The attachment as a file of the running task's workspace (`attachments/<toolset>/
        <folder>-<uid>/<name>`): its path there."""
        workspace = current_workspace()
        folder = workspace / "attachments" / self.name / where
        path = _free_path(folder / _safe_name(part.name), part.data)
        relative = str(path.relative_to(workspace))
        put_in_workspace(relative, part.data, overwrite=True)
        return relative

    # Changing

    async def move(self, args: Move) -> dict[str, object]:
        moved = await self._imap(
            lambda conn: self._session.move(conn, args.uid, args.folder, args.to_folder)
        )
        result: dict[str, object] = {"moved": args.uid, "from": args.folder, "to": args.to_folder}
        if moved.uid is not None:
            result["uid_in_target"] = moved.uid
        if moved.note:
            result["note"] = moved.note
        return result

    async def flag(self, args: Flag) -> dict[str, object]:
        def run(conn: imaplib.IMAP4) -> tuple[str, ...]:
            self._session.select(conn, args.folder, readonly=False)
            return self._session.store(conn, args.uid, _FLAGS[args.flag], args.on)

        flags = await self._imap(run)
        return {"uid": args.uid, "flags": _flag_names(flags)}

    async def draft(self, args: Compose) -> dict[str, object]:
        message = self._compose(args, await self._login())
        wanted = self.settings.drafts_folder

        def run(conn: imaplib.IMAP4) -> tuple[str, int | None]:
            folder = wanted or self._session.folder_of(conn, "drafts", "Drafts")
            raw = message.as_bytes()
            return folder, self._session.append(conn, folder, "(\\Draft \\Seen)", raw)

        folder, uid = await self._imap(run)
        result: dict[str, object] = {"saved_in": folder, "message_id": message["Message-ID"]}
        if uid is not None:
            result["uid"] = uid
        return result

    async def send(self, args: Send) -> dict[str, object]:
        login = await self._login()
        message = self._compose(args, login)
        action = running_action()
        commit = action.commit if action is not None else None
        refused = await asyncio.to_thread(send, self.settings, login, message, commit)
        sent_to = [r for r in [*args.to, *args.cc, *args.bcc] if _bare(r) not in refused]
        result: dict[str, object] = {"sent_to": sent_to, "message_id": message["Message-ID"]}
        if refused:
            result["refused"] = refused
        if self.settings.save_sent:
            result.update(await self._keep_sent(message))
        return result

    async def _keep_sent(self, message: EmailMessage) -> dict[str, object]:
        wanted = self.settings.sent_folder

        def run(conn: imaplib.IMAP4) -> str:
            folder = wanted or self._session.folder_of(conn, "sent", "Sent")
            self._session.append(conn, folder, "(\\Seen)", message.as_bytes())
            return folder

        try:
            return {"copy_in": await self._imap(run)}
        except ToolFailure as failure:
            return {"copy_note": f"sent, but no copy was kept in the Sent folder: {failure}"}

    async def reconcile_send(self, args: Send, action_id: str, committed: bool) -> Reconciled:
        """Whether an interrupted send went out: its Message-ID (chosen before sending) is
        looked up in the Sent folder."""
        message_id = self._message_id(action_id, await self._login())
        folder = await self._holding(message_id, self.settings.sent_folder, "sent", "Sent")
        recipients = [*args.to, *args.cc, *args.bcc]
        if folder is not None:
            result = {"sent_to": recipients, "message_id": message_id, "copy_in": folder}
            return Happened(result, f"a copy with its Message-ID {message_id} is in {folder!r}")
        if not committed:
            return DidNotHappen("valet stopped before the message was handed to the mail server")
        return Unsure(
            f"The mail server may have taken the message {args.subject!r} just before valet "
            f"stopped, but no copy with its Message-ID {message_id} is in the Sent folder: ask "
            f"the recipients ({', '.join(recipients)}) whether it arrived."
        )

    async def reconcile_draft(self, args: Compose, action_id: str, committed: bool) -> Reconciled:
        """Whether an interrupted draft was saved: its Message-ID is looked up in Drafts."""
        message_id = self._message_id(action_id, await self._login())
        wanted = self.settings.drafts_folder
        folder = await self._holding(message_id, wanted, "drafts", "Drafts")
        if folder is not None:
            result = {"saved_in": folder, "message_id": message_id}
            return Happened(result, f"a draft with its Message-ID {message_id} is in {folder!r}")
        return DidNotHappen(f"no draft with its Message-ID {message_id} is in the Drafts folder")

    async def _holding(
        self, message_id: str, wanted: str | None, role: FolderRole, fallback: str
    ) -> str | None:
        """The folder (`wanted`, else the one marked `role`) if it holds `message_id`."""

        def run(conn: imaplib.IMAP4) -> str | None:
            folder = wanted or self._session.folder_of(conn, role, fallback)
            return folder if self._session.with_message_id(conn, folder, message_id) else None

        return await self._imap(run)

    def _message_id(self, action_id: str, login: Login) -> str:
        """The Message-ID `_compose` gives the message of the action `action_id`."""
        address = self.settings.address or (login.username if "@" in login.username else "")
        domain = address.rpartition("@")[2] or "valet.invalid"
        return f"<{action_id}@{domain}>"

    def _compose(self, args: Compose, login: Login) -> EmailMessage:
        settings = self.settings
        task = current_task()
        action = running_action()
        address = settings.address or (login.username if "@" in login.username else "")
        if not address:
            raise ToolFailure(
                f"the login {login.username!r} is not an e-mail address: set `address` (the From "
                f"address) in the {self.name!r} toolset"
            )
        sender = sender_of(address, settings.display_name)
        footer = None
        if settings.footer:
            footer = f"— sent by valet on behalf of {settings.display_name or address}"
        task_id = (task.task_id if task is not None else "") if settings.task_header else None
        return compose(
            sender=sender,
            to=args.to,
            cc=args.cc,
            bcc=args.bcc,
            subject=args.subject,
            body=args.body,
            task_id=task_id,
            footer=footer,
            in_reply_to=args.in_reply_to,
            message_id=action.id if action is not None else None,
        )


def _flag_names(flags: tuple[str, ...]) -> list[str]:
    """`\\Seen` → `seen`; `\\Recent` (this session's news, not the person's) is left out."""
    return [f.strip("\\").lower() for f in flags if f.lower() != "\\recent"]


def _bare(recipient: str) -> str:
    return getaddresses([recipient])[0][1]


def _cap(text: str, limit: int) -> tuple[str, bool]:
    return (text, False) if len(text) <= limit else (text[:limit], True)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 100_000 else f"{size} bytes"


def _safe_name(name: str) -> str:
    """A file or folder name safe to create: no path, no control or odd characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).strip(". ") or "attachment"
    return cleaned[:120]


def _holds(path: Path, data: bytes) -> bool:
    """Whether `path` is a plain file holding `data`: not a link, a folder or a named pipe (one a
    workspace's command made would block the read for ever)."""
    if path.is_symlink() or not path.is_file() or path.stat().st_size != len(data):
        return False
    return path.read_bytes() == data


def _where(args: MessageRef) -> str:
    """The folder of one message's attachments: `<folder>-<uid>`."""
    return _safe_name(f"{args.folder}-{args.uid}")


def _free_path(path: Path, data: bytes) -> Path:
    """`path`, or a numbered variant when another file has its name (a message read again
    writes its attachments over themselves)."""
    for number in range(1, 1000):
        candidate = path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
        if _holds(candidate, data):
            return candidate
    raise ToolFailure(f"too many attachments named {path.name!r} in {path.parent}")
