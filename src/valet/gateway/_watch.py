"""Watch mode: on sensitive sites (mail, banking, admin consoles) the agent acts only while the
person watches its browser; otherwise the gateway pauses it until they open the live view.

`Watch` is what the front end provides (the server's live view knows its viewers); without
one (`GatedToolbox(watch=None)`, e.g. a CLI run the person follows in the terminal) there is
no watch mode. Which sites count is `BrowserSettings.sensitive_sites`, matched by the same
code that decides the profile wipe.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from valet.browser import DEFAULT_SENSITIVE_SITES, is_sensitive
from valet.gateway._gate import Gate


@runtime_checkable
class Watch(Protocol):
    """Whether the person is watching the agent's browser right now."""

    def watched(self) -> bool:
        """Someone has the live view open."""
        ...

    async def until_watched(self, site: str) -> None:
        """Return once someone watches; `site` is why the agent waits (for the person's
        status: `open the live view: mail.example.com is sensitive`)."""
        ...


class WatchGuard:
    """Holds an action on a sensitive site until the person watches (inside `GatedToolbox`)."""

    def __init__(self, watch: Watch, sites: Iterable[str] = DEFAULT_SENSITIVE_SITES) -> None:
        self.watch = watch
        self.sites = tuple(sites)

    def sensitive(self, urls: Iterable[str]) -> str | None:
        """The first of `urls`' sites (`host[:port]`) that is sensitive, if any."""
        for url in urls:
            parts = urlsplit(url) if url.startswith(("http:", "https:")) else None
            if parts is None or not parts.hostname:
                continue
            site = f"{parts.hostname}:{parts.port or ''}".rstrip(":")
            if is_sensitive([site], self.sites):
                return site
        return None

    async def hold(self, urls: Iterable[str], gate: Gate) -> None:
        """Wait, when one of `urls` is on a sensitive site, until someone watches; the pause
        and the resumption go to the audit log (actor `system`)."""
        site = self.sensitive(urls)
        if site is None or self.watch.watched():
            return
        gate.note(
            actor="system",
            what="watch.paused",
            details={"site": site},
            reason=f"{site} is sensitive: the agent waits until the person opens the live view",
        )
        while not self.watch.watched():
            await self.watch.until_watched(site)
        gate.note(
            actor="system",
            what="watch.resumed",
            details={"site": site},
            reason="the person opened the live view",
        )
