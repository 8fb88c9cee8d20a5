"""`BrowserPool`: one Playwright driver and a few browsers shared by many tasks.

A task's `BrowserSession` started with a pool gets a browser context of its own in one of the
pool's browsers instead of a Chromium process of its own: cookies, storage, cache, downloads
and permissions stay apart (a context is Chromium's incognito-like profile), and so do the
navigation guard (one interceptor per browser, each request checked by its own context's
check) and the egress proxy (a proxy per context). What it saves is the browser process, its
GPU and network service processes and the Playwright driver (~279 MB per task when each task
had its own, see bench/concurrency.py).

The browsers are Chromium processes the pool launches (`size` of them; each new context goes
to the one holding the fewest) or browsers elsewhere reached over CDP (`endpoints`: any
Chromium started with `--remote-debugging-port`, or a hosted browser service speaking CDP).
A browser that dies is dropped: the contexts it held report `crashed` (their tasks reopen by
the durable path, see runtime/_task_browser.py) and the next context goes to a browser launched (or
reconnected) in its place.

A task with a named persistent profile keeps a browser of its own: a profile is a whole
browser's user data folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from playwright.async_api import (
    Browser,
    BrowserContext,
    Playwright,
    ProxySettings,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from valet.browser._interception import DocumentCheck, DocumentInterceptor
from valet.browser._observe import Observer, new_event_name
from valet.browser._settings import BrowserSettings, chromium_executable

_log = logging.getLogger(__name__)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

EGRESS_ARGS = [
    # WebRTC sends UDP straight from the browser, past any proxy: keep it to proxied TCP.
    # The browser reads the first switch; the headless shell, which has no browser settings,
    # only the second (each ignores the other's).
    "--webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]


@dataclass
class _Browser:
    """One browser of the pool and the contexts it holds."""

    browser: Browser
    interceptor: DocumentInterceptor
    endpoint: str | None
    """The CDP URL of a remote browser; None for one the pool launched."""
    contexts: int = 0
    alive: bool = True


@dataclass
class PooledContext:
    """A task's context in one of the pool's browsers. `close` gives its place back."""

    context: BrowserContext
    observer: Observer
    owner: _Browser
    pool: BrowserPool
    _scope: str | None = field(default=None, init=False)
    _closed: bool = field(default=False, init=False)

    @property
    def browser(self) -> Browser:
        return self.owner.browser

    @property
    def crashed(self) -> bool:
        """The browser holding this context is gone (killed, crashed, disconnected)."""
        return not self.owner.alive or not self.owner.browser.is_connected()

    @property
    def remote(self) -> bool:
        return self.owner.endpoint is not None

    async def guard(self, check: DocumentCheck) -> None:
        """Hold this context's document requests for `check` (see `DocumentInterceptor`)."""
        self._scope = await self.owner.interceptor.add(self.context, check)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if not self.crashed:
                with contextlib.suppress(PlaywrightError):
                    await self.context.close()
        finally:
            if self._scope is not None:  # only now: no page is left to navigate unchecked
                self.owner.interceptor.remove(self._scope)
            self.pool.released(self.owner)


class BrowserPool:
    """Browsers shared by the tasks of one process. Nothing starts before the first `open`;
    `await pool.close()` at the end closes what the pool started."""

    def __init__(
        self,
        settings: BrowserSettings | None = None,
        *,
        size: int = 1,
        endpoints: tuple[str, ...] | list[str] = (),
    ) -> None:
        """A pool of `size` Chromium processes launched with `settings` (executable,
        headless), or of the remote browsers at `endpoints` (CDP URLs) when some are given."""
        if size < 1:
            raise ValueError("a browser pool holds at least one browser")
        self._settings = settings or BrowserSettings()
        self._endpoints = tuple(endpoints)
        self._size = len(self._endpoints) or size
        self._playwright: Playwright | None = None
        self._reply = new_event_name()
        self._browsers: list[_Browser] = []
        self._lock = asyncio.Lock()
        self._closed = False
        self._launched = 0
        self.restarts = 0
        """How many browsers were launched or reconnected after one was lost."""

    @property
    def contexts(self) -> int:
        """Contexts open now, over all browsers."""
        return sum(held.contexts for held in self._browsers if held.alive)

    @property
    def browsers(self) -> int:
        """Browsers connected now."""
        return sum(1 for held in self._browsers if held.alive)

    async def open(
        self,
        settings: BrowserSettings,
        *,
        storage_state: Path | None = None,
        proxy: str | None = None,
    ) -> PooledContext:
        """A new isolated context for one task, in the browser holding the fewest (launched
        or reconnected first when one is missing). `proxy`: valet's egress proxy for this
        context (a remote browser cannot reach it and gets none: its own network applies)."""
        if self._closed:
            raise RuntimeError("the browser pool is closed")
        async with self._lock:
            if self._playwright is None:
                self._playwright = await _driver(self._reply)
            held = await self._least_busy(self._playwright)
            held.contexts += 1
        try:
            viewport = {"width": settings.viewport_width, "height": settings.viewport_height}
            use_proxy = proxy is not None and held.endpoint is None
            context = await held.browser.new_context(
                viewport=viewport,  # type: ignore[arg-type]
                accept_downloads=True,
                storage_state=storage_state,
                proxy=ProxySettings(server=proxy) if use_proxy and proxy else None,
            )
        except BaseException:
            self.released(held)
            raise
        return PooledContext(context, Observer(self._reply), held, self)

    def released(self, held: _Browser) -> None:
        held.contexts = max(0, held.contexts - 1)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for held in self._browsers:
                await held.interceptor.close()
                with contextlib.suppress(PlaywrightError):
                    await held.browser.close()
        finally:
            if self._playwright is not None:
                await self._playwright.stop()

    async def _least_busy(self, playwright: Playwright) -> _Browser:
        self._browsers = [held for held in self._browsers if held.alive]
        slots: list[str | None] = list(self._endpoints) if self._endpoints else [None] * self._size
        for held in self._browsers:
            if held.endpoint in slots:
                slots.remove(held.endpoint)
        if slots:  # a browser is missing: the first context, or one was lost
            held = await self._launch(playwright, slots[0])
            self._browsers.append(held)
            return held
        return min(self._browsers, key=lambda held: held.contexts)

    async def _launch(self, playwright: Playwright, endpoint: str | None) -> _Browser:
        if endpoint is not None:
            browser = await playwright.chromium.connect_over_cdp(endpoint)
        else:
            executable = chromium_executable(self._settings)
            browser = await playwright.chromium.launch(
                executable_path=executable,
                headless=self._settings.headless,
                args=[*CHROMIUM_ARGS, *EGRESS_ARGS],
            )
        self._launched += 1
        self.restarts = max(0, self._launched - self._size)
        # valet's own browser holds only valet's contexts: a request of any other is refused.
        foreign = "pass" if endpoint is not None else "refuse"
        interceptor = await DocumentInterceptor.attach(browser, foreign=foreign)
        held = _Browser(browser, interceptor, endpoint)
        browser.on("disconnected", lambda _: self._lost(held))
        return held

    def _lost(self, held: _Browser) -> None:
        if held.alive and not self._closed:
            where = held.endpoint or "the pool's Chromium"
            _log.warning("a shared browser (%s) is gone; its tasks reopen in another", where)
        held.alive = False


async def _driver(reply: str) -> Playwright:
    """Playwright's driver with valet's selector engine registered (once for all contexts)."""
    playwright = await async_playwright().start()
    try:
        await Observer(reply).register_engine(playwright.selectors)
    except BaseException:
        await playwright.stop()
        raise
    return playwright
