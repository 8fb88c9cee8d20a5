"""Effect classes: what an operation can do to the world. The gateway decides on these."""

from __future__ import annotations

from enum import StrEnum


class Effect(StrEnum):
    """What an operation does. `UNKNOWN` is never allowed silently: the gateway asks."""

    READ = "read"
    NAVIGATE = "navigate"
    INPUT = "input"
    SUBMIT = "submit"
    CREATE = "create"
    UPDATE = "update"
    SEND = "send"
    PURCHASE = "purchase"
    DELETE = "delete"
    PUBLISH = "publish"
    SHARE = "share"
    DOWNLOAD = "download"
    EXECUTE = "execute"
    UNKNOWN = "unknown"
