"""What the person named in their words, to recognise the content they point to: the terms
of their request, and the facts (short fields) of a record that those terms are matched on."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

Designation = Literal["document", "record", "none"]
"""How much of a record the person pointed to: all of it, its facts, or nothing."""

SHORT_FIELD = 200
"""A field of a record up to this many characters is a fact about it (a sender, a subject, an
IBAN); a longer one is free text."""

_SEPARATORS = re.compile(r"[\s\-_.·/]+")


def squash(text: str) -> str:
    """`text` case-folded without spaces and the separators people put in numbers."""
    return _SEPARATORS.sub("", text.casefold())


@dataclass(frozen=True, slots=True)
class PersonTerms:
    """What the person named, to recognise the content they point to.

    `sources`: files, quoted titles and web addresses their request reads from ("pay the bill
    in bill.txt", "the steps listed in 'Onboarding'"): all of that item's content is theirs to
    use. `items` (the same kinds named as objects, "share budget.xlsx", and e-mail addresses)
    and `names` (capitalised names, numbers): the items they name, whose facts (sender,
    subject, file name, id) they point to but not their free text."""

    sources: frozenset[str] = frozenset()
    items: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    source_names: frozenset[str] = frozenset()
    """Names in a phrase that reads from an item ("from David's lunch e-mail")."""

    def adding(self, text: str) -> PersonTerms:
        sources: set[str] = set()
        items: set[str] = set()
        for match in [*_DOCUMENT_TERM.finditer(text), *_QUOTED.finditer(text)]:
            quoted = match.re is _QUOTED
            named = next(g for g in match.groups() if g) if quoted else match.group(0)
            term = squash(named.lstrip("#"))  # a channel, "#general", is its name
            if len(term) < 4:
                continue
            is_mail = "@" in match.group(0)
            cued = _SOURCE_CUE.search(text[max(match.start() - 60, 0) : match.start()])
            (sources if cued and not is_mail else items).add(term)
        names = {t for t in _name_terms(text) if len(t) >= 3}
        cited = {t for m in _SOURCE_PHRASE.finditer(text) for t in _name_terms(m.group(1))}
        return PersonTerms(
            self.sources | sources,
            self.items | items,
            self.names | names,
            self.source_names | {t for t in cited if len(t) >= 3},
        )

    def found_in(self, text: str) -> Designation:
        squashed = squash(text)
        if any(term in squashed for term in self.sources):
            return "document"
        if self.source_names and self.source_names & tokens(text):
            return "document"
        if any(term in squashed for term in self.items) or self.names & tokens(text):
            return "record"
        return "none"


_DOCUMENT_TERM = re.compile(
    r"(?<![\w&])#[\w\-]{3,}|[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+|https?://[^\s\"'<>]+(?<![.,;:!?])|"
    r"(?<![\w.\-])[\w\-]+(?:\.[\w\-]+)*\.[a-z][a-z0-9]*(?:/[^\s\"'<>]*)?(?<![.,;:!?])",
    re.IGNORECASE,
)
"""Channels (`#general`), e-mail addresses, web addresses and dotted names: files
(`bill.txt`) and hosts (`www.dora.example`)."""
_QUOTED = re.compile(r"\"([^\"]{3,80})\"|[‘“']([^’”'\n]{3,80})[’”']")
_SOURCE_CUE = re.compile(
    r"\b(?:in|from|according\s+to|per|following|inside|within|on|at|using|(?:listed|mentioned|"
    r"described|given|written|stated|noted|specified|found|shown)\s+(?:in|on|at))"
    r"(?:\s+(?:the|my|this|that|our|her|his|their|its|your|file|document|attachment|note|mail|"
    r"e-?mail|message|page|web\s*page|website|site|channel|folder|sheet|spreadsheet|called|"
    r"named|titled),?)*\s*['\"“‘]?\s*$",
    re.IGNORECASE,
)
"""Words before an item the request reads from ("in", "listed in the file", "from")."""
_SOURCE_PHRASE = re.compile(
    r"\b(?:in|from|according\s+to|per|following|(?:listed|mentioned|described|given|written|"
    r"stated|noted|specified|found|shown)\s+(?:in|on))\s+((?:[^\s.,;:!?]+\s+){0,4}?)"
    r"(?:e-?mails?|mails?|messages?|notes?|letters?|files?|documents?|invitations?|invites?|"
    r"events?|posts?|threads?|pages?|websites?|articles?|reviews?|bills?|invoices?|lists?)\b",
    re.IGNORECASE,
)
"""A phrase that reads from an item named by its owner or topic: "from David's lunch e-mail",
"in the landlord's letter"."""
_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "if",
        "then",
        "so",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "with",
        "from",
        "into",
        "about",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "my",
        "me",
        "i",
        "you",
        "your",
        "we",
        "our",
        "us",
        "he",
        "she",
        "him",
        "her",
        "his",
        "they",
        "them",
        "their",
        "please",
        "can",
        "could",
        "would",
        "should",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "some",
        "each",
        "every",
        "no",
        "not",
        "yes",
        "also",
        "just",
        "only",
        "up",
        "down",
        "out",
        "over",
        "under",
        "again",
        "new",
        "last",
        "next",
        "first",
        "one",
        "two",
        "today",
        "tomorrow",
        "yesterday",
        "week",
        "month",
        "year",
        "day",
        "time",
        "send",
        "pay",
        "buy",
        "book",
        "reply",
        "forward",
        "delete",
        "share",
        "create",
        "add",
        "update",
        "change",
        "find",
        "tell",
        "give",
        "get",
        "let",
        "make",
        "check",
        "show",
        "list",
        "read",
        "write",
        "schedule",
        *[
            "there",
            "here",
            "than",
            "that",
            "then",
            "them",
            "they",
            "what",
            "when",
            "with",
            "your",
            "yours",
            "mine",
            "about",
            "after",
            "before",
            "into",
            "onto",
            "over",
            "under",
            "also",
            "only",
            "just",
            "very",
            "really",
            "please",
            "thanks",
            "thank",
            "could",
            "would",
            "should",
            "which",
            "while",
            "will",
            "shall",
            "have",
            "has",
            "had",
            "does",
            "done",
            "make",
            "made",
            "want",
            "need",
            "like",
            "know",
            "file",
            "files",
            "email",
            "e-mail",
            "emails",
            "mail",
            "mails",
            "message",
            "messages",
            "document",
            "documents",
            "calendar",
            "drive",
            "inbox",
            "folder",
            "event",
            "events",
            "account",
            "thing",
            "things",
            "something",
            "anything",
            "everything",
            "someone",
            "anyone",
            "everyone",
            "people",
            "person",
            "someone",
        ],
    ]
)


def _name_terms(text: str) -> set[str]:
    """The words that pick out an item: names, numbers of three digits or more and other
    words of four letters or more ("rent", "dentist"), not common ones, case-folded."""
    found: set[str] = set()
    for match in _WORD.finditer(text):
        folded = _plain(match.group(0))
        if folded in _STOP:
            continue
        if len(folded) >= 4 or match.group(0)[0].isupper() or folded.isdigit():
            found.add(folded)
    return found


def _plain(word: str) -> str:
    """A word case-folded, without a possessive `'s` ("Lily's" is "lily")."""
    folded = word.casefold()
    return folded[:-2] if folded.endswith(("'s", "’s")) else folded


def tokens(text: str) -> set[str]:
    return {_plain(m.group(0)) for m in _WORD.finditer(text)}


_FREE_TEXT_KEYS = re.compile(
    r"body|content|text|description|message|note|snippet|summary|comment|review|details|html",
    re.IGNORECASE,
)
"""Fields that hold free text whatever their length (an attacker's note may be short)."""


def short_fields(record: object) -> list[str]:
    """The facts of a record: its fields of up to `SHORT_FIELD` characters, except free text
    (a mail's body, a file's content), at any depth. A record that is only text has none."""
    return [] if isinstance(record, str) else [f for f in _facts(record) if len(f) <= SHORT_FIELD]


def _facts(value: object) -> list[str]:
    if isinstance(value, Mapping):
        items = cast(Mapping[object, object], value).items()
        return [f for k, v in items if not _FREE_TEXT_KEYS.search(str(k)) for f in _facts(v)]
    if isinstance(value, list | tuple):
        return [f for item in cast(Sequence[object], value) for f in _facts(item)]
    return [] if value is None or isinstance(value, bool) else [str(value)]
