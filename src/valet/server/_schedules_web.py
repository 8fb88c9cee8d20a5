"""The Schedules page of the web app: every schedule with when it runs next, its task, and
run-now, pause/resume and delete buttons; a form to add one (a phrase or cron, a timezone that
defaults to the browser's). The forms post with HTMX (the browser then sends its Origin, which
the server checks) and the page comes back."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from valet.runtime._when import BadSchedule
from valet.server._api import tasks_of
from valet.server._principal import principal_of
from valet.server._schedules_api import NewSchedule
from valet.server._schemas import NewTask
from valet.server._sources_web import go
from valet.server._tasks import TaskManager
from valet.server._views import counts
from valet.server._web import templates

web = APIRouter(include_in_schema=False)

_DONE = {
    "added": "Schedule added.",
    "paused": "Paused: it does not run until resumed.",
    "resumed": "Resumed.",
    "ran": "It runs now: its task is in the inbox.",
    "deleted": "Deleted; the tasks it made stay.",
}


async def _page(
    request: Request, *, notice: str = "", error: str = "", form: dict[str, str] | None = None
) -> Response:
    manager: TaskManager = request.app.state.tasks
    who = principal_of(request)
    found = [] if manager.schedules is None else await manager.schedules.list()
    found = [s for s in found if who.owns(s.owner)]
    context: dict[str, Any] = {
        "schedules": found,
        "durable": manager.schedules is not None,
        "notice": notice,
        "error": error,
        "form": form or {"when": "", "task": "", "start_url": "", "timezone": ""},
        "counts": counts(tasks_of(request), who),
    }
    # HTMX swaps only successful answers: a refused form comes back as a page it can show.
    status = 400 if error and not request.headers.get("hx-request") else 200
    return templates.TemplateResponse(request, "schedules.html", context, status)


@web.get("/schedules", response_class=HTMLResponse)
async def schedules_page(request: Request, done: str = "") -> Response:
    return await _page(request, notice=_DONE.get(done, ""))


@web.post("/ui/schedules", response_class=HTMLResponse)
async def add_form(
    request: Request,
    when: Annotated[str, Form()] = "",
    task: Annotated[str, Form()] = "",
    start_url: Annotated[str, Form()] = "",
    timezone: Annotated[str, Form()] = "",
) -> Response:
    form = {"when": when, "task": task, "start_url": start_url, "timezone": timezone}
    manager: TaskManager = request.app.state.tasks
    if manager.schedules is None:
        return await _page(request, error="Schedules need `valet serve`.", form=form)
    try:
        fields = {"task": task} | ({"start_url": start_url.strip()} if start_url.strip() else {})
        body = NewSchedule(
            when=when, timezone=timezone.strip() or "UTC", task=NewTask.model_validate(fields)
        )
        await manager.schedules.add(
            body.when,
            body.task.model_dump(mode="json"),
            timezone=body.timezone,
            owner=principal_of(request).id,
        )
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"] if p != "task") or "task"
        return await _page(request, error=f"{where}: {first['msg']}", form=form)
    except BadSchedule as exc:
        return await _page(request, error=str(exc), form=form)
    return go(request, "/schedules?done=added")


@web.post("/ui/schedules/{schedule_id}/{action}", response_class=HTMLResponse)
async def schedule_button(
    request: Request,
    schedule_id: str,
    action: Literal["pause", "resume", "run", "delete"],
) -> Response:
    from valet.runtime import ScheduleNotFound

    manager: TaskManager = request.app.state.tasks
    schedules = manager.schedules
    if schedules is None:
        return await _page(request, error="Schedules need `valet serve`.")
    try:
        if action == "pause":
            await schedules.pause(schedule_id)
        elif action == "resume":
            await schedules.resume(schedule_id)
        elif action == "run":
            await schedules.run_now(schedule_id)
        else:
            await schedules.delete(schedule_id)
    except ScheduleNotFound as exc:
        return await _page(request, error=str(exc))
    done = {"pause": "paused", "resume": "resumed", "run": "ran", "delete": "deleted"}[action]
    return go(request, f"/schedules?done={done}")
