"""The live view and takeover: CDP screencast and input in real headless Chromium, the live-view
websocket, the lease, and the agent pausing while the person has the browser."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel
from tests.test_server_harness import SCRIPTS, running_server
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from valet.browser import BrowserSession, BrowserSettings, ScreencastSettings
from valet.browser._screencast import FrameGeometry
from valet.errors import ConfigError
from valet.models import ScriptPlayer, parse_steps
from valet.server import ModelChoice
from valet.sites import SiteServer

FOREIGN = "http://127.0.0.1:1"

LIVE_SCRIPTS: dict[str, list[Any]] = {
    # Opens the cart, then thinks until the person has asked for the browser.
    "asked": [
        {"click": {"role": "link", "name": "Cart"}},
        {"gate": "asked"},
        {"wait_for": {}},
        {"expect": {"prompt": "The person took over the browser"}},
        {"done": {"answer": "The person had the browser", "success": True}},
    ],
}

# Mouse, key and wheel events end up in the title, where the observation can read them.
INPUT_PAGE = "data:text/html," + quote(
    "<body style='margin:0;height:3000px'>"
    "<input id=f style='position:absolute;left:300px;top:400px;width:200px;height:30px'>"
    "<script>"
    "let log=[];const put=s=>{log.push(s);document.title=log.join(' ')};"
    "addEventListener('mousedown',e=>put('down@'+e.clientX+','+e.clientY));"
    "addEventListener('keydown',e=>put('key:'+e.key));"
    "addEventListener('scroll',()=>put('scrolled'),{once:true});"
    "</script></body>"
)


@dataclass
class Pacing:
    """Scripted models whose `{"gate": name}` marks make the next model call wait until the
    test opens that gate (the person did something). No timing is involved."""

    gates: dict[str, asyncio.Event] = field(default_factory=lambda: dict[str, asyncio.Event]())
    scripts: dict[str, list[Any]] = field(default_factory=lambda: SCRIPTS | LIVE_SCRIPTS)
    default: str = "quick"
    """The script of a task that names no model (e.g. one started from the composer)."""

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    def factory(self, spec: str | None) -> ModelChoice:
        name = spec or self.default
        if name not in self.scripts:
            raise ConfigError(f"no test script {name!r}")
        steps: list[Any] = []
        waits: dict[int, str] = {}
        for item in self.scripts[name]:
            if isinstance(item, dict) and "gate" in item:
                waits[len([s for s in steps if "expect" not in s])] = str(item["gate"])
            else:
                steps.append(item)
        player = ScriptPlayer(parse_steps(steps))

        async def play(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            if (gate := waits.pop(player.position, None)) is not None:
                await self.gate(gate).wait()
            return await player(messages, info)

        return ModelChoice(
            FunctionModel(play, model_name="scripted"), {"model": f"scripted:{name}"}
        )


@dataclass
class LiveClient:
    """A live-view websocket client that keeps the JSON messages and the frames apart."""

    socket: ClientConnection
    messages: list[dict[str, Any]] = field(default_factory=lambda: list[dict[str, Any]]())
    frames: int = 0
    looked: int = 0
    """How many of `messages` `until` has looked at (`frame` keeps the messages it passes)."""

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], *, within: float = 30
    ) -> dict[str, Any]:
        """The next JSON message (after those already looked at) for which `predicate` holds:
        one `frame` received on its way to a frame counts too."""

        async def read() -> dict[str, Any]:
            while self.looked < len(self.messages):
                self.looked += 1
                if predicate(self.messages[self.looked - 1]):
                    return self.messages[self.looked - 1]
            while True:
                raw = await self.socket.recv()
                if isinstance(raw, bytes):
                    assert raw[:2] == b"\xff\xd8"  # a JPEG
                    self.frames += 1
                    continue
                message = json.loads(raw)
                self.messages.append(message)
                self.looked = len(self.messages)
                if predicate(message):
                    return message

        return await asyncio.wait_for(read(), within)

    async def frame(self, *, within: float = 30) -> bytes:
        async def read() -> bytes:
            while True:
                raw = await self.socket.recv()
                if isinstance(raw, bytes):
                    self.frames += 1
                    return raw
                self.messages.append(json.loads(raw))

        return await asyncio.wait_for(read(), within)

    async def hello(self) -> str:
        message = await self.until(lambda m: m["type"] == "hello")
        return str(message["viewer"])

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(message))


def lease_is(state: str, *, you: bool | None = None) -> Callable[[dict[str, Any]], bool]:
    def check(message: dict[str, Any]) -> bool:
        if message["type"] != "lease" or message["state"] != state:
            return False
        return you is None or message["you"] is you

    return check


def status_is(status: str) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event["type"] == "status" and event["status"] == status


async def until(check: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    """Poll an observable condition until it holds (fails after `within` seconds)."""
    for _ in range(int(within / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


# ---- the screencast itself -------------------------------------------------------------------


def test_frame_geometry_maps_the_scaled_panel_to_css_pixels() -> None:
    plain = FrameGeometry(device_width=1280, device_height=900)
    assert plain.to_css(0.5, 0.5) == (640, 450)
    assert plain.to_css(-1, 2) == (0, 900)  # clamped to the frame
    # Browser chrome above the page (offsetTop) and a pinch zoom (pageScaleFactor 2).
    zoomed = FrameGeometry(device_width=400, device_height=800, offset_top=56, page_scale_factor=2)
    assert zoomed.to_css(0.5, 0.5) == (100, 172)
    assert zoomed.to_css(0, 0.01) == (0, 0)  # a point on the chrome maps to the page's top
    assert FrameGeometry.of({"deviceWidth": 390, "deviceHeight": 844}).page_scale_factor == 1


async def test_screencast_streams_frames_and_input_lands_where_the_person_points(
    tmp_path: Path,
) -> None:
    settings = BrowserSettings(viewport_width=1000, viewport_height=800)
    async with await BrowserSession.start(settings, tmp_path / "artifacts") as session:
        await session.goto(INPUT_PAGE)
        # Frames half the page's size: the viewer points in fractions of whatever it shows.
        screen = session.screencast(ScreencastSettings(quality=50, max_width=500, max_height=400))
        assert session.screencast() is screen
        async with screen.watch() as feed, screen.watch() as second:
            frame = await asyncio.wait_for(feed.next(), 30)
            assert frame is not None and frame.jpeg[:2] == b"\xff\xd8"
            assert (frame.geometry.device_width, frame.geometry.device_height) == (1000, 800)
            assert screen.watchers == 2 and (await second.next()) is not None

            # Press at the input's middle (400, 415 in CSS px) given as fractions of the frame.
            await screen.pointer("down", 0.4, 415 / 800)
            await screen.pointer("up", 0.4, 415 / 800)
            for key, code, key_code in (("h", "KeyH", 72), ("i", "KeyI", 73)):
                await screen.key("down", key, code=code, key_code=key_code)
                await screen.key("up", key, code=code, key_code=key_code)
            await screen.key("down", "Backspace", code="Backspace", key_code=8)
            await screen.insert_text(" there")
            await screen.wheel(0.5, 0.5, 0, 400)

            async def typed() -> bool:
                page = await session.observe()
                field_ = next(e for e in page.elements if e.role == "textbox")
                return field_.value == "h there" and "scrolled" in page.title

            await until(typed, "the typed text and the scroll")
            page = await session.observe()
            assert page.title.startswith("down@400,415 key:h key:i key:Backspace")
            newer = await asyncio.wait_for(feed.next(), 30)  # the typing repainted the page
            assert newer is not None and newer.seq > frame.seq
        assert screen.watchers == 0


async def test_what_the_person_does_in_the_live_view_is_read_afresh(tmp_path: Path) -> None:
    """The agent's last reading of the page is not reused after the person's input: a task
    handed back within a second of a sign-in once saw the login form it had read before."""
    settings = BrowserSettings(viewport_width=1000, viewport_height=800, observation_reuse_s=60)
    async with await BrowserSession.start(settings, tmp_path / "artifacts") as session:
        await session.goto(INPUT_PAGE)  # read after the navigation, not yet shown to anyone
        screen = session.screencast()
        await screen.pointer("down", 0.4, 415 / 800)
        await screen.pointer("up", 0.4, 415 / 800)
        await screen.insert_text("signed in")
        page = await session.observe()  # at once: no waiting for the reading to age
        assert next(e for e in page.elements if e.role == "textbox").value == "signed in"
        assert page.title.startswith("down@400,415")


async def test_screencast_follows_the_active_tab(tmp_path: Path, sites: SiteServer) -> None:
    async with await BrowserSession.start(BrowserSettings(), tmp_path / "artifacts") as session:
        await session.goto(sites.url_for("/shop"))
        screen = session.screencast()
        async with screen.watch() as feed:
            assert await asyncio.wait_for(feed.next(), 30) is not None
            await session.open_tab(INPUT_PAGE)  # the new tab becomes the active one
            await screen.pointer("down", 0.1, 0.1)
            await screen.pointer("up", 0.1, 0.1)

            async def clicked_in_new_tab() -> bool:
                return (await session.observe()).title.startswith("down@128,90")

            await until(clicked_in_new_tab, "the click in the new tab")
            await session.switch_tab(0)

            async def shop_frame() -> bool:
                frame = await asyncio.wait_for(feed.next(), 30)
                return frame is not None and screen.last_frame is frame

            await until(shop_frame, "a frame of the first tab again")
        await session.close()
        async with screen.watch() as ended:
            assert await ended.next() is None  # a closed session streams nothing


# ---- the live view websocket, the lease and the agent ----------------------------------------


async def test_takeover_pauses_the_agent_and_hand_back_resumes_it(
    home: Path, sites: SiteServer
) -> None:
    pacing = Pacing()
    async with running_server(home, model_factory=pacing.factory) as srv:
        with pytest.raises(InvalidStatus):  # no such task: refused at the handshake
            async with srv.ws("/api/tasks/none/live"):
                pass
        task = await srv.create("asked", sites)
        task_id = task["id"]
        async with (
            srv.ws(f"/api/tasks/{task_id}/live?name=Ada") as first_socket,
            srv.ws(f"/api/tasks/{task_id}/live") as second_socket,
        ):
            first, second = LiveClient(first_socket), LiveClient(second_socket)
            ada, other = await first.hello(), await second.hello()
            assert first.messages[0]["name"] == "Ada" and second.messages[0]["name"] == "viewer 2"
            await first.frame()  # the agent's browser, live
            await second.frame()
            await srv.events_until(task_id, lambda e: e["type"] == "step")

            # Input before taking over is refused, and nothing reaches the page.
            await first.send({"type": "text", "text": "early"})
            refused = await first.until(lambda m: m["type"] == "error")
            assert "take over first" in refused["detail"] and "early" not in refused["detail"]

            taken = await srv.client.post(f"/api/tasks/{task_id}/takeover", json={"viewer": ada})
            assert taken.status_code == 200, taken.text
            assert taken.json()["state"] == "pending" and taken.json()["holder"] == "Ada"
            seen = await second.until(lease_is("pending", you=False))
            assert seen["holder"] == "Ada"  # "controlled by Ada"
            conflict = await srv.client.post(
                f"/api/tasks/{task_id}/takeover", json={"viewer": other}
            )
            assert conflict.status_code == 409
            assert conflict.json() == {
                "error": "controlled_by_another",
                "detail": "the browser is controlled by Ada",
            }
            await first.send({"type": "pointer", "kind": "down", "x": 0.5, "y": 0.5})
            pending = await first.until(lambda m: m["type"] == "error")
            assert "not paused yet" in pending["detail"]

            pacing.gate("asked").set()  # the agent finishes its step, then pauses
            await first.until(lease_is("active", you=True))
            status = await second.until(lambda m: m["type"] == "status" and m["waiting_for"])
            assert status["waiting_for"] == "take over: the person asked to take over"
            waiting = await srv.events_until(task_id, status_is("waiting"))
            assert waiting[-1]["detail"] == "take over: the person asked to take over"
            listing = (await srv.client.get("/api/tasks")).json()
            assert listing["counts"]["waiting"] == 1
            assert listing["tasks"][0]["waiting_for"] == "take over: the person asked to take over"
            [request] = (await srv.client.get("/api/requests")).json()
            assert request["kind"] == "takeover" and request["task_id"] == task_id
            assert request["url"].endswith("/shop/cart")

            # The holder's input reaches the page; another viewer's does not.
            await second.send({"type": "text", "text": "intruder"})
            assert (
                "do not control" in (await second.until(lambda m: m["type"] == "error"))["detail"]
            )
            await first.send({"type": "bogus"})
            assert (await first.until(lambda m: m["type"] == "error"))["detail"] == (
                "invalid input message"
            )
            not_yours = await srv.client.post(
                f"/api/tasks/{task_id}/handback", json={"viewer": other}
            )
            assert not_yours.status_code == 409

            back = await srv.client.post(f"/api/tasks/{task_id}/handback", json={"viewer": ada})
            assert back.status_code == 200 and back.json()["state"] == "free"
            await second.until(lease_is("free"))
            events = await srv.final_events(task_id)
            statuses = [e["status"] for e in events if e["type"] == "status"]
            assert statuses == ["queued", "running", "waiting", "running", "succeeded"]
            assert (await srv.client.get("/api/requests")).json() == []
            ended = await first.until(lambda m: m["type"] == "ended")
            assert ended == {"type": "ended"}

        run_id = (await srv.client.get(f"/api/tasks/{task_id}")).json()["run_id"]
        header = json.loads((home / "runs" / run_id / "run.json").read_text())
        [handover] = header["handovers"]
        assert handover["by"] == "person:Ada" and handover["reason"].startswith("the person")
        assert handover["url_before"].endswith("/shop/cart")
        with sqlite3.connect(home / "audit.db") as db:
            rows = db.execute(
                "SELECT actor, tool, args, task_id FROM records WHERE tool = 'takeover'"
            ).fetchall()
        [(actor, _, args, audited_task)] = rows
        details = json.loads(args)
        assert actor == "person" and audited_task == run_id
        assert details["by"] == "person:Ada" and details["server_task"] == task_id
        assert set(details) == {"by", "seconds", "url_before", "url_after", "reason", "server_task"}


async def test_takeover_and_handback_error_cases(home: Path, sites: SiteServer) -> None:
    pacing = Pacing()
    async with running_server(home, model_factory=pacing.factory, max_concurrent=1) as srv:
        running = await srv.create("asked", sites)
        queued = await srv.create("quick", sites)
        rid, qid = running["id"], queued["id"]
        async with srv.ws(f"/api/tasks/{rid}/live") as socket_:
            viewer = await LiveClient(socket_).hello()
            await srv.events_until(rid, lambda e: e["type"] == "step")
            cases: list[tuple[str, str, Any, int, str]] = [
                ("takeover", "nope", {"viewer": viewer}, 404, "not_found"),
                ("takeover", rid, {"viewer": "not-a-viewer"}, 400, "unknown_viewer"),
                ("takeover", rid, {}, 422, "invalid_request"),
                ("takeover", rid, {"viewer": ""}, 422, "invalid_request"),
                ("takeover", rid, {"viewer": viewer, "x": 1}, 422, "invalid_request"),
                ("handback", rid, {"viewer": viewer}, 409, "no_browser"),  # nothing to give back
                ("handback", "nope", None, 404, "not_found"),
            ]
            for action, task_id, body, status, error in cases:
                response = await srv.client.post(f"/api/tasks/{task_id}/{action}", json=body)
                assert response.status_code == status, (action, body, response.text)
                assert response.json()["error"] == error
            async with srv.ws(f"/api/tasks/{qid}/live") as queued_socket:
                queued_viewer = await LiveClient(queued_socket).hello()
                no_browser = await srv.client.post(
                    f"/api/tasks/{qid}/takeover", json={"viewer": queued_viewer}
                )
                assert no_browser.status_code == 409 and no_browser.json()["error"] == "no_browser"
            lease = await srv.client.get(f"/api/tasks/{rid}/lease")
            assert lease.json()["state"] == "free"
            taken = await srv.client.post(f"/api/tasks/{rid}/takeover", json={"viewer": viewer})
            again = await srv.client.post(f"/api/tasks/{rid}/takeover", json={"viewer": viewer})
            assert taken.json() == again.json()  # taking what you hold is harmless
            # Handing back before the agent paused cancels the takeover.
            back = await srv.client.post(f"/api/tasks/{rid}/handback", json={"viewer": viewer})
            assert back.json()["state"] == "free"
        await srv.client.post(f"/api/tasks/{rid}/cancel")
        await srv.final_events(rid)
        ended = await srv.client.post(f"/api/tasks/{rid}/takeover", json={"viewer": viewer})
        assert ended.status_code == 409 and "already ended" in ended.json()["detail"]


async def test_live_view_needs_the_token_and_the_servers_own_origin(home: Path) -> None:
    async with running_server(home) as srv:
        refused: list[dict[str, Any]] = [
            {"token": None},
            {"token": "wrong-token-wrong-token"},
            {"origin": FOREIGN},
        ]
        for options in refused:
            with pytest.raises(InvalidStatus):
                async with srv.ws("/api/tasks/x/live", **options):
                    pass
        anonymous = srv.anonymous()
        async with anonymous:
            for path in ("/api/tasks/x/takeover", "/api/tasks/x/handback"):
                assert (await anonymous.post(path, json={"viewer": "v"})).status_code == 401
                foreign = await srv.client.post(
                    path, json={"viewer": "v"}, headers={"Origin": FOREIGN}
                )
                assert foreign.status_code == 403
