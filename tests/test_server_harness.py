"""A valet server on a free loopback port for tests, with scripted models (no tests here)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from valet.errors import ConfigError
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.server import ModelChoice, ServerSettings, TaskManager, create_app
from valet.sites import SiteServer

TOKEN = "test-token-0123456789abcdef"
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)
"""On a reused loopback connection every request waits ~40 ms here (delayed ACK)."""
FINAL = {"succeeded", "failed", "stopped", "cancelled"}

SCRIPTS: dict[str, list[Any]] = {
    "quick": [
        {"click": {"role": "link", "name": "Cart"}},
        {"done": {"answer": "The cart is open", "success": True}},
    ],
    # Blocks on its second step (text that never appears) until cancelled.
    "long": [
        {"click": {"role": "link", "name": "Cart"}},
        *({"wait_for": {"text": f"never shown {i}", "timeout": 30}} for i in range(4)),
    ],
    # Waits briefly, then expects the person's message in what the model is told.
    "steered": [
        {"click": {"role": "link", "name": "Cart"}},
        {"wait_for": {"text": "never shown", "timeout": 2}},
        {"expect": {"prompt": "The person added: Take the cheapest"}},
        {"done": {"answer": "Heard the person", "success": True}},
    ],
}


def scripted_factory(spec: str | None) -> ModelChoice:
    name = spec or "quick"
    if name not in SCRIPTS:
        raise ConfigError(f"no test script {name!r}")
    model = scripted_model(ScriptPlayer(parse_steps(SCRIPTS[name])))
    return ModelChoice(model, {"model": f"scripted:{name}"})


@dataclass
class Harness:
    app: FastAPI
    url: str
    client: httpx.AsyncClient
    """Authorized (bearer token) client for the API."""

    @property
    def origin(self) -> str:
        return self.url

    @property
    def manager(self) -> TaskManager:
        manager: TaskManager = self.app.state.tasks
        return manager

    def sign_in_link(self, path: str = "/") -> str:
        """A fresh one-time sign-in link (what `valet serve` and `valet link` print)."""
        guard = self.app.state.guard
        secret = guard.sessions.new_link(guard.install)
        return f"{self.url}{path}?token={secret}"

    def anonymous(self) -> httpx.AsyncClient:
        """A client without the token (a browser that has not signed in)."""
        return httpx.AsyncClient(base_url=self.url, limits=NO_KEEPALIVE)

    def ws_url(self, path: str) -> str:
        return "ws" + self.url.removeprefix("http") + path

    def ws(self, path: str, *, token: str | None = TOKEN, origin: str | None = None) -> connect:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return connect(
            self.ws_url(path),
            additional_headers=headers,
            origin=Origin(origin or self.origin),
            open_timeout=5,
        )

    async def create(self, script: str, sites: SiteServer, **fields: Any) -> dict[str, Any]:
        body = {
            "task": f"test task ({script})",
            "model": script,
            "start_url": sites.url_for("/shop"),
        }
        response = await self.client.post("/api/tasks", json=body | fields)
        assert response.status_code == 201, response.text
        return response.json()

    async def events_until(self, task_id: str, predicate: Any) -> list[dict[str, Any]]:
        """Events of one task, from its first, until `predicate(event)` holds (or the end)."""
        events: list[dict[str, Any]] = []
        async with self.ws(f"/api/tasks/{task_id}/events") as socket_:
            async for raw in socket_:
                event = json.loads(raw)
                events.append(event)
                if predicate(event):
                    break
        return events

    async def final_events(self, task_id: str) -> list[dict[str, Any]]:
        return await self.events_until(task_id, is_final)


def is_final(event: dict[str, Any]) -> bool:
    return event["type"] == "status" and event["status"] in FINAL


def step_seen(index: int) -> Any:
    return lambda event: event["type"] == "step" and event["step"]["index"] >= index


async def receive_json(socket_: ClientConnection) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(socket_.recv(), timeout=30))


@asynccontextmanager
async def running_server(
    home: Path, *, max_concurrent: int = 2, port: int = 0, **overrides: Any
) -> AsyncIterator[Harness]:
    """The app served by uvicorn in this event loop on a free port (or `port`, e.g. the one
    of a server stopped before: its pages reconnect); stopped afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(128)  # connections queue in the kernel until uvicorn has started and accepts
    port = int(sock.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    fields: dict[str, Any] = {"model_factory": scripted_factory} | overrides
    settings = ServerSettings(
        home=home,
        token=TOKEN,
        allowed_origins=(url,),
        max_concurrent_tasks=max_concurrent,
        **fields,
    )
    app = create_app(settings)
    config = uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=30, limits=NO_KEEPALIVE
    ) as client:
        try:
            yield Harness(app, url, client)
        finally:
            server.should_exit = True
            await serving
            sock.close()
