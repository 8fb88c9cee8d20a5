"""Schedules over the REST API: a task request run on a timetable (see runtime/_schedules.py).

Each firing creates a task like one made with `POST /api/tasks`; it shows in the task list and
the inbox like any other. Schedules need a durable server (`valet serve`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from valet.errors import ConfigError
from valet.runtime._when import BadSchedule
from valet.server._principal import principal_of
from valet.server._replay import check_workflow
from valet.server._schemas import NewTask
from valet.server._tasks import TaskManager

if TYPE_CHECKING:
    from valet.runtime import Schedule, Schedules

T = TypeVar("T")
api = APIRouter(prefix="/api", tags=["schedules"])

ScheduleId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$", description="The schedule's id.")]


class NewSchedule(BaseModel):
    """A task to run on a timetable."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    when: str = Field(
        min_length=1,
        max_length=200,
        description="A cron expression (`0 8 * * 1-5`) or a phrase: `every weekday at 8:00`, "
        "`every day at 7:30`, `every monday and thursday at 17:00`, `every month on the 1st "
        "at 9`, `every 15 minutes`, `every hour`.",
    )
    timezone: str = Field(
        default="UTC", max_length=64, description="IANA timezone of the times (`Europe/Paris`)."
    )
    missed: Literal["once", "skip"] = Field(
        default="once",
        description="Firings missed while valet was down: run once when it starts, or skip.",
    )
    task: NewTask = Field(description="The task each firing creates.")


class ScheduleInfo(BaseModel):
    id: str
    when: str = Field(description="As it was given.")
    cron: str = Field(description="The cron expression it runs on.")
    timezone: str
    missed: Literal["once", "skip"]
    task: dict[str, Any]
    paused: bool
    created_at: str
    last_run_at: str | None
    next_run_at: str | None = Field(description="None while paused.")


class Fired(BaseModel):
    schedule_id: str
    firing: str = Field(description="The firing's workflow id; its task appears at once.")


def _schedules(request: Request) -> Schedules:
    manager: TaskManager = request.app.state.tasks
    if manager.schedules is None:
        raise HTTPException(409, "schedules need a durable server: start it with `valet serve`")
    return manager.schedules


def _info(schedule: Schedule) -> ScheduleInfo:
    found = asdict(schedule)
    found["task"] = found.pop("request")
    return ScheduleInfo.model_validate(found)


@api.get("/schedules")
async def list_schedules(request: Request) -> list[ScheduleInfo]:
    """Your schedules (the installation's token: every schedule), oldest first."""
    who = principal_of(request)
    return [_info(s) for s in await _schedules(request).list() if who.owns(s.owner)]


@api.post("/schedules", status_code=201)
async def add_schedule(body: NewSchedule, request: Request) -> ScheduleInfo:
    """Run a task on a timetable. 400 when the timing or timezone cannot be read (with the
    forms that can)."""
    request_fields = body.task.model_dump(mode="json")
    try:
        check_workflow(request.app.state.settings.home, body.task)
    except ConfigError as exc:
        raise HTTPException(400, str(exc)) from None
    try:
        made = await _schedules(request).add(
            body.when,
            request_fields,
            timezone=body.timezone,
            missed=body.missed,
            owner=principal_of(request).id,
        )
    except BadSchedule as exc:
        raise HTTPException(400, str(exc)) from None
    return _info(made)


@api.get("/schedules/{schedule_id}")
async def get_schedule(schedule_id: ScheduleId, request: Request) -> ScheduleInfo:
    return _info(await _found(request, schedule_id, lambda s, i: s.get(i)))


@api.post("/schedules/{schedule_id}/pause")
async def pause_schedule(schedule_id: ScheduleId, request: Request) -> ScheduleInfo:
    """No firing until resumed (`run` still runs it now)."""
    return _info(await _found(request, schedule_id, lambda s, i: s.pause(i)))


@api.post("/schedules/{schedule_id}/resume")
async def resume_schedule(schedule_id: ScheduleId, request: Request) -> ScheduleInfo:
    return _info(await _found(request, schedule_id, lambda s, i: s.resume(i)))


@api.post("/schedules/{schedule_id}/run", status_code=202)
async def run_schedule(schedule_id: ScheduleId, request: Request) -> Fired:
    """Fire it now, once (also when paused)."""
    firing = await _found(request, schedule_id, lambda s, i: s.run_now(i))
    return Fired(schedule_id=schedule_id, firing=firing)


@api.delete("/schedules/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: ScheduleId, request: Request) -> Response:
    """No more firings; the tasks it made stay."""
    await _found(request, schedule_id, lambda s, i: s.delete(i))
    return Response(status_code=204)


async def _found(
    request: Request, schedule_id: str, operation: Callable[[Schedules, str], Awaitable[T]]
) -> T:
    from valet.runtime._schedules import ScheduleNotFound

    schedules = _schedules(request)
    try:
        return await operation(schedules, schedule_id)
    except ScheduleNotFound as exc:
        raise HTTPException(404, str(exc)) from None
