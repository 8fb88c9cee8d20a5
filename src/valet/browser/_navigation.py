"""Navigation and tabs."""

from __future__ import annotations

import re

from playwright.async_api import Error, Page

from valet.browser._driver import ActionFailed, Driver
from valet.browser._errors import concise
from valet.browser._types import ActionOutcome


def normalize_url(url: str) -> str:
    url = url.strip()
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:", url) and not re.match(r"^[\w.\-]+:\d+", url):
        return url
    return f"https://{url}" if not url.startswith("//") else f"https:{url}"


async def _usable_page(driver: Driver) -> Page:
    page = await driver.current_page()
    if driver.crashed(page) or driver.dialog_busy(page):
        # a crashed tab cannot navigate, and one stuck in a dialog loop may never let go
        fresh = await driver.new_page()
        driver.page = fresh
        await page.close()
        driver.invalidate()
        return fresh
    return page


async def goto(driver: Driver, url: str) -> ActionOutcome:
    url = normalize_url(url)
    page = await _usable_page(driver)
    timeout = driver.settings.navigation_timeout_s * 1000

    async def op() -> str | None:
        try:
            response = await page.goto(url, wait_until="domcontentloaded", timeout=timeout)
        except Error as error:
            if "Download is starting" in error.message:
                return "the URL is a file download"
            raise ActionFailed(concise(error)) from error
        landed = page.url
        moved = f"now at {landed}" if landed.rstrip("/") != url.rstrip("/") else None
        if response is not None and response.status >= 400:
            status = f"HTTP {response.status} {response.status_text}".strip()
            raise ActionFailed(f"the server answered {status}; the page shows its error page")
        return moved

    return await driver.act(f"opened {url}", op, compare=False)


async def history(driver: Driver, forward: bool) -> ActionOutcome:
    page = await _usable_page(driver)
    timeout = driver.settings.navigation_timeout_s * 1000
    direction = "forward" if forward else "back"

    async def op() -> str | None:
        move = page.go_forward if forward else page.go_back
        try:
            response = await move(wait_until="domcontentloaded", timeout=timeout)
        except Error as error:
            raise ActionFailed(concise(error)) from error
        if response is None and page.url == before:
            raise ActionFailed(f"there is no page to go {direction} to")
        return f"now at {page.url}"

    before = page.url
    return await driver.act(f"went {direction}", op, compare=False)


def _pages(driver: Driver) -> list[Page]:
    return [p for p in driver.context.pages if not p.is_closed()]


async def open_tab(driver: Driver, url: str | None) -> ActionOutcome:
    page = await driver.new_page()
    driver.page = page
    driver.invalidate()
    index = _pages(driver).index(page)
    if url is None:
        return ActionOutcome(ok=True, message=f"opened a new blank tab [{index}]", changed=True)
    outcome = await goto(driver, url)
    outcome.message = f"opened a new tab [{index}]; {outcome.message}"
    return outcome


async def switch_tab(driver: Driver, index: int) -> ActionOutcome:
    pages = _pages(driver)
    if not 0 <= index < len(pages):
        return ActionOutcome(ok=False, message=f"no tab {index}; tabs go 0 to {len(pages) - 1}")
    page = pages[index]
    driver.page = page
    driver.invalidate()
    try:
        await page.bring_to_front()
        title = await page.title()
    except Error as error:
        return ActionOutcome(ok=False, message=f"could not switch to tab {index}: {concise(error)}")
    return ActionOutcome(
        ok=True, message=f'switched to tab [{index}] "{title}" {page.url}', changed=True
    )


async def close_tab(driver: Driver, index: int | None) -> ActionOutcome:
    pages = _pages(driver)
    current = await driver.current_page()
    if index is None:
        index = pages.index(current) if current in pages else len(pages) - 1
    if not 0 <= index < len(pages):
        return ActionOutcome(ok=False, message=f"no tab {index}; tabs go 0 to {len(pages) - 1}")
    closing = pages[index]
    url = closing.url
    try:
        await closing.close()
    except Error as error:
        return ActionOutcome(ok=False, message=f"could not close tab {index}: {concise(error)}")
    if closing is current:
        driver.invalidate()
    page = await driver.current_page()
    active = _pages(driver).index(page)
    return ActionOutcome(
        ok=True,
        message=f"closed tab [{index}] {url}; active tab is [{active}] {page.url}",
        changed=True,
    )
