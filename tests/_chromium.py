"""Real headless Chromium for the tests: Debian's, else Playwright's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
EXECUTABLE = CHROMIUM if CHROMIUM.exists() else None


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed on the way out."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=EXECUTABLE, headless=True)
        try:
            yield browser
        finally:
            await browser.close()
