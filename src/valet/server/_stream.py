"""The web app's one event stream: every page follows `/ui/stream` (`static/stream.js`) for the
"Waiting for you" badge, the inbox, and a task page's status, requests, messages and timeline.

It is a websocket, not server-sent events: uvicorn closes websockets when the server stops,
while an endless HTTP response would hold the shutdown until every tab went away. Each message
is a `StreamMessage`: the event (none in the first, sent on every connect, so a page that
reconnects knows to catch up) and the counts as they are after it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from valet.server._schemas import StreamMessage, TaskEvent
from valet.server._tasks import TaskManager
from valet.server._views import counts

router = APIRouter(include_in_schema=False)


@router.websocket("/ui/stream")
async def stream(websocket: WebSocket) -> None:
    manager: TaskManager = websocket.app.state.tasks
    with manager.hub.subscribe() as queue:
        await websocket.accept()
        send = _sender(websocket, manager)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await send(None)
            async with _until_gone(websocket, queue.put_nowait):
                while (event := await queue.get()) is not None:
                    await send(event)
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close()


def _sender(
    websocket: WebSocket, manager: TaskManager
) -> Callable[[TaskEvent | None], Awaitable[None]]:
    async def send(event: TaskEvent | None) -> None:
        message = StreamMessage(event=event, counts=counts(manager))
        await websocket.send_text(message.model_dump_json())

    return send


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
