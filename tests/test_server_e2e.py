"""The web app end to end in real headless Chromium: Playwright plays the person.

The agent (a scripted model) stops at the shop's login form by itself; the person takes over in
the live view, signs in by typing into it, hands back, and approves the checkout in the dialog.
The credentials they typed must appear nowhere: not in the run record, valet's home folder, the
audit database or the server's logs.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, expect
from tests._chromium import chromium
from tests.test_server_harness import Harness, running_server
from tests.test_server_live import Pacing, until

from valet.sites import SiteServer

EMAIL = "demo@voltline.test"
PASSWORD = "correct horse"

SHOP_SCRIPTS: dict[str, list[Any]] = {
    "shop-login": [
        {"click": {"role": "link", "name": "Sign in"}},  # the login form: valet stops here
        {"expect": {"prompt": "The person took over the browser"}},
        {
            "type": {
                "role": "searchbox",
                "name": "Search products",
                "text": "USB-C cable",
                "submit": True,
            }
        },
        {"click": {"role": "link", "name": "USB-C Cable 1 m (Basic)"}},
        {"click": {"role": "button", "name": "Add to cart"}},
        {"click": {"role": "link", "name": "Cart"}},
        {"click": {"role": "link", "name": "Proceed to checkout"}},
        {"type": {"role": "textbox", "name": "Full name", "text": "Ada Lovelace"}},
        {"type": {"role": "textbox", "name": "Street address", "text": "12 Analytical Row"}},
        {"type": {"role": "textbox", "name": "City", "text": "London"}},
        {"type": {"role": "textbox", "name": "Postal code", "text": "NW1 2AB"}},
        {"select": {"role": "combobox", "name": "Country", "option": "United Kingdom"}},
        # Email stays as the shop prefilled it for the signed-in account: acting on it would put
        # its value (the shop's, not the person's typing) in the step record's target.
        {"check": {"role": "radio", "name": "Standard"}},
        {"click": {"role": "button", "name": "Continue to payment"}},
        {"click": {"role": "button", "name": "Review order"}},  # the saved card
        {"click": {"role": "button", "name": "Place order"}},
        {"expect": {"text": "Thank you"}},
        {"done": {"answer": "The order is placed", "success": True}},
    ],
}


@contextmanager
def server_logs() -> Iterator[io.StringIO]:
    """Everything valet logs (any level) and everything else logs at its configured level."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root, valet = logging.getLogger(), logging.getLogger("valet")
    root.addHandler(handler)
    level = valet.level
    valet.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        valet.setLevel(level)
        root.removeHandler(handler)


async def signed_in_page(browser: Browser, srv: Harness, errors: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(srv.sign_in_link())
    return page


async def click_in_live_view(page: Page, srv: Harness, task_id: str, selector: str) -> None:
    """Click, through the live view, the middle of an element of the agent's page (found
    where a sighted person would see it)."""
    session = srv.manager.desk.view(task_id).session
    assert session is not None
    box = await (await session.live_page()).locator(selector).bounding_box()
    canvas = await page.locator("#live-canvas").bounding_box()
    assert box is not None and canvas is not None
    width, height = session.settings.viewport_width, session.settings.viewport_height
    x = canvas["x"] + (box["x"] + box["width"] / 2) / width * canvas["width"]
    y = canvas["y"] + (box["y"] + box["height"] / 2) / height * canvas["height"]
    await page.mouse.click(x, y)


async def test_login_stop_takeover_and_checkout_approval(home: Path, sites: SiteServer) -> None:
    pacing = Pacing(scripts=SHOP_SCRIPTS, default="shop-login")
    errors: list[str] = []
    with server_logs() as logs:
        async with (
            running_server(home, model_factory=pacing.factory) as srv,
            chromium() as browser,
        ):
            page = await signed_in_page(browser, srv, errors)
            await page.locator("#task-text").fill("Sign in and buy the cheapest USB-C cable")
            await page.locator("input[name=start_url]").fill(sites.url_for("/shop"))
            await page.get_by_role("button", name="Start task").click()
            await page.wait_for_url(f"{srv.url}/tasks/*")
            task_id = page.url.rsplit("/", 1)[1]

            live = page.locator("#live")
            await expect(live).not_to_have_attribute("data-frames", "0")  # frames arrive
            await expect(page.locator("#task-status")).to_have_text("waiting")
            banner = page.locator(".takeover-needed")
            await expect(banner).to_contain_text("valet needs you: login form")
            await expect(banner).to_contain_text("/account/login")
            await expect(page.locator("#waiting-badge")).to_have_text("1")

            await page.get_by_role("button", name="Take over").click()
            await expect(page.locator("#lease-state")).to_have_text("You are in control")
            await click_in_live_view(page, srv, task_id, "#login-email")
            await page.keyboard.type(EMAIL)
            await click_in_live_view(page, srv, task_id, "#login-password")
            await page.keyboard.type(PASSWORD)
            frames = await live.get_attribute("data-frames") or "0"  # before the sign-in
            await page.keyboard.press("Enter")
            session = srv.manager.desk.view(task_id).session
            assert session is not None

            async def signed_in() -> bool:
                return session.page_url.endswith("/account")

            await until(signed_in, "the shop's account page")
            # Repainted since: the account page was drawn (a frame counted before it was read
            # would make a later check wait for a frame a still page never sends).
            await expect(live).not_to_have_attribute("data-frames", frames)
            await page.get_by_role("button", name="Hand back").click()
            await expect(page.locator("#lease-state")).to_have_text("The agent is in control")

            asked: list[str] = []
            status = page.locator("#task-status")
            while await status.text_content() != "succeeded":
                dialog = page.locator(".approval")
                await expect(dialog.or_(page.locator(".outcome"))).to_be_visible(timeout=60_000)
                if not await dialog.is_visible():
                    break
                request_id = await dialog.get_attribute("data-request-id")
                asked.append(await dialog.locator("h2").text_content() or "")
                await expect(dialog).to_contain_text("Why it asks")
                await expect(dialog).to_contain_text("/shop/checkout")
                await expect(dialog.locator("textarea")).to_have_value(
                    re.compile(r'^\{"element": ')
                )
                await dialog.get_by_role("button", name="Approve", exact=True).click()
                answered = page.locator(f'.approval[data-request-id="{request_id}"]')
                await expect(answered).to_have_count(0)
            await expect(status).to_have_text("succeeded", timeout=60_000)
            assert asked[-1] == "valet asks: Place order", asked
            await expect(page.locator(".outcome")).to_contain_text("The order is placed")
            assert errors == []

            detail = (await srv.client.get(f"/api/tasks/{task_id}")).json()
            run_dir = home / "runs" / detail["run_id"]
            header = (run_dir / "run.json").read_text()
            assert '"handovers"' in header and "/account/login" in header

    # The person's keystrokes were never stored or logged anywhere.
    files = [p for p in home.rglob("*") if p.is_file()]  # noqa: ASYNC240 (the test's own files)
    assert run_dir in [p.parent for p in files] and (home / "audit.db") in files
    for secret in (PASSWORD.encode(), EMAIL.encode()):
        for path in files:
            assert secret not in path.read_bytes(), (secret, path)
        assert secret.decode() not in logs.getvalue()


async def test_two_browsers_on_one_task_only_one_controls(home: Path, sites: SiteServer) -> None:
    pacing = Pacing(scripts=SHOP_SCRIPTS)
    async with running_server(home, model_factory=pacing.factory) as srv, chromium() as browser:
        task = await srv.create("shop-login", sites)
        await srv.events_until(task["id"], lambda e: e.get("status") == "waiting")
        errors: list[str] = []
        first = await signed_in_page(browser, srv, errors)
        second = await signed_in_page(browser, srv, errors)
        for page in (first, second):
            await page.goto(f"{srv.url}/tasks/{task['id']}")
            await expect(page.locator("#live")).not_to_have_attribute("data-frames", "0")
            await expect(page.get_by_role("button", name="Take over")).to_be_enabled()

        await first.get_by_role("button", name="Take over").click()
        await expect(first.locator("#lease-state")).to_have_text("You are in control")
        await expect(second.locator("#lease-state")).to_have_text(re.compile("^Controlled by "))
        await expect(second.get_by_role("button", name="Take over")).to_be_disabled()
        await expect(second.get_by_role("button", name="Hand back")).to_be_hidden()

        # The second browser tries anyway: through the API, and with input on its own socket.
        tried = await second.evaluate(
            """async (task) => {
                const socket = new WebSocket(`ws://${location.host}/api/tasks/${task}/live`);
                const messages = [];
                const next = (type) => new Promise((resolve) => {
                    const look = () => {
                        const found = messages.find((m) => m.type === type);
                        if (found) resolve(found); else setTimeout(look, 20);
                    };
                    look();
                });
                socket.onmessage = (m) => {
                    if (typeof m.data === "string") messages.push(JSON.parse(m.data));
                };
                const hello = await next("hello");
                const response = await fetch(`/api/tasks/${task}/takeover`, {
                    method: "POST",
                    headers: {"Content-Type": "application/json"},
                    body: JSON.stringify({viewer: hello.viewer}),
                });
                socket.send(JSON.stringify({type: "text", text: "intruder"}));
                const error = await next("error");
                socket.close();
                return {status: response.status, body: await response.json(), error: error.detail};
            }""",
            task["id"],
        )
        assert tried["status"] == 409 and tried["body"]["error"] == "controlled_by_another"
        assert tried["error"] == "you do not control this browser: take over first"
        await second.locator("#live-canvas").click()
        await second.keyboard.type("intruder")
        session = srv.manager.desk.view(task["id"]).session
        assert session is not None
        field = (await session.live_page()).locator("#login-email")
        assert await field.input_value() == ""

        await click_in_live_view(first, srv, task["id"], "#login-email")
        await first.keyboard.type("a")
        await expect(field).to_have_value("a")  # the controller's keys arrive
        lease = (await srv.client.get(f"/api/tasks/{task['id']}/lease")).json()
        assert lease["state"] == "active" and lease["holder"].startswith("viewer ")

        await first.get_by_role("button", name="Hand back").click()
        await expect(second.get_by_role("button", name="Take over")).to_be_enabled()
        await second.get_by_role("button", name="Take over").click()
        await expect(first.locator("#lease-state")).to_have_text(re.compile("^Controlled by "))
        await srv.client.post(f"/api/tasks/{task['id']}/cancel")
        await srv.final_events(task["id"])
        assert [e for e in errors if "409 (Conflict)" not in e] == []  # only the refused try


async def test_a_page_on_another_port_cannot_use_the_api_or_take_over(
    home: Path, sites: SiteServer
) -> None:
    pacing = Pacing(scripts=SHOP_SCRIPTS)
    async with running_server(home, model_factory=pacing.factory) as srv, chromium() as browser:
        task = await srv.create("shop-login", sites)
        await srv.events_until(task["id"], lambda e: e.get("status") == "waiting")
        async with srv.ws(f"/api/tasks/{task['id']}/live") as socket_:
            viewer = json.loads(await socket_.recv())["viewer"]  # a real viewer id, leaked
            page = await signed_in_page(browser, srv, [])  # the valet cookie is in this browser
            await page.goto(sites.url_for("/shop"))  # same host, another port: another origin
            attempts = await page.evaluate(
                """async ({api, task, viewer}) => {
                    const out = {};
                    const body = JSON.stringify({viewer});
                    try {
                        const r = await fetch(`${api}/api/tasks`, {credentials: "include"});
                        out.read = `read ${r.status}`;
                    } catch (e) { out.read = "blocked"; }
                    try {
                        await fetch(`${api}/api/tasks/${task}/takeover`, {
                            method: "POST", credentials: "include", mode: "no-cors",
                            headers: {"Content-Type": "text/plain"}, body,
                        });
                        out.takeover = "sent";
                    } catch (e) { out.takeover = "blocked"; }
                    try {
                        const r = await fetch(`${api}/api/tasks/${task}/takeover`, {
                            method: "POST", credentials: "include",
                            headers: {"Content-Type": "application/json"}, body,
                        });
                        out.json = `status ${r.status}`;
                    } catch (e) { out.json = "blocked"; }
                    out.socket = await new Promise((resolve) => {
                        const url = `${api.replace("http", "ws")}/api/tasks/${task}/live`;
                        const s = new WebSocket(url);
                        s.onopen = () => resolve("open");
                        s.onerror = () => resolve("refused");
                    });
                    return out;
                }""",
                {"api": srv.url, "task": task["id"], "viewer": viewer},
            )
            assert attempts == {
                "read": "blocked",  # no CORS headers: nothing can be read
                "takeover": "blocked",  # goes out, is refused (Origin); CORP hides the answer
                "json": "blocked",
                "socket": "refused",
            }
            lease = (await srv.client.get(f"/api/tasks/{task['id']}/lease")).json()
            assert lease["state"] == "free"  # nobody took the browser
            own = await srv.client.post(
                f"/api/tasks/{task['id']}/takeover",
                json={"viewer": viewer},
                headers={"Origin": sites.url_for("/").rstrip("/")},
            )
            assert own.status_code == 403 and own.json()["error"] == "forbidden_origin"
        await srv.client.post(f"/api/tasks/{task['id']}/cancel")
        await srv.final_events(task["id"])


async def test_letting_the_agent_go_on_past_an_uncleared_login_stops_it_again(
    home: Path, sites: SiteServer
) -> None:
    pacing = Pacing(scripts=SHOP_SCRIPTS)
    async with running_server(home, model_factory=pacing.factory) as srv, chromium() as browser:
        task = await srv.create("shop-login", sites)
        await srv.events_until(task["id"], lambda e: e.get("status") == "waiting")
        errors: list[str] = []
        page = await signed_in_page(browser, srv, errors)
        await page.goto(f"{srv.url}/tasks/{task['id']}")
        [request] = (await srv.client.get("/api/requests")).json()
        await page.get_by_role("button", name="Let the agent go on without me").click()
        # the login form is still there, empty: valet does not give it to the model, it stops
        # for the person again, saying so
        card = page.locator(".takeover-needed")
        await expect(card).to_contain_text("still there after the browser was handed back")
        answered = (await srv.client.get(f"/api/requests/{request['id']}")).json()
        assert answered["state"] == "handed_back" and answered["answered_by"] == "person"
        [again] = (await srv.client.get("/api/requests")).json()
        assert again["id"] != request["id"] and again["kind"] == request["kind"]
        statuses: list[str] = []
        steps_after_the_stop: list[dict[str, Any]] = []

        def stopped_again(event: dict[str, Any]) -> bool:
            if event["type"] == "status":
                statuses.append(event["status"])
            elif event["type"] == "step" and "waiting" in statuses:
                steps_after_the_stop.append(event)
            return statuses[-3:] == ["waiting", "running", "waiting"]

        await srv.events_until(task["id"], stopped_again)
        assert statuses == ["queued", "running", "waiting", "running", "waiting"]
        assert steps_after_the_stop == [], "the model never acted on the login page"
        await srv.client.post(f"/api/tasks/{task['id']}/cancel")
        await srv.final_events(task["id"])
        assert errors == []
