"""Element actions: each resolves its target, acts through a JS handle, and is effect-checked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal

from playwright.async_api import ElementHandle, Error, Page

from valet.browser._driver import ActionFailed, Driver, element_label
from valet.browser._resolve import appeared, resolve
from valet.browser._types import ActionOutcome, ByRole, Element, Target

ElementOp = Callable[[ElementHandle, Element], Awaitable[str | None]]

_DIRECTIONS = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}


async def _handle(driver: Driver, element: Element) -> ElementHandle:
    handle = await driver.observer.element_handle(element.id)
    if handle is None:
        raise ActionFailed(f"{element_label(element)} is no longer on the page; observe again")
    return handle


async def on_element(driver: Driver, target: Target, verb: str, op: ElementOp) -> ActionOutcome:
    """Resolve `target`, then run `op` on its live element inside the effect check."""
    element = await resolve(driver, target)
    if isinstance(element, str):
        return ActionOutcome(ok=False, message=element)
    resolved = element

    async def run() -> str | None:
        handle = await _handle(driver, resolved)
        try:
            return await op(handle, resolved)
        finally:
            driver.dispose_later(handle)

    return await driver.act(f"{verb} {element_label(resolved)}", run, resolved)


def _ms(driver: Driver) -> float:
    return driver.settings.action_timeout_s * 1000


def _is_file_input(element: Element) -> bool:
    return element.extra == "type=file"


async def click(driver: Driver, target: Target) -> ActionOutcome:
    async def op(handle: ElementHandle, element: Element) -> str | None:
        if _is_file_input(element):
            raise ActionFailed("it is a file input; use upload with the file paths instead")
        if element.extra is not None and element.extra.endswith("(new tab)"):
            driver.expect_popup()
        await handle.click(timeout=_ms(driver))
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
    async def op(handle: ElementHandle, element: Element) -> str | None:
        if clear:
            await handle.fill(text, timeout=_ms(driver))
        else:
            await handle.focus()
            await handle.press("End", timeout=_ms(driver))
            await handle.type(text, timeout=_ms(driver))
        if submit:
            await handle.press("Enter", timeout=_ms(driver))
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
    async def op(handle: ElementHandle, element: Element) -> str | None:
        await handle.fill("", timeout=_ms(driver))
        return None

    return await on_element(driver, target, "cleared", op)


async def select(driver: Driver, target: Target, option: str) -> ActionOutcome:
    async def op(handle: ElementHandle, element: Element) -> str | None:
        is_select = await handle.evaluate("el => el.localName === 'select'")
        if not is_select:
            raise ActionFailed("it is not a <select>; click it, then click the option you want")
        options: list[list[str]] = await handle.evaluate(
            "el => [...el.options].map(o => [o.label || o.text, o.value])"
        )
        wanted = option.strip().casefold()
        for label, value in options:
            if wanted in (label.strip().casefold(), value.casefold()):
                await handle.select_option(value=value, timeout=_ms(driver))
                return None
        listed = ", ".join(f'"{label}"' for label, _ in options[:20])
        raise ActionFailed(f'no option "{option}"; options: {listed}')

    return await on_element(driver, target, f'selected "{option}" in', op)


async def set_checked(driver: Driver, target: Target, checked: bool) -> ActionOutcome:
    async def op(handle: ElementHandle, element: Element) -> str | None:
        await handle.set_checked(checked, timeout=_ms(driver))
        return None

    return await on_element(driver, target, "checked" if checked else "unchecked", op)


async def press(driver: Driver, keys: str, target: Target | None = None) -> ActionOutcome:
    if target is not None:

        async def op(handle: ElementHandle, element: Element) -> str | None:
            await handle.press(keys, timeout=_ms(driver))
            return None

        return await on_element(driver, target, f"pressed {keys} on", op)
    page = await driver.current_page()

    async def page_op() -> str | None:
        await page.keyboard.press(keys)
        return None

    return await driver.act(f"pressed {keys}", page_op)


async def hover(driver: Driver, target: Target) -> ActionOutcome:
    async def op(handle: ElementHandle, element: Element) -> str | None:
        await handle.hover(timeout=_ms(driver))
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

    async def op(handle: ElementHandle, element: Element) -> str | None:
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

    async def op(handle: ElementHandle, element: Element) -> str | None:
        other = await _handle(driver, drop)
        try:
            page = await driver.current_page()
            await handle.hover(timeout=_ms(driver))
            await page.mouse.down()
            box = await other.bounding_box()
            if box is None:
                raise ActionFailed(f"{element_label(drop)} is not visible")
            await other.hover(timeout=_ms(driver))
            await page.mouse.move(box["x"] + box["width"] / 2 + 1, box["y"] + box["height"] / 2)
            await page.mouse.up()
        finally:
            driver.dispose_later(other)
        return None

    return await on_element(driver, source, f"dragged onto {element_label(drop)}:", op)


async def upload(driver: Driver, target: Target, paths: list[Path]) -> ActionOutcome:
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        return ActionOutcome(ok=False, message=f"no such file: {', '.join(missing)}")
    names = ", ".join(p.name for p in paths)

    async def op(handle: ElementHandle, element: Element) -> str | None:
        if _is_file_input(element):
            await handle.set_input_files(paths, timeout=_ms(driver))
            return None
        page = await driver.current_page()
        try:
            async with page.expect_file_chooser(timeout=_ms(driver)) as chooser_info:
                await handle.click(timeout=_ms(driver))
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

        async def op(handle: ElementHandle, element: Element) -> str | None:
            try:
                await handle.wait_for_element_state("visible", timeout=ms)
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
