"""A task's workspace in the web app: its files, each downloadable, with a preview (see
`_previews`), thumbnails of decks' slides and PDFs' first pages, and the log of the commands the
task ran.

    GET /tasks/{id}/files                    the page
    GET /tasks/{id}/files/{path}             the file (an attachment; pictures inline)
    GET /tasks/{id}/files/{path}?slide=N     a deck's slide N as SVG
    GET /tasks/{id}/files/{path}?page=N      a PDF's page N as PNG
    GET /tasks/{id}/commands.log             the shell's log, as text

Everything is served with a sandboxing CSP: something a command wrote can never run as this
site's page. Thumbnails are drawn on each request, off the event loop, and kept nowhere."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse

from valet.server._api import run_folder, tasks_of
from valet.server._previews import (
    IMAGES,
    commands_log,
    inside,
    open_inside,
    page_thumbnail,
    previews,
    slide_thumbnail,
)
from valet.server._views import counts
from valet.server._web import templates

web = APIRouter(include_in_schema=False)
T = TypeVar("T", str, bytes)

_SANDBOX = "sandbox; default-src 'none'; style-src 'unsafe-inline'"
_THUMBNAIL_SANDBOX = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _folder(request: Request, task_id: str) -> Path:
    return run_folder(request, task_id) / "workspace"


@web.get("/tasks/{task_id}/files", response_class=HTMLResponse)
async def files_page(task_id: str, request: Request) -> Response:
    folder = _folder(request, task_id)
    files = await asyncio.to_thread(previews, folder)
    context: dict[str, Any] = {
        "counts": counts(tasks_of(request)),
        "task_id": task_id,
        "files": files,
        "log_size": await asyncio.to_thread(_log_size, folder),
    }
    return templates.TemplateResponse(request, "files.html", context)


@web.get("/tasks/{task_id}/files/{path:path}")
async def file_download(
    task_id: str, path: str, request: Request, slide: int | None = None, page: int | None = None
) -> Response:
    root = _folder(request, task_id)
    name = PurePosixPath(path).name
    suffix = PurePosixPath(name).suffix.lower()
    if slide is not None and suffix == ".pptx":
        svg = await _thumbnail(slide_thumbnail, await _checked(root, path), slide)
        return Response(svg, media_type="image/svg+xml", headers=_thumbnail_headers())
    if page is not None and suffix == ".pdf":
        png = await _thumbnail(page_thumbnail, await _checked(root, path), page)
        return Response(png, media_type="image/png", headers=_thumbnail_headers())
    kind = IMAGES.get(suffix)
    opened = await asyncio.to_thread(lambda: open_inside(root.resolve(), path))
    if opened is None:  # opened one folder at a time, following no link: checked as sent
        raise HTTPException(404, f"no file {path!r} in this task's workspace")
    file = os.fdopen(opened, "rb")  # closed when read out, or when the response is dropped
    how = "inline" if kind and kind != "image/svg+xml" else "attachment"
    headers = {
        "Content-Security-Policy": _SANDBOX,
        "Content-Length": str(os.fstat(opened).st_size),
        "Content-Disposition": f"{how}; filename*=utf-8''{quote(name)}",
    }
    return StreamingResponse(
        _read(file), media_type=kind or "application/octet-stream", headers=headers
    )


@web.get("/tasks/{task_id}/commands.log")
async def commands_download(task_id: str, request: Request) -> Response:
    log = await asyncio.to_thread(commands_log, _folder(request, task_id))
    if log is None:
        raise HTTPException(404, "this task's workspace ran no command")
    return FileResponse(
        log,
        media_type="text/plain; charset=utf-8",
        filename="commands.log",
        headers={"Content-Security-Policy": _SANDBOX, "X-Content-Type-Options": "nosniff"},
    )


async def _checked(root: Path, path: str) -> Path:
    """The file at `path` in the workspace `root`, checked (404 for anything else)."""
    target = await asyncio.to_thread(lambda: inside(root.resolve(), path))
    if target is None:
        raise HTTPException(404, f"no file {path!r} in this task's workspace")
    return target


async def _thumbnail(draw: Callable[[Path, int], T | None], path: Path, number: int) -> T:
    try:
        drawn = await asyncio.to_thread(draw, path, number)
    except Exception as exc:  # a file a command wrote may be anything
        raise HTTPException(404, f"no preview: {type(exc).__name__}") from exc
    if drawn is None:
        raise HTTPException(404, f"no thumbnail {number} of {path.name!r}")
    return drawn


def _read(file: BinaryIO) -> Iterator[bytes]:
    with file:
        while chunk := file.read(1 << 16):
            yield chunk


def _log_size(folder: Path) -> int | None:
    log = commands_log(folder)
    return log.stat().st_size if log else None


def _thumbnail_headers() -> dict[str, str]:
    return {"Content-Security-Policy": _THUMBNAIL_SANDBOX, "Cache-Control": "private, no-cache"}
