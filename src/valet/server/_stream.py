"""The web app's one event stream: every page follows `/ui/stream` (`static/stream.js`) for the
"Waiting for you" badge, the inbox, and a task page's status, requests, messages and timeline.

It is a websocket, not server-sent events: uvicorn closes websockets when the server stops,
while an endless HTTP response would hold the shutdown until every tab went away. Each message
is a `StreamMessage`: the event (none in the first, sent on every connect, so a page that
reconnects knows to catch up) and the counts as they are after it.

A browser's stream ends when its session does: at once when it is signed out or revoked here,
otherwise at the next check (every `SESSION_CHECK_S`); it is then closed with
`CLOSE_SIGNED_OUT`, and the page goes to the signed-out page rather than retry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.exc import SQLAlchemyError

from valet.errors import StoreUnavailable
from valet.server._principal import Principal, principal_of
from valet.server._schemas import StreamMessage, TaskEvent
from valet.server._security import Guard
from valet.server._tasks import TaskManager, TaskNotFound
from valet.server._views import counts

router = APIRouter(include_in_schema=False)

SESSION_CHECK_S = 30.0
CLOSE_SIGNED_OUT = 4401


@router.websocket("/ui/stream")
async def stream(websocket: WebSocket) -> None:
    manager: TaskManager = websocket.app.state.tasks
    guard: Guard = websocket.app.state.guard
    session: str | None = getattr(websocket.state, "session", None)

    async def signed_in() -> bool:
        if session is None:  # the install token (a bearer), not a browser session
            return True
        try:
            return await asyncio.to_thread(guard.sessions.alive, session)
        except (StoreUnavailable, SQLAlchemyError):  # unknown: the handshake was signed in
            return True

    code = 1000
    with manager.hub.subscribe(session) as queue:
        await websocket.accept()
        send = _sender(websocket, manager, principal_of(websocket))
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await send(None)
            async with _until_gone(websocket, queue.put_nowait):
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), SESSION_CHECK_S)
                    except TimeoutError:
                        if await signed_in():
                            continue
                        event = None
                    if event is None:
                        break
                    await send(event)
        if not await signed_in():
            code = CLOSE_SIGNED_OUT
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close(code)


def _sender(
    websocket: WebSocket, manager: TaskManager, who: Principal
) -> Callable[[TaskEvent | None], Awaitable[None]]:
    async def send(event: TaskEvent | None) -> None:
        if event is not None and not who.install and not _theirs(manager, event.task_id, who):
            return  # another person's task: not even that something happened
        message = StreamMessage(event=event, counts=counts(manager, who))
        await websocket.send_text(message.model_dump_json())

    return send


def _theirs(manager: TaskManager, task_id: str, who: Principal) -> bool:
    try:
        manager.visible(task_id, who)
    except TaskNotFound:
        return False
    return True


@contextlib.asynccontextmanager
async def _until_gone(websocket: WebSocket, wake: Callable[[None], None]) -> AsyncGenerator[None]:
    """Wakes the sender (`wake(None)`) when the page goes away, so no handler lingers."""

    async def watch() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        with contextlib.suppress(asyncio.QueueFull):
            wake(None)

    watcher = asyncio.create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
