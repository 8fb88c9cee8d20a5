"""Mail as the model reads it and as valet writes it.

`parse` never raises on what a server sends: broken MIME (a missing boundary, bad base64, an
unknown charset, garbled headers) gives the text it can recover plus a list of problems.
`compose` builds an outgoing message carrying valet's mark (`X-Valet-Task`, a footer).
"""

from __future__ import annotations

import codecs
import email
import email.header
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import formataddr, formatdate, make_msgid
from html.parser import HTMLParser

HEADERS = ("From", "To", "Cc", "Date", "Subject", "Message-ID")
TASK_HEADER = "X-Valet-Task"

_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}
_DEFECT_WORDS = re.compile(r"(?<!^)(?=[A-Z])")


@dataclass
class Part:
    """An attachment (or inline file) of a parsed message."""

    name: str
    content_type: str
    data: bytes
    charset: str = ""


@dataclass
class Parsed:
    headers: dict[str, str]
    text: str
    attachments: list[Part] = field(default_factory=list[Part])
    problems: list[str] = field(default_factory=list[str])


def parse(raw: bytes) -> Parsed:
    """Headers, body text and attachments of `raw`, best effort (see the module docstring)."""
    message = email.message_from_bytes(raw, policy=default_policy)
    problems: list[str] = []
    headers = {name: _header(message, name, problems) for name in HEADERS}
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Part] = []
    for part in message.walk():
        _defects(part, problems)
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        name = _filename(part, problems)
        if name or part.get_content_disposition() == "attachment":
            data = _payload(part, problems)
            charset = part.get_content_charset("") or ""
            attachments.append(Part(name or f"part-{len(attachments) + 1}", kind, data, charset))
        elif kind == "text/html":
            html.append(_html_text(_decode(_payload(part, problems), part, problems)))
        elif part.get_content_maintype() in ("text", "multipart"):
            if part.get_content_maintype() == "multipart":
                problems.append("a multipart part has no readable parts; shown as text")
            plain.append(_decode(_payload(part, problems), part, problems))
        else:
            attachments.append(Part(f"part-{len(attachments) + 1}", kind, _payload(part, problems)))
    text = "\n\n".join(t.strip() for t in (plain or html) if t.strip())
    return Parsed(headers, text, attachments, list(dict.fromkeys(problems)))


def attachment_text(part: Part) -> str | None:
    """The text of a text attachment, or None when it is not text."""
    if not part.content_type.startswith("text/"):
        return None
    return _decode_bytes(part.data, part.charset or "utf-8", [])


def compose(
    *,
    sender: str,
    to: list[str],
    cc: list[str],
    bcc: list[str],
    subject: str,
    body: str,
    task_id: str | None,
    footer: str | None,
    in_reply_to: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """An outgoing message; `task_id` (when not None) goes in `X-Valet-Task`, `footer` (when not
    None) ends the body; `message_id` (the local part, chosen before sending so that the message
    can be looked up after a crash) else a random one."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if bcc:
        message["Bcc"] = ", ".join(bcc)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=True)
    domain = sender.rstrip(">").rpartition("@")[2] or None
    message["Message-ID"] = (
        f"<{message_id}@{domain or 'valet.invalid'}>" if message_id else make_msgid(domain=domain)
    )
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    if task_id is not None:
        message[TASK_HEADER] = task_id or "none"
    text = body if footer is None else f"{body.rstrip()}\n\n{footer}\n"
    message.set_content(text)
    return message


def sender_of(address: str, display_name: str) -> str:
    return formataddr((display_name, address)) if display_name else address


def _header(message: Message, name: str, problems: list[str]) -> str:
    try:
        value = message.get(name)
        return "" if value is None else " ".join(str(value).split())
    except Exception:  # the email package raises many kinds on garbled headers
        raw = message.get_all(name, failobj=[]) if hasattr(message, "get_all") else []
        problems.append(f"the {name} header is malformed; shown as sent")
        return _raw_header(str(raw[0])) if raw else ""


def _raw_header(raw: str) -> str:
    try:
        pieces = email.header.decode_header(raw)
    except Exception:  # decode_header raises on broken encoded words
        return " ".join(raw.split())
    text = "".join(
        p.decode(c or "utf-8", "replace") if isinstance(p, bytes) else p
        for p, c in ((piece, _known(charset)) for piece, charset in pieces)
    )
    return " ".join(text.split())


def _known(charset: str | None) -> str | None:
    if charset is None:
        return None
    try:
        codecs.lookup(charset)
    except LookupError:
        return "utf-8"
    return charset


def _filename(part: Message, problems: list[str]) -> str:
    try:
        name = part.get_filename()
    except Exception:  # a garbled Content-Disposition can raise deep in the parser
        problems.append("an attachment's file name is malformed")
        return "attachment"
    return name or ""


def _payload(part: Message, problems: list[str]) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # broken transfer encodings
        problems.append(f"a {part.get_content_type()} part could not be decoded")
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def _decode(data: bytes, part: Message, problems: list[str]) -> str:
    return _decode_bytes(data, part.get_content_charset("") or "utf-8", problems)


def _decode_bytes(data: bytes, charset: str, problems: list[str]) -> str:
    try:
        codecs.lookup(charset)
    except LookupError:
        problems.append(f"unknown charset {charset!r}; read as UTF-8")
        charset = "utf-8"
    return data.decode(charset, "replace")


def _defects(part: Message, problems: list[str]) -> None:
    for defect in part.defects:
        words = _DEFECT_WORDS.sub(" ", type(defect).__name__.removesuffix("Defect")).lower()
        problems.append(f"malformed MIME: {words}")


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def _html_text(html: str) -> str:
    reader = _HtmlText()
    reader.feed(html)
    reader.close()
    lines = (" ".join(line.split()) for line in "".join(reader.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
