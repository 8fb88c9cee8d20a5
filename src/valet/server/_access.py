"""What a person may reach in multi-person mode: checked for every route, before its handler.

A route not in `PERSON_ROUTES` is the install's (403 to a person: fail closed, so a route added
later is never open to everyone by mistake); a task, run or request of someone else's is
answered as if it did not exist (404), so its id tells nothing.
"""

from __future__ import annotations

from fastapi import HTTPException, WebSocketException
from starlette.requests import HTTPConnection

from valet.server._person import RequestNotFound
from valet.server._principal import PERSON_ROUTES, principal_of
from valet.server._tasks import TaskManager, TaskNotFound

NOT_YOURS = "this is the installation's, not a person's: ask whoever runs this valet server"


class NotForPeople(Exception):
    """A person reached a route that only the install may use (403)."""


async def check_access(connection: HTTPConnection) -> None:
    """FastAPI dependency of every route: let the install through, keep people apart."""
    who = principal_of(connection)
    if who.install:
        return
    is_ws = connection.scope["type"] == "websocket"
    route = connection.scope.get("route")
    if getattr(route, "path", None) not in PERSON_ROUTES:
        if is_ws:
            raise WebSocketException(code=4403, reason=NOT_YOURS)
        raise NotForPeople(NOT_YOURS)
    manager: TaskManager = connection.app.state.tasks
    params = connection.path_params
    try:
        for name in ("task_id", "run_id"):
            if name in params:
                manager.visible(params[name], who)
        if "schedule_id" in params and manager.schedules is not None:
            from valet.runtime import ScheduleNotFound

            try:
                found = await manager.schedules.get(params["schedule_id"])
            except ScheduleNotFound:
                found = None  # the route says so itself
            if found is not None and not who.owns(found.owner):
                raise HTTPException(404, f"there is no schedule {params['schedule_id']}")
        if "request_id" in params:
            found = manager.desk.book.records.get(params["request_id"])
            if found is None or not who.owns(manager.get(found.task_id).owner):
                raise RequestNotFound(f"no request {params['request_id']!r}")
    except (TaskNotFound, RequestNotFound):
        if is_ws:
            raise WebSocketException(code=4404, reason="not found") from None
        raise
