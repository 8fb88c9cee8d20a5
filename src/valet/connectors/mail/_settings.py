"""The mail toolset's settings: where the servers are, which vault credential signs in, how
what valet writes is marked, and the size caps for reading."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TlsMode = Literal["ssl", "starttls", "none"]
"""`ssl`: TLS from the first byte (IMAP 993, SMTP 465); `starttls`: upgrade a plain connection
(IMAP 143, SMTP 587); `none`: no encryption (only for a server on this machine)."""

MailAuth = Literal["password", "xoauth2"]

_DEFAULT_PORTS: dict[tuple[str, TlsMode], int] = {
    ("imap", "ssl"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
    ("smtp", "ssl"): 465,
    ("smtp", "starttls"): 587,
    ("smtp", "none"): 25,
}


class MailSettings(BaseModel):
    """One mailbox: an IMAP server to read and file mail, an SMTP server to send it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    imap_host: str = Field(min_length=1)
    """The IMAP server (e.g. `imap.example.com`)."""
    imap_port: int | None = Field(default=None, gt=0, lt=65536)
    """Default: 993 with `ssl`, else 143."""
    imap_tls: TlsMode = "ssl"
    smtp_host: str = Field(min_length=1)
    """The SMTP server (e.g. `smtp.example.com`)."""
    smtp_port: int | None = Field(default=None, gt=0, lt=65536)
    """Default: 465 with `ssl`, 587 with `starttls`, else 25."""
    smtp_tls: TlsMode = "starttls"
    credential: str | None = Field(default=None, min_length=1)
    """The vault credential that signs in (`valet vault add NAME --domain imap.example.com …`):
    its username and password, never a password in this file. It must be bound to both hosts.
    With `auth = "xoauth2"`, the account name the OAuth2 token source is asked about."""
    account: str | None = Field(default=None, min_length=1)
    """A connector account (`valet connectors add`) to sign in with instead of `credential`:
    an OAuth account signs in with XOAUTH2 (Gmail, Outlook), an app-password account with its
    vault credential."""
    auth: MailAuth = "password"
    """`password` (or an app password) from the vault, or `xoauth2` (Gmail, Outlook) with an
    access token from the OAuth2 token source. With `account`, the account decides."""
    username: str = ""
    """The login name; default: the vault credential's username (or the OAuth account's)."""
    address: str = ""
    """The From address; default: the login name when it is an address."""
    display_name: str = ""
    """The name shown with the From address."""
    task_header: bool = True
    """Mark every sent mail and draft with `X-Valet-Task: <task id>`."""
    footer: bool = True
    """End every sent mail and draft with a line saying valet sent it on your behalf."""
    drafts_folder: str = ""
    """Where drafts go; default: the folder the server marks as Drafts, else `Drafts`."""
    save_sent: bool = True
    """Keep a copy of each sent mail in the Sent folder (turn off for Gmail, which keeps one
    itself)."""
    sent_folder: str = ""
    """Default: the folder the server marks as Sent, else `Sent`."""
    attachments_dir: Path | None = None
    """Where `read_message` saves attachments (one folder per message); without it,
    attachments are listed and small text attachments are shown."""
    max_message_bytes: int = Field(default=25_000_000, gt=0)
    """A larger message is read only in part: its text and the names of its attachments."""
    max_attachment_bytes: int = Field(default=10_000_000, gt=0)
    """A larger attachment is not saved (the model is told so)."""
    max_text_chars: int = Field(default=20_000, gt=0)
    """The most text `read_message` returns from a message body or a text attachment."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds to wait for a server before giving up."""

    @model_validator(mode="after")
    def _one_sign_in(self) -> MailSettings:
        if (self.credential is None) == (self.account is None):
            raise ValueError(
                "give either `credential` (a vault credential) or `account` (a connector "
                "account: valet connectors add), exactly one"
            )
        return self

    @model_validator(mode="after")
    def _plain_only_on_this_machine(self) -> MailSettings:
        for kind, host, tls in (
            ("imap", self.imap_host, self.imap_tls),
            ("smtp", self.smtp_host, self.smtp_tls),
        ):
            if tls == "none" and not _loopback(host):
                raise ValueError(
                    f"{kind}_tls = 'none' would send your password unencrypted to {host}; "
                    "it is only allowed for a server on this machine (use ssl or starttls)"
                )
        return self

    @property
    def imap_address(self) -> tuple[str, int]:
        return self.imap_host, self.imap_port or _DEFAULT_PORTS["imap", self.imap_tls]

    @property
    def smtp_address(self) -> tuple[str, int]:
        return self.smtp_host, self.smtp_port or _DEFAULT_PORTS["smtp", self.smtp_tls]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
