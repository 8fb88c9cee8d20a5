"""A page's HTML once its scripts ran, for reading a source that needs JavaScript.

Rendered in valet's own headless Chromium, in a fresh context per page (no cookies, no
storage, downloads and service workers refused), where every request the page makes — the
page itself, its scripts, images, XHR — first passes `allow` (the task's navigation rules):
a refused request is aborted, so rendering never reaches a host the task may not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from playwright.async_api import Browser, Playwright, Request, Route, async_playwright
from playwright.async_api import Error as PlaywrightError

from valet.browser._pool import CHROMIUM_ARGS
from valet.browser._settings import BrowserSettings, chromium_executable

Allow = Callable[[str], Awaitable[str | None]]
"""Why a URL may not be fetched (None: it may)."""


class Renderer:
    """One headless Chromium, launched on first use, for rendering pages (`close` it)."""

    def __init__(self, settings: BrowserSettings | None = None, timeout_s: float = 20.0) -> None:
        self.settings = settings or BrowserSettings()
        self.timeout_s = timeout_s
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self.refused: list[str] = []
        """Requests aborted because `allow` refused them (for the record)."""

    async def render(self, url: str, allow: Allow) -> str:
        """The HTML of `url` after its scripts ran (and the network went quiet, or the
        timeout passed)."""
        browser = await self._started()
        context = await browser.new_context(accept_downloads=False, service_workers="block")
        try:

            async def guard(route: Route, request: Request) -> None:
                why = await allow(request.url)
                if why is None:
                    await route.continue_()
                else:
                    self.refused.append(request.url)
                    await route.abort("blockedbyclient")

            await context.route("**/*", guard)
            page = await context.new_page()
            timeout = self.timeout_s * 1000
            await page.goto(url, wait_until="domcontentloaded", timeout=timeout)
            with contextlib.suppress(PlaywrightError):  # a page that keeps polling: as it is
                await page.wait_for_load_state("networkidle", timeout=timeout / 2)
            return await page.content()
        finally:
            await context.close()

    async def _started(self) -> Browser:
        if self._browser is None:
            self._playwright = await async_playwright().start()
            self._browser = await self._playwright.chromium.launch(
                executable_path=chromium_executable(self.settings),
                headless=True,
                args=CHROMIUM_ARGS,
            )
        return self._browser

    async def close(self) -> None:
        if self._browser is not None:
            await self._browser.close()
            self._browser = None
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None
