"""Search behind one interface: a SearXNG instance (what self-hosters run), the Brave Search
API, a search engine's own page in valet's browser, and a local index (SQLite FTS5) over a
folder of documents or a crawl of given sites, for air-gapped use and for tests.

Every provider answers `await provider.search(query, limit)` with `SearchHit`s, or raises
`SearchError` saying what failed (never an empty list for a provider that is down).
"""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast
from urllib.parse import parse_qs, quote_plus, urljoin, urlsplit

import httpx

from valet._home import private_file
from valet.errors import ValetError
from valet.research._checker import STOP_WORDS
from valet.research._sources import Document, SearchHit, iso_date

BRAVE_URL = "https://api.search.brave.com/res/v1/web/search"


class SearchError(ValetError):
    """A search provider could not answer (the message says which and why)."""


class SearchProvider(Protocol):
    name: str

    async def search(self, query: str, limit: int = 10) -> list[SearchHit]: ...


@dataclass
class Searxng:
    """A SearXNG instance's JSON API (`format=json` must be enabled in its settings.yml:
    `search: formats: [html, json]`)."""

    base_url: str
    client: httpx.AsyncClient
    name: str = "searxng"

    async def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        url = self.base_url.rstrip("/") + "/search"
        params = {"q": query, "format": "json", "pageno": "1"}
        data = await _get_json(self.client, self.name, url, params=params)
        results: object = data.get("results")
        if not isinstance(results, list):
            raise SearchError(f"{self.name}: the answer has no results list (is JSON enabled?)")
        hits = _hits(cast(list[object], results), self.name, "content", "publishedDate")
        return _unique(hits)[:limit]


@dataclass
class Brave:
    """The Brave Search API (an API key from api-dashboard.search.brave.com)."""

    api_key: str
    client: httpx.AsyncClient
    base_url: str = BRAVE_URL
    name: str = "brave"

    async def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        headers = {"Accept": "application/json", "X-Subscription-Token": self.api_key}
        params = {"q": query, "count": str(min(limit, 20))}
        data = await _get_json(self.client, self.name, self.base_url, params, headers)
        web: object = data.get("web", {})
        results: object = (
            cast(dict[str, Any], web).get("results", []) if isinstance(web, dict) else []
        )
        if not isinstance(results, list):
            raise SearchError(f"{self.name}: the answer has no web results")
        hits = _hits(cast(list[object], results), self.name, "description", "page_age")
        return _unique(hits)[:limit]


@dataclass
class BrowserSearch:
    """A search engine's own results page, read in valet's headless Chromium (`render`: the
    page's HTML once its scripts ran, each request passing the task's navigation rules):
    the results are the page's links that lead off the engine's site (its redirect links
    unwrapped), titled with their text."""

    search_url: str
    """The results page, with `{query}` where the words go (e.g.
    `https://html.duckduckgo.com/html/?q={query}`)."""
    render: Callable[[str], Awaitable[str]]
    name: str = "browser"

    async def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        url = self.search_url.replace("{query}", quote_plus(query))
        try:
            page = await self.render(url)
        except Exception as exc:  # the browser could not load it: say so, not "nothing found"
            raise SearchError(f"the search page {url} could not be read: {exc}") from exc
        engine = urlsplit(url).netloc.lower()
        hits: list[SearchHit] = []
        for href, inner in re.findall(
            r"<a\b[^>]*?href=[\"']([^\"']+)[\"'][^>]*>(.*?)</a>", page, re.S | re.I
        ):
            target = _unwrapped(urljoin(url, html.unescape(href)), engine)
            title = " ".join(_plain(html.unescape(inner)).split())
            site = urlsplit(target).netloc.lower()
            if target.startswith(("http://", "https://")) and site != engine and len(title) > 3:
                hits.append(SearchHit(target, title, "", self.name))
        return _unique(hits)[:limit]


def _unwrapped(url: str, engine: str) -> str:
    """An engine's redirect link (`/l/?uddg=https%3A…`, `/url?q=https…`) as its target."""
    parts = urlsplit(url)
    if parts.netloc.lower() != engine:
        return url
    for values in parse_qs(parts.query).values():
        for value in values:
            if value.startswith(("http://", "https://")):
                return value
    return url


class LocalIndex:
    """A full-text index (SQLite FTS5, BM25 ranking, English stemming) of documents: a folder
    of files or pages crawled from given sites (`add`). Search needs no network at all."""

    name = "local"

    def __init__(self, path: Path) -> None:
        self.path = path
        if path != Path(":memory:"):
            private_file(path)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._lock = asyncio.Lock()
        self._db.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS documents USING fts5("
            "url UNINDEXED, title, body, published UNINDEXED, "
            "tokenize = 'porter unicode61')"
        )

    def add(self, document: Document) -> None:
        """Index `document` (replacing what was indexed for its URL)."""
        with self._db:
            self._db.execute("DELETE FROM documents WHERE url = ?", (document.url,))
            self._db.execute(
                "INSERT INTO documents (url, title, body, published) VALUES (?, ?, ?, ?)",
                (
                    document.url,
                    document.title,
                    document.text,
                    None if document.published is None else document.published.isoformat(),
                ),
            )

    def __len__(self) -> int:
        (count,) = self._db.execute("SELECT count(*) FROM documents").fetchone()
        return int(count)

    async def search(self, query: str, limit: int = 10) -> list[SearchHit]:
        match = _match(query)
        if not match:
            return []
        async with self._lock:
            rows = await asyncio.to_thread(self._rows, match, limit)
        return [
            SearchHit(url, title, snippet, self.name, iso_date(published))
            for url, title, snippet, published in rows
        ]

    def _rows(self, match: str, limit: int) -> list[tuple[str, str, str, str | None]]:
        query = (
            "SELECT url, title, snippet(documents, 2, '', '', '…', 32), published "
            "FROM documents WHERE documents MATCH ? ORDER BY bm25(documents, 0, 4.0, 1.0) "
            "LIMIT ?"
        )
        return [
            (str(u), str(t), str(s), None if p is None else str(p))
            for u, t, s, p in self._db.execute(query, (match, limit)).fetchall()
        ]

    def close(self) -> None:
        self._db.close()


def _match(query: str) -> str:
    """An FTS5 query for free text: any of its words but the most common ones (quoted, so
    nothing is FTS5 syntax), ranked by BM25, so documents with more of them come first."""
    words = [
        w
        for w in re.findall(r"\w+", query.lower())
        if (len(w) > 1 or w.isdigit()) and w not in STOP_WORDS
    ]
    return " OR ".join(f'"{word}"' for word in dict.fromkeys(words))


async def _get_json(
    client: httpx.AsyncClient,
    name: str,
    url: str,
    params: dict[str, str],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    try:
        response = await client.get(url, params=params, headers=headers, timeout=20)
    except httpx.HTTPError as exc:
        raise SearchError(f"{name} cannot be reached at {url}: {exc}") from exc
    if response.status_code != 200:
        raise SearchError(f"{name} answered HTTP {response.status_code} at {url}")
    try:
        data: object = response.json()
    except ValueError as exc:
        raise SearchError(f"{name} did not answer JSON at {url}") from exc
    if not isinstance(data, dict):
        raise SearchError(f"{name} answered JSON that is not an object")
    return cast(dict[str, Any], data)


def _hits(results: list[object], provider: str, snippet: str, when: str) -> list[SearchHit]:
    """The hits of a provider's result list (entries without a URL are left out)."""
    found: list[SearchHit] = []
    for entry in results:
        if not isinstance(entry, dict):
            continue
        item = cast(dict[str, Any], entry)
        url = item.get("url")
        if not isinstance(url, str):
            continue
        title = str(item.get("title") or url)
        text = _plain(str(item.get(snippet) or ""))
        found.append(SearchHit(url, title, text, provider, iso_date(item.get(when))))
    return found


def _unique(hits: Iterable[SearchHit]) -> list[SearchHit]:
    seen: set[str] = set()
    found: list[SearchHit] = []
    for hit in hits:
        key = hit.url.split("#", 1)[0].rstrip("/")
        if key not in seen:
            seen.add(key)
            found.append(hit)
    return found


def _plain(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)
