"""Printing a document valet made (a research report) to PDF with valet's own Chromium.

The page is printed offline: scripts are off and every request it would make (an image, a
font, a link's prefetch) is refused, so printing a report never reaches a source again.
"""

from __future__ import annotations

from playwright.async_api import PdfMargins, Route, async_playwright

from valet.browser._pool import CHROMIUM_ARGS
from valet.browser._settings import BrowserSettings, chromium_executable


async def print_pdf(html: str, settings: BrowserSettings | None = None) -> bytes:
    """`html` as an A4 PDF (backgrounds printed, 15 mm margins)."""
    executable = chromium_executable(settings or BrowserSettings())
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(java_script_enabled=False)

            async def refuse(route: Route) -> None:
                await route.abort("blockedbyclient")

            await context.route("**/*", refuse)
            page = await context.new_page()
            await page.set_content(html, wait_until="domcontentloaded")
            margin: PdfMargins = {"top": "15mm", "right": "15mm", "bottom": "15mm", "left": "15mm"}
            return await page.pdf(format="A4", print_background=True, margin=margin)
        finally:
            await browser.close()
