"""Reading sources for research: over HTTP first, through a browser when a page needs
JavaScript; readable text with trafilatura, PDFs with pypdf; passages kept with their offsets.

Many readers run at once, within a global limit and a limit per domain; robots.txt is
respected by default (its answer kept per site); every URL (each redirect too) is put to
`allow` first (the gateway's navigation rules, the task's scope: a refusal is a `ReadFailure`,
and nothing is sent to that host). Every text is untrusted: it is scanned for injected
instructions (`Document.findings` flags them for the report), never obeyed.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, cast
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import httpx

from valet.policy import Finding, HeuristicDetector
from valet.research._sources import Document, iso_date, split_passages

USER_AGENT = "valet-research/1.0 (+https://github.com/valet; reads on a person's behalf)"
MAX_BYTES = 15_000_000
"""The most a source may weigh (a larger one is a `ReadFailure`)."""
MAX_REDIRECTS = 5

Allow = Callable[[str], Awaitable[str | None]]
"""Why a URL may not be fetched (None: it may): the gateway's checks for this task."""
Render = Callable[[str], Awaitable[str]]
"""The HTML of a page once a browser ran its scripts (for pages that need JavaScript)."""


@dataclass(frozen=True, slots=True)
class ReadFailure:
    """A source that could not be read, and why (refused, robots.txt, HTTP error, empty)."""

    url: str
    reason: str


@dataclass(frozen=True, slots=True)
class _Fetched:
    url: str
    kind: str
    """The media type (`text/html`, `application/pdf`)."""
    encoding: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Read:
    """A source read: the document, the links it has (for a crawl) and the injection findings
    in its text (content that tries to instruct the agent: flagged, never followed)."""

    document: Document
    links: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()


@dataclass
class Reader:
    """Reads URLs into `Document`s, `concurrency` at once, `per_domain` at once per host."""

    client: httpx.AsyncClient
    allow: Allow | None = None
    render: Render | None = None
    concurrency: int = 8
    per_domain: int = 2
    robots: bool = True
    user_agent: str = USER_AGENT
    _all: asyncio.Semaphore = field(init=False)
    _hosts: dict[str, asyncio.Semaphore] = field(
        init=False, default_factory=dict[str, asyncio.Semaphore]
    )
    _rules: dict[str, RobotFileParser | None] = field(
        init=False, default_factory=dict[str, RobotFileParser | None]
    )
    _detector: HeuristicDetector = field(init=False, default_factory=HeuristicDetector)

    def __post_init__(self) -> None:
        self._all = asyncio.Semaphore(self.concurrency)

    async def read_all(self, urls: list[str]) -> list[Read | ReadFailure]:
        """Read every URL (in parallel within the limits), in the order given."""
        return list(await asyncio.gather(*(self.read(url) for url in urls)))

    async def read(self, url: str) -> Read | ReadFailure:
        host = (urlsplit(url).hostname or "").lower()
        if urlsplit(url).scheme not in ("http", "https") or not host:
            return ReadFailure(url, "not an http(s) address")
        per_host = self._hosts.setdefault(host, asyncio.Semaphore(self.per_domain))
        async with self._all, per_host:
            try:
                return await self._read(url)
            except httpx.HTTPError as exc:
                return ReadFailure(url, f"cannot be fetched: {type(exc).__name__}: {exc}")

    async def _read(self, url: str) -> Read | ReadFailure:
        if (refused := await self._refused(url)) is not None:
            return ReadFailure(url, refused)
        fetched = await self._fetch(url)
        if isinstance(fetched, ReadFailure):
            return fetched
        final, body = fetched.url, fetched.body
        document, links = await asyncio.to_thread(
            parse, final, fetched.kind, body, fetched.encoding
        )
        if (
            isinstance(document, Document)
            and document.kind == "html"
            and len(document.text) < 200
            and self.render is not None
            and b"<script" in body
        ):
            rendered = await self.render(final)  # the page needs JavaScript
            document, links = await asyncio.to_thread(_html, final, rendered)
        if isinstance(document, ReadFailure):
            return document
        if not document.text.strip():
            return ReadFailure(url, "no readable text")
        findings = tuple(await asyncio.to_thread(self._detector.scan, document.text))
        return Read(document, links, findings)

    async def _fetch(self, url: str) -> _Fetched | ReadFailure:
        """GET `url`, following redirects one by one, each put to `allow` and robots.txt."""
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            headers = {"User-Agent": self.user_agent, "Accept": "text/html,application/pdf,*/*"}
            async with self.client.stream("GET", current, headers=headers, timeout=30) as got:
                if got.is_redirect and "location" in got.headers:
                    current = urljoin(current, got.headers["location"])
                    if (refused := await self._refused(current)) is not None:
                        return ReadFailure(url, f"redirected to {current}, which {refused}")
                    continue
                if got.status_code != 200:
                    return ReadFailure(url, f"HTTP {got.status_code}")
                chunks: list[bytes] = []
                size = 0
                async for chunk in got.aiter_bytes():
                    size += len(chunk)
                    if size > MAX_BYTES:
                        return ReadFailure(url, f"larger than {MAX_BYTES:,} bytes")
                    chunks.append(chunk)
                kind = got.headers.get("content-type", "").split(";")[0].strip().lower()
                return _Fetched(str(got.url), kind, got.encoding or "utf-8", b"".join(chunks))
        return ReadFailure(url, f"more than {MAX_REDIRECTS} redirects")

    async def _refused(self, url: str) -> str | None:
        if self.allow is not None and (why := await self.allow(url)) is not None:
            return f"is refused: {why}"
        if self.robots and not await self._robots_allow(url):
            return "is disallowed by the site's robots.txt"
        return None

    async def _robots_allow(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._rules:
            self._rules[origin] = await self._robots_of(origin)
        rules = self._rules[origin]
        return rules is None or rules.can_fetch(self.user_agent, url)

    async def _robots_of(self, origin: str) -> RobotFileParser | None:
        """The site's robots.txt rules; None (everything allowed) when it has none."""
        try:
            got = await self.client.get(
                origin + "/robots.txt", headers={"User-Agent": self.user_agent}, timeout=10
            )
        except httpx.HTTPError:
            return None
        if got.status_code in (401, 403):  # the site closes itself to robots
            rules = RobotFileParser()
            rules.parse(["User-agent: *", "Disallow: /"])
            return rules
        if got.status_code != 200:
            return None
        rules = RobotFileParser()
        rules.parse(got.text.splitlines())
        return rules


def parse(
    url: str, kind: str, body: bytes, encoding: str = "utf-8"
) -> tuple[Document | ReadFailure, tuple[str, ...]]:
    """A fetched or stored source's document (and links): a PDF, plain text or Markdown, or
    an HTML page (`kind`: its media type, or a file's suffix: `pdf`, `txt`, `md`, `html`)."""
    if kind in ("application/pdf", "pdf") or body[:5] == b"%PDF-":
        return _pdf(url, body), ()
    if kind in ("text/plain", "text/markdown", "txt", "md"):
        text = body.decode(encoding, "replace")
        return _document(url, _first_line(text), text, "text", "", None), ()
    return _html(url, body.decode(encoding, "replace"))


def _html(url: str, html: str) -> tuple[Document, tuple[str, ...]]:
    import trafilatura  # pyright: ignore[reportMissingTypeStubs]  # slow to import: on first use

    extracted: Any = trafilatura.bare_extraction(  # pyright: ignore[reportUnknownMemberType]
        html, url=url, include_comments=False, include_tables=True, with_metadata=True
    )
    found = cast(dict[str, Any], extracted.as_dict()) if extracted is not None else {}
    text = str(found.get("text") or "")
    title = str(found.get("title") or "") or _title(html) or url
    author = str(found.get("author") or "")
    published = iso_date(found.get("date"))
    links = tuple(
        dict.fromkeys(
            urljoin(url, href).split("#", 1)[0]
            for href in re.findall(r"""<a\s[^>]*href\s*=\s*["']([^"'#][^"']*)["']""", html, re.I)
        )
    )
    document = _document(url, title, text, "html", author, published)
    return replace(document, signals=signals_of(html)), links


def signals_of(html: str) -> tuple[str, ...]:
    """The page's own claims about what it is (see `Document.signals`)."""
    found: list[str] = []
    for block in re.findall(
        r"<script[^>]+application/ld\+json[^>]*>(.*?)</script>", html, re.I | re.S
    ):
        found += re.findall(r'"@type"\s*:\s*"([A-Za-z]+)"', block)
    og = re.search(r"""<meta[^>]+property=["']og:type["'][^>]+content=["']([^"']+)""", html, re.I)
    if og:
        found.append("og:" + og.group(1).strip())
    if re.search(r"""<meta[^>]+name=["']citation_(journal_title|doi)["']""", html, re.I):
        found.append("ScholarlyArticle")
    return tuple(dict.fromkeys(found))


def _pdf(url: str, body: bytes) -> Document | ReadFailure:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        pdf = PdfReader(io.BytesIO(body))
        pages = [page.extract_text() or "" for page in pdf.pages]
        meta = pdf.metadata
    except (PdfReadError, ValueError, KeyError) as exc:
        return ReadFailure(url, f"not a readable PDF: {exc}")
    text = "\n\n".join(re.sub(r"[ \t]+\n", "\n", page).strip() for page in pages)
    title = str(meta.title) if meta is not None and meta.title else _first_line(text)
    author = str(meta.author) if meta is not None and meta.author else ""
    created = meta.creation_date if meta is not None else None
    published = created.date() if isinstance(created, datetime) else None
    return _document(url, title, text, "pdf", author, published)


def _document(
    url: str, title: str, text: str, kind: Any, author: str, published: date | None
) -> Document:
    document = Document(url, title.strip(), text, kind, author.strip(), published)
    return replace(document, passages=split_passages(url, text))


def _title(html: str) -> str:
    found = re.search(r"<title[^>]*>(.*?)</title>", html, re.I | re.S)
    return " ".join(found.group(1).split()) if found else ""


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")[:200]
