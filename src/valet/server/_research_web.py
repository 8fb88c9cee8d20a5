"""A research task's report, in the API (Markdown) and the web app: a page with the research's
progress (sources found, read, noted; instructions flagged) while it runs, then the checked
report, whose every citation shows the passage it cites."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from valet._home import private_file
from valet.browser import print_pdf
from valet.connectors import ConnectorError, configured_toolsets
from valet.errors import ConfigError
from valet.research import DomainLists
from valet.research._report import Report, build_report
from valet.research._task import RESEARCH_TOOLSET, question_of
from valet.research._toolset import Notebook
from valet.server._api import run_folder, tasks_of
from valet.server._principal import principal_of
from valet.server._schemas import FINAL_STATUSES, ErrorBody
from valet.server._task_state import TaskState
from valet.server._views import counts
from valet.server._web import templates
from valet.settings import load_config

api = APIRouter(prefix="/api", tags=["tasks"])
web = APIRouter(include_in_schema=False)


def _task(request: Request, task_id: str) -> TaskState:
    return tasks_of(request).visible(task_id, principal_of(request))


def _folder(request: Request, task_id: str) -> Path:
    return run_folder(request, task_id) / "research"


@api.get(
    "/tasks/{task_id}/report",
    response_class=PlainTextResponse,
    responses={404: {"model": ErrorBody}},
)
async def report_markdown(task_id: str, request: Request) -> Response:
    """A research task's report as Markdown: the checked text, where sources disagree, every
    citation (URL, quote, character offsets), the sources with their credibility, the
    instructions found in sources, and what was removed as unsupported. 404 until written."""
    path = _folder(request, task_id) / "report.md"
    if not path.is_file():
        raise HTTPException(404, f"task {task_id} has no research report (yet)")
    text = await asyncio.to_thread(path.read_text, "utf-8")
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@web.get("/tasks/{task_id}/report", response_class=HTMLResponse)
async def report_page(task_id: str, request: Request) -> Response:
    """The research view: progress, then the report (every source's text in it escaped)."""
    context = await _view(request, task_id)
    return templates.TemplateResponse(request, "research.html", context)


@web.get("/tasks/{task_id}/report.pdf")
async def report_pdf(task_id: str, request: Request) -> Response:
    """The report printed to PDF by valet's own Chromium (offline: nothing is fetched)."""
    folder = _folder(request, task_id)
    page, printed = folder / "report.html", folder / "report.pdf"
    if not page.is_file():
        raise HTTPException(404, f"task {task_id} has no research report (yet)")
    if not printed.is_file() or printed.stat().st_mtime < page.stat().st_mtime:
        html = await asyncio.to_thread(page.read_text, "utf-8")
        await asyncio.to_thread(write_private_bytes, printed, await print_pdf(html))
    body = await asyncio.to_thread(printed.read_bytes)
    disposition = f'attachment; filename="report-{task_id}.pdf"'
    return Response(
        body, media_type="application/pdf", headers={"Content-Disposition": disposition}
    )


@web.get("/ui/tasks/{task_id}/research", response_class=HTMLResponse)
async def report_fragment(task_id: str, request: Request) -> Response:
    context = await _view(request, task_id)
    return templates.TemplateResponse(request, "_research.html", context)


async def _view(request: Request, task_id: str) -> dict[str, Any]:
    task = _task(request, task_id)
    folder = _folder(request, task_id)
    book = await asyncio.to_thread(Notebook, folder / "research.json")
    report: Report | None = None
    if book.report is not None:
        report = build_report(
            question_of(task.request.task),
            str(book.report["title"]),
            str(book.report["draft"]),
            book.notes,
            book.sources(await asyncio.to_thread(_lists, tasks_of(request).home)),
        )
    return {
        "counts": counts(tasks_of(request)),
        "task": task,
        "question": question_of(task.request.task),
        "final": task.status in FINAL_STATUSES,
        "plan": book.plan,
        "found": len(book.found),
        "read": len(book.documents),
        "noted": len(book.notes),
        "flagged": sorted(book.flags),
        "report": report,
        "body": [] if report is None else _body(report),
        "markdown": (folder / "report.md").is_file(),
    }


def _lists(home: Path) -> DomainLists:
    """The domain lists of the installation's research toolset (as its report used them)."""
    try:
        configs = configured_toolsets(load_config(home))
    except (ConfigError, ConnectorError):
        return DomainLists()
    for config in configs:
        if config.connector == RESEARCH_TOOLSET:
            given = config.settings
            return DomainLists(
                tuple(given.get("trusted", ())),
                tuple(given.get("distrusted", ())),
                tuple(given.get("news", ())),
            )
    return DomainLists()


def _body(report: Report) -> list[dict[str, Any]]:
    """The kept sentences, each cut into text and citation numbers (links to their notes)."""
    shown: list[dict[str, Any]] = []
    for sentence in report.sentences:
        if not sentence.kept:
            continue
        parts: list[tuple[str, str | int]] = []
        at = 0
        for match in _MARKER.finditer(sentence.text):
            parts.append(("text", sentence.text[at : match.start()]))
            parts += [("cite", int(n)) for n in match.group(1).split(",")]
            at = match.end()
        parts.append(("text", sentence.text[at:]))
        support = sentence.support
        partial = support is not None and support.verdict == "partial"
        shown.append(
            {"parts": parts, "partial": "; ".join(support.problems) if partial and support else ""}
        )
    return shown


_MARKER = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def write_private_bytes(path: Path, body: bytes) -> None:
    private_file(path).write_bytes(body)
