"""Turning a Target (id or role + name) into an element of the latest observation."""

from __future__ import annotations

import asyncio

from valet.browser._driver import Driver
from valet.browser._types import ByRole, Element, Target


def _names(elements: list[Element], limit: int = 10) -> str:
    names = [f'"{e.name}"' for e in elements[:limit]]
    more = f", … {len(elements) - limit} more" if len(elements) > limit else ""
    return ", ".join(names) + more


def _match(elements: list[Element], query: ByRole) -> tuple[list[Element], list[Element]]:
    """(matches, candidates of the role): exact name, then case-insensitive, then substring."""
    role = query.role.strip().lower()
    of_role = [e for e in elements if e.role.lower() == role]
    wanted = query.name.strip()
    folded = wanted.casefold()
    tiers: list[list[Element]] = [
        [e for e in of_role if e.name == wanted],
        [e for e in of_role if e.name.casefold() == folded],
        [e for e in of_role if folded in e.name.casefold()],
    ]
    for found in tiers:
        if found:
            return found, of_role
    return [], of_role


def _by_role(elements: list[Element], query: ByRole) -> Element | str:
    matches, of_role = _match(elements, query)
    if matches:
        if query.nth < len(matches):
            return matches[query.nth]
        return (
            f'only {len(matches)} {query.role} named "{query.name}" '
            f"(nth={query.nth} asks for number {query.nth + 1})"
        )
    if of_role:
        return f'no {query.role} named "{query.name}"; {query.role}s: {_names(of_role)}'
    roles = sorted({e.role for e in elements})
    present = ", ".join(roles) if roles else "none"
    return f"no {query.role} on the page; roles present: {present}"


async def appeared(driver: Driver, query: ByRole, timeout_s: float) -> Element | str:
    """Wait until an element matching `query` is on the page (re-observing as it changes)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        await driver.compute()
        found = _by_role(driver.known_elements(), query)
        if not isinstance(found, str) or loop.time() >= deadline:
            return found
        await asyncio.sleep(min(0.1, max(0.0, deadline - loop.time())))


async def resolve(driver: Driver, target: Target) -> Element | str:
    """The element a target designates, or a readable message listing close candidates."""
    await driver.ensure_observed()
    if isinstance(target, ByRole):
        found = _by_role(driver.known_elements(), target)
        if isinstance(found, str) and driver.fresh_latest() is None:
            await driver.compute()
            found = _by_role(driver.known_elements(), target)
        return found
    element = driver.known(target)
    if element is not None:
        return element
    ids = [e.id for e in driver.known_elements()]
    if not ids:
        return f"no element {target}; the page has no interactive elements"
    if target > max(ids) or target < 1:
        return f"no element {target}; elements go up to {max(ids)}"
    return f"element {target} is no longer on the page; use an id from the latest observation"
