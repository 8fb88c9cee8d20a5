"""The web app's pages in real headless Chromium: one event stream keeps every page live (the
badge, a task's status, requests, messages' read state and timeline) and says when the server
cannot be reached; every page fits from a 390 px phone to a desktop without scrolling sideways;
axe-core finds no serious or critical problem; the composer, approvals and the takeover button
work from the keyboard alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Locator, Page, expect
from tests._chromium import chromium
from tests._servers import free_port
from tests.test_server_approvals import REMOVE
from tests.test_server_harness import Harness, running_server
from tests.test_server_live import Pacing

from valet.sites import SiteServer

LONG_WORD = "Supercalifragilistic" * 12
AXE = Path(__file__).parents[1] / ".cache/axe-core/node_modules/axe-core/axe.min.js"
SCRIPTS: dict[str, list[Any]] = {
    # asks once before removing a row, then ends
    "remove-once": [REMOVE, {"done": {"answer": "Removed the row", "success": True}}],
    # a step whose result is longer than the timeline shows at first
    "long-result": [
        {"wait_for": {"text": LONG_WORD * 2, "timeout": 0.1}},
        {"done": {"answer": "It never appeared", "success": True}},
    ],
}
LONG_URL = "https://example.com/" + "a-very-long-path-segment-" * 10


def pacing() -> Pacing:
    return Pacing(scripts=Pacing().scripts | SCRIPTS)


async def waiting_task(srv: Harness, sites: SiteServer) -> dict[str, Any]:
    """A task waiting for the person to approve removing a row."""
    task = await srv.create("remove-once", sites, start_url=sites.url_for("/bench/200"))
    await srv.events_until(task["id"], lambda e: e.get("status") == "waiting")
    return task


async def test_every_page_follows_one_stream_and_says_when_it_drops(
    home: Path, sites: SiteServer
) -> None:
    port = free_port()
    async with chromium() as browser:
        context = await browser.new_context()
        sources = await context.new_page()
        page = await context.new_page()
        async with running_server(home, port=port, model_factory=pacing().factory) as srv:
            await sources.goto(srv.sign_in_link("/sources"))
            badge = sources.locator("#waiting-badge")
            await expect(sources.locator("body")).to_have_attribute("data-stream", "open")
            await expect(badge).to_have_text("0")

            task = await waiting_task(srv, sites)
            await expect(badge).to_have_text("1")  # live on a page that is not the inbox
            await page.goto(f"{srv.url}/tasks/{task['id']}")
            status, timeline = page.locator("#task-status"), page.locator("#timeline")
            await expect(status).to_have_text("waiting")
            await expect(page.get_by_role("dialog")).to_contain_text("valet asks: Remove")
            await expect(timeline).to_contain_text("valet asked before it acts: Remove")

            # a message while it waits: not read yet; read once the agent goes on
            await page.get_by_role("textbox", name="Message the agent").fill("Only one row")
            await page.get_by_role("button", name="Send").click()
            read = page.locator(".messages [data-message-id] .read-state")
            await expect(read).to_have_text("not read yet")
            await expect(timeline.locator(".entry-message")).to_contain_text("Only one row")

            (request,) = (await srv.client.get("/api/requests")).json()
            approved = await srv.client.post(f"/api/requests/{request['id']}/approve")
            assert approved.status_code == 200  # answered elsewhere: both pages follow
            await srv.final_events(task["id"])
            await expect(status).to_have_text("succeeded")
            await expect(read).to_have_text("read")
            await expect(timeline).to_contain_text("You approved: Remove")
            await expect(page.get_by_role("dialog")).to_have_count(0)
            await expect(badge).to_have_text("0")
            await expect(page.locator("#waiting-badge")).to_have_text("0")
            banner = sources.get_by_role("status").filter(has_text="Connection lost")
            await expect(banner).to_be_hidden()

        # the server is gone: every page says so, and keeps trying
        await expect(banner).to_be_visible()
        await expect(banner).to_have_text("Connection lost, retrying…")
        await expect(page.locator("#connection")).to_be_visible()
        async with running_server(home, port=port, model_factory=pacing().factory) as srv:
            await expect(banner).to_be_hidden()
            await expect(page.locator("#connection")).to_be_hidden()
            await expect(sources.locator("body")).to_have_attribute("data-stream", "open")
            await context.close()


async def tab_to(page: Page, target: Locator, limit: int = 80) -> None:
    """Press Tab until `target` has the focus (it must be reachable from the keyboard)."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await target.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"{target} cannot be reached with Tab")


async def test_composer_approval_and_takeover_from_the_keyboard(
    home: Path, sites: SiteServer
) -> None:
    factory = pacing()
    factory.default = "remove-once"
    async with running_server(home, model_factory=factory.factory) as srv, chromium() as browser:
        page = await browser.new_page()
        await page.goto(srv.sign_in_link())
        await tab_to(page, page.get_by_role("textbox", name="Task"))
        await page.keyboard.type("Remove the first row")
        await tab_to(page, page.get_by_role("textbox", name="Start page"))
        await page.keyboard.type(sites.url_for("/bench/200"))
        await tab_to(page, page.get_by_role("button", name="Start task"))
        await page.keyboard.press("Enter")
        await page.wait_for_url("**/tasks/*")
        task_id = page.url.rsplit("/", 1)[1]
        await srv.events_until(task_id, lambda e: e.get("status") == "waiting")
        await expect(page.locator("#task-status")).to_have_text("waiting")

        live = page.locator("#live")
        take = page.get_by_role("button", name="Take over")
        await expect(take).to_be_enabled()
        await tab_to(page, take)
        await page.keyboard.press("Enter")
        await expect(live).to_have_attribute("data-lease", "mine")
        hand_back = page.get_by_role("button", name="Hand back")
        await tab_to(page, hand_back)
        await page.keyboard.press("Space")
        await expect(live).to_have_attribute("data-lease", "free")

        await page.locator("body").focus()
        await tab_to(page, page.get_by_role("button", name="Approve", exact=True))
        await page.keyboard.press("Space")
        await srv.final_events(task_id)
        await expect(page.locator("#task-status")).to_have_text("succeeded")
        await expect(page.locator("#timeline")).to_contain_text("You approved: Remove")


PAGES = ("inbox", "task-with-approval", "finished-task", "sources", "schedules", "audit")
WIDTHS = (390, 1280)


@pytest.mark.skipif(not AXE.is_file(), reason="axe-core is not installed: run `make axe-core`")
async def test_pages_fit_every_width_and_pass_axe(
    home: Path, sites: SiteServer, tmp_path: Path
) -> None:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    async with (
        running_server(home, model_factory=pacing().factory) as srv,
        chromium() as browser,
    ):
        waiting = await waiting_task(srv, sites)
        long = await srv.create("long-result", sites, task=f"Read {LONG_WORD} at {LONG_URL}")
        await srv.final_events(long["id"])
        paths = {
            "inbox": "/",
            "task-with-approval": f"/tasks/{waiting['id']}",
            "finished-task": f"/tasks/{long['id']}",
            "sources": "/sources",
            "schedules": "/schedules",
            "audit": "/audit",
        }
        problems: list[str] = []
        for width in WIDTHS:
            context = await browser.new_context(
                viewport={"width": width, "height": 900}, bypass_csp=True
            )
            page = await context.new_page()
            await page.goto(srv.sign_in_link())
            for name in PAGES:
                await page.goto(srv.url + paths[name])
                await expect(page.locator("body")).to_have_attribute("data-stream", "open")
                if name == "task-with-approval":
                    await expect(page.get_by_role("dialog")).to_be_visible()
                if name == "finished-task":  # a long result is cut, with the rest a click away
                    more = page.locator(".step-more").first
                    await more.get_by_text("Show all").click()
                    await expect(more.locator(".step-result-full")).to_be_visible()
                if name == "sources":
                    await expect(page.locator("#source-toolsets")).not_to_contain_text("Opening")
                await page.screenshot(path=artifacts / f"{name}-{width}.png", full_page=True)
                scroll = await page.evaluate("document.documentElement.scrollWidth")
                if scroll > width:
                    problems.append(f"{name} at {width} px scrolls sideways ({scroll} px)")
                problems += await axe(page, f"{name} at {width} px")
            await context.close()
        assert problems == [], "\n".join(problems)
        shots = sorted(p.name for p in artifacts.iterdir())
        assert shots == sorted(f"{n}-{w}.png" for n in PAGES for w in WIDTHS)


async def axe(page: Page, where: str) -> list[str]:
    """axe-core's serious and critical violations on the page, one line each."""
    await page.add_script_tag(path=AXE)
    violations: list[dict[str, Any]] = await page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{where}: {v['id']} ({v['impact']}): {v['help']}: "
        + "; ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
