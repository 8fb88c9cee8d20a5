"""Element actions: each resolves its target, acts through a locator, and is effect-checked.

The locator (see `Observer.locator`) finds the element inside the page in the same round trip as
the action, and fails at once when the element is gone.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import Error, FloatRect, Locator, Page

from valet.browser._driver import ActionFailed, Driver, element_label
from valet.browser._observe import CLOSED_MARKER, GONE_MARKER
from valet.browser._resolve import appeared, resolve
from valet.browser._types import ActionOutcome, ByRole, Element, Target

ElementOp = Callable[[Locator, Element], Awaitable[str | None]]

Point = tuple[float, float]
"""Viewport coordinates in CSS pixels from the top-left."""

_DRAG_STEPS = 12
"""Mouse moves between the lift and the drop: sortable lists reorder as the pointer passes."""
_SETTLE_QUIET_MS = 500
"""How long the page must be free of DOM changes and requests to count as settled."""

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


async def hover_at(driver: Driver, x: float, y: float) -> ActionOutcome:
    page = await driver.current_page()

    async def op() -> str | None:
        await page.mouse.move(x, y)
        return None

    return await driver.act(f"moved the mouse to ({x:g}, {y:g})", op)


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


async def select(driver: Driver, target: Target, option: str | list[str]) -> ActionOutcome:
    wanted = [option] if isinstance(option, str) else option

    async def op(live: Locator, element: Element) -> str | None:
        options: list[list[Any]] | None = await live.evaluate(
            "el => el.localName !== 'select' ? null"
            " : [el.multiple, ...[...el.options].map(o => [o.label || o.text, o.value])]",
            timeout=_ms(driver),
        )
        if options is None:
            raise ActionFailed("it is not a <select>; click it, then click the option you want")
        multiple, listed = bool(options[0]), options[1:]
        if not wanted or (len(wanted) > 1 and not multiple):
            raise ActionFailed("this list takes one option; give one")
        values: list[str] = []
        for choice in wanted:
            key = choice.strip().casefold()
            value = next(
                (
                    str(v)
                    for label, v in listed
                    if key in (str(label).strip().casefold(), str(v).casefold())
                ),
                None,
            )
            if value is None:
                shown = ", ".join(f'"{label}"' for label, _ in listed[:20])
                raise ActionFailed(f'no option "{choice}"; options: {shown}')
            values.append(value)
        await live.select_option(value=values, timeout=_ms(driver))
        return None

    said = ", ".join(f'"{choice}"' for choice in wanted)
    return await on_element(driver, target, f"selected {said} in", op)


async def set_checked(driver: Driver, target: Target, checked: bool) -> ActionOutcome:
    async def op(live: Locator, element: Element) -> str | None:
        await live.set_checked(checked, timeout=_ms(driver))
        return None

    return await on_element(driver, target, "checked" if checked else "unchecked", op)


async def press(
    driver: Driver, keys: str, target: Target | None = None, times: int = 1
) -> ActionOutcome:
    """Press `keys` `times` times: on `target` (focused first), else on the focused element."""
    pressed = f"pressed {keys}" + (f" {times} times" if times > 1 else "")
    if target is not None:

        async def op(live: Locator, element: Element) -> str | None:
            await live.press(keys, timeout=_ms(driver))
            for _ in range(times - 1):
                await live.page.keyboard.press(keys)
            return None

        return await on_element(driver, target, f"{pressed} on", op)
    page = await driver.current_page()

    async def page_op() -> str | None:
        for _ in range(times):
            await page.keyboard.press(keys)
        return None

    return await driver.act(pressed, page_op)


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


async def drag(driver: Driver, source: Target | Point, dest: Target | Point) -> ActionOutcome:
    """Press the mouse on `source`, move it in several steps to `dest`, release it there.

    Real mouse events all the way, so scripts that follow mousedown/mousemove/mouseup
    (sortable lists, sliders) and HTML5 drag and drop (Chromium starts it from those moves)
    both see a person's drag. An element is dropped on just past its centre, in the direction
    of travel, so a list that reorders when the pointer crosses an item's middle reorders.
    """
    ends: list[Element | Point] = []
    for end, what in ((source, "drag source"), (dest, "drop target")):
        if isinstance(end, tuple):
            ends.append(end)
            continue
        found = await resolve(driver, end)
        if isinstance(found, str):
            return ActionOutcome(ok=False, message=f"{what}: {found}")
        ends.append(found)
    start, goal = ends
    page = await driver.current_page()

    async def op() -> str | None:
        x0, y0 = await _centre(driver, start) if isinstance(start, Element) else start
        _in_view(page, start, (x0, y0))
        _in_view(page, goal, await _drop_point(driver, goal, (x0, y0)))
        await page.mouse.move(x0, y0)
        await page.mouse.down()
        try:
            await page.mouse.move(x0 + 3, y0 + 3, steps=2)  # past a drag's start threshold
            x1, y1 = await _drop_point(driver, goal, (x0, y0))  # where it is now, once lifted
            await page.mouse.move(x1, y1, steps=_DRAG_STEPS)
        finally:
            await page.mouse.up()
        return None

    label = f"dragged {_spot(start)} onto {_spot(goal)}"
    return await driver.act(label, op, start if isinstance(start, Element) else None)


def _spot(end: Element | Point) -> str:
    return element_label(end) if isinstance(end, Element) else f"({end[0]:g}, {end[1]:g})"


async def _box(driver: Driver, element: Element) -> FloatRect:
    live = _locator(driver, element)
    try:
        box = await live.bounding_box(timeout=_ms(driver))
    except Error as error:
        if GONE_MARKER in error.message:
            raise _gone(element) from error
        raise
    if box is None:
        raise ActionFailed(f"{element_label(element)} is not visible")
    return box


async def _centre(driver: Driver, element: Element) -> Point:
    """The centre of `element` in viewport coordinates (scrolled into view first)."""
    try:
        await _locator(driver, element).scroll_into_view_if_needed(timeout=_ms(driver))
    except Error as error:
        if GONE_MARKER in error.message:
            raise _gone(element) from error
        raise
    box = await _box(driver, element)
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


async def _drop_point(driver: Driver, goal: Element | Point, start: Point) -> Point:
    """A point as it is; an element's centre moved a quarter of its size further along the
    drag, so the pointer ends past the middle a sortable list compares it with."""
    if not isinstance(goal, Element):
        return goal
    box = await _box(driver, goal)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    length = math.hypot(x - start[0], y - start[1]) or 1.0
    nudge = min(box["width"], box["height"]) / 4
    return x + (x - start[0]) / length * nudge, y + (y - start[1]) / length * nudge


def _in_view(page: Page, end: Element | Point, at: Point) -> None:
    """A drag ends inside the viewport, where the page receives the mouse's events."""
    size = page.viewport_size
    if size is None or (0 <= at[0] <= size["width"] and 0 <= at[1] <= size["height"]):
        return
    raise ActionFailed(
        f"{_spot(end)} is outside the {size['width']}x{size['height']} viewport; scroll so "
        "both ends of the drag are in view"
    )


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
        if not await settled(page, timeout_s):
            return f"the page was still changing after {timeout_s:g} s"
        return None

    return await driver.act("waited for the page to settle", settle_op)


async def wait(driver: Driver, seconds: float) -> ActionOutcome:
    async def op() -> str | None:
        await asyncio.sleep(seconds)
        return None

    return await driver.act(f"waited {seconds:g} s", op)


async def settled(page: Page, timeout_s: float) -> bool:
    """Wait until the page has loaded and its document has had no DOM change and no request
    under way for `_SETTLE_QUIET_MS`, at most `timeout_s`; whether it settled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    try:
        await page.wait_for_load_state("load", timeout=timeout_s * 1000)
        left = max(0.0, deadline - loop.time())
        quiet = await page.evaluate(_QUIET_JS, [_SETTLE_QUIET_MS, left * 1000])
    except Error:
        return False
    if not quiet:
        return False
    left = max(0.0, deadline - loop.time())
    try:
        await page.wait_for_load_state("networkidle", timeout=max(1.0, left * 1000))
    except Error:
        return False
    return True


_QUIET_JS = """([quiet, most]) => new Promise(done => {
  let timer = null;
  const end = (result) => {
    observer.disconnect(); clearTimeout(timer); clearTimeout(cap); done(result);
  };
  const again = () => { clearTimeout(timer); timer = setTimeout(() => end(true), quiet); };
  const observer = new MutationObserver(again);
  observer.observe(
    document, {subtree: true, childList: true, attributes: true, characterData: true});
  const cap = setTimeout(() => end(false), most);
  again();
})"""


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
