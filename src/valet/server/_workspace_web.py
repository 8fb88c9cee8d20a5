"""A task's workspace in the web app: its files, each downloadable, with a preview: a table for
CSV and spreadsheets (formulas shown as written), the image for charts, the slides' titles and
text for decks, the text for text files.

Files are served as attachments (or as images, for pictures) with a sandboxing CSP: something a
command wrote can never run as this site's page."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from valet.server._api import run_folder, tasks_of
from valet.server._views import counts
from valet.server._web import templates

web = APIRouter(include_in_schema=False)

_ROWS = 30
_IMAGES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
_TEXT = {".txt", ".md", ".py", ".json", ".log", ".html", ".xml", ".yaml", ".yml"}


def _folder(request: Request, task_id: str) -> Path:
    return run_folder(request, task_id) / "workspace"


@web.get("/tasks/{task_id}/files", response_class=HTMLResponse)
async def files_page(task_id: str, request: Request) -> Response:
    folder = _folder(request, task_id)
    files = await asyncio.to_thread(_previews, folder)
    context: dict[str, Any] = {
        "counts": counts(tasks_of(request)),
        "task_id": task_id,
        "files": files,
    }
    return templates.TemplateResponse(request, "files.html", context)


@web.get("/tasks/{task_id}/files/{path:path}")
async def file_download(task_id: str, path: str, request: Request) -> Response:
    folder = _folder(request, task_id).resolve()
    target = (folder / path).resolve()
    if (
        not target.is_relative_to(folder)
        or ".valet" in target.relative_to(folder).parts
        or not target.is_file()
    ):
        raise HTTPException(404, f"no file {path!r} in this task's workspace")
    kind = _IMAGES.get(target.suffix.lower())
    headers = {"Content-Security-Policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'"}
    return FileResponse(
        target,
        media_type=kind or "application/octet-stream",
        filename=target.name,
        content_disposition_type="inline" if kind and kind != "image/svg+xml" else "attachment",
        headers=headers,
    )


def _previews(folder: Path) -> list[dict[str, Any]]:
    if not folder.is_dir():
        return []
    found: list[dict[str, Any]] = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if not path.is_file() or ".valet" in relative.parts:
            continue
        entry: dict[str, Any] = {"path": str(relative), "size": path.stat().st_size}
        try:
            entry |= _preview(path)
        except Exception as exc:  # a file a command wrote may be anything: say it, go on
            entry["problem"] = f"no preview: {type(exc).__name__}"
        found.append(entry)
    return found


def _preview(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix in _IMAGES:
        return {"image": True}
    if suffix in (".csv", ".tsv"):
        text = path.read_text(encoding="utf-8", errors="replace")
        rows = list(csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","))
        return {"table": rows[:_ROWS], "more": max(0, len(rows) - _ROWS)}
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl

        book: Any = openpyxl.load_workbook(path, read_only=True)  # formulas as written
        sheet: Any = book.worksheets[0]
        rows = [
            ["" if v is None else str(v) for v in row]
            for row in sheet.iter_rows(max_row=_ROWS, values_only=True)
        ]
        book.close()
        return {"table": rows, "sheet": str(sheet.title)}
    if suffix == ".pptx":
        import pptx

        deck: Any = pptx.Presentation(str(path))
        slides: list[list[str]] = []
        for slide in deck.slides:
            shapes: list[Any] = list(slide.shapes)
            slides.append(
                [str(s.text_frame.text) for s in shapes if s.has_text_frame and s.text_frame.text]
            )
        return {"slides": slides}
    if suffix in _TEXT:
        return {"text": path.read_text(encoding="utf-8", errors="replace")[:4000]}
    return {}
