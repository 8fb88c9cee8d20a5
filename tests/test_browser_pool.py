"""One browser, many tasks: sessions started from a `BrowserPool` are contexts of one shared
Chromium, kept apart (cookies, storage, the navigation guard, the egress proxy), and a browser
that dies is replaced for the next session. Real headless Chromium, the bundled sites."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from tests._chromium import EXECUTABLE

from valet.browser import (
    BrowserPool,
    BrowserSession,
    BrowserSettings,
    Connection,
    DocumentRequest,
)
from valet.browser._pool import CHROMIUM_ARGS
from valet.sites import SiteServer


@pytest.fixture
async def pool() -> AsyncIterator[BrowserPool]:
    shared = BrowserPool(BrowserSettings())
    try:
        yield shared
    finally:
        await shared.close()


async def _crash(session: BrowserSession) -> None:
    """Make the browser process under `session` crash (CDP `Browser.crash`), as a killed or
    out-of-memory Chromium would."""
    page = await session.live_page()
    browser = page.context.browser
    assert browser is not None
    cdp = await browser.new_browser_cdp_session()
    with contextlib.suppress(Exception):  # the answer never comes: the process is gone
        await cdp.send("Browser.crash")
    for _ in range(100):
        if session.crashed:
            return
        await page.wait_for_timeout(50)


async def test_sessions_of_a_pool_share_one_browser_and_nothing_else(
    pool: BrowserPool, sites: SiteServer, tmp_path: Path
) -> None:
    alice = await BrowserSession.start(BrowserSettings(), tmp_path / "a", pool=pool)
    bob = await BrowserSession.start(BrowserSettings(), tmp_path / "b", pool=pool)
    try:
        assert (pool.browsers, pool.contexts) == (1, 2)
        assert (await alice.goto(sites.url_for("/"))).ok
        assert (await bob.goto(sites.url_for("/"))).ok
        page = await alice.live_page()
        await page.evaluate(
            "() => { document.cookie = 'who=alice; path=/'; localStorage.setItem('who', 'alice') }"
        )
        theirs = await bob.live_page()
        seen = await theirs.evaluate("() => [document.cookie, localStorage.getItem('who')]")
        assert seen == ["", None]
        assert page.context.browser is theirs.context.browser  # one Chromium for both
    finally:
        await alice.close()
        await bob.close()
    assert pool.contexts == 0


async def test_each_context_is_checked_by_its_own_guard_and_proxy(
    pool: BrowserPool, sites: SiteServer, tmp_path: Path
) -> None:
    asked: dict[str, list[str]] = {"alice": [], "bob": []}
    connected: dict[str, list[str]] = {"alice": [], "bob": []}

    def guard(who: str, refuse: str | None):
        async def check(request: DocumentRequest) -> str | None:
            asked[who].append(request.url)
            return "not this page" if refuse and request.url.endswith(refuse) else None

        return check

    def egress(who: str):
        async def check(connection: Connection) -> str | None:
            connected[who].append(f"{connection.host}:{connection.port}")
            return None

        return check

    alice = await BrowserSession.start(
        BrowserSettings(),
        tmp_path / "a",
        guard=guard("alice", "/shop"),
        egress=egress("alice"),
        pool=pool,
    )
    bob = await BrowserSession.start(
        BrowserSettings(),
        tmp_path / "b",
        guard=guard("bob", None),
        egress=egress("bob"),
        pool=pool,
    )
    try:
        refused = await alice.goto(sites.url_for("/shop"))
        assert not refused.ok and "refused" in refused.message
        assert (await bob.goto(sites.url_for("/shop"))).ok
        assert asked["alice"] == [sites.url_for("/shop")]
        assert asked["bob"] == [sites.url_for("/shop")]
        assert connected["alice"] == [] and connected["bob"], "only bob's page went out"
        assert all(site.endswith(f":{sites.port}") for site in connected["bob"])
    finally:
        await alice.close()
        await bob.close()


async def test_a_crashed_browser_is_replaced_for_the_next_session(
    pool: BrowserPool, sites: SiteServer, tmp_path: Path
) -> None:
    first = await BrowserSession.start(BrowserSettings(), tmp_path / "a", pool=pool)
    assert (await first.goto(sites.url_for("/"))).ok
    assert not first.crashed
    await _crash(first)
    assert first.crashed
    await first.close()
    assert pool.browsers == 0
    second = await BrowserSession.start(BrowserSettings(), tmp_path / "b", pool=pool)
    try:
        assert (await second.goto(sites.url_for("/shop"))).ok
        assert (pool.browsers, pool.restarts) == (1, 1)
    finally:
        await second.close()


async def test_a_named_profile_keeps_a_browser_of_its_own(
    pool: BrowserPool, sites: SiteServer, tmp_path: Path
) -> None:
    session = await BrowserSession.start(
        BrowserSettings(profile="work"), tmp_path / "a", tmp_path / "profiles", pool=pool
    )
    try:
        assert pool.contexts == 0
        assert (await session.goto(sites.url_for("/"))).ok
        assert session.profile_dir == tmp_path / "profiles" / "work"
    finally:
        await session.close()


@pytest.fixture
def remote_chromium(tmp_path: Path) -> Iterator[str]:
    """A headless Chromium started with a debugging port, as on another machine; its CDP URL."""
    profile = tmp_path / "remote-profile"
    process = subprocess.Popen(
        [
            EXECUTABLE or "chromium",
            "--headless",
            *CHROMIUM_ARGS,
            f"--user-data-dir={profile}",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            assert process.poll() is None and time.monotonic() < deadline, "no debugging port"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        process.kill()
        process.wait(10)


async def test_tasks_get_contexts_in_a_remote_browser_and_leave_it_running(
    remote_chromium: str, sites: SiteServer, tmp_path: Path
) -> None:
    asked: list[str] = []

    async def check(request: DocumentRequest) -> str | None:
        asked.append(request.url)
        return "not this page" if request.url.endswith("/shop") else None

    pool = BrowserPool(endpoints=[remote_chromium])
    try:
        session = await BrowserSession.start(
            BrowserSettings(), tmp_path / "a", guard=check, pool=pool
        )
        try:
            assert (await session.goto(sites.url_for("/"))).ok
            refused = await session.goto(sites.url_for("/shop"))
            assert not refused.ok and asked == [sites.url_for("/"), sites.url_for("/shop")]
            assert (pool.browsers, pool.contexts) == (1, 1)
        finally:
            await session.close()
    finally:
        await pool.close()
    # The remote browser is not valet's to close: it still answers.
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{remote_chromium}/json/version", timeout=5)
    assert "Browser" in answer.json()
