"""The REST API under /api: tasks and runs (the person's requests: `_person_api`)."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from valet.errors import RunNotFound
from valet.record import RunStore
from valet.server._principal import principal_of
from valet.server._schemas import (
    ErrorBody,
    Message,
    NewMessage,
    NewTask,
    RunDetail,
    RunSummary,
    TaskDetail,
    TaskList,
    TaskStatus,
)
from valet.server._tasks import TaskManager
from valet.server._views import RUN_ID, counts, run_detail, run_summary, task_detail, task_summary

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}}
_ENDED: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody}, 409: {"model": ErrorBody}}

router = APIRouter(prefix="/api", responses={401: {"model": ErrorBody}, 422: {"model": ErrorBody}})


def tasks_of(request: Request) -> TaskManager:
    manager: TaskManager = request.app.state.tasks
    return manager


def runs_of(request: Request) -> RunStore:
    return RunStore(tasks_of(request).home / "runs")


def run_folder(request: Request, task_id: str) -> Path:
    """Where the run record of a task the request's principal may see is kept (its research
    notebook, its workspace); `TaskNotFound` for anyone else's."""
    manager = tasks_of(request)
    task = manager.visible(task_id, principal_of(request))
    return manager.home / "runs" / (task.run_id or task.id)


@router.post(
    "/tasks",
    status_code=status.HTTP_201_CREATED,
    responses={400: {"model": ErrorBody}, 429: {"model": ErrorBody}},
    tags=["tasks"],
)
async def create_task(
    body: NewTask,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="Sent again with the same key, the request makes no second task and "
            "is not charged twice: the answer is the task the first one made.",
        ),
    ] = None,
) -> TaskDetail:
    """Queue a task; it starts when a slot is free. Each task request is charged once
    against the plan's monthly quota. 400 when the model cannot be used; 429
    (`quota_exceeded`) beyond the quota, saying how many were used, when it resets and how
    to go on."""
    task = tasks_of(request).create(body, key=idempotency_key, who=principal_of(request))
    return task_detail(task, runs_of(request))


@router.get("/usage", tags=["usage"])
async def get_usage(request: Request) -> dict[str, Any]:
    """This month's task requests against the plan: `plan`, `quota`, `used`, `remaining`,
    `resets_at` (in the plan's time zone), `overage` (enabled, credits used, cap)."""
    return tasks_of(request).usage(principal_of(request))


@router.get("/tasks", tags=["tasks"])
async def list_tasks(
    request: Request,
    status: Annotated[TaskStatus | None, Query(description="Only tasks in this status.")] = None,
) -> TaskList:
    """Tasks, newest first, with counts per status and per inbox group."""
    manager, who = tasks_of(request), principal_of(request)
    return TaskList(
        tasks=[task_summary(t) for t in manager.tasks(status, who)],
        counts=counts(manager, who),
    )


@router.get("/tasks/{task_id}", responses=_NOT_FOUND, tags=["tasks"])
async def get_task(task_id: str, request: Request) -> TaskDetail:
    """A task: status, its steps so far (from the run record), the final answer."""
    manager = tasks_of(request)
    task = manager.get(task_id)
    return task_detail(task, runs_of(request), manager.stored_steps(task))


@router.post(
    "/tasks/{task_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    responses=_ENDED,
    tags=["tasks"],
)
async def cancel_task(task_id: str, request: Request) -> TaskDetail:
    """Ask a queued or running task to stop; its status becomes `cancelled` when it has."""
    manager = tasks_of(request)
    task = manager.cancel(task_id)
    return task_detail(task, runs_of(request), manager.stored_steps(task))


@router.post(
    "/tasks/{task_id}/messages",
    status_code=status.HTTP_201_CREATED,
    responses=_ENDED,
    tags=["tasks"],
)
async def message_task(task_id: str, body: NewMessage, request: Request) -> Message:
    """Steer a task: the agent takes the message into account at its next step."""
    return tasks_of(request).add_message(task_id, body.text)


@router.get("/tasks/{task_id}/messages", responses=_NOT_FOUND, tags=["tasks"])
async def task_messages(
    task_id: str,
    request: Request,
    pending: Annotated[bool, Query(description="Only messages not read yet.")] = False,
) -> list[Message]:
    """The person's messages to a task."""
    manager = tasks_of(request)
    if pending:
        return manager.pending_messages(task_id)
    return list(manager.get(task_id).messages)


@router.get("/runs", tags=["runs"])
async def list_runs(
    request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[RunSummary]:
    """Stored run records, newest first."""
    who, manager = principal_of(request), tasks_of(request)
    if who.install:
        return [run_summary(h) for h in runs_of(request).list(limit=limit)]
    mine = {t.id for t in manager.tasks(who=who)}  # a person's runs are their tasks'
    return [run_summary(h) for h in runs_of(request).list(limit=limit) if h.get("id") in mine]


@router.get("/runs/{run_id}", responses=_NOT_FOUND, tags=["runs"])
async def get_run(run_id: str, request: Request) -> RunDetail:
    """One run record: header and steps. `run_id` may be `last` or a unique prefix."""
    header, steps = runs_of(request).load(_checked(run_id))
    return run_detail(header, steps)


@router.get(
    "/runs/{run_id}/download",
    responses={**_NOT_FOUND, 200: {"content": {"application/zip": {}}}},
    response_class=FileResponse,
    tags=["runs"],
)
async def download_run(run_id: str, request: Request) -> FileResponse:
    """The run's folder (run.json, steps.jsonl, artifacts/) as a zip file."""
    folder = runs_of(request).resolve(_checked(run_id))
    archive = await run_in_threadpool(_zip, folder)
    return FileResponse(
        archive,
        media_type="application/zip",
        filename=f"valet-run-{folder.name}.zip",
        background=BackgroundTask(os.unlink, archive),
    )


def _checked(run_id: str) -> str:
    if not RUN_ID.fullmatch(run_id):
        raise RunNotFound(f"no run {run_id!r}")
    return run_id


def _zip(folder: Path) -> Path:
    """Regular files only: a symlink inside a run folder never leaks what it points to."""
    fd, name = tempfile.mkstemp(prefix="valet-run-", suffix=".zip")
    os.close(fd)
    with zipfile.ZipFile(name, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return Path(name)
