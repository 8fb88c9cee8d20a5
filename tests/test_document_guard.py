"""The navigation guard on the browser's own requests: every document request (a redirect hop,
a popup, an iframe, a script's navigation, a file fetched by URL) is decided before Chromium
sends it, so a denied host is never contacted. Real headless Chromium, the local hostile pages;
the site records whether its internal endpoint (reached as `localhost`) was ever hit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from playwright.async_api import Page, async_playwright
from tests._person import PlaysPerson
from tests._runs import run_script
from tests.test_sessions import running_chromium  # noqa: F401  (a fixture used below)

from valet.agent import Finished
from valet.audit import KEY_ENV, AuditLog, AuditRecord
from valet.browser import BrowserSession, BrowserSettings, ByRole, DocumentRequest
from valet.gateway import DocumentGuard, GatedToolbox, Gateway
from valet.policy import NavigationSettings, Policy, site_of
from valet.sites import SiteServer
from valet.sites.state import SiteState
from valet.tools import BrowserToolbox, Click, Download, Goto


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def hostile() -> Iterator[SiteServer]:
    """A fresh server per test, so each test sees only its own hits."""
    with SiteServer() as server:
        yield server


def internal_hits(server: SiteServer) -> list[str]:
    """The `action` of every request that reached the internal endpoint."""
    state = cast(SiteState, server.app.state.site)
    return [str(event.fields["action"]) for event in state.hostile("internal")]


def internal_url(server: SiteServer, action: str) -> str:
    port = server.url_for("/").split(":")[2].split("/")[0]
    return f"http://localhost:{port}/hostile/internal-admin?action={action}"


@dataclass
class Guarded:
    toolbox: GatedToolbox
    session: BrowserSession
    audit: AuditLog

    def refused(self) -> list[AuditRecord]:
        return [r for r in self.audit.records() if r.actor == "system"]

    async def page(self) -> Page:
        return await self.session.live_page()


@asynccontextmanager
async def guarded(
    tmp_path: Path, server: SiteServer, allow: frozenset[str] = frozenset(), cdp_url: str = ""
) -> AsyncIterator[Guarded]:
    """valet's browser as a task gets it: the guard asked before each document request, the
    sites' own host (127.0.0.1:port) allow-listed as a run's start URL would be."""
    sites = frozenset({site_of(server.url_for("/")) or ""}) | allow
    audit = AuditLog.open(tmp_path / "audit.db", tmp_path / "audit.key")
    gateway = Gateway(rules=Policy(navigation=NavigationSettings(allow_hosts=sites)), audit=audit)
    documents = DocumentGuard(gateway.gate)
    settings = BrowserSettings(cdp_url=cdp_url or None)
    session = await BrowserSession.start(settings, tmp_path / "artifacts", guard=documents.check)
    try:
        async with session:
            toolbox = GatedToolbox(BrowserToolbox(session), gateway, documents=documents)
            yield Guarded(toolbox, session, audit)
    finally:
        audit.close()


async def test_an_iframe_redirected_inside_is_refused_and_the_page_stays(
    tmp_path: Path, hostile: SiteServer
) -> None:
    framed = hostile.url_for("/hostile/framed")
    async with guarded(tmp_path, hostile) as browser:
        assert (await browser.toolbox.execute(Goto(url=framed))).ok
        await (await browser.page()).wait_for_load_state("load")  # the frame has settled
        seen = await browser.toolbox.observe()
        refused = browser.refused()
    inside = internal_url(hostile, "frame")
    assert internal_hits(hostile) == []
    assert seen.url == framed, "a refused frame does not make valet leave the page"
    assert seen.text.startswith(
        "[valet refused to open an embedded frame: denied by rule nav.loopback: "
    )
    assert "All systems operational" in seen.text
    assert [(r.tool, r.verdict, r.rule_id, r.outcome, r.args) for r in refused] == [
        ("redirect", "deny", "nav.loopback", "denied", {"url": inside, "in": "frame"})
    ]


async def test_the_allow_list_lets_a_redirect_through(tmp_path: Path, hostile: SiteServer) -> None:
    """The person's allow-listed internal hosts pass the guard as they pass the action check."""
    inside = site_of(internal_url(hostile, "x")) or ""
    async with guarded(tmp_path, hostile, allow=frozenset({inside})) as browser:
        await browser.toolbox.execute(Goto(url=hostile.url_for("/hostile/framed")))
        await (await browser.page()).wait_for_load_state("load")
        seen = await browser.toolbox.observe()
        assert browser.refused() == []
    assert internal_hits(hostile) == ["frame"]
    assert "[valet" not in seen.text


async def test_a_popup_redirected_inside_is_refused_and_left(
    tmp_path: Path, hostile: SiteServer
) -> None:
    async with guarded(tmp_path, hostile) as browser:
        await browser.toolbox.execute(Goto(url=hostile.url_for("/hostile/doors")))
        await browser.toolbox.observe()
        link = ByRole(role="link", name="Open the status page in a new tab")
        await browser.toolbox.execute(Click(element=link))
        seen = await browser.toolbox.observe()
        refused = browser.refused()
    assert internal_hits(hostile) == []
    assert seen.url == "about:blank"
    assert seen.text.startswith("[valet left the page: denied by rule nav.loopback: ")
    assert [(r.tool, r.rule_id, r.args) for r in refused] == [
        ("redirect", "nav.loopback", {"url": internal_url(hostile, "popup")})
    ]


async def test_a_script_navigation_inside_is_refused(tmp_path: Path, hostile: SiteServer) -> None:
    async with guarded(tmp_path, hostile) as browser:
        await browser.toolbox.execute(Goto(url=hostile.url_for("/hostile/doors")))
        await browser.toolbox.observe()
        button = ByRole(role="button", name="Show the live status")
        assert (await browser.toolbox.execute(Click(element=button))).ok
        seen = await browser.toolbox.observe()
        refused = browser.refused()
    assert internal_hits(hostile) == []
    assert seen.text.startswith("[valet left the page: denied by rule nav.loopback: ")
    assert [(r.tool, r.rule_id, r.args) for r in refused] == [
        ("navigation", "nav.loopback", {"url": internal_url(hostile, "script")})
    ]


async def test_a_download_redirected_inside_is_refused(tmp_path: Path, hostile: SiteServer) -> None:
    """A file fetched by URL is fetched outside Chromium's network stack: its redirects are
    followed one by one, each put to the guard (the size probe before it is not audited)."""
    async with guarded(tmp_path, hostile) as browser:
        await browser.toolbox.execute(Goto(url=hostile.url_for("/hostile/doors")))
        await browser.toolbox.observe()
        url = "/hostile/go-internal?action=download"
        outcome = await browser.toolbox.execute(Download(url=url))
        refused = browser.refused()
    assert internal_hits(hostile) == []
    assert not outcome.ok and not outcome.artifacts
    assert "it redirects to a page valet does not open (denied by rule nav.loopback:" in (
        outcome.message
    )
    assert [(r.tool, r.rule_id, r.args) for r in refused] == [
        ("redirect", "nav.loopback", {"url": internal_url(hostile, "download"), "in": "download"})
    ]


async def test_a_guard_that_fails_refuses(tmp_path: Path, hostile: SiteServer) -> None:
    """Fail closed: when the check itself breaks, the request does not go out."""
    asked: list[DocumentRequest] = []

    async def broken(request: DocumentRequest) -> str | None:
        asked.append(request)
        raise RuntimeError("the check broke")

    url = hostile.url_for("/hostile/internal-admin?action=unchecked")
    async with await BrowserSession.start(
        BrowserSettings(), tmp_path / "artifacts", guard=broken
    ) as session:
        outcome = await session.goto(url)
    assert not outcome.ok
    assert "valet refused to open a page it leads to" in outcome.message
    assert asked == [DocumentRequest(url, "page")]
    assert internal_hits(hostile) == []


async def test_the_guard_holds_during_a_takeover(home: Path, hostile: SiteServer) -> None:
    """The person's clicks go through the same guard: the rules protect the machine the
    browser runs on, whoever drives it."""

    async def follow_the_internal_link(page: Page) -> None:
        async with page.expect_event("requestfailed"):
            await page.get_by_role("link", name="Open the internal status page").click()

    person = PlaysPerson(follow_the_internal_link, asks=["let me look"])
    script: list[Any] = [
        {"expect": {"prompt": "[valet left the page: denied by rule nav.loopback:"}},
        {"done": "ok"},
    ]
    run = await run_script(home, hostile, script, start="/hostile/moved", person=person)
    assert isinstance(run.end, Finished) and run.end.success, run.steps[-1]
    assert person.reasons == ["let me look"]
    assert internal_hits(hostile) == []
    log = AuditLog.open(home / "audit.db", home / "keys" / "audit.key")
    try:
        refused = [(r.actor, r.tool, r.rule_id) for r in log.records() if r.tool == "redirect"]
    finally:
        log.close()
    assert refused == [("system", "redirect", "nav.loopback")]


async def test_on_a_shared_browser_only_valets_context_is_guarded(
    tmp_path: Path,
    hostile: SiteServer,
    running_chromium: str,  # noqa: F811  (the fixture imported above)
) -> None:
    """A browser reached over CDP may hold other contexts (another client's, another task's
    with its own allow-list): their pages and frames are not valet's to refuse."""
    framed = hostile.url_for("/hostile/framed")
    async with guarded(tmp_path, hostile, cdp_url=running_chromium) as browser:
        async with async_playwright() as playwright:
            other = await playwright.chromium.connect_over_cdp(running_chromium)
            context = await other.new_context()
            page = await context.new_page()
            await page.goto(framed, wait_until="load")  # its frame reaches the endpoint
            await page.goto(internal_url(hostile, "other"))
            await context.close()
        assert internal_hits(hostile) == ["frame", "other"]
        assert browser.refused() == []
        await browser.toolbox.execute(Goto(url=framed))
        await (await browser.page()).wait_for_load_state("load")
        ours = hostile.url_for("/hostile/go-internal?action=ours")
        await browser.toolbox.execute(Goto(url=ours))
        seen = await browser.toolbox.observe()
        refused = [(r.tool, r.args.get("in", "page")) for r in browser.refused()]
    assert internal_hits(hostile) == ["frame", "other"]
    assert refused == [("redirect", "frame"), ("redirect", "page")]
    assert seen.url == "about:blank"


async def test_an_address_written_out_is_checked_without_a_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from valet.gateway._documents import resolve_host

    def no_lookup(*args: object) -> object:
        raise AssertionError(f"looked up {args[0]}")

    monkeypatch.setattr("socket.getaddrinfo", no_lookup)
    assert await resolve_host("127.0.0.1") == ["127.0.0.1"]
    assert await resolve_host("169.254.169.254") == ["169.254.169.254"]
    assert await resolve_host("::1") == ["::1"]
    with pytest.raises(AssertionError, match=r"looked up 127\.1"):
        await resolve_host("127.1")  # a form only the resolver reads is looked up


async def test_an_action_and_the_browsers_request_for_it_share_one_lookup() -> None:
    from tests.test_gateway_toolbox import MemoryToolbox

    lookups: list[str] = []

    async def dns(host: str) -> list[str]:
        lookups.append(host)
        return ["93.184.216.34"]

    gateway = Gateway()
    documents = DocumentGuard(gateway.gate, resolve=dns)
    box = GatedToolbox(MemoryToolbox({}), gateway, documents=documents)
    assert (await box.execute(Goto(url="https://shop.example/"))).ok
    assert await documents.check(DocumentRequest("https://shop.example/", "page")) is None
    assert lookups == ["shop.example"]
