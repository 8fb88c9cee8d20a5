"""The audit log in the web app and the API: records filtered by actor and task, newest first,
a page at a time, with the result of checking the chain and its signed checkpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from valet.audit import AuditLog, AuditRecord, AuditSettings, read_pin
from valet.server._api import tasks_of
from valet.server._principal import principal_of
from valet.server._tasks import TaskManager, TaskNotFound
from valet.server._views import counts
from valet.server._web import templates
from valet.store import People

api = APIRouter(prefix="/api", tags=["audit"])
web = APIRouter(include_in_schema=False)

ActorFilter = Literal["agent", "person", "scheduler", "system"]
ACTORS = ("agent", "person", "scheduler", "system")
MAX_SHOWN = 500
PAGE_SIZE = 50
"""Records on one page of the web app's audit log (`?size=` changes it, up to `MAX_SHOWN`)."""


class AuditView(BaseModel):
    """What the log says, for one filter."""

    intact: bool | None
    """Whether `valet audit verify` finds the log untouched (None: no log yet)."""
    summary: str
    records: list[dict[str, Any]]
    """Newest first, at most `limit`, after skipping `offset` newer ones; each with `who` did
    it by name (`who_did`)."""
    total: int = 0
    """Records that match the filter, on every page."""


def read_audit(
    home: Path,
    *,
    run_id: str | None,
    actor: str | None,
    limit: int,
    offset: int = 0,
    for_whom: frozenset[str] | None = None,
) -> AuditView:
    """Read the log (a reader: no checkpoint is written) and check it with the `[audit]` pin
    (when its file can be read) and witnesses. `for_whom`: only records done on behalf of
    these (a person's own; an admin's organization's members')."""
    settings = AuditSettings.from_home(home)
    if settings.database is None and not (home / "audit.db").is_file():
        return AuditView(intact=None, summary="no audit records yet", records=[])
    log = AuditLog.of_home(home, settings=settings)
    try:
        pin = log.settings.pin
        report = log.verify(read_pin(pin) if pin is not None and pin.is_file() else None)
        records = [
            r
            for r in log.records(task_id=run_id, actor=actor)
            if for_whom is None or r.on_behalf_of in for_whom
        ]
    finally:
        log.close(checkpoint=False)
    newest = records[::-1][offset : offset + limit]
    shown = [r.model_dump(mode="json") | {"who": who_did(r)} for r in newest]
    return AuditView(intact=report.ok, summary=report.summary(), records=shown, total=len(records))


def who_did(record: AuditRecord) -> str:
    """Who did it, by name: "agent for alice@example.com", "alice@example.com",
    "alice@example.com (admin)" for an admin's change; the actor alone in single-person mode."""
    whom = record.on_behalf_of
    if not whom or whom == "person":
        return record.actor
    if record.actor != "person":
        return f"{record.actor} for {whom}"
    return f"{whom} (admin)" if record.args.get("admin") is True else whom


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
    for_whom = await asyncio.to_thread(_whose, request)
    return await asyncio.to_thread(
        read_audit, manager.home, run_id=run_id, actor=actor, limit=limit, for_whom=for_whom
    )


def _whose(request: Request) -> frozenset[str] | None:
    """Whose records the request may read: everyone's (the installation), an organization's
    members' (its admins), or the person's own."""
    who = principal_of(request)
    if who.person is None:
        return None
    member = who.membership
    if member is None or not member.admin:
        return frozenset({who.person.email})
    people: People = request.app.state.guard.people
    return frozenset(m.person.email for m in people.members(member.org.id))


@web.get("/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    actor: Annotated[str, Query(max_length=16)] = "",
    task: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    size: Annotated[int, Query(ge=10, le=MAX_SHOWN)] = PAGE_SIZE,
) -> Response:
    """One page of the log, newest first; the previous and next links keep the filters."""
    if actor and actor not in ACTORS:
        raise HTTPException(
            400, f"There is no actor {actor!r}: choose agent, person, scheduler or system."
        )
    manager = tasks_of(request)
    task = task.strip()
    view = await asyncio.to_thread(
        read_audit,
        manager.home,
        run_id=_run_id(manager, task or None),
        actor=actor or None,
        limit=size,
        offset=(page - 1) * size,
        for_whom=await asyncio.to_thread(_whose, request),
    )
    pages = max(1, -(-view.total // size))
    if page > pages:
        raise HTTPException(404, f"The audit log has {pages} page(s) for this filter, not {page}.")

    def link(number: int) -> str:
        query = {"actor": actor, "task": task, "page": number}
        query |= {"size": size} if size != PAGE_SIZE else {}
        return "/audit?" + urlencode({k: v for k, v in query.items() if v})

    context = {
        "view": view,
        "actor": actor,
        "task": task,
        "page": page,
        "pages": pages,
        "first": (page - 1) * size + 1,
        "last": (page - 1) * size + len(view.records),
        "newer": link(page - 1) if page > 1 else None,
        "older": link(page + 1) if page < pages else None,
        "counts": counts(manager, principal_of(request)),
    }
    return templates.TemplateResponse(request, "audit.html", context)
