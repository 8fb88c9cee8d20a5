"""The web app: pages over HTTP, and live updates in real headless Chromium."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import async_playwright, expect
from tests.test_server_harness import running_server, step_seen

from valet.sites import SiteServer

CHROMIUM = Path("/usr/bin/chromium")
EXECUTABLE = CHROMIUM if CHROMIUM.exists() else None  # else Playwright's own


async def test_composer_inbox_and_task_page(home: Path, sites: SiteServer) -> None:
    async with running_server(home) as srv, srv.anonymous() as browser:
        await browser.get(srv.sign_in_link())  # signs in: the cookie is kept
        headers = {"Origin": srv.origin, "HX-Request": "true"}
        empty = await browser.post("/ui/tasks", data={"task": "  "}, headers=headers)
        assert empty.status_code == 200 and "form-error" in empty.text
        bad_url = {"task": "x", "start_url": "javascript:alert(1)"}
        rejected = await browser.post("/ui/tasks", data=bad_url, headers=headers)
        assert "http(s) URL" in rejected.text
        form = {"task": "Open the cart", "start_url": sites.url_for("/shop"), "agent_mode": "on"}
        created = await browser.post("/ui/tasks", data=form, headers=headers)
        assert created.status_code == 204
        page = created.headers["hx-redirect"]
        task_id = page.rsplit("/", 1)[1]
        await srv.final_events(task_id)

        inbox = await browser.get("/ui/inbox")
        assert "Open the cart" in inbox.text and "The cart is open" in inbox.text
        assert 'id="waiting-badge"' in inbox.text and 'hx-swap-oob="true"' in inbox.text
        task_page = await browser.get(page)
        assert task_page.status_code == 200
        for text in ("The cart is open", "Download run record", "click [", "/shop/cart"):
            assert text in task_page.text
        foreign = await browser.post(
            "/ui/tasks", data=form, headers={"Origin": "http://127.0.0.1:1"}
        )
        assert foreign.status_code == 403


async def test_task_page_updates_live_and_cancels_in_chromium(
    home: Path, sites: SiteServer
) -> None:
    async with running_server(home) as srv, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=EXECUTABLE, headless=True)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(srv.sign_in_link())
            await expect(page.get_by_role("heading", name="What should valet do?")).to_be_visible()
            assert "token=" not in page.url

            task = await srv.create("long", sites)
            await expect(page.locator(".group-running .task-text")).to_have_text(task["task"])
            await page.goto(f"{srv.url}/tasks/{task['id']}")
            await srv.events_until(task["id"], step_seen(1))
            await expect(page.locator("#timeline .step")).to_have_count(1)  # pushed live
            await expect(page.locator("#task-status")).to_have_text("running")

            await page.get_by_placeholder("e.g. Prefer the black cable").fill("Take your time")
            await page.get_by_role("button", name="Send").click()
            await expect(page.locator(".messages")).to_contain_text("Take your time")
            assert [m.text for m in srv.manager.pending_messages(task["id"])] == ["Take your time"]

            await page.get_by_role("button", name="Cancel task").click()
            await expect(page.locator("#task-status")).to_have_text("cancelled")
            await expect(page.get_by_role("link", name="Download run record")).to_be_visible()
            assert errors == []
        finally:
            await browser.close()
