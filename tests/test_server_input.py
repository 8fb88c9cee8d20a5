"""Bad input to the server: an over-long task is refused with its limit (API and web form),
never cut; a start page that cannot be opened fails the task at once, with why."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import async_playwright, expect
from tests._servers import free_port
from tests.test_server_harness import running_server
from tests.test_server_web import EXECUTABLE

from valet.sites import SiteServer

LONG = "Buy the cheapest cable. " * 4_200  # about 100 KB


async def test_an_over_long_task_is_refused_with_its_limit(home: Path) -> None:
    async with running_server(home) as srv:
        response = await srv.client.post("/api/tasks", json={"task": LONG})
        assert response.status_code == 422
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["body", "task"] and problem["type"] == "task_too_long"
        assert f"{len(LONG.strip()):,} characters" in problem["msg"]
        assert "limit is 20,000 characters" in problem["msg"]
        at_limit = await srv.client.post("/api/tasks", json={"task": "x" * 20_000})
        assert at_limit.status_code == 201
        tasks = (await srv.client.get("/api/tasks")).json()["tasks"]
        assert [len(t["task"]) for t in tasks] == [20_000]  # the long one never started


async def test_the_composer_refuses_a_long_paste_whole(home: Path) -> None:
    async with running_server(home) as srv, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=EXECUTABLE, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(srv.sign_in_link())
            await expect(page.locator("#task-limit")).to_contain_text("20,000 characters")
            box = page.get_by_role("textbox", name="Task")
            await box.fill(LONG)
            assert await box.evaluate("el => el.value.length") == len(LONG)  # not cut
            await page.get_by_role("button", name="Start task").click()
            alert = page.get_by_role("alert")
            await expect(alert).to_contain_text("the limit is 20,000 characters")
            await expect(alert).to_contain_text("nothing was cut")
            # the whole paste is still there to shorten
            assert await box.evaluate("el => el.value.length") == len(LONG)
            assert (await srv.client.get("/api/tasks")).json()["tasks"] == []
        finally:
            await browser.close()


async def test_a_start_page_that_cannot_open_fails_the_task_at_once(
    home: Path, sites: SiteServer
) -> None:
    closed = f"http://127.0.0.1:{free_port()}/nothing-listens-here"
    async with running_server(home) as srv:
        task = await srv.create("quick", sites, start_url=closed)
        events = await srv.final_events(task["id"])
        assert events[-1]["status"] == "failed"
        assert not [e for e in events if e["type"] == "step"]  # no step ran on a blank page
        detail = (await srv.client.get(f"/api/tasks/{task['id']}")).json()
        assert detail["error"].startswith("the start page could not be opened: ")
        assert closed in detail["error"] and detail["timeline"] == []
