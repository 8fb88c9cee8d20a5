"""valet's egress proxy: every connection of the browser leaves through it, is checked by the
navigation rules on the addresses its host resolved to (once), and goes to exactly those. Real
headless Chromium; real servers on 127.0.0.1 (free ports) that record every connection they
accept, so "never arrives" is seen where it would arrive."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncGenerator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests._runs import run_script
from tests.test_sessions import running_chromium  # noqa: F401  (a fixture used below)

from valet.agent import Finished
from valet.audit import KEY_ENV, AuditLog, AuditRecord
from valet.browser import BrowserSession, BrowserSettings, Connection, EgressProxy
from valet.gateway import DocumentGuard, GatedToolbox, Gateway, Resolver, resolve_host
from valet.policy import NavigationSettings, Policy, check_navigation, site_of
from valet.sites import SiteServer
from valet.tools import BrowserToolbox, Download, Goto

_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>'


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@dataclass
class Recording:
    """A real HTTP server on 127.0.0.1 that serves `pages`, a picture, a plain answer and a
    WebSocket handshake, and records every connection it accepts (before reading a byte)."""

    pages: dict[str, str] = field(default_factory=dict[str, str])
    accepted: int = 0
    heads: list[str] = field(default_factory=list[str])
    port: int = 0

    @property
    def site(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.site}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            self.heads.append(head)
            path = head.split(" ", 2)[1]
            key = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in head.split("\r\n")
                    if line.lower().startswith("sec-websocket-key:")
                ),
                None,
            )
            if key is not None:
                accept = base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()
                writer.write(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n".encode()
                )
                await writer.drain()
                while data := await reader.read(1024):  # an echo, until the client closes
                    writer.write(data)
                    await writer.drain()
                return
            if path in self.pages:
                kind, body = "text/html", self.pages[path].encode()
            elif path.endswith(".svg"):
                kind, body = "image/svg+xml", _SVG
            else:
                kind, body = "text/plain", b"reached"
            writer.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                "Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def recording(pages: dict[str, str] | None = None) -> AsyncGenerator[Recording]:
    server = Recording(dict(pages or {}))
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    server.port = int(listening.sockets[0].getsockname()[1])
    try:
        yield server
    finally:
        listening.close()


@dataclass
class Egress:
    session: BrowserSession
    toolbox: GatedToolbox
    audit: AuditLog
    passed: list[Connection]
    """Every connection the proxy was allowed to make."""

    def refused(self, host: str = "") -> list[AuditRecord]:
        """The proxy's refusals (to `host`, when given: the browser's own background requests
        to its vendor are refused too where nothing resolves)."""
        return [
            r
            for r in self.audit.records()
            if r.tool == "connection" and (not host or r.args.get("host") == host)
        ]


@asynccontextmanager
async def egress(
    tmp_path: Path,
    allow: Iterable[str],
    *,
    resolve: Resolver = resolve_host,
    proxy_resolve: Resolver | None = None,
    settings: BrowserSettings | None = None,
) -> AsyncGenerator[Egress]:
    """valet's browser as a task gets it: the document guard, and the egress proxy whose check
    is the guard's `connect` (resolving through the guard's memory unless `proxy_resolve`)."""
    audit = AuditLog.open(tmp_path / "audit.db", tmp_path / "audit.key")
    rules = Policy(navigation=NavigationSettings(allow_hosts=frozenset(allow)))
    gateway = Gateway(rules=rules, audit=audit)
    documents = DocumentGuard(gateway.gate, resolve=resolve)
    passed: list[Connection] = []

    async def check(connection: Connection) -> str | None:
        refusal = await documents.connect(connection)
        if refusal is None:
            passed.append(connection)
        return refusal

    session = await BrowserSession.start(
        settings or BrowserSettings(),
        tmp_path / "artifacts",
        tmp_path / "profiles",
        guard=documents.check,
        egress=check,
        resolve=proxy_resolve or documents.addresses,
    )
    try:
        async with session:
            toolbox = GatedToolbox(BrowserToolbox(session), gateway, documents=documents)
            yield Egress(session, toolbox, audit, passed)
    finally:
        audit.close()


async def settled(browser: Egress, expression: str = "window.done === true") -> Any:
    page = await browser.session.live_page()
    await page.wait_for_function(expression)
    return await page.evaluate("window.result")


def loopback_note(port: int) -> str:
    return (
        "[valet refused a connection the browser asked for: denied by rule nav.loopback: "
        f"127.0.0.1:{port} is this machine (loopback 127.0.0.1)]"
    )


FETCH_TWICE = """<title>Fetch</title><p>Fetching.</p><script>
const get = () => fetch("{target}/").then(r => r.text(), () => "failed");
Promise.all([get(), get()]).then(r => {{ window.result = r; window.done = true; }});
</script>"""


@pytest.mark.parametrize("allowed", [False, True])
async def test_a_scripts_fetch_to_another_local_port_is_refused_before_it_leaves(
    tmp_path: Path, allowed: bool
) -> None:
    async with recording() as target, recording() as site:
        site.pages["/fetch"] = FETCH_TWICE.format(target=target.url)
        allow = {site.site, target.site} if allowed else {site.site}
        async with egress(tmp_path, allow) as browser:
            assert (await browser.toolbox.execute(Goto(url=site.url + "/fetch"))).ok
            result = await settled(browser)
            seen = await browser.toolbox.observe()
            refused = browser.refused("127.0.0.1")
    if allowed:  # the control: the same page reaches it when the rules let it
        assert result == ["reached", "reached"]
        assert target.heads[0].startswith("GET / HTTP/1.1\r\n"), "origin-form, as a site expects"
        assert "proxy-connection" not in target.heads[0].lower()
        assert refused == [] and "[valet" not in seen.text
        return
    assert result == ["failed", "failed"]
    assert target.accepted == 0, "not even a connection reached the other port"
    assert [(r.actor, r.verdict, r.rule_id, r.outcome, r.args) for r in refused] == [
        (
            "system",
            "deny",
            "nav.loopback",
            "denied",
            {"host": "127.0.0.1", "port": target.port, "addresses": ["127.0.0.1"]},
        )
    ], "the same refusal twice before the model looks is audited once"
    assert refused[0].reason == f"127.0.0.1:{target.port} is this machine (loopback 127.0.0.1)"
    assert seen.text.startswith(loopback_note(target.port))
    assert seen.url == site.url + "/fetch", "a refused request does not make valet leave"


IMAGE_AND_SOCKET = """<title>Media</title><p>Loading.</p>
<img id="pic" src="{target}/pixel.svg" alt="pixel">
<script>
const picture = new Promise(done => {{
  const img = document.getElementById("pic");
  if (img.complete) done(img.naturalWidth > 0 ? "loaded" : "failed");
  img.onload = () => done("loaded");
  img.onerror = () => done("failed");
}});
const socket = new Promise(done => {{
  const ws = new WebSocket("{socket}/ws");
  ws.onopen = () => {{ done("open"); ws.close(); }};
  ws.onerror = () => done("failed");
}});
Promise.all([picture, socket]).then(r => {{ window.result = r; window.done = true; }});
</script>"""


@pytest.mark.parametrize("allowed", [False, True])
async def test_an_image_and_a_websocket_to_a_refused_address_never_arrive(
    tmp_path: Path, allowed: bool
) -> None:
    async with recording() as target, recording() as site:
        socket = target.url.replace("http://", "ws://")
        site.pages["/media"] = IMAGE_AND_SOCKET.format(target=target.url, socket=socket)
        allow = {site.site, target.site} if allowed else {site.site}
        async with egress(tmp_path, allow) as browser:
            assert (await browser.toolbox.execute(Goto(url=site.url + "/media"))).ok
            result = await settled(browser)
            refused = browser.refused("127.0.0.1")
    if allowed:
        assert result == ["loaded", "open"]
        assert target.accepted == 2
        return
    assert result == ["failed", "failed"]
    assert target.accepted == 0
    assert {r.rule_id for r in refused} == {"nav.loopback"}
    assert {r.args["port"] for r in refused} == {target.port}


def answers(table: dict[str, list[str]]) -> Resolver:
    """A resolver that knows only `table` (nothing else resolves)."""

    async def resolve(host: str) -> list[str]:
        return list(table.get(host, []))

    return resolve


async def test_a_name_that_does_not_resolve_is_refused_not_taken_for_public(
    tmp_path: Path,
) -> None:
    async with recording() as site:
        nowhere = f"http://nowhere.test:{site.port}"
        site.pages["/fetch"] = FETCH_TWICE.format(target=nowhere)
        async with egress(tmp_path, {site.site}, resolve=answers({})) as browser:
            await browser.toolbox.execute(Goto(url=site.url + "/fetch"))
            assert await settled(browser) == ["failed", "failed"]
            seen = await browser.toolbox.observe()
            await browser.toolbox.execute(Goto(url=nowhere + "/"))  # the action check lets it
            page = await browser.toolbox.observe()
            refused = browser.refused("nowhere.test")
    assert not any("nowhere.test" in head for head in site.heads)
    assert refused == [], "nothing was contacted: not in the audit log"
    assert "[valet refused" not in seen.text, "the page fails there as it would without valet"
    assert f"valet refused to connect to nowhere.test:{site.port}" in page.text


async def test_a_rebinding_name_never_reaches_the_loopback_server(tmp_path: Path) -> None:
    """The name answers a public address when it is checked, 127.0.0.1 when the browser
    connects: the proxy's own single lookup is what it checks and where it would connect."""
    lookups: list[str] = []

    async def rebinding(host: str) -> list[str]:
        if host != "rebind.test":
            return []  # the browser's own background requests: nothing else resolves here
        lookups.append(host)
        return ["93.184.215.14"] if len(lookups) == 1 else ["127.0.0.1"]

    async with recording() as target:
        url = f"http://rebind.test:{target.port}/"
        async with egress(tmp_path, (), resolve=rebinding, proxy_resolve=rebinding) as browser:
            await browser.toolbox.execute(Goto(url=url))
            seen = await browser.toolbox.observe()
            refused = browser.refused("rebind.test")
    assert len(lookups) >= 2, "the guard's lookup, then the proxy's (one per connection)"
    assert target.accepted == 0
    assert [(r.rule_id, r.args) for r in refused] == [
        ("nav.loopback", {"host": "rebind.test", "port": target.port, "addresses": ["127.0.0.1"]})
    ]
    assert f"valet refused to connect to rebind.test:{target.port}" in seen.text


async def test_the_proxy_connects_to_the_address_it_checked(tmp_path: Path) -> None:
    """The control for the rebinding test: a name only valet's resolver knows (the system's
    finds nothing), allow-listed, is reached at the address that resolver gave."""
    async with recording() as target:
        named = f"named.test:{target.port}"
        resolve = answers({"named.test": ["127.0.0.1"]})
        async with egress(tmp_path, {named}, resolve=resolve, proxy_resolve=resolve) as browser:
            assert (await browser.toolbox.execute(Goto(url=f"http://{named}/"))).ok
            seen = await browser.toolbox.observe()
    assert "reached" in seen.text
    assert f"\r\nHost: {named}\r\n" in target.heads[0]


async def test_the_shop_loads_with_its_styles_scripts_and_images(
    tmp_path: Path, sites: SiteServer
) -> None:
    async with egress(tmp_path, {site_of(sites.url) or ""}) as browser:
        assert (await browser.toolbox.execute(Goto(url=sites.url_for("/shop")))).ok
        page = await browser.session.live_page()
        await page.wait_for_load_state("load")
        loaded = await page.evaluate(
            """() => ({
                images: [...document.images].map(i => i.complete && i.naturalWidth > 0),
                styled: [...document.styleSheets].map(s => s.cssRules.length > 0),
                resources: performance.getEntriesByType("resource").map(e => e.responseStatus),
            })"""
        )
        refused = browser.refused("127.0.0.1")
        passed = {(c.host, c.port) for c in browser.passed}
    assert loaded["images"] and all(loaded["images"])
    assert loaded["styled"] and all(loaded["styled"])
    assert loaded["resources"] and set(loaded["resources"]) == {200}
    assert refused == []
    assert ("127.0.0.1", sites.port) in passed, "the pages came through the proxy"


async def test_downloads_by_url_and_routes_still_work(tmp_path: Path, sites: SiteServer) -> None:
    """`context.request` (files fetched by URL) takes the proxy too; Playwright's routes
    answer before the network, as before."""
    async with recording() as target, egress(tmp_path, {site_of(sites.url) or ""}) as browser:
        fetched = await browser.toolbox.execute(Download(url=sites.url_for("/static/img/logo.svg")))
        refused = await browser.toolbox.execute(Download(url=target.url + "/secret.svg"))
        page = await browser.session.live_page()
        await page.route("**/routed", lambda route: route.fulfill(body="<p>from a route</p>"))
        await page.goto(sites.url_for("/routed"))
        routed = await page.inner_text("p")
        passed = {(c.host, c.port) for c in browser.passed}
    assert fetched.ok and fetched.artifacts, fetched.message
    assert ("127.0.0.1", sites.port) in passed
    assert not refused.ok and target.accepted == 0, refused.message
    assert routed == "from a route"


STUN = """<title>Call</title><script>
const pc = new RTCPeerConnection({{iceServers: [{{urls: "stun:127.0.0.1:{port}"}}]}});
pc.createDataChannel("x");
pc.onicegatheringstatechange = () => {{
  if (pc.iceGatheringState === "complete") window.done = true;
}};
pc.createOffer().then(offer => pc.setLocalDescription(offer));
</script>"""


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.arrived = asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append(data)
        self.arrived.set()


@pytest.mark.parametrize("proxied", [True, False])
async def test_webrtc_sends_no_udp_past_the_proxy(
    tmp_path: Path, sites: SiteServer, proxied: bool
) -> None:
    """WebRTC's UDP leaves the browser without a proxy; with valet's it is kept to proxied
    TCP. The control (no proxy) shows the STUN request does arrive."""
    loop = asyncio.get_running_loop()
    transport, stun = await loop.create_datagram_endpoint(_Datagrams, local_addr=("127.0.0.1", 0))
    try:
        port = int(transport.get_extra_info("sockname")[1])
        async with recording({"/call": STUN.format(port=port)}) as site:
            if proxied:
                async with egress(tmp_path, {site.site}) as browser:
                    assert (await browser.toolbox.execute(Goto(url=site.url + "/call"))).ok
                    await settled(browser)
            else:
                async with await BrowserSession.start(BrowserSettings(), tmp_path) as session:
                    page = await session.live_page()
                    await page.goto(site.url + "/call")
                    await asyncio.wait_for(stun.arrived.wait(), timeout=15)
    finally:
        transport.close()
    assert bool(stun.received) is not proxied


@pytest.fixture
def attached(request: pytest.FixtureRequest) -> Iterator[BrowserSettings]:
    if request.param == "profile":
        yield BrowserSettings(profile="kept")
    else:
        yield BrowserSettings(cdp_url=request.getfixturevalue("running_chromium"))


@pytest.mark.parametrize("attached", ["profile", "cdp"], indirect=True)
async def test_a_persistent_profile_and_a_local_cdp_browser_go_through_it(
    tmp_path: Path, attached: BrowserSettings
) -> None:
    async with recording() as target, recording() as site:
        site.pages["/fetch"] = FETCH_TWICE.format(target=target.url)
        async with egress(tmp_path, {site.site}, settings=attached) as browser:
            assert (await browser.toolbox.execute(Goto(url=site.url + "/fetch"))).ok
            assert await settled(browser) == ["failed", "failed"]
            passed = {(c.host, c.port) for c in browser.passed}
    assert target.accepted == 0
    assert ("127.0.0.1", site.port) in passed


BLOCKING_SCRIPT = """<title>Status</title><script src="{target}/status.js"></script>
<p>Status board.</p>"""


async def test_a_task_audits_the_refusal_and_tells_the_model(home: Path, sites: SiteServer) -> None:
    """Through the runtime: the proxy's refusal is in the audit log as valet's own (`system`)
    and in the model's next observation."""
    async with recording() as target, recording() as site:
        site.pages["/status"] = BLOCKING_SCRIPT.format(target=target.url)
        script: list[Any] = [
            {"goto": site.url + "/status"},
            {"expect": {"prompt": loopback_note(target.port)}},
            {"done": "seen"},
        ]
        run = await run_script(home, sites, script, start=None, allow_hosts=frozenset({site.site}))
    assert isinstance(run.end, Finished) and run.end.success, run.steps[-1]
    assert target.accepted == 0
    with AuditLog.open(home / "audit.db", home / "keys" / "audit.key") as log:
        records = list(log.records())
    refused = [r for r in records if r.tool == "connection" and r.args["host"] == "127.0.0.1"]
    assert [(r.actor, r.rule_id, r.args["host"], r.args["port"]) for r in refused] == [
        ("system", "nav.loopback", "127.0.0.1", target.port)
    ]


def test_the_rules_deny_a_name_without_addresses_only_when_asked() -> None:
    """`must_resolve` is the proxy's; other callers keep the old reading (no addresses given:
    the host is judged by its name)."""
    assert check_navigation("https://example.org/").verdict == "allow"
    denied = check_navigation("https://example.org/", must_resolve=True)
    assert (denied.verdict, denied.rule_id) == ("deny", "nav.unresolved")
    assert check_navigation("https://127.0.0.1:8/", must_resolve=True).rule_id == "nav.loopback"


async def test_the_proxy_answers_a_refusal_in_plain_text_and_passes_an_upgrade(
    tmp_path: Path,
) -> None:
    """The proxy itself, spoken to as a browser would: a refused request and a refused tunnel
    get `403` and the reason, with no connection made; an allowed WebSocket upgrade over plain
    http gets the site's `101` and stays open both ways."""
    async with recording() as refused, recording() as allowed:
        audit = AuditLog.open(tmp_path / "audit.db", tmp_path / "audit.key")
        rules = Policy(navigation=NavigationSettings(allow_hosts=frozenset({allowed.site})))
        documents = DocumentGuard(Gateway(rules=rules, audit=audit).gate)
        proxy = await EgressProxy.start(documents.connect)
        port = int(proxy.url.rsplit(":", 1)[1])

        async def ask(head: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(head.encode())
            answer = (await reader.readuntil(b"\r\n\r\n")).decode()
            return reader, writer, answer

        try:
            plain = f"GET {refused.url}/x HTTP/1.1\r\nHost: {refused.site}\r\n\r\n"
            reader, writer, answer = await ask(plain)
            body = (await reader.read()).decode()
            writer.close()
            _, writer, tunnel = await ask(f"CONNECT {refused.site} HTTP/1.1\r\n\r\n")
            writer.close()
            upgrade = (
                f"GET {allowed.url}/ws HTTP/1.1\r\nHost: {allowed.site}\r\n"
                "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Proxy-Connection: keep-alive\r\n\r\n"
            )
            reader, writer, switched = await ask(upgrade)
            writer.write(b"frames")
            echoed = await reader.readexactly(6)  # the site echoes: open both ways
            writer.close()
        finally:
            await proxy.close()
            audit.close()
    assert answer.startswith("HTTP/1.1 403 Forbidden\r\n") and "text/plain" in answer
    assert body == (
        f"valet refused to connect to {refused.site}: denied by rule nav.loopback: "
        f"{refused.site} is this machine (loopback 127.0.0.1)\n"
    )
    assert tunnel.startswith("HTTP/1.1 403 Forbidden\r\n")
    assert refused.accepted == 0
    assert switched.startswith("HTTP/1.1 101 Switching Protocols\r\n")
    assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in switched
    assert echoed == b"frames"
    (head,) = allowed.heads
    assert head.startswith("GET /ws HTTP/1.1\r\n") and "\r\nConnection: Upgrade\r\n" in head
    assert "proxy-connection" not in head.lower()
