"""The web app: composer, inbox and task pages (Jinja + HTMX; `static/stream.js` keeps them live)
and its event stream (`_stream`)."""

from __future__ import annotations

import contextlib
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, cast

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlalchemy.exc import SQLAlchemyError

from valet.billing import QuotaExceeded, tasks_left
from valet.errors import StoreUnavailable
from valet.server._api import runs_of, tasks_of
from valet.server._principal import principal_of
from valet.server._schemas import MAX_TASK_CHARS, NewMessage, NewTask, TaskSummary
from valet.server._stream import router as stream_router
from valet.server._tasks import BadModel, TaskFinished
from valet.server._views import counts, task_detail, task_summary, timeline
from valet.server._wording import problem_text

router = APIRouter(include_in_schema=False)
router.include_router(stream_router)  # every page's live updates
templates = Jinja2Templates(
    directory=Path(str(resources.files("valet.server").joinpath("templates")))
)

_GROUPS = {
    "running": ("queued", "running"),
    "waiting": ("waiting",),
    "done": ("succeeded", "failed", "stopped", "cancelled"),
}


def _clock(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone().strftime("%H:%M:%S")


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.1f} s" if ms >= 100 else f"{ms:.0f} ms"


templates.env.filters["clock"] = _clock
templates.env.filters["seconds"] = _seconds
cast(dict[str, Any], templates.env.globals)["max_task_chars"] = MAX_TASK_CHARS
cast(dict[str, Any], templates.env.globals)["principal"] = principal_of


def _inbox(request: Request) -> dict[str, Any]:
    manager, who = tasks_of(request), principal_of(request)
    tasks = [task_summary(t) for t in manager.tasks(who=who)]
    groups: dict[str, list[TaskSummary]] = {
        name: [t for t in tasks if t.status in statuses] for name, statuses in _GROUPS.items()
    }
    return {"groups": groups, "counts": counts(manager, who)}


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> Response:
    context = _inbox(request) | {"form": {}, "left": _tasks_left(request)}
    return templates.TemplateResponse(request, "index.html", context)


@router.get("/ui/inbox", response_class=HTMLResponse)
async def inbox(request: Request) -> Response:
    return templates.TemplateResponse(request, "_inbox.html", _inbox(request))


@router.post("/ui/tasks", response_class=HTMLResponse)
async def compose(
    request: Request,
    task: Annotated[str, Form()] = "",
    start_url: Annotated[str, Form()] = "",
    agent_mode: Annotated[str | None, Form()] = None,
    research: Annotated[str | None, Form()] = None,
) -> Response:
    form = {
        "task": task,
        "start_url": start_url,
        "agent_mode": agent_mode is not None,
        "research": research is not None,
    }
    try:
        new = NewTask(
            task=task,
            start_url=start_url or None,
            agent_mode=agent_mode is not None,
            research=research is not None,
        )
        created = tasks_of(request).create(new, who=principal_of(request))
    except ValidationError as exc:
        return _composer(request, form, problems=[_problem(e) for e in exc.errors()])
    except (BadModel, QuotaExceeded) as exc:
        return _composer(request, form, str(exc))
    target = f"/tasks/{created.id}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _problem(error: ErrorDetails) -> str:
    if error["type"] == "task_too_long":  # says what it is about already
        return error["msg"][:1].upper() + error["msg"][1:]
    return problem_text(error)


def _composer(
    request: Request, form: dict[str, Any], error: str = "", problems: list[str] | None = None
) -> Response:
    """The composer again, with what went wrong: one line per field (`problems`)."""
    context = {
        "form": form,
        "error": error,
        "problems": problems or [],
        "left": _tasks_left(request),
    }
    return templates.TemplateResponse(request, "_composer.html", context, status_code=200)


def _tasks_left(request: Request) -> dict[str, str] | None:
    """What the composer says of the month's quota (None: no plan limits task requests)."""
    try:
        usage = tasks_of(request).usage(principal_of(request))
    except (StoreUnavailable, SQLAlchemyError):
        return None  # the composer still works; the request itself will say what is wrong
    return tasks_left(usage)


@router.get("/tasks/{task_id}", response_class=HTMLResponse)
async def task_page(request: Request, task_id: str) -> Response:
    return templates.TemplateResponse(request, "task.html", _task(request, task_id))


@router.get("/ui/tasks/{task_id}", response_class=HTMLResponse)
async def task_body(request: Request, task_id: str) -> Response:
    return templates.TemplateResponse(request, "_task_body.html", _task(request, task_id))


@router.post("/ui/tasks/{task_id}/cancel", response_class=HTMLResponse)
async def cancel(request: Request, task_id: str) -> Response:
    with contextlib.suppress(TaskFinished):
        tasks_of(request).cancel(task_id)
    return templates.TemplateResponse(request, "_task_body.html", _task(request, task_id))


@router.post("/ui/tasks/{task_id}/messages", response_class=HTMLResponse)
async def message(request: Request, task_id: str, text: Annotated[str, Form()] = "") -> Response:
    error = None
    try:
        tasks_of(request).add_message(task_id, NewMessage(text=text).text)
    except ValidationError:
        error = "Write a message first (up to 4,000 characters)."
    except TaskFinished:
        error = "This task has ended; it cannot take messages any more."
    context = _task(request, task_id) | {"message_error": error}
    return templates.TemplateResponse(request, "_task_body.html", context)


def _task(request: Request, task_id: str) -> dict[str, Any]:
    manager = tasks_of(request)
    found = manager.get(task_id)
    task = task_detail(found, runs_of(request), manager.stored_steps(found))
    return {
        "task": task,
        "counts": counts(manager, principal_of(request)),
        "message_error": None,
        "requests": manager.desk.book.pending(task_id),
        "entries": timeline(
            task, [r for r in manager.desk.book.records.values() if r.task_id == task_id]
        ),
        "fragment": request.headers.get("hx-request") == "true",
    }
