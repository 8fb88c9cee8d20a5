"""What research finds and reads: search hits, documents and their passages.

A document's text is kept whole, and each passage is a span of it (`start`, `end`: character
offsets), so that a citation points at the exact words it rests on and anyone can check them.
Everything here is untrusted content: data to weigh and quote, never instructions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from urllib.parse import urlsplit

DocumentKind = Literal["html", "pdf", "text"]


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One result of a search provider."""

    url: str
    title: str
    snippet: str
    provider: str
    """Which provider found it (`searxng`, `brave`, `local`, `browser`)."""
    published: date | None = None


@dataclass(frozen=True, slots=True)
class Passage:
    """A span of a document's text: `text == document.text[start:end]`."""

    url: str
    start: int
    end: int
    text: str

    @property
    def anchor(self) -> str:
        """A link to the passage in its page (a text fragment of its first words)."""
        words = " ".join(self.text.split()[:8])
        return f"{self.url}#:~:text={_fragment(words)}"


@dataclass(frozen=True, slots=True)
class Document:
    """A page or file read for research: its readable text, what it says about itself, and
    its passages (paragraphs, with their offsets in `text`)."""

    url: str
    title: str
    text: str
    kind: DocumentKind
    author: str = ""
    published: date | None = None
    passages: tuple[Passage, ...] = field(default=())
    signals: tuple[str, ...] = field(default=())
    """What the page says it is, in the web's own markup: schema.org types of its JSON-LD
    (`NewsArticle`, `ScholarlyArticle`, `DiscussionForumPosting`, `Product`…), `og:type`,
    and `ScholarlyArticle` for scholarly citation tags (`citation_journal_title`,
    `citation_doi`)."""

    @property
    def domain(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    def passage_at(self, start: int, end: int) -> Passage:
        """The span `start:end` of the text (clipped to it)."""
        start, end = max(0, start), min(len(self.text), end)
        return Passage(self.url, start, end, self.text[start:end])

    def around(self, span: Passage) -> str:
        """The paragraph(s) of the text that `span` lies in (the span itself if none)."""
        inside = [p.text for p in self.passages if p.start < span.end and span.start < p.end]
        return "\n".join(inside) or span.text

    def find(self, quote: str) -> Passage | None:
        """Where `quote` is in the text (spaces and case aside), or None."""
        pattern = r"\s+".join(re.escape(word) for word in quote.split())
        if not pattern:
            return None
        found = re.search(pattern, self.text, re.IGNORECASE)
        return None if found is None else self.passage_at(found.start(), found.end())


def split_passages(url: str, text: str, longest: int = 1200) -> tuple[Passage, ...]:
    """The paragraphs of `text` (blank-line or line separated), long ones cut at sentence
    ends near `longest` characters, each with its offsets."""
    found: list[Passage] = []
    for block in re.finditer(r"[^\n]+(?:\n(?!\s*\n)[^\n]+)*", text):
        start, body = block.start(), block.group()
        while body.strip():
            if len(body) <= longest:
                cut = len(body)
            else:
                ends = [m.end() for m in re.finditer(r"[.!?]\s", body[:longest])]
                cut = ends[-1] if ends else longest
            piece = body[:cut]
            lead = len(piece) - len(piece.lstrip())
            stripped = piece.strip()
            if stripped:
                begin = start + lead
                found.append(Passage(url, begin, begin + len(stripped), stripped))
            start, body = start + cut, body[cut:]
    return tuple(found)


def iso_date(value: object) -> date | None:
    """A date from an ISO string (`2026-11-03`, `2026-11-03T10:00:00Z`, or one that starts
    with a date), else None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None


def _fragment(words: str) -> str:
    from urllib.parse import quote

    return quote(words, safe="")
