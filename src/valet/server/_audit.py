"""The audit log in the web app and the API: records filtered by actor and task, newest first,
with the result of checking the chain and its signed checkpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from valet.audit import AuditLog, read_pin
from valet.server._api import tasks_of
from valet.server._tasks import TaskManager, TaskNotFound
from valet.server._views import counts
from valet.server._web import templates

api = APIRouter(prefix="/api", tags=["audit"])
web = APIRouter(include_in_schema=False)

ActorFilter = Literal["agent", "person", "scheduler", "system"]
MAX_SHOWN = 500


class AuditView(BaseModel):
    """What the log says, for one filter."""

    intact: bool | None
    """Whether `valet audit verify` finds the log untouched (None: no log yet)."""
    summary: str
    records: list[dict[str, Any]]
    """Newest first, at most `limit`."""


def read_audit(home: Path, *, run_id: str | None, actor: str | None, limit: int) -> AuditView:
    """Read the log (a reader: no checkpoint is written) and check it with the `[audit]` pin
    (when its file can be read) and witnesses."""
    if not (home / "audit.db").is_file():
        return AuditView(intact=None, summary="no audit records yet", records=[])
    log = AuditLog.open(home / "audit.db", home / "keys" / "audit.key")
    try:
        pin = log.settings.pin
        report = log.verify(read_pin(pin) if pin is not None and pin.is_file() else None)
        records = list(log.records(task_id=run_id, actor=actor))
    finally:
        log.close(checkpoint=False)
    shown = [r.model_dump(mode="json") for r in reversed(records[-limit:])]
    return AuditView(intact=report.ok, summary=report.summary(), records=shown)


def _run_id(manager: TaskManager, task: str | None) -> str | None:
    """A server task's run id (its audit records carry it); a run id is taken as it is."""
    if not task:
        return None
    try:
        return manager.get(task).run_id or task
    except TaskNotFound:
        return task


@api.get("/audit")
async def audit_records(
    request: Request,
    actor: ActorFilter | None = None,
    task: Annotated[str | None, Query(max_length=64, description="Task or run id.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SHOWN)] = 200,
) -> AuditView:
    """The audit log, newest first: who acted (agent, person, system), on which task, the
    decision, its rule and who approved."""
    manager = tasks_of(request)
    run_id = _run_id(manager, task)
    return await asyncio.to_thread(
        read_audit, manager.home, run_id=run_id, actor=actor, limit=limit
    )


@web.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    actor: Annotated[str, Query(max_length=16)] = "",
    task: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    manager = tasks_of(request)
    chosen = actor if actor in ("agent", "person", "scheduler", "system") else None
    view = await asyncio.to_thread(
        read_audit,
        manager.home,
        run_id=_run_id(manager, task.strip() or None),
        actor=chosen,
        limit=MAX_SHOWN,
    )
    context = {"view": view, "actor": chosen or "", "task": task.strip(), "counts": counts(manager)}
    return templates.TemplateResponse(request, "audit.html", context)
