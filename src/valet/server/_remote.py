"""The person's live view and takeover of a task another process runs: the web server forwards
them to the `valet worker` that has the task's browser (its address is in `valet_endpoints`),
with the install token the processes share. The worker answers as the server would for a task
of its own; a worker that cannot be reached is a 502 (HTTP) or a close with 1011 (live view).
"""

from __future__ import annotations

import contextlib
from typing import Any

import httpx
from fastapi import HTTPException, Request, WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from valet.server._pumps import until_one_ends
from valet.server._schemas import Lease
from valet.server._security import Guard

UNREACHABLE = "the worker running this task cannot be reached"


def _auth(guard: Guard) -> dict[str, str]:
    return {"Authorization": f"Bearer {guard.token}"}


async def forward(request: Request, worker: str, body: dict[str, Any] | None = None) -> Lease:
    """The worker's answer to this request (same method, path and JSON body)."""
    guard: Guard = request.app.state.guard
    async with httpx.AsyncClient(base_url=worker, headers=_auth(guard), timeout=30) as client:
        try:
            answer = await client.request(request.method, request.url.path, json=body)
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"{UNREACHABLE}: {exc}") from None
    if answer.is_success:
        return Lease.model_validate(answer.json())
    detail = answer.json().get("detail") if answer.content else None
    raise HTTPException(answer.status_code, detail or answer.reason_phrase)


async def bridge(websocket: WebSocket, worker: str) -> None:
    """Join the person's live view to the worker's, both ways, until either side ends."""
    guard: Guard = websocket.app.state.guard
    query = f"?{websocket.url.query}" if websocket.url.query else ""
    target = worker.replace("http", "ws", 1).rstrip("/") + websocket.url.path + query
    try:
        upstream = await connect(
            target, additional_headers=_auth(guard), open_timeout=10, max_size=None
        )
    except (OSError, InvalidHandshake, TimeoutError):
        await websocket.close(code=1011, reason=UNREACHABLE)
        return
    async with upstream:
        await websocket.accept()
        await until_one_ends(_down(upstream, websocket), _up(websocket, upstream))
    with contextlib.suppress(RuntimeError, WebSocketDisconnect):
        await websocket.close()


async def _down(upstream: ClientConnection, websocket: WebSocket) -> None:
    with contextlib.suppress(ConnectionClosed, WebSocketDisconnect, RuntimeError):
        async for message in upstream:
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)


async def _up(websocket: WebSocket, upstream: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed, WebSocketDisconnect, RuntimeError):
        while (message := await websocket.receive())["type"] != "websocket.disconnect":
            if (text := message.get("text")) is not None:
                await upstream.send(text)
            elif (data := message.get("bytes")) is not None:
                await upstream.send(data)
