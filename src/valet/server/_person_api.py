"""Routes for the person: the live view websocket, takeover and hand back, pending requests."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket

from valet.server._live import NoBrowser
from valet.server._person import PersonDesk
from valet.server._principal import principal_of
from valet.server._remote import bridge, forward
from valet.server._schemas import (
    EditedArgs,
    ErrorBody,
    Lease,
    PersonRequest,
    QuestionAnswer,
    ViewerRef,
)
from valet.server._tasks import TaskManager, TaskNotFound

CLOSE_NOT_FOUND = 4404

_TASK: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
}
_REQUEST: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
    503: {"model": ErrorBody, "description": "The answer could not be saved; still pending."},
}

router = APIRouter(prefix="/api", responses={401: {"model": ErrorBody}, 422: {"model": ErrorBody}})


def _owner(manager: TaskManager, task_id: str) -> str | None:
    """Whose task it is; a task that is gone is nobody's (the install's only)."""
    try:
        return manager.get(task_id).owner
    except TaskNotFound:
        return None


def _manager(request: Request) -> TaskManager:
    manager: TaskManager = request.app.state.tasks
    return manager


def _desk(request: Request) -> PersonDesk:
    return _manager(request).desk


@router.websocket("/tasks/{task_id}/live")
async def live_view(websocket: WebSocket, task_id: str) -> None:
    """The task's browser as JPEG frames, and the person's input while they hold the lease.
    `?resume=<viewer id>`: the live view of a tab that reloaded, holding the lease it held."""
    manager: TaskManager = websocket.app.state.tasks
    try:
        manager.get(task_id)
    except TaskNotFound:
        await websocket.close(code=CLOSE_NOT_FOUND, reason="no such task")
        return
    if (worker := await manager.runner(task_id)) is not None:
        await bridge(websocket, worker)
        return
    await websocket.accept()
    query = websocket.query_params
    await manager.desk.view(task_id).serve(websocket, query.get("name"), query.get("resume"))


@router.get("/tasks/{task_id}/lease", responses={404: {"model": ErrorBody}}, tags=["takeover"])
async def get_lease(task_id: str, request: Request) -> Lease:
    """Who controls the task's browser now."""
    if (worker := await _manager(request).runner(task_id)) is not None:
        return await forward(request, worker)
    return _desk(request).view(task_id).lease()


@router.post("/tasks/{task_id}/takeover", responses=_TASK, tags=["takeover"])
async def take_over(task_id: str, body: ViewerRef, request: Request) -> Lease:
    """Take the task's browser (one controller at a time). A running agent pauses at its next
    step (`pending`, then `active`); a task waiting for a takeover is yours at once. `viewer`
    is the id the live view websocket's `hello` message gave; 409 when someone else controls
    the browser or the task has no browser."""
    task = _manager(request).get(task_id)
    if task.final:
        raise NoBrowser(f"task {task_id} already ended ({task.status})")
    if (worker := await _manager(request).runner(task_id)) is not None:
        return await forward(request, worker, body.model_dump(mode="json"))
    return _desk(request).takeover(task_id, body.viewer)


@router.post("/tasks/{task_id}/handback", responses=_TASK, tags=["takeover"])
async def hand_back(task_id: str, request: Request, body: ViewerRef | None = None) -> Lease:
    """Give the browser back: the agent goes on with a fresh look at the page, unless the page
    still needs the person (a login, payment, CAPTCHA or code form still there): then the task
    stops for them again. Only the viewer holding the lease may (409 otherwise, saying who
    holds it); with nobody holding it, this resumes a task waiting for a takeover."""
    if (worker := await _manager(request).runner(task_id)) is not None:
        return await forward(request, worker, None if body is None else body.model_dump())
    return _desk(request).handback(task_id, None if body is None else body.viewer)


@router.get("/requests", tags=["requests"])
async def person_requests(
    request: Request,
    task_id: Annotated[str | None, Query(max_length=64, description="Only this task's.")] = None,
) -> list[PersonRequest]:
    """What tasks wait for the person to do now (approvals, takeovers, questions), oldest
    first."""
    who, manager = principal_of(request), _manager(request)
    return [
        r
        for r in _desk(request).book.pending(task_id)
        if who.install or who.owns(_owner(manager, r.task_id))
    ]


@router.get("/requests/{request_id}", responses={404: {"model": ErrorBody}}, tags=["requests"])
async def get_request(request_id: str, request: Request) -> PersonRequest:
    """One request, pending or answered."""
    return _desk(request).book.get(request_id)


@router.post("/requests/{request_id}/approve", responses=_REQUEST, tags=["requests"])
async def approve(request_id: str, request: Request) -> PersonRequest:
    """Let the agent do what it asked. The answer is saved before it counts: 503 when it
    cannot be saved (disk full, read-only database), and the request stays pending."""
    return _desk(request).answer(request_id, "approved")


@router.post("/requests/{request_id}/decline", responses=_REQUEST, tags=["requests"])
async def decline(request_id: str, request: Request) -> PersonRequest:
    """Refuse: the agent is told, and goes on without doing it."""
    return _desk(request).answer(request_id, "declined")


@router.post("/requests/{request_id}/edit", responses=_REQUEST, tags=["requests"])
async def edit(request_id: str, body: EditedArgs, request: Request) -> PersonRequest:
    """Let the agent do it with other arguments. They must fit the action (422 otherwise);
    the gateway decides again, so a deny rule still refuses the edited action."""
    return _desk(request).answer(request_id, "edited", body.args)


@router.post("/requests/{request_id}/answer", responses=_REQUEST, tags=["requests"])
async def answer(request_id: str, body: QuestionAnswer, request: Request) -> PersonRequest:
    """Answer the agent's question (`ask_person`); it goes on with the answer. 409 when the
    request is not a question or was already answered."""
    return _desk(request).reply(request_id, body.text)
