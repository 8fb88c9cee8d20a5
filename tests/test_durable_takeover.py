"""A task killed while it waits for the person to take over can be taken over after a restart.

`valet serve` runs in a subprocess (durable, as people run it) and stops by itself at the demo
shop's login form. It is killed with SIGKILL while it waits, and started again: the resumed
task reopens its browser at the login form before it waits, so the person takes over through
the live view, signs in with the pointer and the keyboard, hands back, and the task goes on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from playwright.async_api import Page
from tests.test_durable import Server, _final, _header, _steps, _wait, serving
from tests.test_server_live import LiveClient, lease_is
from websockets.asyncio.client import connect
from websockets.typing import Origin

from valet.browser import BrowserSession, BrowserSettings
from valet.sites import SiteServer
from valet.sites.state import DEMO_EMAIL, DEMO_NAME, DEMO_PASSWORD, SiteState

SCRIPT: list[Any] = [
    {"click": {"role": "link", "name": "Sign in"}},  # the login form: valet stops here
    {"expect": {"prompt": "The person took over the browser"}},
    {"expect": {"text": f"Welcome back, {DEMO_NAME.split()[0]}!"}},
    {"done": {"answer": "signed in by the person", "success": True}},
]

Point = tuple[float, float]
"""Where a person points on the live view: fractions of the frame's width and height."""

NEARER = """async ([frame, pages]) => {
    const pixels = async (jpeg) => {
        const image = new Image();
        image.src = "data:image/jpeg;base64," + jpeg;
        await image.decode();
        const canvas = new OffscreenCanvas(128, 90);
        const context = canvas.getContext("2d");
        context.drawImage(image, 0, 0, 128, 90);
        return context.getImageData(0, 0, 128, 90).data;
    };
    const seen = await pixels(frame);
    const distances = {};
    for (const [name, jpeg] of Object.entries(pages)) {
        const known = await pixels(jpeg);
        distances[name] = seen.reduce((sum, value, i) => sum + Math.abs(value - known[i]), 0);
    }
    return Object.keys(distances).reduce((a, b) => (distances[a] <= distances[b] ? a : b));
}"""
"""Which of `pages` (name: JPEG, base64) a live-view frame shows: the nearest, pixel by pixel
(on a small copy of each)."""


@dataclass
class PersonsBrowser:
    """The person's own browser: they know the shop's login form and their account page by
    sight, and look at the live view's frames in it."""

    page: Page
    fields: dict[str, Point]
    """The middle of the login form's email and password fields."""
    pages: dict[str, str]
    """How the login form, the account page and an empty page look (JPEG, base64)."""

    @classmethod
    async def open(cls, session: BrowserSession, sites: SiteServer) -> PersonsBrowser:
        settings = session.settings
        page = await session.live_page()
        await page.goto(sites.url_for("/account/login"))
        fields: dict[str, Point] = {}
        for name in ("email", "password"):
            box = await page.locator(f"#login-{name}").bounding_box()
            assert box is not None
            fields[name] = (
                (box["x"] + box["width"] / 2) / settings.viewport_width,
                (box["y"] + box["height"] / 2) / settings.viewport_height,
            )
        login = await page.screenshot(type="jpeg")
        await page.locator("#login-email").fill(DEMO_EMAIL)
        await page.locator("#login-password").fill(DEMO_PASSWORD)
        await page.locator("#login-password").press("Enter")
        await page.wait_for_url("**/account")
        account = await page.screenshot(type="jpeg")
        await page.goto("about:blank")
        blank = await page.screenshot(type="jpeg")
        pages = {
            name: base64.b64encode(jpeg).decode()
            for name, jpeg in [("login", login), ("account", account), ("blank", blank)]
        }
        return cls(page, fields, pages)

    async def sees(self, frame: bytes) -> str:
        return str(await self.page.evaluate(NEARER, [base64.b64encode(frame).decode(), self.pages]))

    async def until_seen(self, live: LiveClient, name: str) -> None:
        """Look at the live view's frames as they come until one shows page `name`."""

        async def look() -> None:
            while await self.sees(await live.frame()) != name:
                pass

        await asyncio.wait_for(look(), 60)


async def _click(live: LiveClient, at: Point) -> None:
    for kind in ("down", "up"):
        await live.send({"type": "pointer", "kind": kind, "x": at[0], "y": at[1]})


def _signed_in(state: SiteState) -> set[str]:
    """The shop's sessions signed in to the demo account."""
    return {s.id for s in list(state.sessions.values()) if s.user_email == DEMO_EMAIL}


async def _take_over_and_sign_in(
    server: Server, task_id: str, sites: SiteServer, artifacts: Path
) -> tuple[int, dict[str, Any]]:
    """The person opens the live view, takes the browser, signs in, and hands back once
    they see their account page. Returns the takeover's answer (status, body)."""
    url = f"ws://127.0.0.1:{server.port}/api/tasks/{task_id}/live?name=Ada"
    headers = {"Authorization": f"Bearer {server.token}"}
    origin = Origin(f"http://127.0.0.1:{server.port}")
    async with (
        await BrowserSession.start(BrowserSettings(), artifacts) as session,
        connect(url, additional_headers=headers, origin=origin, open_timeout=10) as socket,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", headers=headers) as api,
    ):
        person = await PersonsBrowser.open(session, sites)
        live = LiveClient(socket)
        viewer = await live.hello()
        # The resumed task reopens its browser before it waits: the viewer is told so.
        with contextlib.suppress(TimeoutError):  # if it never does, the takeover says so
            await live.until(lambda m: m["type"] == "browser" and m["live"], within=60)
        taken = await api.post(f"/api/tasks/{task_id}/takeover", json={"viewer": viewer})
        if taken.status_code != 200:
            return taken.status_code, taken.json()
        await person.until_seen(live, "login")
        await live.until(lease_is("active", you=True))
        await _click(live, person.fields["email"])
        await live.send({"type": "text", "text": DEMO_EMAIL})
        await _click(live, person.fields["password"])
        await live.send({"type": "text", "text": DEMO_PASSWORD})
        for kind in ("down", "up"):
            enter = {"type": "key", "kind": kind, "key": "Enter", "code": "Enter", "key_code": 13}
            await live.send(enter)
        await person.until_seen(live, "account")  # the sign-in went through: hand back
        assert [m for m in live.messages if m["type"] == "error"] == []  # no input refused
        back = await api.post(f"/api/tasks/{task_id}/handback", json={"viewer": viewer})
        assert back.status_code == 200 and back.json()["state"] == "free", back.text
        return taken.status_code, taken.json()


@pytest.mark.timeout(300)
def test_a_task_killed_while_waiting_for_a_takeover_can_be_taken_over_after_a_restart(
    tmp_path: Path, sites: SiteServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    state = cast(SiteState, sites.app.state.site)
    with serving(home, SCRIPT) as server:
        created = server.post(
            "/api/tasks",
            {"task": "sign in to the shop", "start_url": sites.url_for("/shop")},
        )
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]

        def takeover_asked() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = server.get(f"/api/requests?task_id={task_id}").json()
            return found if [r["kind"] for r in found] == ["takeover"] else None

        [asked] = _wait(takeover_asked, "the login stop's takeover request")
        assert asked["url"].startswith(sites.url_for("/account/login")), asked
        assert server.get(f"/api/tasks/{task_id}").json()["status"] == "waiting"
        server.kill()  # while the task waits for the person
        before = _signed_in(state)  # other tests' sign-ins (the demo sites are shared)
        server.start()
        again = server.get(f"/api/requests?task_id={task_id}").json()
        assert [r["id"] for r in again] == [asked["id"]], again  # still listed, same request

        status, lease = asyncio.run(
            _take_over_and_sign_in(server, task_id, sites, tmp_path / "persons-browser")
        )
        assert status == 200, lease  # not 409 "no browser"
        assert lease["holder"] == "Ada", lease
        # Signed in to the shop twice: in the person's own browser, and in valet's.
        assert len(_signed_in(state) - before) == 2
        final = _final(server, task_id, "the task to end after the hand back")
        assert server.get(f"/api/requests?task_id={task_id}").json() == []
    assert final["status"] == "succeeded", final
    steps = _steps(home, {"id": task_id})
    indices = [step["index"] for step in steps]
    assert indices == list(range(1, len(steps) + 1)), indices  # each step recorded once
    # The click before the restart, then, on the account page the person signed in to, done.
    assert [s["action"]["kind"] for s in steps] == ["click", "done"], steps
    assert steps[1]["url"].endswith("/account"), steps[1]
    header = _header(home, task_id)
    assert header["restarts"] == 1 and header["status"] == "succeeded", header
    [handover] = header["handovers"]
    assert handover["by"] == "person:Ada", handover
    assert "/account/login" in handover["url_before"], handover
    assert handover["url_after"].endswith("/account"), handover
