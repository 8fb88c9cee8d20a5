"""The navigation rules on every document the browser requests, before the request is sent.

`GatedToolbox` checks where an action will go before it runs; the browser then goes further on
its own: a server redirects, a script sets `location`, a page opens a popup or embeds an iframe.
`DocumentGuard.check` is the browser session's guard (`BrowserSession.start(guard=...)`): each
of those requests, each redirect hop included, is decided by the same navigation rules
(`check_navigation`, with the person's `allow_hosts`) before Chromium sends it, so a denied
host is never contacted. A refusal is audited (actor `system`, tool `redirect` for a hop the
server sent, `navigation` for a request the page made) and told to the model in its next
observation.

Under it, `DocumentGuard.connect` is the check of valet's egress proxy
(`BrowserSession.start(egress=...)`), through which every connection of the browser leaves:
sub-resources too (a script's fetch, images, WebSockets), each host resolved once and the
connection made to the addresses checked. Its refusals are audited (tool `connection`) and
told to the model, but for names that do not resolve (the page fails on those as it would
without valet): the same refusal again before the model's next look is not audited twice.

It applies whoever drives: during a takeover the person's clicks are held to the same rules.
The rules protect the machine the browser runs on (its loopback, its private network, its
cloud metadata endpoint), which is valet's host, not the person's computer; an internal host
the person needs goes on `allow_hosts`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from valet.browser import Connection, DocumentKind, DocumentRequest
from valet.gateway._gate import Gate, Ruling
from valet.policy import Decision, check_navigation

Resolver = Callable[[str], Awaitable[list[str]]]
"""Host name → its IP addresses (empty when it does not resolve)."""


async def resolve_host(host: str) -> list[str]:
    """The host's addresses via `getaddrinfo`, in a thread; empty when it does not resolve.
    An address written out (`127.0.0.1`, `::1`) is its own answer: no lookup, no thread."""
    try:
        return [str(ipaddress.ip_address(host)).partition("%")[0]]
    except ValueError:
        pass  # a name, or an address in a form only the resolver reads (`127.1`, `0x7f.1`)
    try:
        infos = await asyncio.to_thread(socket.getaddrinfo, host, None)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


_NO_HOST = ("about:", "blob:", "data:")
"""Documents a frame makes from its own content: no request reaches a host."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """A document request (or a connection) the guard refused, for the model's next
    observation."""

    kind: DocumentKind | Literal["connection"]
    ruling: Ruling


class DocumentGuard:
    """Decides the browser's document requests for one task and remembers what it refused."""

    def __init__(self, gate: Gate, resolve: Resolver = resolve_host, remember_s: float = 10.0):
        """`remember_s`: how long a host's addresses are reused (the action's own check and
        the browser's request for it resolve the same host moments apart)."""
        self.gate = gate
        self._resolve = resolve
        self._remember_s = remember_s
        self._addresses: dict[str, tuple[float, list[str]]] = {}
        self._refused: list[Refusal] = []
        self._connections: set[tuple[str, int, str]] = set()
        """The connections refused since the model last looked (host, port, rule)."""

    async def check(self, request: DocumentRequest) -> str | None:
        """None when the request may go; else why not (the browser refuses it)."""
        if request.kind == "frame" and request.url.startswith(_NO_HOST):
            return None
        decision = await self.decide(request.url)
        if decision.verdict != "deny":
            return None
        extra: dict[str, object] = {} if request.kind == "page" else {"in": request.kind}
        ruling = Ruling(decision, False, "denied", args={"url": request.url, **extra})
        if request.kind != "probe":  # a size probe's hop is met (and audited) by its download
            self.gate.record(
                actor="system",
                tool="redirect" if request.redirected else "navigation",
                effect="navigate",
                ruling=ruling,
                outcome="denied",
            )
        if request.kind in ("page", "frame"):
            self._refused.append(Refusal(request.kind, ruling))
        return ruling.message

    async def decide(self, url: str) -> Decision:
        """The navigation rules' decision for `url`, its host resolved."""
        host = urlsplit(url).hostname if url.startswith(("http:", "https:")) else None
        resolved = await self._resolved(host) if host else []
        return check_navigation(url, resolved, self.gate.policy.navigation)

    async def connect(self, connection: Connection) -> str | None:
        """The egress proxy's check: None when the connection may be made to the addresses
        its host resolved to; else why not."""
        decision = check_navigation(
            connection.origin,
            connection.addresses,
            self.gate.policy.navigation,
            must_resolve=True,
        )
        if decision.verdict != "deny":
            return None
        args: dict[str, object] = {
            "host": connection.host,
            "port": connection.port,
            "addresses": list(connection.addresses),
        }
        ruling = Ruling(decision, False, "denied", args=args)
        seen = (connection.host, connection.port, decision.rule_id)
        if seen not in self._connections:  # a page that retries in a loop is audited once
            if len(self._connections) > 256:
                self._connections.clear()
            self._connections.add(seen)
            if decision.rule_id != "nav.unresolved":
                # A name that does not resolve contacted nothing: not an event for the log
                # (offline, Chromium's own background calls to its vendor would fill it).
                self.gate.record(
                    actor="system",
                    tool="connection",
                    effect="navigate",
                    ruling=ruling,
                    outcome="denied",
                )
                self._refused.append(Refusal("connection", ruling))
        return ruling.message

    def take(self) -> list[Refusal]:
        """What was refused since the last call, oldest first."""
        refused, self._refused = self._refused, []
        self._connections.clear()
        return refused

    async def addresses(self, host: str) -> list[str]:
        """The host's addresses, as resolved within the last `remember_s` seconds if they were
        (`GatedToolbox` checks an action's destination with it)."""
        return await self._resolved(host)

    async def _resolved(self, host: str) -> list[str]:
        now = time.monotonic()
        known = self._addresses.get(host)
        if known is not None and known[0] > now:
            return known[1]
        addresses = await self._resolve(host)
        if len(self._addresses) > 256:
            self._addresses.clear()
        self._addresses[host] = (now + self._remember_s, addresses)
        return addresses
