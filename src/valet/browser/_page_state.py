"""What a task's pages hold that valet puts back after a restart: each origin's local storage
and what was typed into the active page's forms (`js/forms.js`), read and written in the page."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page

_FORMS = resources.files("valet.browser").joinpath("js/forms.js").read_text("utf-8").strip()
_MAX_LOCAL_ITEMS = 10_000
"""A page cannot make valet save more of its local storage than this many items."""

_READ_STORAGE = f"""() => {{
  const items = [];
  for (let i = 0; i < localStorage.length && i < {_MAX_LOCAL_ITEMS}; i++) {{
    const name = localStorage.key(i);
    items.push({{ name, value: localStorage.getItem(name) }});
  }}
  return items;
}}"""
_READ_STORAGE_OR_NULL = (
    f"() => {{ try {{ return ({_READ_STORAGE})(); }} catch {{ return null; }} }}"
)
"""A sandboxed document may not read its storage: None then, its fields still read."""


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


async def read_storage(frame: Frame) -> list[dict[str, str]] | None:
    """A frame's local storage; None when it cannot be read now (navigating, sandboxed)."""
    try:
        return _storage_items(await frame.evaluate(_READ_STORAGE))
    except PlaywrightError:
        return None


async def read_page(
    page: Page | None,
) -> tuple[list[dict[str, str]] | None, list[dict[str, object]]]:
    """`page`'s own local storage (None when it cannot be read) and what was typed into its
    forms, in one round trip."""
    if page is None:
        return None, []
    try:
        found = await page.evaluate(f"() => [({_READ_STORAGE_OR_NULL})(), {_FORMS}.read()]")
    except PlaywrightError:
        return None, []
    if not isinstance(found, list) or len(cast(list[object], found)) != 2:
        return None, []
    storage, fields = cast(list[object], found)
    typed = cast(list[dict[str, object]], fields) if isinstance(fields, list) else []
    return _storage_items(storage), typed


async def write_fields(page: Page, fields: list[dict[str, object]]) -> int | None:
    """Put `fields` (from `read_page`) back into `page`: how many were found there; None when
    the page cannot be written now (it navigates)."""
    try:
        put = await page.evaluate(f"fields => {_FORMS}.write(fields)", fields)
    except PlaywrightError:
        return None
    return int(put) if isinstance(put, int) else 0


def _storage_items(value: object) -> list[dict[str, str]] | None:
    """Local storage items (`{"name", "value"}`) from what a page or a saved file held."""
    if not isinstance(value, list):
        return None
    items: list[dict[str, str]] = []
    for item in cast(list[object], value):
        if isinstance(item, dict):
            entry = cast(dict[str, object], item)
            items.append({"name": str(entry.get("name", "")), "value": str(entry.get("value", ""))})
    return items


def local_storage_in(path: Path) -> dict[str, list[dict[str, str]]]:
    """The local storage by origin in a saved storage state (nothing when it cannot be read)."""
    try:
        saved: object = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    origins = cast(dict[str, object], saved).get("origins") if isinstance(saved, dict) else None
    found: dict[str, list[dict[str, str]]] = {}
    for entry in cast(list[object], origins) if isinstance(origins, list) else []:
        if not isinstance(entry, dict):
            continue
        origin = cast(dict[str, object], entry).get("origin")
        items = _storage_items(cast(dict[str, object], entry).get("localStorage"))
        if isinstance(origin, str) and items:
            found[origin] = items
    return found
