"""A blocking IMAP session over `imaplib` (run it in a worker thread): sign in, list folders,
search, fetch, move without losing anything, flag, append. Every failure the model should
read is a `ToolFailure` that says what happened and where."""

from __future__ import annotations

import base64
import imaplib
import re
import ssl
from dataclasses import dataclass
from datetime import date
from typing import Literal, cast

from valet.connectors.mail._settings import MailSettings
from valet.gateway import ToolFailure

FolderRole = Literal["drafts", "sent", "trash", "junk", "archive", "all", "flagged", ""]
_ROLES: dict[str, FolderRole] = {
    "\\drafts": "drafts",
    "\\sent": "sent",
    "\\trash": "trash",
    "\\junk": "junk",
    "\\archive": "archive",
    "\\all": "all",
    "\\flagged": "flagged",
}
_LIST = re.compile(rb'\((?P<flags>[^)]*)\) (?P<delim>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.*)$')
_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_MESSAGE = re.compile(rb"^\d+ \(")


@dataclass(frozen=True)
class Login:
    """Who signs in and with what: a password, or an OAuth2 access token (XOAUTH2)."""

    username: str
    secret: str
    mechanism: Literal["password", "xoauth2"] = "password"
    credential: str = ""
    fix: str = ""
    """What the person does when a server refuses this sign-in (default: check the secret of
    vault credential `credential`)."""

    def __repr__(self) -> str:
        return f"Login({self.username!r}, {self.mechanism})"

    @property
    def advice(self) -> str:
        if self.fix:
            return self.fix
        what = "access token" if self.mechanism == "xoauth2" else "password"
        return f"check the {what} of vault credential {self.credential!r}"


@dataclass(frozen=True)
class Folder:
    name: str
    role: FolderRole
    selectable: bool


@dataclass(frozen=True)
class Fetched:
    """One message of a FETCH answer."""

    uid: int
    flags: tuple[str, ...]
    size: int
    body: bytes


@dataclass(frozen=True)
class Moved:
    uid: int | None
    """The message's UID in the destination folder, when the server says."""
    method: Literal["move", "copy"]
    note: str = ""


def xoauth2(username: str, token: str) -> str:
    """The XOAUTH2 initial response (RFC 7628 style, as Gmail and Outlook expect)."""
    return f"user={username}\x01auth=Bearer {token}\x01\x01"


class ImapSession:
    """One signed-in IMAP connection, reopened when it has dropped."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._conn: imaplib.IMAP4 | None = None
        self.capabilities: frozenset[str] = frozenset()

    @property
    def where(self) -> str:
        host, port = self.settings.imap_address
        return f"the IMAP server {host}:{port}"

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            conn.logout()
        except (imaplib.IMAP4.error, OSError):
            conn.shutdown()

    def open(self, login: Login) -> imaplib.IMAP4:
        """The live connection, signing in again when there is none or it has dropped."""
        if self._conn is not None:
            try:
                self._conn.noop()
                return self._conn
            except (imaplib.IMAP4.error, OSError):
                self._conn = None
        conn = self._connect()
        try:
            self._login(conn, login)
            _typ, data = conn.capability()
        except BaseException:
            conn.shutdown()
            raise
        words = b" ".join(d for d in data if isinstance(d, bytes)).upper().split()
        self.capabilities = frozenset(w.decode("ascii", "replace") for w in words)
        self._conn = conn
        return conn

    def _connect(self) -> imaplib.IMAP4:
        host, port = self.settings.imap_address
        timeout = self.settings.timeout
        try:
            if self.settings.imap_tls == "ssl":
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    host, port, ssl_context=ssl.create_default_context(), timeout=timeout
                )
            else:
                conn = imaplib.IMAP4(host, port, timeout=timeout)
                if self.settings.imap_tls == "starttls":
                    conn.starttls(ssl.create_default_context())
        except ssl.SSLError as exc:
            raise ToolFailure(f"TLS with {self.where} failed: {exc.reason or exc}") from exc
        except TimeoutError as exc:
            raise ToolFailure(f"{self.where} did not answer within {timeout:g} s") from exc
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ToolFailure(f"cannot reach {self.where}: {_reason(exc)}") from exc
        return conn

    def _login(self, conn: imaplib.IMAP4, login: Login) -> None:
        try:
            if login.mechanism == "xoauth2":
                response = xoauth2(login.username, login.secret).encode("utf-8")
                conn.authenticate("XOAUTH2", lambda _challenge: response)
            else:
                conn.login(login.username, login.secret)
        except imaplib.IMAP4.error as exc:
            raise ToolFailure(
                f"{self.where} refused the sign-in of {login.username!r}: {_reason(exc)} "
                f"({login.advice})"
            ) from exc
        except OSError as exc:
            raise ToolFailure(f"{self.where} dropped the connection: {_reason(exc)}") from exc

    # Folders

    def folders(self, conn: imaplib.IMAP4) -> list[Folder]:
        typ, data = conn.list()
        _ok(typ, data, "list the folders")
        found: list[Folder] = []
        for item in data:
            line = b" ".join(item) if isinstance(item, tuple) else item
            if not isinstance(line, bytes):
                continue
            match = _LIST.match(line)
            if match is None:
                continue
            flags = match.group("flags").decode("ascii", "replace").lower().split()
            roles: list[FolderRole] = [_ROLES[f] for f in flags if f in _ROLES]
            role: FolderRole = roles[0] if roles else ""
            name = decode_folder(_unquote(match.group("name").strip()))
            selectable = "\\noselect" not in flags and "\\nonexistent" not in flags
            found.append(Folder(name, role, selectable))
        return found

    def folder_of(self, conn: imaplib.IMAP4, role: FolderRole, fallback: str) -> str:
        """The folder the server marks with `role` (special-use), else `fallback`."""
        for folder in self.folders(conn):
            if folder.role == role:
                return folder.name
        return fallback

    def count(self, conn: imaplib.IMAP4, folder: str) -> tuple[int, int] | None:
        """Messages and unseen messages in `folder`, or None when the server will not say."""
        typ, data = conn.status(quote_folder(folder), "(MESSAGES UNSEEN)")
        if typ != "OK" or not data or not isinstance(data[0], bytes):
            return None
        messages = re.search(rb"MESSAGES (\d+)", data[0])
        unseen = re.search(rb"UNSEEN (\d+)", data[0])
        if messages is None or unseen is None:
            return None
        return int(messages.group(1)), int(unseen.group(1))

    def select(self, conn: imaplib.IMAP4, folder: str, *, readonly: bool) -> int:
        """Open `folder`; returns how many messages it holds."""
        typ, data = conn.select(quote_folder(folder), readonly=readonly)
        if typ != "OK":
            raise ToolFailure(f"there is no folder {folder!r} ({_text(data)}); see list_folders")
        first = data[0] if data else b"0"
        return int(first) if isinstance(first, bytes) and first.isdigit() else 0

    # Messages

    def search(
        self,
        conn: imaplib.IMAP4,
        *,
        sender: str | None,
        recipient: str | None,
        subject: str | None,
        text: str | None,
        since: date | None,
        unseen: bool,
    ) -> list[int]:
        criteria: list[bytes] = []
        for key, value in (
            (b"FROM", sender),
            (b"TO", recipient),
            (b"SUBJECT", subject),
            (b"TEXT", text),
        ):
            if value:
                criteria += [key, _quote(value)]
        if since is not None:
            criteria += [b"SINCE", since.strftime("%d-%b-%Y").encode("ascii")]
        if unseen:
            criteria.append(b"UNSEEN")
        if not criteria:
            criteria.append(b"ALL")
        if any(not c.isascii() for c in criteria):
            criteria = [b"CHARSET", b"UTF-8", *criteria]
        typ, data = conn.uid("SEARCH", *cast(list[str], criteria))
        _ok(typ, data, "search")
        words = b" ".join(d for d in data if isinstance(d, bytes)).split()
        return sorted(int(w) for w in words if w.isdigit())

    def with_message_id(self, conn: imaplib.IMAP4, folder: str, message_id: str) -> list[int]:
        """The UIDs of the messages in `folder` whose Message-ID is `message_id`."""
        self.select(conn, folder, readonly=True)
        typ, data = conn.uid("SEARCH", "HEADER", "Message-ID", cast(str, _quote(message_id)))
        _ok(typ, data, f"search {folder!r} for a Message-ID")
        words = b" ".join(d for d in data if isinstance(d, bytes)).split()
        return sorted(int(w) for w in words if w.isdigit())

    def fetch(self, conn: imaplib.IMAP4, uids: list[int], items: str) -> list[Fetched]:
        """FETCH `items` (which may hold one body section) for `uids`, by UID."""
        if not uids:
            return []
        wanted = " ".join(("UID FLAGS RFC822.SIZE", items)).strip()
        typ, data = conn.uid("FETCH", _uid_set(uids), f"({wanted})")
        _ok(typ, data, "fetch messages")
        entries: list[tuple[bytes, bytes]] = []
        for part in data:
            if isinstance(part, tuple):
                head, body = cast(tuple[bytes, bytes], part)
                entries.append((head, body))
            elif isinstance(part, bytes):
                if entries and _MESSAGE.match(part) is None:
                    head, body = entries[-1]
                    entries[-1] = (head + part, body)  # items after the literal
                else:
                    entries.append((part, b""))
        found = [_fetched(head, body) for head, body in entries]
        return [f for f in found if f.uid in uids]

    def one(self, conn: imaplib.IMAP4, folder: str, uid: int, items: str) -> Fetched:
        fetched = self.fetch(conn, [uid], items)
        if not fetched:
            raise ToolFailure(f"there is no message {uid} in {folder!r} (moved or deleted?)")
        return fetched[0]

    def move(self, conn: imaplib.IMAP4, uid: int, source: str, target: str) -> Moved:
        """Move one message; nothing is lost: with MOVE the server does it at once, else the
        copy is found in `target` before the original (that UID only) is expunged."""
        if target == source:
            raise ToolFailure(f"the message is already in {target!r}")
        self.select(conn, target, readonly=True)
        self.select(conn, source, readonly=False)
        original = self.one(conn, source, uid, "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]")
        conn.untagged_responses.pop("COPYUID", None)
        if "MOVE" in self.capabilities:
            typ, data = conn.uid("MOVE", str(uid), quote_folder(target))
            _ok(typ, data, f"move message {uid} to {target!r}")
            return Moved(self._copied_uid(conn), "move")
        typ, data = conn.uid("COPY", str(uid), quote_folder(target))
        _ok(typ, data, f"copy message {uid} to {target!r} (nothing was moved)")
        copied = self._copied_uid(conn)
        self._verify_copy(conn, original, copied, target)
        self.select(conn, source, readonly=False)
        typ, data = conn.uid("STORE", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
        _ok(typ, data, f"remove message {uid} from {source!r} after copying it to {target!r}")
        if "UIDPLUS" in self.capabilities:
            typ, data = conn.uid("EXPUNGE", str(uid))
            _ok(typ, data, f"expunge message {uid} from {source!r} (it is copied to {target!r})")
            return Moved(copied, "copy")
        typ, data = conn.uid("SEARCH", "DELETED")
        others = b" ".join(d for d in data if isinstance(d, bytes)).split()
        if others != [str(uid).encode()]:
            note = (
                f"the original is marked deleted in {source!r} but stays until the folder is "
                "expunged: other messages there are marked deleted too, and this server cannot "
                "expunge only one"
            )
            return Moved(copied, "copy", note)
        typ, data = conn.expunge()
        _ok(typ, data, f"expunge message {uid} from {source!r}")
        return Moved(copied, "copy")

    def _verify_copy(
        self, conn: imaplib.IMAP4, original: Fetched, copied: int | None, target: str
    ) -> None:
        self.select(conn, target, readonly=True)
        if copied is not None:
            found = self.fetch(conn, [copied], "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]")
            if found and found[0].size == original.size:
                return
        elif original.body.strip():
            message_id = original.body.split(b":", 1)[-1].strip()
            typ, data = conn.uid(
                "SEARCH", "HEADER", "Message-ID", cast(str, _quote(message_id.decode()))
            )
            if typ == "OK" and b" ".join(d for d in data if isinstance(d, bytes)).split():
                return
        raise ToolFailure(
            f"the copy in {target!r} could not be found after copying; the original stays where "
            "it was (check the target folder for a copy)"
        )

    def _copied_uid(self, conn: imaplib.IMAP4) -> int | None:
        codes = conn.untagged_responses.pop("COPYUID", None) or []
        for code in codes:
            parts = code.split() if isinstance(code, bytes) else []
            if len(parts) == 3 and parts[2].isdigit():
                return int(parts[2])
        return None

    def store(self, conn: imaplib.IMAP4, uid: int, flag: str, on: bool) -> tuple[str, ...]:
        typ, data = conn.uid("STORE", str(uid), "+FLAGS" if on else "-FLAGS", f"({flag})")
        _ok(typ, data, f"set {flag} on message {uid}")
        line = b" ".join(d for d in data if isinstance(d, bytes))
        if not line:
            raise ToolFailure(f"there is no message {uid} in this folder (moved or deleted?)")
        flags = _FLAGS.search(line)
        return _flag_words(flags.group(1)) if flags else ()

    def append(self, conn: imaplib.IMAP4, folder: str, flags: str, message: bytes) -> int | None:
        conn.untagged_responses.pop("APPENDUID", None)
        typ, data = conn.append(quote_folder(folder), flags, None, message)
        _ok(typ, data, f"save the message in {folder!r}")
        for code in conn.untagged_responses.pop("APPENDUID", None) or []:
            parts = code.split() if isinstance(code, bytes) else []
            if len(parts) == 2 and parts[1].isdigit():
                return int(parts[1])
        return None


def _fetched(head: bytes, body: bytes) -> Fetched:
    uid = _UID.search(head)
    flags = _FLAGS.search(head)
    size = _SIZE.search(head)
    return Fetched(
        int(uid.group(1)) if uid else -1,
        _flag_words(flags.group(1)) if flags else (),
        int(size.group(1)) if size else 0,
        body,
    )


def _flag_words(raw: bytes) -> tuple[str, ...]:
    return tuple(w.decode("ascii", "replace") for w in raw.split())


def _uid_set(uids: list[int]) -> str:
    return ",".join(str(u) for u in uids)


def _ok(typ: str, data: object, what: str) -> None:
    if typ != "OK":
        raise ToolFailure(f"the IMAP server could not {what}: {_text(data)}")


def _text(data: object) -> str:
    items = cast(list[object], data) if isinstance(data, list) else [data]
    parts = [i.decode("utf-8", "replace") if isinstance(i, bytes) else str(i) for i in items]
    return " ".join(p for p in parts if p and p != "None") or "no reason given"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text or type(exc).__name__


def _quote(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\r", " ").replace("\n", " ")
    return b'"' + escaped.encode("utf-8") + b'"'


def _unquote(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def quote_folder(name: str) -> str:
    """A folder name as an IMAP astring (modified UTF-7, quoted)."""
    encoded = encode_folder(name)
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_folder(name: str) -> str:
    """Modified UTF-7 (RFC 3501 §5.1.3): what IMAP calls a folder named with non-ASCII."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            packed = base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")
            out.append(f"&{packed}-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


def decode_folder(name: str) -> str:
    def one(match: re.Match[str]) -> str:
        body = match.group(1)
        if not body:
            return "&"
        padded = body.replace(",", "/") + "=" * (-len(body) % 4)
        try:
            return base64.b64decode(padded).decode("utf-16-be")
        except (ValueError, UnicodeDecodeError):
            return match.group(0)

    return re.sub(r"&([A-Za-z0-9+,]*)-", one, name)
