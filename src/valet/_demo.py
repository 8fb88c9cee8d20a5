"""`valet demo`: the bundled shop, valet's server and web app, and the demo task, in one process.

The task is created through the REST API, as the web app does. On a terminal you play the
person in the web app (the printed link): take over at the login form, sign in, hand back,
approve the order. Otherwise the demo plays the person itself, through the same API and nothing
else: it takes the browser through the live view websocket, types the demo credentials as key
presses, hands the browser back, approves the order, and exits with the task's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from valet.agent import OutputMode
from valet.errors import ConfigError
from valet.models import ScriptPlayer, load_script, scripted_model
from valet.server import ModelChoice, ServerSettings, create_app
from valet.server._serve import new_link, own_origins, server_url
from valet.server._settings import build_model_choice, load_or_create_token
from valet.sites import SiteServer
from valet.sites.state import DEMO_EMAIL, DEMO_PASSWORD

DEMO_TASK = "Sign in, then buy two of the cheapest USB-C cable with the saved card"
FINAL = {"succeeded", "failed", "stopped", "cancelled"}

Say = Callable[[str], object]


def demo_models(home: Path, live_model: str | None) -> Callable[[str | None], ModelChoice]:
    """The demo's models: the bundled workflow (replayed, no API key) unless a task runs live."""
    configured = build_model_choice(ServerSettings(home=home, model=live_model))

    def choose(spec: str | None) -> ModelChoice:
        if spec != "demo":
            return configured(spec)
        workflow = resources.files("valet.demo").joinpath("shop.yaml")
        with resources.as_file(workflow) as path:
            steps = load_script(Path(path))
        mode: OutputMode = "tools"
        model = scripted_model(ScriptPlayer(steps, replay=True))
        return ModelChoice(model, {"model": "scripted:demo workflow"}, mode)

    return choose


@dataclass
class Api:
    """The server's REST API and live view, as any client sees them."""

    url: str
    token: str

    @property
    def origin(self) -> str:
        return self.url.rstrip("/")

    def client(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.token}", "Origin": self.origin}
        return httpx.AsyncClient(base_url=self.origin, headers=headers, timeout=30)

    def live(self, task_id: str) -> connect:
        return connect(
            "ws" + self.origin.removeprefix("http") + f"/api/tasks/{task_id}/live?name=demo",
            additional_headers={"Authorization": f"Bearer {self.token}"},
            origin=Origin(self.origin),
            max_size=None,
        )


@dataclass
class DemoPerson:
    """Plays the person through the API: signs in at the login stop, approves the order."""

    api: Api
    say: Say
    email: str = DEMO_EMAIL
    password: str = DEMO_PASSWORD
    max_takeovers: int = 3

    async def play(self, http: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
        """Answer the task's requests until it ends; its final state."""
        takeovers = 0
        while True:
            task = (await http.get(f"/api/tasks/{task_id}")).raise_for_status().json()
            if task["status"] in FINAL:
                return task
            pending = (await http.get("/api/requests", params={"task_id": task_id})).json()
            for request in pending:
                if request["kind"] == "approval":
                    self.say(f"the person (played by the demo) approves: {request['summary']}")
                    await http.post(f"/api/requests/{request['id']}/approve", json={})
                elif request["kind"] == "takeover" and takeovers < self.max_takeovers:
                    takeovers += 1
                    self.say(f"valet stops for you: {request['reason']}")
                    await self.sign_in(http, task_id)
            await asyncio.sleep(0.2)

    async def sign_in(self, http: httpx.AsyncClient, task_id: str) -> None:
        """Take the browser in the live view, type the credentials as key presses, hand back."""
        async with self.api.live(task_id) as live:
            viewer = (await _message(live, lambda m: m["type"] == "hello"))["viewer"]
            taken = await http.post(f"/api/tasks/{task_id}/takeover", json={"viewer": viewer})
            taken.raise_for_status()
            await _message(live, lambda m: m["type"] == "lease" and m["you"] and m["paused"])
            self.say("  → the person (played by the demo) takes over and signs in…")
            await _text(live, self.email)
            await _key(live, "Tab", "Tab", 9)
            await _text(live, self.password)
            await _key(live, "Enter", "Enter", 13)
            await _quiet(live)
            back = await http.post(f"/api/tasks/{task_id}/handback", json={"viewer": viewer})
            back.raise_for_status()
            self.say("  ← signed in; the browser goes back to valet")


async def _message(live: ClientConnection, wanted: Callable[[dict[str, Any]], bool]) -> Any:
    """The next JSON message that satisfies `wanted` (frames in between are skipped)."""
    async with asyncio.timeout(60):
        async for raw in live:
            if isinstance(raw, str) and wanted(message := json.loads(raw)):
                return message
    raise ConfigError("the live view closed before the demo could take over")


async def _text(live: ClientConnection, text: str) -> None:
    await live.send(json.dumps({"type": "text", "text": text}))


async def _key(live: ClientConnection, key: str, code: str, key_code: int) -> None:
    for kind in ("down", "up"):
        event = {"type": "key", "kind": kind, "key": key, "code": code, "key_code": key_code}
        await live.send(json.dumps(event))


async def _quiet(live: ClientConnection, quiet_s: float = 0.8, most_s: float = 10.0) -> None:
    """Wait until the page stopped painting (the sign-in went through), at most `most_s`."""
    deadline = time.monotonic() + most_s
    with contextlib.suppress(TimeoutError, ConnectionClosed):
        while time.monotonic() < deadline:
            async with asyncio.timeout(quiet_s):
                await live.recv()


@contextlib.asynccontextmanager
async def serving(home: Path, live_model: str | None) -> AsyncGenerator[Api]:
    """valet's server (web app and API) on a free loopback port, in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    token = load_or_create_token(home)
    settings = ServerSettings(
        home=home,
        token=token,
        model_factory=demo_models(home, live_model),
        allowed_origins=own_origins("127.0.0.1", port),
        max_concurrent_tasks=1,
    )
    config = uvicorn.Config(create_app(settings), log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    running = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if running.done():
                running.result()
            await asyncio.sleep(0.02)
        yield Api(server_url("127.0.0.1", port), token)
    finally:
        server.should_exit = True
        await running


def validate_live_model(home: Path, model: str | None) -> None:
    """Raise `ConfigError` when `model` (or the configured default) cannot run a live task."""
    build_model_choice(ServerSettings(home=home, model=model))(None)


async def run_demo(
    home: Path, *, task: str | None, model: str | None, person: bool, stay: bool, say: Say
) -> dict[str, Any]:
    """Serve the shop and valet, run the demo task (or `task` live with `model`), and let the
    person, or the demo playing them, answer. The task's final state; with `stay`, the shop
    and the web app stay up afterwards until Ctrl-C."""
    with SiteServer() as shop:
        say(f"Voltline demo shop at {shop.url_for('/shop')}")
        async with serving(home, model) as api, api.client() as http:
            link = await asyncio.to_thread(new_link, home, api.url)
            say(f"valet's web app: {link}")
            body = {"task": task or DEMO_TASK, "start_url": shop.url_for("/shop")}
            if task is None:
                body["model"] = "demo"
            created = (await http.post("/api/tasks", json=body)).raise_for_status().json()
            say(f"task {created['id']}: {body['task']}")
            if person:
                final = await DemoPerson(api, say).play(http, created["id"])
            else:
                say("open the link above: take over at the login form, then approve the order")
                final = await _until_done(http, created["id"], say)
            if stay:
                say("the shop and the web app stay up — Ctrl-C to quit")
                await asyncio.Event().wait()
            return final


async def _until_done(http: httpx.AsyncClient, task_id: str, say: Say) -> dict[str, Any]:
    shown = ""
    while True:
        task = (await http.get(f"/api/tasks/{task_id}")).raise_for_status().json()
        state = f"{task['status']}: {task.get('waiting_for') or ''}".rstrip(": ")
        if state != shown:
            say(f"task is {state}")
            shown = state
        if task["status"] in FINAL:
            return task
        await asyncio.sleep(0.5)
