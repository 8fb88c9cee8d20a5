"""Live view latency: from a paint in the agent's page to the JPEG frame at a websocket client,
and from a person's key press at the client to the page seeing it (takeover input).

A valet server runs in this process (uvicorn on a free port, real headless Chromium); its task
opens the demo shop's login form, where the agent stops for the person. A websocket client
connects to `/api/tasks/{id}/live` like the web app does.

1. Frames: `--frames` (60) times, once the stream is quiet, the page's background changes; the
   page notes when its next animation frame starts (the paint), the client when the next JPEG
   arrives. Both clocks are this machine's wall clock.
2. Input: the client takes over (the lease), then sends `--keys` (60) key presses over the
   websocket; the page notes when each `keydown` arrives. Round trip = client send → page sees
   it (the path a person's key takes: websocket, lease check, CDP `Input.dispatchKeyEvent`).

Usage: .venv/bin/python bench/live_view.py [--frames 60] [--keys 60]
The last line is machine-readable: frame_p50_ms= frame_p95_ms= input_rtt_p50_ms= ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.server import ModelChoice, ServerSettings, TaskManager, create_app
from valet.sites import SiteServer

TOKEN = "bench-token-0123456789abcdef"
PAINT = """(i) => new Promise((resolve) => {
    document.body.style.background = `rgb(${(i * 37) % 256}, ${(i * 91) % 256}, 200)`;
    requestAnimationFrame(() => resolve(performance.timeOrigin + performance.now()));
})"""
LISTEN = """() => {
    window.__keys = [];
    const now = () => performance.timeOrigin + performance.now();
    addEventListener("keydown", () => window.__keys.push(now()), true);
}"""


def model_factory(spec: str | None) -> ModelChoice:
    steps = parse_steps([{"done": {"answer": "bench", "success": True}}])
    return ModelChoice(scripted_model(ScriptPlayer(steps)), {"model": "scripted:bench"})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def next_frame(client: ClientConnection) -> float:
    """Wall-clock ms when the next binary frame arrived (JSON messages are skipped)."""
    while True:
        message = await client.recv()
        if isinstance(message, bytes):
            return time.time() * 1000


async def quiet(client: ClientConnection, for_s: float = 0.2) -> None:
    """Read until nothing arrived for `for_s`: the next frame then belongs to the next paint."""
    while True:
        try:
            await asyncio.wait_for(client.recv(), for_s)
        except TimeoutError:
            return


async def next_json(client: ClientConnection, kind: str) -> dict[str, object]:
    while True:
        message = await client.recv()
        if isinstance(message, str) and (data := json.loads(message))["type"] == kind:
            return data


async def main(frames: int, keys: int) -> None:
    home = Path(tempfile.mkdtemp(prefix="valet-bench-live-"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = ServerSettings(
        home=home, token=TOKEN, allowed_origins=(url,), model_factory=model_factory
    )
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", ws="websockets-sansio")
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    manager: TaskManager = app.state.tasks
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with SiteServer() as sites:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as api:
            body = {"task": "bench", "start_url": sites.url_for("/account/login")}
            task_id = (await api.post("/api/tasks", json=body)).json()["id"]
            live_url = "ws" + url.removeprefix("http") + f"/api/tasks/{task_id}/live"
            async with connect(
                live_url, additional_headers=headers, origin=Origin(url), max_size=None
            ) as client:
                viewer = (await next_json(client, "hello"))["viewer"]
                try:
                    await asyncio.wait_for(next_frame(client), 60)
                except TimeoutError:
                    raise SystemExit(f"no frame within 60 s: {manager.get(task_id)}") from None
                for _ in range(1200):  # until the agent stops at the login form
                    if manager.get(task_id).status == "waiting":
                        break
                    await asyncio.sleep(0.05)
                session = manager.desk.view(task_id).session
                assert session is not None
                page = await session.live_page()

                frame_ms: list[float] = []
                for i in range(frames):
                    await quiet(client)
                    arrived = asyncio.create_task(next_frame(client))
                    painted = await page.evaluate(PAINT, i)
                    frame_ms.append(await asyncio.wait_for(arrived, 30) - painted)

                taken = await api.post(f"/api/tasks/{task_id}/takeover", json={"viewer": viewer})
                assert taken.json()["state"] == "active", taken.text
                await page.evaluate(LISTEN)
                input_ms: list[float] = []
                for i in range(keys):
                    sent = time.time() * 1000
                    await client.send(
                        json.dumps({"type": "key", "kind": "down", "key": "Shift", "key_code": 16})
                    )
                    await client.send(
                        json.dumps({"type": "key", "kind": "up", "key": "Shift", "key_code": 16})
                    )
                    for _ in range(10_000):
                        if await page.evaluate("window.__keys.length") > i:
                            break
                    input_ms.append(await page.evaluate(f"window.__keys[{i}]") - sent)
                await api.post(f"/api/tasks/{task_id}/cancel")
    server.should_exit = True
    await serving

    print(f"frames: {len(frame_ms)} paints, JPEG over the live-view websocket")
    print(f"  paint -> frame at client  p50 {percentile(frame_ms, 0.5):7.1f} ms")
    print(f"                            p95 {percentile(frame_ms, 0.95):7.1f} ms")
    print(f"  mean {statistics.fmean(frame_ms):.1f} ms, max {max(frame_ms):.1f} ms")
    print(f"input: {len(input_ms)} key presses from the lease holder")
    print(f"  client send -> page keydown p50 {percentile(input_ms, 0.5):7.1f} ms")
    print(f"                              p95 {percentile(input_ms, 0.95):7.1f} ms")
    print(
        f"frame_p50_ms={percentile(frame_ms, 0.5):.1f} "
        f"frame_p95_ms={percentile(frame_ms, 0.95):.1f} "
        f"input_rtt_p50_ms={percentile(input_ms, 0.5):.1f} "
        f"input_rtt_p95_ms={percentile(input_ms, 0.95):.1f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--keys", type=int, default=60)
    options = parser.parse_args()
    asyncio.run(main(options.frames, options.keys))
