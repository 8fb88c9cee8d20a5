"""Signing browsers in: a one-time link becomes a session of the browser's own (never the
install token), which ends when it is signed out, revoked or unused for too long; the page
for a browser without a session is styled by app.css under valet's own CSP. Real server, real
headless Chromium."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from tests.test_server_harness import TOKEN, Harness, running_server
from tests.test_server_web import EXECUTABLE

from valet.store import SessionPolicy, SessionStore, install_of


async def _open(browser: Browser, url: str, errors: list[str]) -> tuple[BrowserContext, Page]:
    context = await browser.new_context()
    page = await context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(url)
    return context, page


async def _needs_link(page: Page, srv: Harness) -> None:
    await page.goto(f"{srv.url}/")
    await expect(
        page.get_by_role("heading", name="This valet server needs its link")
    ).to_be_visible()


async def test_a_link_signs_in_one_browser_once_and_sessions_end(home: Path) -> None:
    async with running_server(home) as srv, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=EXECUTABLE, headless=True)
        errors: list[str] = []
        try:
            # Without a session: the page says what to do, styled by app.css (no inline style,
            # which valet's CSP would block).
            _, stranger = await _open(browser, f"{srv.url}/", errors)
            await expect(
                stranger.get_by_role("heading", name="This valet server needs its link")
            ).to_be_visible()
            await expect(stranger.locator("main")).to_have_css("max-width", "576px")
            await expect(stranger.locator("code").first).to_have_text("valet serve")
            assert "valet link" in await stranger.content()

            link = srv.sign_in_link()
            context, page = await _open(browser, link, errors)
            await expect(page.get_by_role("heading", name="What should valet do?")).to_be_visible()
            assert "token=" not in page.url
            cookies = await context.cookies()
            assert len(cookies) == 1 and cookies[0]["httpOnly"] and cookies[0]["value"] != TOKEN

            # The same link again, in another browser: spent.
            _, late = await _open(browser, link, errors)
            await expect(
                late.get_by_role("heading", name="This sign-in link was already used")
            ).to_be_visible()
            await expect(late.locator("main")).to_have_css("max-width", "576px")

            listed = (await srv.client.get("/api/sessions")).json()
            assert len(listed) == 1 and not listed[0]["current"]  # the bearer has no session
            mine = await page.request.get(f"{srv.url}/api/sessions")
            assert [s["current"] for s in await mine.json()] == [True]

            # Sign out in the web app.
            await page.get_by_role("button", name="Sign out").click()
            await expect(page.get_by_role("heading", name="You are signed out")).to_be_visible()
            await _needs_link(page, srv)
            assert await context.cookies() == []
            assert (await srv.client.get("/api/sessions")).json() == []

            # Revoked through the API: the browser is out at its next request.
            made = await srv.client.post("/api/sessions/links", headers={"Origin": srv.origin})
            assert made.status_code == 201
            _, second = await _open(browser, made.json()["url"], errors)
            await expect(
                second.get_by_role("heading", name="What should valet do?")
            ).to_be_visible()
            [session] = (await srv.client.get("/api/sessions")).json()
            await expect(second.locator("body[data-stream=open]")).to_be_attached()
            gone = await srv.client.delete(
                f"/api/sessions/{session['id']}", headers={"Origin": srv.origin}
            )
            assert gone.status_code == 204
            # Its open page learns at once (its event stream ends) and leaves by itself.
            await expect(second.get_by_role("heading", name="You are signed out")).to_be_visible()
            await _needs_link(second, srv)
            assert (await srv.client.delete(f"/api/sessions/{session['id']}")).status_code == 404

            # Expired: a session unused past its lifetime no longer signs in.
            _, third = await _open(browser, srv.sign_in_link(), errors)
            await expect(third.get_by_role("heading", name="What should valet do?")).to_be_visible()
            store: SessionStore = srv.app.state.sessions
            past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
            with store.engine.begin() as db:
                db.execute(sa.text("UPDATE valet_sessions SET expires_at = :t"), {"t": past})
            await _needs_link(third, srv)
            # The 401 pages (and a stream refused as the session ended) are logged as failed
            # loads; nothing else (no CSP refusal).
            assert [e for e in errors if "status of 401" not in e and "code: 401" not in e] == []
        finally:
            await browser.close()


def test_sessions_slide_links_expire_and_bind_to_the_token(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store = SessionStore(f"sqlite:///{tmp_path / 'valet.db'}", SessionPolicy(), lambda: now[0])
    install = install_of(TOKEN)
    stale = store.new_link(install)
    link = store.new_link(install)
    now[0] += timedelta(hours=23)
    session = store.redeem(install, link, "test")
    assert session is not None and store.redeem(install, link) is None  # once
    for _ in range(3):  # used every 20 days: it lives on past 30 days from sign-in
        now[0] += timedelta(days=20)
        assert store.check(install, session) is not None
    now[0] += timedelta(days=31)  # unused for longer than its lifetime
    assert store.check(install, session) is None
    assert store.redeem(install, stale) is None  # a link expires after a day
    other = store.redeem(install, store.new_link(install))
    assert other is not None and store.check(install_of("another-token-0123456789"), other) is None
    store.close()
