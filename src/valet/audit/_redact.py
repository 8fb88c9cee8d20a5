"""Redaction of secrets before anything is stored, and digests of what was redacted.

Values under secret-looking keys (password, token, api_key, cvv, …) are replaced whole; known
secret shapes (card numbers that pass Luhn, API keys, bearer tokens, private keys) are replaced
wherever they appear in text. A `Redactor` adds exact secret values (the vault's passwords,
usernames, TOTP seeds and the codes filled in a run): it is the one redaction every writer of
stored data uses (the run record, the audit log, log records).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import cast

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4
"""Exact secret values shorter than this are not searched for (they would match everywhere)."""

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
_CARD = re.compile(
    r"(?<![\d-])(?:\d{13,19}"  # written without separators
    r"|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,3})?"  # 4-4-4-4 (and 4-4-4-1..4-4-4-4-3)
    r"|\d{4}[ -]\d{6}[ -]\d{4,5})(?![\d-])"  # 4-6-5 (Amex), 4-6-4 (Diners)
)
"""Card numbers as people write them; ids such as `20261126-103259` are not cards."""


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


_IBAN_HEAD = re.compile(r"\b[A-Z]{2}\d{2}[ ]?(?:[A-Z0-9]{4}[ ]?)*$")


def _redact_card_not_iban(match: re.Match[str], text: str) -> str:
    """A card number redacted, unless the digits are part of an IBAN (`FR76 1111 2222…`)."""
    if _IBAN_HEAD.search(text, 0, match.start()):
        return match.group(0)
    return _redact_card(match)


def mask_cards(value: object) -> object:
    """A JSON-like copy of `value` with card numbers replaced, and nothing else: what a person
    is shown to judge an action (a password from a mail must be seen to be judged)."""
    if isinstance(value, str):
        return _CARD.sub(lambda m: _redact_card_not_iban(m, value), value)
    if isinstance(value, Mapping):
        items = cast(Mapping[object, object], value).items()
        return {str(key): mask_cards(item) for key, item in items}
    if isinstance(value, list | tuple):
        return [mask_cards(item) for item in cast(Iterable[object], value)]
    return value


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


class Redactor:
    """Redacts known secret shapes and the exact secret values it was given.

    One per install or run, shared by every writer of stored data; `add` a value (e.g. a TOTP
    code just filled) and every later write redacts it too.
    """

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        for value in values:
            self.add(value)

    def add(self, value: str) -> None:
        """Redact `value` wherever it appears from now on (values under 4 characters are not)."""
        if len(value) >= MIN_SECRET_CHARS and value not in self._values:
            self._values.append(value)
            self._values.sort(key=len, reverse=True)

    def text(self, text: str) -> str:
        """`text` with the known values and secret shapes replaced by `[redacted]`."""
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return redact_text(text)

    def data(self, value: object) -> object:
        """A JSON-like copy of `value` with every string redacted by `text` (keys are kept:
        for records whose field names are fixed, e.g. `input_tokens`)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            items = value.items()  # pyright: ignore[reportUnknownVariableType]
            return {str(k): self.data(v) for k, v in items}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
        return value

    def args(self, value: object) -> object:
        """Like `redact` (secret-looking keys replaced whole), plus the known values."""
        return self.data(redact(value))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message with a `Redactor`."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redactor or Redactor()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.redactor.text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class LogRedaction:
    """Puts a `RedactingFilter` on the `valet` logger and every `valet.*` logger that exists,
    so their records pass the redactor before any handler sees them; `remove` takes it off."""

    def __init__(self, redactor: Redactor, prefix: str = "valet") -> None:
        self.filter = RedactingFilter(redactor)
        self.prefix = prefix
        self._loggers: list[logging.Logger] = []

    def install(self) -> LogRedaction:
        known = logging.Logger.manager.loggerDict
        names = [self.prefix, *(n for n in known if n.startswith(self.prefix + "."))]
        self._loggers = [logging.getLogger(name) for name in names]
        for logger in self._loggers:
            logger.addFilter(self.filter)
        return self

    def remove(self) -> None:
        for logger in self._loggers:
            logger.removeFilter(self.filter)
        self._loggers = []


def canonical_json(value: object) -> str:
    """The one JSON spelling used for hashing: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(value: object) -> str:
    """SHA-256 (hex) of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
