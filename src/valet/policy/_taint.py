"""Provenance: where each piece of text came from, and where an argument's value came from.

Content is recorded with its `Source`: the person (their request, their edits), trusted data
(configuration, the person's address book) or untrusted content (a web page, an e-mail, a tool
result). `Provenance.trace(value)` tells whether a value appears in what the person or trusted
data said; if it only appears in untrusted content, the value is *tainted* by those sources.

Matching is textual and forgiving of formatting: case, whitespace and the separators people put
in IBANs, card and phone numbers are ignored; numbers match numerically (`500` = `500.00`).
Very short values (under 3 characters) are never traced: they occur everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

SourceKind = Literal["person", "trusted", "untrusted"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where content came from. `str(source)` is `person`, `trusted` or `untrusted:<where>`."""

    kind: SourceKind
    where: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.where}" if self.where else self.kind

    @property
    def untrusted(self) -> bool:
        return self.kind == "untrusted"

    @staticmethod
    def parse(text: str) -> Source:
        kind, _, where = text.partition(":")
        if kind not in ("person", "trusted", "untrusted"):
            raise ValueError(f"unknown source kind {kind!r}")
        return Source(kind, where)  # pyright: ignore[reportArgumentType]


PERSON = Source("person")
TRUSTED = Source("trusted")


@dataclass(frozen=True, slots=True)
class Trace:
    """Where a value was found."""

    value: str
    clean: bool
    """Found in the person's words or trusted data (or too short / nowhere to be traced)."""
    sources: tuple[Source, ...] = ()
    """Untrusted sources containing the value, when it is not clean."""
    excerpt: str = ""

    @property
    def tainted(self) -> bool:
        return not self.clean


_SEPARATORS = re.compile(r"[\s\-_.·/]+")
_NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:[ ,.’']\d{3})*(?:[.,]\d{1,2})?(?![\w])|\d+(?:[.,]\d+)?")


def _squash(text: str) -> str:
    return _SEPARATORS.sub("", text.casefold())


def _numbers(text: str) -> set[Decimal]:
    found: set[Decimal] = set()
    for match in _NUMBER.finditer(text):
        raw = match.group(0)
        decimal_sep = raw[-3] if len(raw) > 3 and raw[-3] in ".," else None
        if decimal_sep is None and len(raw) > 2 and raw[-2] in ".,":
            decimal_sep = raw[-2]
        digits = raw
        if decimal_sep is not None:
            whole, frac = raw[: raw.rfind(decimal_sep)], raw[raw.rfind(decimal_sep) + 1 :]
            digits = re.sub(r"\D", "", whole) + "." + frac
        else:
            digits = re.sub(r"\D", "", raw)
        try:
            found.add(Decimal(digits).normalize())
        except InvalidOperation:
            continue
    return found


def _as_number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).normalize()
    return None


def leaves(value: object) -> Iterator[str]:
    """Every string and number inside a JSON-like value, as text."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():  # pyright: ignore[reportUnknownVariableType]
            yield str(key)  # pyright: ignore[reportUnknownArgumentType]
            yield from leaves(item)  # pyright: ignore[reportUnknownArgumentType]
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:  # pyright: ignore[reportUnknownVariableType]
            yield from leaves(item)  # pyright: ignore[reportUnknownArgumentType]
    elif value is not None and not isinstance(value, bool):
        yield str(value)


@dataclass(slots=True)
class _Entry:
    source: Source
    text: str
    squashed: str
    numbers: set[Decimal]


class Provenance:
    """The record of what was read in one task and where it came from (in memory, per task).

    The person's and trusted content is kept as one searchable text (the common case, a value
    the person gave, is one substring search); untrusted content is kept per source.
    """

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._clean_parts: list[str] = []
        self._clean_text = ""
        self._clean_numbers: set[Decimal] = set()

    def add(self, source: Source, content: object) -> None:
        """Record `content` (text, or any JSON-like value) as coming from `source`."""
        text = "\n".join(leaves(content))
        if not text:
            return
        if source.untrusted:
            self._entries.append(_Entry(source, text, _squash(text), _numbers(text)))
        else:
            self._clean_parts.append(_squash(text))
            self._clean_text = "\x00".join(self._clean_parts)
            self._clean_numbers |= _numbers(text)

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(dict.fromkeys(entry.source for entry in self._entries))

    def trace(self, value: object) -> Trace:
        """Where `value` was seen: clean when the person or trusted data said it."""
        number = _as_number(value)
        text = str(value)
        if number is None:
            squashed = _squash(text)
            if len(squashed) < 3 or squashed in self._clean_text:
                return Trace(text, clean=True)
        elif number in self._clean_numbers:
            return Trace(text, clean=True)
        hits = [entry for entry in self._entries if _contains(entry, text, number)]
        if not hits:
            return Trace(text, clean=True)
        sources = tuple(dict.fromkeys(entry.source for entry in hits))
        return Trace(text, clean=False, sources=sources, excerpt=_excerpt(hits[0].text, text))


def _contains(entry: _Entry, text: str, number: Decimal | None) -> bool:
    if number is not None:
        return number in entry.numbers
    return _squash(text) in entry.squashed


def _excerpt(text: str, value: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    at = flat.casefold().find(value.casefold())
    if at < 0:
        head = _squash(value)[:4]
        at = max(flat.casefold().find(head), 0) if head else 0
    start = max(at - width, 0)
    end = min(at + len(value) + width, len(flat))
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
