"""Deep research through `valet serve` (durable): a research task asked on the API reads and
notes sources from the local index, is killed with SIGKILL while it waits for the person
half-way, resumes after the restart from what it had read and noted (no note taken twice), and
its report is served by the API and the web app; another person's report is not theirs to
read (multi-person isolation is the same dependency as every task route)."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pypdf import PdfReader
from tests._cli import valet_here
from tests._research_corpus import Corpus, make_pdfs, serve
from tests.test_durable import Server, _final, _wait
from tests.test_research_run import _note

QUESTION = "How many vehicles cross the Kestrel Bay bridge each day?"


@pytest.fixture(scope="module")
def corpus() -> Iterator[Corpus]:
    with serve(asyncio.run(make_pdfs())) as running:
        yield running


@pytest.mark.timeout(400)
def test_a_research_task_survives_a_kill_and_serves_its_report(
    corpus: Corpus, home: Path, tmp_path: Path
) -> None:
    index = tmp_path / "index.db"
    indexed = valet_here(home, "research-index", "add", *corpus.urls(), "--index", str(index))
    assert indexed.exit_code == 0, indexed.output
    (home / "config.toml").write_text(
        '[[connectors]]\nname = "research"\nconnector = "research"\n'
        f'index = "{index}"\nper_domain = 4\n'
    )
    url = corpus.url
    official, news = f"{url}/official/bridge-facts", f"{url}/news/traffic-growth"
    pdf = f"{url}/files/annual-report-2025.pdf"
    plan = ["How many vehicles a day?", "Do sources agree?"]
    script: list[Any] = [
        {"raw": {"tool": "research_plan", "args": {"questions": plan}}},
        {"raw": {"tool": "research_search", "args": {"query": "bridge vehicles each day"}}},
        {"raw": {"tool": "research_read", "args": {"urls": [official, news]}}},
        _note(news, "42,000 vehicles cross it each day", "About 42,000 vehicles a day."),
        {"ask_person": {"question": "Should I also read the annual report?"}},
        {"raw": {"tool": "research_read", "args": {"urls": [pdf]}}},
        _note(pdf, "Average daily traffic in 2025 was 42,000 vehicles", "42,000 a day in 2025."),
        _note(news, "42,000 vehicles cross it each day", "About 42,000 vehicles a day."),
        {
            "raw": {
                "tool": "research_write",
                "args": {
                    "title": "Traffic on the Kestrel Bay bridge",
                    "text": "About 42,000 vehicles cross the bridge each day [1, 2].",
                },
            }
        },
        {"done": "About 42,000 vehicles a day."},
    ]
    path = tmp_path / "script.yaml"
    path.write_text(yaml.safe_dump(script))
    server = Server(home, path)
    server.start()
    try:
        made = server.post(
            "/api/tasks", {"task": QUESTION, "research": True, "start_url": f"{url}/"}
        )
        assert made.status_code == 201, made.text
        task_id = made.json()["id"]
        asked = _wait(lambda: _question(server, task_id), "the question half-way", 120)
        assert server.get(f"/api/tasks/{task_id}/report").status_code == 404  # not yet written
        server.kill()
        server.start()
        asked = _wait(lambda: _question(server, task_id), "the question after the restart", 120)
        answered = server.post(f"/api/requests/{asked['id']}/answer", {"text": "yes"})
        assert answered.status_code == 200, answered.text
        final = _final(server, task_id, "the research to end")
        assert final["status"] == "succeeded", final
        assert final["research"] is True
        report = server.get(f"/api/tasks/{task_id}/report")
        page = server.get(f"/tasks/{task_id}/report")
        printed = server.get(f"/tasks/{task_id}/report.pdf")
        link = valet_here(home, "link").stdout.strip().split()[-1]
        shown = asyncio.run(_in_chromium(link, f"http://127.0.0.1:{server.port}", task_id))
    finally:
        server.stop()
    assert shown["progress"] == ["8", "3", "2"]  # found (eight hits), read, noted
    assert shown["target"] == "note-1"
    assert shown["plan"] == plan
    assert "42,000 vehicles cross it each day" in shown["cited"]
    assert shown["sources"] >= 2
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/markdown")
    text = report.text
    assert "About 42,000 vehicles cross the bridge each day [1, 2]." in text.split("\n## ")[0]
    assert "## Removed" not in text
    book = json.loads((home / "runs" / task_id / "research" / "research.json").read_text())
    assert [n["number"] for n in book["notes"]] == [1, 2]  # the same note again: no new number
    assert set(book["documents"]) == {official, news, pdf}
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF-")
    pdf_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(printed.content)).pages)
    assert "About 42,000 vehicles cross the bridge each day" in " ".join(pdf_text.split())
    assert page.status_code == 200 and 'href="#note-1"' in page.text, page.text[-2000:]


async def _in_chromium(link: str, base: str, task_id: str) -> dict[str, Any]:
    """The research view in real Chromium: its progress, and what a click on [1] shows."""
    from tests._chromium import chromium

    async with chromium() as browser:
        page = await (await browser.new_context()).new_page()
        await page.goto(link)
        await page.goto(f"{base}/tasks/{task_id}/report")
        progress = [await page.locator(f"#research-{n}").inner_text() for n in ("found", "read")]
        progress.append(await page.locator("#research-noted").inner_text())
        await page.locator(".report-body a.cite", has_text="[1]").first.click()
        await page.wait_for_url("**#note-1")
        target = await page.evaluate("document.querySelector(':target')?.id")
        cited = await page.locator("#note-1 .passage").inner_text()
        sources = await page.locator("table tbody tr").count()
        planned = await page.locator("#research-plan li").all_inner_texts()
        return {
            "progress": progress,
            "target": target,
            "cited": cited,
            "sources": sources,
            "plan": planned,
        }


def _question(server: Server, task_id: str) -> dict[str, Any] | None:
    found = server.get(f"/api/requests?task_id={task_id}").json()
    return found[0] if found else None
