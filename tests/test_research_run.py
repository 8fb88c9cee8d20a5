"""`valet research` end to end on the local corpus, driven by a scripted model: the corpus is
crawled into the local index (`valet research-index add URL --crawl N`), searched, read (pages
and a PDF at once), noted and written up; every citation of the report resolves to the exact
passage that supports it, the two sources that disagree are reported side by side, the page
with instructions aimed at the agent is flagged and nothing it asks is done, and a sentence its
note does not support is removed from the report."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests._research_corpus import Corpus, make_pdfs, serve

QUESTION = "How many vehicles cross the Kestrel Bay bridge each day, and when did it open?"


@pytest.fixture(scope="module")
def corpus() -> Iterator[Corpus]:
    with serve(asyncio.run(make_pdfs())) as running:
        yield running


def _valet(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "valet", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "VALET_HOME": str(home)},
        timeout=300,
        check=False,
    )


def _note(url: str, quote: str, claim: str) -> dict[str, Any]:
    return {"raw": {"tool": "research_note", "args": {"url": url, "quote": quote, "claim": claim}}}


@pytest.mark.timeout(400)
def test_a_research_run_writes_a_report_whose_citations_hold(
    corpus: Corpus, home: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index.db"
    start = corpus.url + "/"  # a crawl of the site from its home page
    indexed = _valet(home, "research-index", "add", start, "--crawl", "60", "--index", str(index))
    assert indexed.returncode == 0, indexed.stderr
    assert f"indexed {len(corpus.urls())} document(s)" in indexed.stdout  # home, less robots
    assert "/private/draft: is disallowed by the site's robots.txt" in indexed.stderr

    url = corpus.url
    official, forum = f"{url}/official/bridge-facts", f"{url}/forum/thread-881"
    news, tolls = f"{url}/news/traffic-growth", f"{url}/tolls/2026"
    pdf = f"{url}/files/annual-report-2025.pdf"
    report = (
        "The Kestrel Bay bridge opened to traffic on 14 June 2019 [1]. "
        "A forum post says the bridge opened in 2017 [2]. "
        "About 42,000 vehicles cross it each day [3, 4]. "
        "Cars pay 3 euros to cross [5]. "
        "The bridge carries 100,000 vehicles a day [3]."
    )
    script = [
        {"raw": {"tool": "research_search", "args": {"query": "Kestrel Bay bridge vehicles"}}},
        {"raw": {"tool": "research_read", "args": {"urls": [official, forum, news, tolls, pdf]}}},
        _note(official, "opened to traffic on 14 June 2019", "The bridge opened in June 2019."),
        _note(forum, "the Kestrel Bay bridge opened in 2017", "A forum says it opened in 2017."),
        _note(news, "42,000 vehicles cross it each day", "About 42,000 vehicles a day."),
        _note(pdf, "Average daily traffic in 2025 was 42,000 vehicles", "42,000 a day in 2025."),
        _note(tolls, "cars pay 3 euros, lorries pay 9 euros", "Cars pay 3 euros."),
        {
            "raw": {
                "tool": "research_write",
                "args": {"title": "Kestrel Bay bridge", "text": report},
            }
        },
        {"done": "The bridge opened in 2019 and carries about 42,000 vehicles a day."},
    ]
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script))
    ran = _valet(
        home,
        "research",
        QUESTION,
        "--index",
        str(index),
        "--allow-host",
        f"127.0.0.1:{corpus.server.server_address[1]}",
        "--model",
        f"scripted:{path}",
        "--json",
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    header = json.loads(ran.stdout)
    folder = home / "runs" / header["id"] / "research"
    written = (folder / "report.md").read_text()
    book = json.loads((folder / "research.json").read_text())

    # Every note is the exact span of its source's text that it quotes.
    for note in book["notes"]:
        text = book["documents"][note["url"]]["text"]
        assert text[note["start"] : note["end"]] == note["quote"]
    assert [n["number"] for n in book["notes"]] == [1, 2, 3, 4, 5]
    # The report keeps what its notes support, and removes the rest, saying why.
    kept = written.split("\n## ")[0]
    assert "opened to traffic on 14 June 2019 [1]" in kept
    assert "42,000 vehicles cross it each day [3, 4]" in kept
    assert "100,000" not in kept
    assert "## Removed: not supported by the cited passages" in written
    assert (
        "The bridge carries 100,000 vehicles a day [3]. (the passage does not state 100000"
        in written
    )
    # The disagreement is shown side by side, not averaged.
    assert "2017 or 2019" in written or "2019 or 2017" in written
    # The page that tells the agent what to do is flagged, and nothing it asks was done.
    assert "## Instructions found in sources (not followed)" in written
    assert "ignore all previous instructions" in written.lower()
    assert "archive@collector.example" not in kept
    steps = [s["action"]["kind"] for s in _steps(home, header["id"]) if s["action"]]
    assert steps == [str(s["raw"]["tool"]) if "raw" in s else "done" for s in script]
    # The HTML report links each citation to its passage.
    page = (folder / "report.html").read_text()
    assert 'href="#note-1"' in page and "#:~:text=opened%20to%20traffic" in page
    # Credibility: the official page above the forum.
    table = written.split("## Sources")[1]
    assert table.index("official") < table.index("forum")


def _steps(home: Path, run_id: str) -> list[dict[str, Any]]:
    lines = (home / "runs" / run_id / "steps.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]
