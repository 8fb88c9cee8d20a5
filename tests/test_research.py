"""Research foundations: the citation checker, reading a local corpus (pages and PDFs printed
by Chromium) with its limits, robots.txt and injection flags, the local full-text index, the
SearXNG and Brave providers against local servers answering in their documented formats, and
the credibility score."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from tests._research_corpus import FORUM, OFFICIAL, PDF_REPORT, Corpus, make_pdfs, serve

from valet.browser import Renderer
from valet.research import (
    Brave,
    BrowserSearch,
    Document,
    DomainLists,
    LocalIndex,
    Read,
    Reader,
    ReadFailure,
    SearchError,
    Searxng,
    assess,
    check,
    check_with_model,
    sentences,
)
from valet.research._checker import model_entails

# ---------------------------------------------------------------- the checker


@pytest.mark.parametrize(
    ("sentence", "verdict", "why"),
    [
        ("The bridge opened to traffic on 14 June 2019.", "supported", ""),
        ("The transport office counts 42,000 vehicles a day on the bridge.", "supported", ""),
        ("The bridge opened to traffic on 14 June 2017.", "unsupported", "does not state 2017"),
        ("About 60,000 vehicles a day cross the bridge.", "unsupported", "60000"),
        ("The bridge was designed by the engineer Tom Reyes.", "unsupported", "Tom Reyes"),
        ("The bridge did not open to traffic in June 2019.", "unsupported", "opposite"),
        ("Its main span measures 640 metres and is painted bright red.", "partial", "words"),
        ("Its main span measures 640 metres, the longest in Europe.", "unsupported", "Europe"),
        ("The weather was mild and the harvest was good.", "unsupported", "words"),
    ],
)
def test_the_checker_weighs_numbers_names_negation_and_words(
    sentence: str, verdict: str, why: str
) -> None:
    support = check(sentence, OFFICIAL)
    assert support.verdict == verdict, support
    assert why in " ".join(support.problems)


def test_swapped_names_are_only_partly_supported() -> None:
    passage = "In the final, Marlow beat Ortiz in three sets."
    assert check("In the final, Marlow beat Ortiz in three sets.", passage).ok
    swapped = check("In the final, Ortiz beat Marlow in three sets.", passage)
    assert swapped.verdict == "partial" and "who did what" in swapped.problems[0]


def test_a_negation_in_the_passage_only_is_a_contradiction() -> None:
    passage = "No structural defects were found in 2025."
    assert check("Structural defects were found in 2025.", passage).verdict == "unsupported"
    assert check("No structural defects were found in 2025.", passage).ok


def test_sentences_keep_their_citations() -> None:
    text = "It opened in 2019. [1] Traffic is 42,000 a day [2]. Tolls are 3 euros."
    assert sentences(text) == [
        "It opened in 2019. [1]",
        "Traffic is 42,000 a day [2].",
        "Tolls are 3 euros.",
    ]


# ---------------------------------------------------------------- reading the corpus


@pytest.fixture(scope="module")
def pdfs() -> dict[str, bytes]:
    return asyncio.run(make_pdfs())


@pytest.fixture
def corpus(pdfs: dict[str, bytes]) -> Iterator[Corpus]:
    with serve(pdfs) as running:
        yield running


async def _read_all(corpus: Corpus, **options: Any) -> list[Read | ReadFailure]:
    async with httpx.AsyncClient() as client:
        reader = Reader(client, **options)
        return await reader.read_all(corpus.urls())


async def test_the_corpus_is_read_within_the_limits_and_robots_txt(corpus: Corpus) -> None:
    corpus.delay = 0.05  # so that readers overlap
    results = await _read_all(corpus, concurrency=8, per_domain=3)
    assert len(results) == len(corpus.urls()) >= 30
    refused = [r for r in results if isinstance(r, ReadFailure)]
    assert [(urlsplit(r.url).path, r.reason) for r in refused] == [
        ("/private/draft", "is disallowed by the site's robots.txt")
    ]
    assert "/private/draft" not in corpus.requests  # not even asked for
    assert corpus.most_in_flight == 3  # one domain: its limit, not the global one
    read = {urlsplit(r.document.url).path: r for r in results if isinstance(r, Read)}
    for found in read.values():  # every passage is exactly its span of the text
        doc = found.document
        assert doc.passages and all(doc.text[p.start : p.end] == p.text for p in doc.passages)
    report = read["/files/annual-report-2025.pdf"].document
    assert report.kind == "pdf" and "42,000 vehicles" in report.text
    assert report.title.startswith("Kestrel Bay Bridge Annual Report 2025")
    quote = report.find("Average daily traffic in 2025 was 42,000 vehicles")
    assert quote is not None and report.text[quote.start : quote.end].startswith("Average")
    official = read["/official/bridge-facts"].document
    assert "42,000 vehicles a day" in official.text and official.author
    assert official.published == date(2025, 11, 2)
    assert official.signals == ("GovernmentOrganization",)
    assert read["/journal/cable-corrosion"].document.signals == ("ScholarlyArticle",)
    tolls = read["/tolls/2026"]
    assert any(f.kind == "override" for f in tolls.findings)  # flagged, never followed
    assert not any(r.findings for p, r in read.items() if p != "/tolls/2026")


async def test_a_refused_address_is_never_fetched(corpus: Corpus) -> None:
    async def allow(url: str) -> str | None:
        return "outside this task's scope" if "/shop/" in url else None

    results = await _read_all(corpus, allow=allow, per_domain=4)
    refused = [r for r in results if isinstance(r, ReadFailure)]
    assert {urlsplit(r.url).path for r in refused} == {"/shop/mug", "/private/draft"}
    assert "outside this task's scope" in next(r.reason for r in refused if "shop" in r.url)
    assert not any(p.startswith("/shop/") for p in corpus.requests)


async def test_the_local_index_finds_what_the_corpus_says(corpus: Corpus, tmp_path: Path) -> None:
    results = await _read_all(corpus, per_domain=4)
    index = LocalIndex(tmp_path / "index.db")
    for found in results:
        if isinstance(found, Read):
            index.add(found.document)
    assert len(index) == len(corpus.urls()) - 1
    hits = await index.search("how many vehicles cross the Kestrel Bay bridge each day?", 5)
    paths = [urlsplit(h.url).path for h in hits]
    assert "/official/bridge-facts" in paths[:3] and "/news/traffic-growth" in paths[:3]
    assert all(h.provider == "local" and h.snippet for h in hits)
    assert await index.search("   ?!") == []
    mug = await index.search("souvenir mug")
    assert urlsplit(mug[0].url).path == "/shop/mug"
    index.close()
    reopened = LocalIndex(tmp_path / "index.db")  # kept on disk
    assert len(reopened) == len(corpus.urls()) - 1
    reopened.close()


# ---------------------------------------------------------------- search providers


class _Stand:
    """A local server answering every GET with `answer` (JSON, or bytes of `kind`)."""

    def __init__(self, answer: Any, status: int = 200, kind: str = "application/json") -> None:
        self.seen: list[dict[str, Any]] = []
        stand = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                stand.seen.append(
                    {
                        "path": parts.path,
                        "raw": self.path,
                        "query": parse_qs(parts.query),
                        "headers": self.headers,
                    }
                )
                body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SEARXNG_ANSWER = {  # the shape of SearXNG's /search?format=json
    "query": "kestrel bay bridge",
    "number_of_results": 3,
    "results": [
        {
            "url": "https://transport.example.gov/bridge",
            "title": "Kestrel Bay bridge: key facts",
            "content": "The bridge opened on 14 June 2019.",
            "engine": "duckduckgo",
            "engines": ["duckduckgo", "brave"],
            "score": 2.0,
            "category": "general",
            "publishedDate": "2025-11-02T00:00:00",
        },
        {
            "url": "https://transport.example.gov/bridge#facts",
            "title": "duplicate",
            "content": "",
            "engine": "bing",
        },
        {"title": "no url", "content": "skipped"},
    ],
    "answers": [],
    "suggestions": [],
    "unresponsive_engines": [],
}


async def test_searxng_and_brave_answer_in_their_formats() -> None:
    searxng = _Stand(SEARXNG_ANSWER)
    brave = _Stand(
        {
            "type": "search",
            "web": {
                "type": "search",
                "results": [
                    {
                        "title": "Bridge traffic keeps growing",
                        "url": "https://news.example/traffic",
                        "description": "<strong>42,000</strong> vehicles a day",
                        "page_age": "2026-02-10T08:00:00",
                    }
                ],
            },
        }
    )
    down = _Stand(b"<html>not json</html>")
    try:
        async with httpx.AsyncClient() as client:
            hits = await Searxng(searxng.url, client).search("kestrel bay bridge")
            assert [(h.url, h.provider, h.published) for h in hits] == [
                ("https://transport.example.gov/bridge", "searxng", date(2025, 11, 2))
            ]
            assert searxng.seen[0]["query"] == {
                "q": ["kestrel bay bridge"],
                "format": ["json"],
                "pageno": ["1"],
            }
            found = await Brave(
                "key-123", client, base_url=brave.url + "/res/v1/web/search"
            ).search("bridge traffic", 5)
            assert [(h.title, h.snippet) for h in found] == [
                ("Bridge traffic keeps growing", "42,000 vehicles a day")
            ]
            assert brave.seen[0]["headers"]["X-Subscription-Token"] == "key-123"
            with pytest.raises(SearchError, match="did not answer JSON"):
                await Searxng(down.url, client).search("x")
            with pytest.raises(SearchError, match="cannot be reached"):
                await Searxng("http://127.0.0.1:9", client).search("x")
    finally:
        for stand in (searxng, brave, down):
            stand.close()


# ---------------------------------------------------------------- credibility


def test_credibility_follows_kind_lists_date_author_and_agreement() -> None:
    today = date(2026, 12, 6)
    official = Document(
        "https://transport.example.gov/bridge",
        "Key facts",
        OFFICIAL,
        "html",
        author="Regional Transport Office",
        published=date(2025, 11, 2),
    )
    forum = Document(
        "https://forum.example/t/881", "Thread", FORUM, "html", signals=("DiscussionForumPosting",)
    )
    scholarly = Document(
        "https://journal.example/a", "Study", PDF_REPORT, "html", signals=("ScholarlyArticle",)
    )
    first = assess(official, today=today, agree=2)
    assert first.kind == "official" and first.score == 1.0
    assert any("government domain" in r for r in first.reasons)
    weak = assess(forum, today=today, contradict=1)
    assert weak.kind == "forum" and weak.score == pytest.approx(0.2)
    assert assess(scholarly, today=today).kind == "peer_reviewed"
    lists = DomainLists(distrusted=("example.gov",))
    assert assess(official, lists, today=today).score < first.score - 0.3


# ---------------------------------------------------------------- pages that need JavaScript


def _js_page(beacon: str) -> bytes:
    parts = ["The live counter shows", "41,870 vehicles", "so far today on the Kestrel Bay bridge."]
    more = "The counter is reset at midnight and its figures are published each morning. " * 3
    return (
        "<!doctype html><html><head><title>Live traffic</title></head><body><div id='app'>"
        "</div><script>document.getElementById('app').innerHTML = '<article><h1>Live traffic"
        f"</h1><p>' + {parts!r}.join(' ') + '</p><p>{more}</p></article>';"
        f"fetch('{beacon}').catch(() => null);</script></body></html>"
    ).encode()


async def test_a_page_that_needs_javascript_is_rendered_within_the_rules(corpus: Corpus) -> None:
    other = _Stand({"tracked": True})  # another host the page calls: not allowed
    corpus.files["/app/live"] = ("text/html", _js_page(other.url + "/beacon"))
    allowed = urlsplit(corpus.url).netloc

    async def allow(url: str) -> str | None:
        return None if urlsplit(url).netloc == allowed else "not an allowed host"

    renderer = Renderer()
    try:
        async with httpx.AsyncClient() as client:
            plain = await Reader(client).read(corpus.url + "/app/live")
            reader = Reader(client, render=lambda url: renderer.render(url, allow))
            rendered = await reader.read(corpus.url + "/app/live")
    finally:
        await renderer.close()
        other.close()
    assert isinstance(plain, ReadFailure) and plain.reason == "no readable text"
    assert isinstance(rendered, Read), rendered
    assert "The live counter shows 41,870 vehicles" in rendered.document.text
    assert other.seen == []  # the page's call to another host never left the browser
    assert renderer.refused == [other.url + "/beacon"]


# ---------------------------------------------------------------- a model's entailment check


def _answering(entailed: bool | None) -> FunctionModel:
    """A model that answers the entailment question (None: it fails)."""

    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if entailed is None:
            raise ConnectionError("the model server went away")
        tool = info.output_tools[0].name
        return ModelResponse(parts=[ToolCallPart(tool, {"entailed": entailed})])

    return FunctionModel(reply)


async def test_a_models_no_makes_a_supported_sentence_partial_never_the_reverse() -> None:
    sentence = "The bridge opened to traffic on 14 June 2019."
    agreed = await check_with_model(sentence, OFFICIAL, model_entails(_answering(True)))
    assert agreed.ok
    doubted = await check_with_model(sentence, OFFICIAL, model_entails(_answering(False)))
    assert doubted.verdict == "partial" and "the model" in doubted.problems[0]
    silent = await check_with_model(sentence, OFFICIAL, model_entails(_answering(None)))
    assert silent.ok  # a failing model says nothing: the code's verdict stands
    wrong = "The bridge opened to traffic on 14 June 2017."
    assert not (await check_with_model(wrong, OFFICIAL, model_entails(_answering(True)))).ok


def _engine(corpus: Corpus) -> _Stand:
    """A local search engine's results page (HTML): a direct link, a redirect link, its own."""
    official = corpus.url + "/official/bridge-facts"
    wrapped = "/l/?uddg=" + quote(corpus.url + "/news/traffic-growth", safe="")
    page = (
        "<html><body><nav><a href='/settings'>Settings page</a></nav><ol>"
        f"<li><a href='{official}'>Kestrel Bay bridge: key facts</a></li>"
        f"<li><a href='{wrapped}'>Bridge traffic keeps growing</a></li>"
        "</ol></body></html>"
    )
    return _Stand(page.encode(), kind="text/html")


async def test_a_search_engines_page_in_the_browser_gives_its_results(corpus: Corpus) -> None:
    engine = _engine(corpus)

    async def allow(url: str) -> str | None:
        return None

    renderer = Renderer()
    try:
        search = BrowserSearch(
            engine.url + "/html/?q={query}", lambda url: renderer.render(url, allow)
        )
        hits = await search.search("kestrel bay bridge traffic")
    finally:
        await renderer.close()
        engine.close()
    assert [seen["raw"] for seen in engine.seen] == ["/html/?q=kestrel+bay+bridge+traffic"]
    assert [(urlsplit(h.url).path, h.title, h.provider) for h in hits] == [
        ("/official/bridge-facts", "Kestrel Bay bridge: key facts", "browser"),
        ("/news/traffic-growth", "Bridge traffic keeps growing", "browser"),
    ]
