"""The web app answers errors with its own styled pages (the API keeps JSON), says what is
wrong with a form field by field in plain words, and pages through the audit log with its
filters kept. Real server, real headless Chromium."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, async_playwright, expect
from tests.test_server_approvals import APPROVAL_SCRIPTS, next_request
from tests.test_server_harness import running_server
from tests.test_server_live import Pacing
from tests.test_server_web import EXECUTABLE

from valet.audit import AuditEntry, AuditLog
from valet.sites import SiteServer


async def _error_page(page: Page, url: str, status: int, title: str, text: str) -> None:
    response = await page.goto(url)
    assert response is not None and response.status == status
    assert "text/html" in response.headers["content-type"]
    await expect(page.get_by_role("heading", name=title)).to_be_visible()
    await expect(page.locator("#error-page")).to_contain_text(text)
    await expect(page.locator("#error-page")).to_have_css("background-color", "rgb(255, 255, 255)")
    await expect(page.get_by_role("link", name="Back to the inbox")).to_have_attribute("href", "/")


async def test_web_errors_are_pages_and_form_problems_are_in_words(
    home: Path, sites: SiteServer
) -> None:
    pacing = Pacing(scripts=APPROVAL_SCRIPTS)
    async with (
        running_server(home, model_factory=pacing.factory) as srv,
        async_playwright() as pw,
    ):
        browser = await pw.chromium.launch(executable_path=EXECUTABLE, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(srv.sign_in_link())
            await _error_page(page, f"{srv.url}/tasks/nope", 404, "Not found", "no task 'nope'")
            await _error_page(
                page, f"{srv.url}/nowhere", 404, "Not found", "There is no page at /nowhere."
            )
            await _error_page(
                page, f"{srv.url}/audit?actor=robot", 400, "That did not work", "no actor 'robot'"
            )
            await _error_page(
                page,
                f"{srv.url}/audit?page=x",
                422,
                "Check what you entered",
                "Page: must be a whole number",
            )
            api = await page.request.get(f"{srv.url}/api/tasks/nope")
            assert api.status == 404
            assert await api.json() == {"error": "not_found", "detail": "no task 'nope'"}

            # The composer: each field's problem on its own line, in words.
            await page.goto(f"{srv.url}/")
            await page.locator("#task-text").fill("   ")
            await page.locator("input[name=start_url]").fill("ftp://files.example/")
            await page.get_by_role("button", name="Start task").click()
            problems = page.locator(".form-problems li")
            await expect(problems).to_have_text(
                [
                    "Task: write what valet should do",
                    "Start page: must be an http(s) URL, e.g. https://example.com/",
                ]
            )
            assert "String should have" not in await page.content()

            # An edit that does not fit the action names the field.
            task = await srv.create("mailto", sites, start_url=sites.url_for("/bench/200"))
            asked = await next_request(srv, set())
            await page.goto(f"{srv.url}/tasks/{task['id']}")
            card = page.locator(f"[data-request-id='{asked['id']}']")
            await card.locator("textarea[name=args]").fill('{"element": 3, "surprise": 1}')
            await card.get_by_role("button", name="Approve with my edit").click()
            await expect(card.locator(".approval-error")).to_have_text(
                "surprise: is not a field of this action"
            )
            await card.get_by_role("button", name="Decline").click()
        finally:
            await browser.close()


def _seed_audit(home: Path, count: int) -> None:
    log = AuditLog.open(home / "audit.db")
    try:
        for n in range(1, count + 1):
            log.append(
                AuditEntry(
                    actor="agent" if n % 2 else "person",
                    on_behalf_of="tester",
                    task_id="run-a" if n % 3 else "run-b",
                    tool=f"tool{n}",
                    effect="read",
                    verdict="allow",
                    rule_id="test",
                    reason="seeded",
                    outcome="executed",
                )
            )
    finally:
        log.close()


async def test_the_audit_log_pages_newest_first_keeping_its_filters(home: Path) -> None:
    _seed_audit(home, 75)  # agent: the odd ones (38), of which run-a: 25
    async with running_server(home) as srv, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=EXECUTABLE, headless=True)
        try:
            page = await browser.new_page()
            await page.goto(srv.sign_in_link("/audit"))
            rows = page.locator("#audit-records tbody tr")
            await expect(rows).to_have_count(50)  # a page of 50, newest first
            await expect(rows.first.locator("td").first).to_have_text("75")
            await expect(page.locator("#audit-pager")).to_contain_text("records 1–50 of 75")
            await expect(page.locator("#audit-filter select")).to_have_css("border-radius", "10px")

            await page.locator("#audit-filter select").select_option("agent")
            await page.locator("#audit-filter input[name=task]").fill("run-a")
            await page.get_by_role("button", name="Show").click()
            await page.goto(page.url + "&size=10")
            await expect(rows).to_have_count(10)
            await expect(page.locator("#audit-pager")).to_contain_text("1–10 of 25 · page 1 of 3")
            first_page = await rows.locator("td:nth-child(5)").all_inner_texts()
            assert first_page == [f"tool{n}" for n in range(73, 0, -2) if n % 3][:10]

            await page.get_by_role("link", name="Older →").click()
            assert "actor=agent" in page.url and "task=run-a" in page.url and "size=10" in page.url
            await expect(page.locator("#audit-pager")).to_contain_text("page 2 of 3")
            await page.get_by_role("link", name="Older →").click()
            await expect(rows).to_have_count(5)
            await expect(page.locator("#audit-pager span[aria-disabled]")).to_have_text("Older →")
            await expect(page.locator("#audit-filter select")).to_have_value("agent")
            await page.get_by_role("link", name="← Newer").click()
            await expect(page.locator("#audit-pager")).to_contain_text("11–20 of 25")
            assert {t for t in await rows.locator("td:nth-child(3)").all_inner_texts()} == {
                "agent for tester"
            }
        finally:
            await browser.close()
