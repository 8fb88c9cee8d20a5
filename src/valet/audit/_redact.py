"""Redaction of secrets before anything is stored, and digests of what was redacted.

Values under secret-looking keys (password, token, api_key, cvv, …) are replaced whole; known
secret shapes (card numbers that pass Luhn, API keys, bearer tokens, private keys) are replaced
wherever they appear in text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"pass(?:word|wd|phrase)?|secret|token|api[_-]?key|auth|cookie|session|credential|"
    r"\bpin\b|cvv|cvc|csc|card[_-]?(?:number|no)|cc[_-]?number|totp|otp|private[_-]?key",
    re.IGNORECASE,
)
_SECRET_TEXT = re.compile(
    r"\b(?:sk|pk|rk)-[A-Za-z0-9_\-]{16,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_\w{20,}|"
    r"\bAKIA[0-9A-Z]{16}\b|\bxox[abprs]-[A-Za-z0-9\-]{10,}|\bAIza[0-9A-Za-z_\-]{30,}|"
    r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}|"
    r"(?i:bearer)\s+[A-Za-z0-9._\-+/=]{16,}|"
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"
)
_CARD = re.compile(r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _redact_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return REDACTED if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def redact_text(text: str) -> str:
    """`text` with known secret shapes replaced by `[redacted]`."""
    return _CARD.sub(_redact_card, _SECRET_TEXT.sub(REDACTED, text))


def redact(value: object) -> object:
    """A JSON-like copy of `value` with secrets replaced (by key name and by shape)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
            name = str(key)  # pyright: ignore[reportUnknownArgumentType]
            out[name] = REDACTED if _SECRET_KEY.search(name) else redact(item)  # pyright: ignore[reportUnknownArgumentType]
        return out
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact_text(str(value))


def canonical_json(value: object) -> str:
    """The one JSON spelling used for hashing: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: object) -> str:
    """SHA-256 (hex) of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
