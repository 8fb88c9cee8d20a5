"""A research task's report, in the API (Markdown) and the web app (the report page, whose
citations show the passage they cite)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from valet.server._api import tasks_of
from valet.server._principal import principal_of
from valet.server._schemas import ErrorBody

api = APIRouter(prefix="/api", tags=["tasks"])
web = APIRouter(include_in_schema=False)


def _report(request: Request, task_id: str, suffix: str) -> Path:
    manager = tasks_of(request)
    task = manager.visible(task_id, principal_of(request))
    path = manager.home / "runs" / (task.run_id or task.id) / "research" / f"report.{suffix}"
    if not path.is_file():
        raise HTTPException(404, f"task {task_id} has no research report (yet)")
    return path


@api.get(
    "/tasks/{task_id}/report",
    response_class=PlainTextResponse,
    responses={404: {"model": ErrorBody}},
)
async def report_markdown(task_id: str, request: Request) -> Response:
    """A research task's report as Markdown: the checked text, where sources disagree, every
    citation (URL, quote, character offsets), the sources with their credibility, the
    instructions found in sources, and what was removed as unsupported. 404 until written."""
    text = await asyncio.to_thread(_report(request, task_id, "md").read_text, "utf-8")
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@web.get("/tasks/{task_id}/report", response_class=HTMLResponse)
async def report_page(task_id: str, request: Request) -> Response:
    """The report as a page of its own (every source's text in it is escaped)."""
    page = await asyncio.to_thread(_report(request, task_id, "html").read_text, "utf-8")
    return HTMLResponse(page)
