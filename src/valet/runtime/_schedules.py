"""Schedules: a task request that runs again and again, on DBOS's scheduled workflows.

A schedule is a DBOS schedule (`valet-<id>`, in the workflow database, so every server on that
database sees it) whose cron expression is evaluated in the person's timezone. Each firing is
a small workflow that creates one task from the schedule's request; its workflow id is DBOS's
deterministic one for that schedule and time, and the task's id comes from it, so a firing
creates its task once however many servers fire it or recover it.

Missed runs (valet was down when a firing was due): with `missed="once"` (the default) the
schedule runs once when valet starts again, however many firings were missed; with
`missed="skip"` they are skipped and the next one is awaited.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, cast
from zoneinfo import ZoneInfo

from croniter import croniter
from dbos import DBOS

from valet.runtime._when import BadSchedule, When, check_timezone, parse_when

Missed = Literal["once", "skip"]
PREFIX = "valet-"

Fire = Callable[[str, datetime, dict[str, Any], str, str | None], Awaitable[str]]
"""Creates the task of one firing: (schedule id, scheduled time, the task request, the task's
id, the person whose schedule it is) → the task's id."""


class ScheduleNotFound(LookupError):
    pass


@dataclass(frozen=True)
class Schedule:
    """A schedule as people see it."""

    id: str
    when: str
    cron: str
    timezone: str
    missed: Missed
    request: dict[str, Any]
    """The task each firing creates (`task`, `start_url`, `model`, `max_steps`, `agent_mode`)."""
    paused: bool
    created_at: str
    last_run_at: str | None
    next_run_at: str | None
    owner: str | None = None
    """The person whose schedule it is (multi-person mode); None: the installation's."""


@DBOS.dbos_class()
class _Scheduled:
    fire: ClassVar[Fire | None] = None
    """The running server's task creation (DBOS is one per process, so is this)."""

    @classmethod
    @DBOS.workflow()
    async def run(cls, scheduled_at: datetime, context: Any) -> None:
        fire = cls.fire
        if fire is None:  # a firing recovered before the server set it: recovered again later
            raise RuntimeError("valet's scheduler is not ready")
        found = cast(dict[str, Any], context)
        workflow_id = DBOS.workflow_id or ""
        task_id = "sch-" + hashlib.sha256(workflow_id.encode()).hexdigest()[:20]

        async def create() -> str:
            request, owner = dict(found["request"]), found.get("owner")
            return await fire(str(found["id"]), scheduled_at, request, task_id, owner)

        await DBOS.run_step_async({"name": "create-task"}, create)


def new_schedule_id() -> str:
    return secrets.token_hex(6)


class Schedules:
    """The schedules of a launched DBOS (the server's): add, list, pause, resume, delete, run
    now. `fire` creates the task of each firing."""

    def __init__(self, fire: Fire) -> None:
        _Scheduled.fire = fire

    async def add(
        self,
        when: str,
        request: dict[str, Any],
        *,
        timezone: str = "UTC",
        missed: Missed = "once",
        owner: str | None = None,
    ) -> Schedule:
        """A new schedule; raises `BadSchedule` for a timing or timezone it cannot read."""
        parsed = parse_when(when)
        check_timezone(timezone)
        if missed not in ("once", "skip"):
            raise BadSchedule(f"missed runs are run `once` or `skip`ped, not {missed!r}")
        schedule_id = new_schedule_id()
        context = {
            "id": schedule_id,
            "when": parsed.text,
            "missed": missed,
            "request": request,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "owner": owner,
        }
        await DBOS.create_schedule_async(
            schedule_name=PREFIX + schedule_id,
            workflow_fn=_Scheduled.run,
            schedule=parsed.cron,
            context=context,
            cron_timezone=timezone,
        )
        return await self.get(schedule_id)

    async def list(self) -> list[Schedule]:
        found = await DBOS.list_schedules_async(schedule_name_prefix=PREFIX)
        shown = [_schedule(cast(dict[str, Any], s)) for s in found]
        return sorted(shown, key=lambda s: s.created_at)

    async def get(self, schedule_id: str) -> Schedule:
        found = await DBOS.get_schedule_async(PREFIX + schedule_id)
        if found is None:
            raise ScheduleNotFound(f"there is no schedule {schedule_id}")
        return _schedule(cast(dict[str, Any], found))

    async def pause(self, schedule_id: str) -> Schedule:
        await self.get(schedule_id)
        await _in_thread(DBOS.pause_schedule, PREFIX + schedule_id)
        return await self.get(schedule_id)

    async def resume(self, schedule_id: str) -> Schedule:
        await self.get(schedule_id)
        await _in_thread(DBOS.resume_schedule, PREFIX + schedule_id)
        return await self.get(schedule_id)

    async def delete(self, schedule_id: str) -> None:
        await self.get(schedule_id)
        await DBOS.delete_schedule_async(PREFIX + schedule_id)

    async def run_now(self, schedule_id: str) -> str:
        """Fire the schedule now (paused or not); the firing's workflow id."""
        await self.get(schedule_id)
        handle = await _in_thread(DBOS.trigger_schedule, PREFIX + schedule_id)
        return handle.workflow_id

    async def catch_up(self, now: datetime | None = None) -> list[str]:
        """At start: run once each active `missed="once"` schedule a firing of which was due
        while valet was down; the ids of those run."""
        ran: list[str] = []
        for schedule in await self.list():
            if schedule.paused or schedule.missed != "once":
                continue
            due = missed_firing(schedule, now or datetime.now(UTC))
            if due is not None:  # the firing the scheduler would have made, under its id
                window = (due - timedelta(seconds=1), due + timedelta(seconds=1))
                await _in_thread(DBOS.backfill_schedule, PREFIX + schedule.id, *window)
                ran.append(schedule.id)
        return ran


def missed_firing(schedule: Schedule, now: datetime) -> datetime | None:
    """The last firing of `schedule` due before `now`, if it came after its last run (or its
    creation, when it never ran): one missed while valet was down."""
    since = datetime.fromisoformat(schedule.last_run_at or schedule.created_at)
    local = now.astimezone(ZoneInfo(schedule.timezone))
    due: datetime = croniter(schedule.cron, local).get_prev(datetime)
    return due if due > since else None


def _schedule(found: dict[str, Any]) -> Schedule:
    context = cast(dict[str, Any], found.get("context") or {})
    timezone = str(found.get("cron_timezone") or "UTC")
    paused = found.get("status") != "ACTIVE"
    when = When(str(found["schedule"]), str(context.get("when", found["schedule"])))
    upcoming = None if paused else when.next_after(datetime.now(UTC), timezone)
    missed = "skip" if context.get("missed") == "skip" else "once"
    return Schedule(
        id=str(context.get("id", str(found["schedule_name"]).removeprefix(PREFIX))),
        when=when.text,
        cron=when.cron,
        timezone=timezone,
        missed=missed,
        request=dict(context.get("request") or {}),
        paused=paused,
        created_at=str(context.get("created_at", "")),
        last_run_at=found.get("last_fired_at"),
        next_run_at=None if upcoming is None else upcoming.isoformat(timespec="seconds"),
        owner=context.get("owner"),
    )


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)
