"""Element actions: each resolves its target, acts through a locator, and is effect-checked.

The locator (see `Observer.locator`) finds the element inside the page in the same round trip as
the action, and fails at once when the element is gone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from playwright.async_api import Error, Locator, Page

from valet.browser._driver import ActionFailed, Driver, element_label
from valet.browser._observe import CLOSED_MARKER, GONE_MARKER
from valet.browser._resolve import appeared, resolve
from valet.browser._types import ActionOutcome, ByRole, Element, Target

ElementOp = Callable[[Locator, Element], Awaitable[str | None]]

_DIRECTIONS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


def _gone(element: Element) -> ActionFailed:
    return ActionFailed(f"{element_label(element)} is no longer on the page; observe again")


def _locator(driver: Driver, element: Element) -> Locator:
    locator = driver.observer.locator(element.id)
    if locator is None:
        raise _gone(element)
    return locator


async def on_element(driver: Driver, target: Target, verb: str, op: ElementOp) -> ActionOutcome:
    """Resolve `target`, then run `op` on its live element inside the effect check."""
    element = await resolve(driver, target)
    if isinstance(element, str):
        return ActionOutcome(ok=False, message=element)
    resolved = element

    async def run() -> str | None:
        try:
            return await op(_locator(driver, resolved), resolved)
        except Error as error:
            if GONE_MARKER in error.message:
                raise _gone(resolved) from error
            if CLOSED_MARKER in error.message:
                raise ActionFailed("it moved into a closed shadow root, out of reach") from error
            raise

    return await driver.act(f"{verb} {element_label(resolved)}", run, resolved)


async def link_url(driver: Driver, target: Target) -> str | None:
    element = await resolve(driver, target)
    if isinstance(element, str):
        return None
    locator = driver.observer.locator(element.id)
    if locator is None:
        return None
    try:
        href = await locator.evaluate(
            "el => { const a = el.closest && el.closest('a[href],area[href]'); "
            "return a ? a.href : null; }",
            timeout=_ms(driver),
        )
    except Error:
        return None
    return href if isinstance(href, str) and href else None


def _ms(driver: Driver) -> float:
    return driver.settings.action_timeout_s * 1000


def _is_file_input(element: Element) -> bool:
    return element.extra == "type=file"


async def click(driver: Driver, target: Target) -> ActionOutcome:
    async def op(live: Locator, element: Element) -> str | None:
        if _is_file_input(element):
            raise ActionFailed("it is a file input; use upload with the file paths instead")
        if element.extra is not None and element.extra.endswith("(new tab)"):
            driver.expect_popup()
        await live.click(timeout=_ms(driver))
        return None

    return await on_element(driver, target, "clicked", op)


async def click_at(driver: Driver, x: float, y: float) -> ActionOutcome:
    page = await driver.current_page()

    async def op() -> str | None:
        await page.mouse.click(x, y)
        return None

    return await driver.act(f"clicked at ({x:g}, {y:g})", op)


def _secret(element: Element) -> bool:
    return element.extra == "type=password"


async def type_text(
    driver: Driver, target: Target, text: str, *, clear: bool = True, submit: bool = False
) -> ActionOutcome:
    async def op(live: Locator, element: Element) -> str | None:
        if clear:
            await live.fill(text, timeout=_ms(driver))
        else:
            await live.focus()
            await live.press("End", timeout=_ms(driver))
            await live.type(text, timeout=_ms(driver))
        if submit:
            await live.press("Enter", timeout=_ms(driver))
        return None

    resolved = await resolve(driver, target)
    shown = (
        f"{len(text)} characters"
        if isinstance(resolved, Element) and _secret(resolved)
        else (f'"{text[:60]}{"…" if len(text) > 60 else ""}"')
    )
    verb = f"typed {shown}{' and pressed Enter' if submit else ''} into"
    return await on_element(driver, target, verb, op)


async def clear(driver: Driver, target: Target) -> ActionOutcome:
    async def op(live: Locator, element: Element) -> str | None:
        await live.fill("", timeout=_ms(driver))
        return None

    return await on_element(driver, target, "cleared", op)


async def select(driver: Driver, target: Target, option: str) -> ActionOutcome:
    async def op(live: Locator, element: Element) -> str | None:
        options: list[list[str]] | None = await live.evaluate(
            "el => el.localName !== 'select' ? null"
            " : [...el.options].map(o => [o.label || o.text, o.value])",
            timeout=_ms(driver),
        )
        if options is None:
            raise ActionFailed("it is not a <select>; click it, then click the option you want")
        wanted = option.strip().casefold()
        for label, value in options:
            if wanted in (label.strip().casefold(), value.casefold()):
                await live.select_option(value=value, timeout=_ms(driver))
                return None
        listed = ", ".join(f'"{label}"' for label, _ in options[:20])
        raise ActionFailed(f'no option "{option}"; options: {listed}')

    return await on_element(driver, target, f'selected "{option}" in', op)


async def set_checked(driver: Driver, target: Target, checked: bool) -> ActionOutcome:
    async def op(live: Locator, element: Element) -> str | None:
        await live.set_checked(checked, timeout=_ms(driver))
        return None

    return await on_element(driver, target, "checked" if checked else "unchecked", op)


async def press(driver: Driver, keys: str, target: Target | None = None) -> ActionOutcome:
    if target is not None:

        async def op(live: Locator, element: Element) -> str | None:
            await live.press(keys, timeout=_ms(driver))
            return None

        return await on_element(driver, target, f"pressed {keys} on", op)
    page = await driver.current_page()

    async def page_op() -> str | None:
        await page.keyboard.press(keys)
        return None

    return await driver.act(f"pressed {keys}", page_op)


async def hover(driver: Driver, target: Target) -> ActionOutcome:
    async def op(live: Locator, element: Element) -> str | None:
        await live.hover(timeout=_ms(driver))
        return None

    return await on_element(driver, target, "hovered over", op)


async def scroll(
    driver: Driver,
    direction: Literal["up", "down", "left", "right"] = "down",
    amount: float = 1.0,
    target: Target | None = None,
) -> ActionOutcome:
    dx, dy = _DIRECTIONS[direction]
    what = f"scrolled {direction} {amount:g} page{'s' if amount != 1 else ''}"
    if target is None:

        async def page_op() -> str | None:
            page = await driver.current_page()
            await driver.observer.call(
                page,
                "(ix, d) => ix.scrollBy(0, d[0], d[1])",
                [
                    dx * amount,
                    dy * amount,
                ],
            )
            return None

        return await driver.act(what, page_op)

    async def op(live: Locator, element: Element) -> str | None:
        done = await driver.observer.frame_call(
            element.id, "(ix, [id, d]) => ix.scrollBy(id, d[0], d[1])", [dx * amount, dy * amount]
        )
        if not done:
            raise ActionFailed("the element is gone")
        return None

    return await on_element(driver, target, f"{what} in", op)


async def drag(driver: Driver, source: Target, dest: Target) -> ActionOutcome:
    goal = await resolve(driver, dest)
    if isinstance(goal, str):
        return ActionOutcome(ok=False, message=f"drop target: {goal}")
    drop = goal

    async def op(live: Locator, element: Element) -> str | None:
        other = _locator(driver, drop)
        page = await driver.current_page()
        await live.hover(timeout=_ms(driver))
        await page.mouse.down()
        try:
            box = await other.bounding_box(timeout=_ms(driver))
            if box is None:
                raise ActionFailed(f"{element_label(drop)} is not visible")
            await other.hover(timeout=_ms(driver))
        except Error as error:
            if GONE_MARKER in error.message:
                raise _gone(drop) from error
            raise
        await page.mouse.move(box["x"] + box["width"] / 2 + 1, box["y"] + box["height"] / 2)
        await page.mouse.up()
        return None

    return await on_element(driver, source, f"dragged onto {element_label(drop)}:", op)


async def upload(driver: Driver, target: Target, paths: list[Path]) -> ActionOutcome:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        return ActionOutcome(ok=False, message=f"no such file: {', '.join(missing)}")
    names = ", ".join(p.name for p in paths)

    async def op(live: Locator, element: Element) -> str | None:
        if _is_file_input(element):
            await live.set_input_files(paths, timeout=_ms(driver))
            return None
        page = await driver.current_page()
        try:
            async with page.expect_file_chooser(timeout=_ms(driver)) as chooser_info:
                await live.click(timeout=_ms(driver))
            chooser = await chooser_info.value
        except Error as error:
            raise ActionFailed("clicking it opened no file chooser; pick the file input") from error
        await chooser.set_files(paths)
        return None

    return await on_element(driver, target, f"uploaded {names} via", op)


async def wait_for(
    driver: Driver, text: str | None, target: Target | None, timeout_s: float
) -> ActionOutcome:
    page = await driver.current_page()
    ms = timeout_s * 1000
    if isinstance(target, ByRole):
        found = await appeared(driver, target, timeout_s)
        if isinstance(found, str):
            return ActionOutcome(ok=False, message=f"waited {timeout_s:g} s: {found}")
    if target is not None:
        waited = text

        async def op(live: Locator, element: Element) -> str | None:
            try:
                await live.wait_for(state="visible", timeout=ms)
            except Error as error:
                raise ActionFailed(f"it did not become visible within {timeout_s:g} s") from error
            if waited is not None:
                await _wait_text(page, waited, ms, timeout_s)
            return None

        return await on_element(driver, target, "waited for", op)
    if text is not None:
        wanted = text

        async def text_op() -> str | None:
            await _wait_text(page, wanted, ms, timeout_s)
            return None

        return await driver.act(f'waited for "{text}"', text_op)

    async def settle_op() -> str | None:
        try:
            await page.wait_for_load_state("load", timeout=ms)
        except Error as error:
            raise ActionFailed(f"the page was still loading after {timeout_s:g} s") from error
        return None

    return await driver.act("waited for the page to settle", settle_op)


async def _wait_text(page: Page, text: str, ms: float, timeout_s: float) -> None:
    try:
        await page.wait_for_function(
            """t => {
              const needle = t.toLowerCase();
              const seen = (doc) => doc.body && doc.body.innerText.toLowerCase().includes(needle);
              if (seen(document)) return true;
              for (const frame of Array.from(window.frames)) {
                try { if (seen(frame.document)) return true; } catch (e) { /* cross-origin */ }
              }
              return false;
            }""",
            arg=text,
            timeout=ms,
            polling="raf",
        )
    except Error as error:
        raise ActionFailed(f'"{text}" did not appear within {timeout_s:g} s') from error
