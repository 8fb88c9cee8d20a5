"""The Matrix toolset's settings: which homeserver, which vault credential signs in and how, how
what valet posts is marked, and the caps on reading and waiting."""

from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from valet.vault._credential import NAME_PATTERN

MatrixAuth = Literal["token", "password"]
"""`token`: the vault credential's password is an access token (Element: Settings → Help &
About → Access Token); `password`: valet signs in with the credential's username and password
(or an app password) and signs out again when the task ends."""


class MatrixSettings(BaseModel):
    """One Matrix account on one homeserver (`[[connectors]]` with `connector = "matrix"`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    homeserver: str
    """The homeserver's address, as clients use it (e.g. `https://matrix.example.org`)."""
    credential: str = Field(pattern=NAME_PATTERN)
    """The vault credential that signs in, bound to the homeserver's host: its password is the
    access token (`auth = "token"`) or the account's password (`auth = "password"`)."""
    auth: MatrixAuth = "token"
    username: str = ""
    """With `auth = "password"`: the login (`ann` or `@ann:example.org`); default: the vault
    credential's username."""
    attribution: bool = True
    """Mark every message valet posts with `"org.valet.task": "<task id>"` in its content:
    invisible in chat clients, readable by bots, bridges and anyone auditing the room."""
    footer: bool = True
    """End every message valet posts with `note`, so the people in the room see it came from
    valet and not from the person typing."""
    note: str = Field(default="— sent by valet, an AI agent", max_length=200)
    """The visible footer; `{task}` becomes the task id."""
    max_text_chars: int = Field(default=4_000, gt=0)
    """The most text `read_messages` returns of one message (the rest is cut, and it says so)."""
    max_wait: float = Field(default=10.0, ge=0)
    """Seconds valet waits when the server says it is sending too fast, before trying once more;
    a longer wait asked for is a failure the model reads (nothing was sent)."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds one request may take."""

    @field_validator("homeserver")
    @classmethod
    def _address(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"homeserver must be an https:// address, got {value!r}")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError(
                f"http:// would send your access token unencrypted to {parts.hostname}; it is "
                "only allowed for a server on this machine (use https://)"
            )
        return value.strip().rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
