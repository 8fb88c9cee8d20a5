"""Websockets: one task's events (history first, then live) and every task's events (inbox)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from valet.server._schemas import FINAL_STATUSES, StatusEvent, TaskEvent
from valet.server._tasks import TaskManager, TaskNotFound

router = APIRouter(prefix="/api")

CLOSE_NOT_FOUND = 4404


def _manager(websocket: WebSocket) -> TaskManager:
    manager: TaskManager = websocket.app.state.tasks
    return manager


@router.websocket("/tasks/{task_id}/events")
async def task_events(websocket: WebSocket, task_id: str) -> None:
    """Every event of one task as JSON, in order (`seq`), from its first; closes after the
    final status."""
    manager = _manager(websocket)
    try:
        task = manager.get(task_id)
    except TaskNotFound:
        await websocket.close(code=CLOSE_NOT_FOUND, reason="no such task")
        return
    with manager.hub.subscribe() as queue:
        history = list(task.events)  # taken with the subscription: no gap, no duplicate
        await websocket.accept()
        last = 0
        for event in history:
            await websocket.send_text(event.model_dump_json())
            last = event.seq
        if not task.final:
            async with _closing_on_disconnect(websocket, queue):
                while (event := await queue.get()) is not None:
                    if event.task_id != task_id or event.seq <= last:
                        continue
                    await websocket.send_text(event.model_dump_json())
                    if _is_final(event):
                        break
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close()


@router.websocket("/events")
async def all_events(websocket: WebSocket) -> None:
    """Every task's events as they happen (the inbox listens here)."""
    manager = _manager(websocket)
    with manager.hub.subscribe() as queue:
        await websocket.accept()
        async with _closing_on_disconnect(websocket, queue):
            while (event := await queue.get()) is not None:
                await websocket.send_text(event.model_dump_json())
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close()


def _is_final(event: TaskEvent) -> bool:
    return isinstance(event, StatusEvent) and event.status in FINAL_STATUSES


@contextlib.asynccontextmanager
async def _closing_on_disconnect(
    websocket: WebSocket, queue: asyncio.Queue[TaskEvent | None]
) -> AsyncGenerator[None]:
    """Wakes the sender (with `None`) when the client goes away, so no handler lingers."""

    async def watch() -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while (await websocket.receive())["type"] != "websocket.disconnect":
                pass
        with contextlib.suppress(asyncio.QueueFull):
            queue.put_nowait(None)

    watcher = asyncio.create_task(watch())
    try:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            yield
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
