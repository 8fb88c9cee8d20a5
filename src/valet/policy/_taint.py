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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal, cast

from valet.policy._injection import Finding
from valet.policy._terms import (
    Designation,
    PersonTerms,
    short_fields,
    squash,
    tokens,
)

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


Origin = Literal["person", "trusted", "derived", "designated", "content", "flagged"]
"""Where an argument's value came from, from most to least trusted:

- `person`: the person's request, answers and edits; `trusted`: their configuration, vault,
  address book;
- `derived`: found nowhere (the agent worked it out: a total, a date), so nothing read put it
  there word for word;
- `designated`: copied from content the person pointed to (the file their request names, the
  mail of the sender it names), outside any passage that reads like instructions to the agent;
- `content`: copied from other untrusted content (a page, a mail, a tool result nobody pointed
  to);
- `flagged`: found only inside passages that read like instructions to the agent."""

UNTRUSTED_ORIGINS: frozenset[Origin] = frozenset({"content", "flagged"})
"""Origins a consequential value must not have unless a person's rule allows it."""


@dataclass(frozen=True, slots=True)
class Trace:
    """Where a value was found."""

    value: str
    clean: bool
    """Found in the person's words or trusted data (or too short / nowhere to be traced)."""
    sources: tuple[Source, ...] = ()
    """The untrusted sources containing the value (the designated ones when it is
    `designated`)."""
    excerpt: str = ""
    origin: Origin = "derived"
    labels: tuple[str, ...] = ()
    """What the sources are, in words (`mail from lily@example.com "Lunch"`)."""

    @property
    def tainted(self) -> bool:
        return not self.clean


_NUMBER = re.compile(r"(?<![\w.,])\d{1,3}(?:[ ,.’']\d{3})*(?:[.,]\d{1,2})?(?![\w])|\d+(?:[.,]\d+)?")


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


WEAK_FINDINGS = frozenset({"request"})
"""Findings that do not make the passage around them untrusted: a bill says "please pay" too.
They still warn the person at the asks whose values came from that content."""


@dataclass(frozen=True, slots=True)
class _Searchable:
    """Text prepared for tracing: squashed, its numbers and its words."""

    squashed: str
    numbers: frozenset[Decimal]
    words: frozenset[str]

    @staticmethod
    def of(text: str) -> _Searchable:
        return _Searchable(squash(text), frozenset(_numbers(text)), frozenset(tokens(text)))

    def has(self, text: str, number: Decimal | None) -> bool:
        if number is not None:
            return number in self.numbers
        squashed = squash(text)
        if len(squashed) < 3:
            return text.casefold() in self.words
        return squashed in self.squashed


@dataclass(slots=True)
class _Entry:
    """One record of untrusted content (a mail, a file, an event, a page)."""

    source: Source
    text: str
    all: _Searchable
    clear: _Searchable
    """Without the passages that read like instructions to the agent."""
    designated: _Searchable
    """What of the record the person pointed to: everything (`document`), its short fields
    (`record`), or nothing."""
    label: str
    urging: tuple[tuple[str, Finding], ...] = ()
    """Each sentence that asks its reader to act (a weak finding), squashed, with the
    finding."""


class Provenance:
    """The record of what was read in one task and where it came from (in memory, per task).

    The person's and trusted content is kept as searchable text (the common case, a value the
    person gave, is one substring search); untrusted content is kept per record, with the
    passages that read like instructions marked and what the person pointed to (see
    `designation`)."""

    def __init__(self) -> None:
        self._entries: list[_Entry] = []
        self._person: list[str] = []
        self._trusted: list[str] = []
        self._person_text = ""
        self._trusted_text = ""
        self._person_numbers: set[Decimal] = set()
        self._trusted_numbers: set[Decimal] = set()
        self._person_tokens: set[str] = set()
        self.terms: PersonTerms = PersonTerms()

    def add(
        self,
        source: Source,
        content: object,
        *,
        scan: Callable[[str], Sequence[Finding]] | None = None,
        aimed_by: Sequence[str] | None = None,
    ) -> list[Finding]:
        """Record `content` (text, or any JSON-like value) as coming from `source`; returns
        what `scan` found in it.

        Untrusted content is split into records (the items of a list, e.g. one per mail),
        each scanned with `scan`: the paragraphs around what it finds read like instructions
        to the agent (`flagged`). `aimed_by`: the call that returned it was aimed by these
        values, all the person's own (a file read by the name they gave): what it returns is
        what they pointed to (see `PersonTerms`)."""
        text = "\n".join(leaves(content))
        if not text:
            return []
        if source.kind == "person":
            self._person.append(squash(text))
            self._person_text = "\x00".join(self._person)
            self._person_numbers |= _numbers(text)
            self._person_tokens |= tokens(text)
            self.terms = self.terms.adding(text)
            return []
        if source.kind == "trusted":
            self._trusted.append(squash(text))
            self._trusted_text = "\x00".join(self._trusted)
            self._trusted_numbers |= _numbers(text)
            return []
        records = _records(content)
        aimed = None if aimed_by is None else self.terms.found_in("\n".join(aimed_by))
        found: list[Finding] = []
        for record in records:
            record_text = "\n".join(leaves(record))
            findings = list(scan(record_text)) if scan is not None and record_text else []
            found.extend(findings)
            flagging = [f for f in findings if f.kind not in WEAK_FINDINGS]
            spans = _regions(record_text, [(f.start, f.end) for f in flagging])
            designation = self._designation(record, aimed)
            entry = _entry(source, record, record_text, spans, designation)
            weak = [f for f in findings if f.kind in WEAK_FINDINGS and f.start >= 0]
            entry.urging = tuple((squash(_sentence(record_text, f)), f) for f in weak)
            self._entries.append(entry)
        return found

    def _designation(self, record: object, aimed: Designation | None) -> Designation:
        """How much of `record` the person pointed to: all of it when their request reads it
        as a source ("the bill in bill.txt") and the record (or the call that fetched it) is
        that item; its facts (short fields) when it is an item they name or a call aimed by
        their values fetched it; nothing otherwise."""
        found = self.terms.found_in("\n".join(short_fields(record)))
        if "document" in (found, aimed):
            return "document"
        if found == "record" or aimed is not None:
            return "record"
        return "none"

    @property
    def sources(self) -> tuple[Source, ...]:
        return tuple(dict.fromkeys(entry.source for entry in self._entries))

    def urging(self, value: str) -> tuple[Finding, ...]:
        """The sentences asking their reader to act ("post this in the channel", "please
        forward it") that `value` was read in: a message that carries it passes on what
        someone else asked for."""
        squashed = squash(value)
        if len(squashed) < 3:
            return ()
        found = (f for e in self._entries for text, f in e.urging if squashed in text)
        return tuple(dict.fromkeys(found))

    def trace(self, value: object, *, short_ok: bool = False) -> Trace:
        """Where `value` was seen (see `Origin`); `short_ok` traces values under 3 characters
        too, as whole words (an id like `7`)."""
        number = _as_number(value)
        text = str(value)
        squashed = squash(text)
        if number is None:
            if not squashed or (len(squashed) < 3 and not short_ok):
                return Trace(text, clean=True, origin="derived")
            if self._said(squashed, self._person_text, self._person_tokens):
                return Trace(text, clean=True, origin="person")
            if self._said(squashed, self._trusted_text, None):
                return Trace(text, clean=True, origin="trusted")
        elif number in self._person_numbers:
            return Trace(text, clean=True, origin="person")
        elif number in self._trusted_numbers:
            return Trace(text, clean=True, origin="trusted")
        hits = [e for e in self._entries if e.all.has(text, number)]
        if not hits:
            return Trace(text, clean=True, origin="derived")
        chosen: list[_Entry] = [e for e in hits if e.designated.has(text, number)]
        origin: Origin = "designated"
        if not chosen:
            chosen = [e for e in hits if e.clear.has(text, number)]
            origin = "content"
        if not chosen:
            chosen, origin = hits, "flagged"
        sources = tuple(dict.fromkeys(entry.source for entry in chosen))
        labels = tuple(dict.fromkeys(entry.label for entry in chosen if entry.label))
        return Trace(
            text,
            clean=False,
            sources=sources,
            excerpt=_excerpt(chosen[0].text, text),
            origin=origin,
            labels=labels,
        )

    @staticmethod
    def _said(squashed: str, said: str, tokens: set[str] | None) -> bool:
        if len(squashed) < 3:
            return tokens is not None and squashed in tokens
        return squashed in said


def _records(content: object) -> list[object]:
    """The records of a tool's result: the items of a list (or of the one list a mapping
    wraps, `{"emails": [...]}`), else the whole value."""
    if isinstance(content, list | tuple):
        items = list(cast(Sequence[object], content))
        return items or [content]
    if isinstance(content, Mapping):
        mapping = cast(Mapping[object, object], content)
        [only] = mapping.values() if len(mapping) == 1 else [None]
        if isinstance(only, list | tuple) and only:
            return list(cast(Sequence[object], only))
    return [content]


_SENTENCE_END = re.compile(r"[.!?](?=\s)|\n")


def _sentence(text: str, finding: Finding) -> str:
    """The sentence (or line) around what `finding` matched in `text`."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, finding.start)]
    after = _SENTENCE_END.search(text, finding.end)
    return text[ends[-1] if ends else 0 : after.end() if after else len(text)]


def _regions(text: str, flagged: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The passages around each flagged span: its paragraph (blank-line separated), at most
    1,500 characters each side of the span."""
    out: list[tuple[int, int]] = []
    for start, end in flagged:
        if start < 0:
            continue
        before = text.rfind("\n\n", 0, start)
        after = text.find("\n\n", end)
        left = max(before + 2 if before >= 0 else 0, start - 1500)
        right = min(after if after >= 0 else len(text), end + 1500)
        out.append((left, right))
    return out


def _entry(
    source: Source,
    record: object,
    text: str,
    spans: Sequence[tuple[int, int]],
    designation: Designation,
) -> _Entry:
    clear = text
    for start, end in sorted(spans, reverse=True):
        clear = clear[:start] + "\n" + clear[end:]
    if designation == "document":
        designated = clear
    elif designation == "record":
        designated = "\n".join(f for f in short_fields(record) if f in clear)
    else:
        designated = ""
    whole = _Searchable.of(text)
    cleared = whole if clear == text else _Searchable.of(clear)  # most records: nothing flagged
    pointed = cleared if designated == clear else _Searchable.of(designated)
    return _Entry(source, text, whole, cleared, pointed, _label(source, record))


_LABEL_KEYS = ("sender", "from", "subject", "title", "filename", "file_name", "name", "url")


def _label(source: Source, record: object) -> str:
    """The record in a few words: its sender, subject, title or name, else its source."""
    if isinstance(record, Mapping):
        fields = cast(Mapping[object, object], record)
        parts = [
            f"{key} {str(fields[key])[:60]}"
            for key in _LABEL_KEYS
            if key in fields and isinstance(fields[key], str | int) and str(fields[key])
        ][:2]
        if parts:
            return f"{source.where or source.kind}: " + ", ".join(parts)
    return source.where or str(source)


def _excerpt(text: str, value: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    at = flat.casefold().find(value.casefold())
    if at < 0:
        head = squash(value)[:4]
        at = max(flat.casefold().find(head), 0) if head else 0
    start = max(at - width, 0)
    end = min(at + len(value) + width, len(flat))
    return ("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else "")
