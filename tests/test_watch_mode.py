"""Watch mode: on sensitive sites the gateway holds the agent's actions until the person
watches (real headless Chromium on the local sites; the server's live view as the watch)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.test_server_harness import Harness, is_final, running_server

from valet.audit import KEY_ENV, AuditLog
from valet.browser import BrowserSession, BrowserSettings, ByRole
from valet.gateway import GatedToolbox, Gateway, TaskContext, WatchGuard
from valet.policy import NavigationSettings, Policy, site_of
from valet.sites import SiteServer
from valet.tools import BrowserToolbox, Click, Goto

LOCAL = ("127.0.0.1",)
"""A sensitive-site pattern that matches the local sites' host."""


class Eyes:
    """A `Watch`: the person's eyes, closed until `open()`."""

    def __init__(self) -> None:
        self.open_ = asyncio.Event()
        self.asked: list[str] = []
        self.waiting = asyncio.Event()

    def watched(self) -> bool:
        return self.open_.is_set()

    async def until_watched(self, site: str) -> None:
        self.asked.append(site)
        self.waiting.set()
        await self.open_.wait()


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
async def shop(tmp_path: Path, sites: SiteServer) -> AsyncIterator[tuple[BrowserSession, Gateway]]:
    """A browser on the shop's front page and a gateway that may open the local sites."""
    nav = NavigationSettings(allow_hosts=frozenset({site_of(sites.url_for("/")) or ""}))
    audit = AuditLog.open(tmp_path / "audit.db", tmp_path / "audit.key")
    gateway = Gateway(rules=Policy(navigation=nav), audit=audit, task=TaskContext(task_id="w"))
    session = await BrowserSession.start(BrowserSettings(), tmp_path / "artifacts")
    async with session:
        assert (await BrowserToolbox(session).execute(Goto(url=sites.url_for("/shop")))).ok
        yield session, gateway
    audit.close()


CART = Click(element=ByRole(role="link", name="Cart"))


async def test_on_a_sensitive_site_the_action_waits_until_someone_watches(
    shop: tuple[BrowserSession, Gateway], sites: SiteServer
) -> None:
    session, gateway = shop
    eyes = Eyes()
    toolbox = GatedToolbox(BrowserToolbox(session), gateway, watch=eyes, sensitive_sites=LOCAL)
    await toolbox.observe()
    clicking = asyncio.create_task(toolbox.execute(CART))
    await eyes.waiting.wait()
    assert not clicking.done()
    assert session.page_url == sites.url_for("/shop")  # the click has not run
    host = site_of(sites.url_for("/")) or ""
    assert eyes.asked == [host]

    eyes.open_.set()
    outcome = await clicking
    assert outcome.ok, outcome.message
    assert session.page_url.startswith(sites.url_for("/shop/cart"))
    audit = gateway.gate.audit
    assert audit is not None
    notes = [(r.actor, r.tool, r.args) for r in audit.records() if r.tool.startswith("watch.")]
    assert notes == [
        ("system", "watch.paused", {"site": host}),
        ("system", "watch.resumed", {"site": host}),
    ]
    # watched now: the next action goes straight on, with no more notes
    assert (await toolbox.execute(Goto(url=sites.url_for("/shop")))).ok
    assert eyes.asked == [host]


async def test_elsewhere_or_without_watch_mode_the_agent_goes_on_unwatched(
    shop: tuple[BrowserSession, Gateway], sites: SiteServer
) -> None:
    session, gateway = shop
    eyes = Eyes()  # never opened
    ordinary = GatedToolbox(BrowserToolbox(session), gateway, watch=eyes)  # default sites
    await ordinary.observe()
    assert (await ordinary.execute(CART)).ok
    unwatched = GatedToolbox(BrowserToolbox(session), gateway, sensitive_sites=LOCAL)
    await unwatched.observe()
    assert (await unwatched.execute(Goto(url=sites.url_for("/shop")))).ok
    assert eyes.asked == []
    audit = gateway.gate.audit
    assert audit is not None
    assert not [r for r in audit.records() if r.tool.startswith("watch.")]


def test_the_sensitive_site_is_the_page_or_where_a_navigation_goes() -> None:
    guard = WatchGuard(Eyes())  # the default patterns: mail, banking, admin consoles
    assert guard.sensitive(["https://shop.example/", "https://mail.example.com/inbox"]) == (
        "mail.example.com"
    )
    assert guard.sensitive(["https://www.mybank.de/login"]) == "www.mybank.de"
    assert guard.sensitive(["about:blank", "https://shop.example/", ""]) is None
    assert WatchGuard(Eyes(), ("127.0.0.1:8080",)).sensitive(["http://127.0.0.1:8080/"]) == (
        "127.0.0.1:8080"
    )


# ---- the server: the live view is the watch --------------------------------------------------


def _waiting(event: dict[str, object]) -> bool:
    return event["type"] == "status" and event["status"] in {"waiting", *_FINAL}


_FINAL = {"succeeded", "failed", "stopped", "cancelled"}


async def _until_watched_then_done(srv: Harness, sites: SiteServer) -> None:
    task = await srv.create("quick", sites)
    events = await srv.events_until(task["id"], _waiting)
    last = events[-1]
    assert last["status"] == "waiting", last
    host = site_of(sites.url_for("/")) or ""
    assert last["detail"] == f"open the live view: {host} is sensitive"
    assert not [e for e in events if e["type"] == "step"]  # the click waits
    async with srv.ws(f"/api/tasks/{task['id']}/live"):
        final = (await srv.final_events(task["id"]))[-1]
    assert is_final(final) and final["status"] == "succeeded", final


async def test_a_server_task_on_a_sensitive_site_waits_for_the_live_view(
    home: Path, sites: SiteServer
) -> None:
    watchful = BrowserSettings(sensitive_sites=LOCAL)
    async with running_server(home, browser=watchful) as srv:
        await _until_watched_then_done(srv, sites)


async def test_watch_mode_can_be_turned_off(home: Path, sites: SiteServer) -> None:
    trusting = BrowserSettings(sensitive_sites=LOCAL, watch_sensitive=False)
    async with running_server(home, browser=trusting) as srv:
        task = await srv.create("quick", sites)
        events = await srv.final_events(task["id"])
        assert events[-1]["status"] == "succeeded", events[-1]
        assert not [e for e in events if e.get("status") == "waiting"]
