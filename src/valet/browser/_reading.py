"""Reading a page as markdown, screenshots, and downloads by URL."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

from playwright.async_api import APIResponse, Error

from valet.browser._driver import ActionFailed, Driver
from valet.browser._errors import concise
from valet.browser._interception import DocumentKind, DocumentRequest
from valet.browser._masking import sensitive_fields
from valet.browser._navigation import normalize_url
from valet.browser._render import element_line
from valet.browser._types import ActionOutcome, Element

_TEXT_JS = """() => {
  const seen = new Set();
  const out = [];
  for (const raw of (document.body ? document.body.innerText : '').split('\\n')) {
    const line = raw.replace(/\\s+/g, ' ').trim();
    if (line && !seen.has(line)) { seen.add(line); out.push(line); }
  }
  return out.join('\\n');
}"""


def _extract(html: str, url: str) -> str:
    import trafilatura  # pyright: ignore[reportMissingTypeStubs]  # slow to import: on first use

    result: object = trafilatura.extract(  # pyright: ignore[reportUnknownMemberType]
        html, url=url, output_format="markdown", include_links=True
    )
    return result if isinstance(result, str) else ""


_FIND_MAX_ELEMENTS = 20_000
_FIND_SHOWN = 60


async def find(driver: Driver, query: str) -> ActionOutcome:
    """The controls anywhere on the page (in view or not, listed in the view or left out of
    it) whose role is `query` or whose name, value or hint contains it, in page order."""
    needle = " ".join(query.split()).lower()
    if not needle:
        return ActionOutcome(ok=False, message="find needs a text or a role to look for")
    snapshot = await driver.survey(_FIND_MAX_ELEMENTS)
    found = [
        element
        for element in snapshot.observation.elements
        if element.role == needle
        or any(needle in (p or "").lower() for p in (element.name, element.value, element.extra))
    ]
    if not found:
        return ActionOutcome(ok=True, message=f"found no control matching {query!r}")
    lines = [f"{element_line(e)}{_where(e)}" for e in found[:_FIND_SHOWN]]
    if len(found) > _FIND_SHOWN:
        lines.append(f"… {len(found) - _FIND_SHOWN} more; make the query more precise")
    count = f"{len(found)} control{'s' if len(found) > 1 else ''}"
    return ActionOutcome(
        ok=True, message=f"found {count} matching {query!r}", content="\n".join(lines)
    )


def _where(element: Element) -> str:
    place = ""
    if element.offscreen:
        place = " (above the fold)" if element.above else " (below the fold)"
    return place + (f' (in frame "{element.frame}")' if element.frame else "")


async def read_page(driver: Driver) -> ActionOutcome:
    page = await driver.current_page()
    if driver.crashed(page):
        return ActionOutcome(ok=False, message="this tab crashed; goto a URL to reload it")
    try:
        html = await page.content()
        markdown = await asyncio.to_thread(_extract, html, page.url)
        source = "main content"
        if not markdown.strip():
            markdown = str(await page.evaluate(_TEXT_JS))
            source = "visible text"
    except Error as error:
        return ActionOutcome(ok=False, message=f"could not read the page: {concise(error)}")
    limit = driver.settings.max_read_chars
    total = len(markdown)
    if total > limit:
        cut = markdown[:limit]
        newline = cut.rfind("\n")
        cut = cut[:newline] if newline > limit // 2 else cut
        markdown = f"{cut}\n\n… truncated: {total - len(cut):,} more characters not shown"
    return ActionOutcome(
        ok=True,
        message=f"read {page.url} ({source}, {total:,} characters)",
        content=markdown,
        changed=False,
    )


async def screenshot(driver: Driver) -> ActionOutcome:
    page = await driver.current_page()
    folder = driver.artifacts / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"shot-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}.png"
    try:
        await page.screenshot(
            path=path,
            timeout=driver.settings.action_timeout_s * 1000,
            mask=sensitive_fields(page),
        )
    except Error as error:
        return ActionOutcome(ok=False, message=f"screenshot failed: {concise(error)}")
    return ActionOutcome(ok=True, message=f"saved a screenshot to {path}", artifacts=[path])


def _filename(url: str, disposition: str | None) -> str:
    if disposition:
        match = re.search(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', disposition, re.I)
        if match:
            return unquote(match.group(1))
    name = unquote(Path(urlparse(url).path).name)
    return name or "download"


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_HOPS = 20


async def _fetch(
    driver: Driver,
    url: str,
    kind: DocumentKind,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout_ms: float,
) -> APIResponse:
    """A request with the browser's cookies (`context.request`), outside the browser's network
    stack: Playwright would follow its redirects unchecked, so with a guard each hop is put to
    it first. Raises `ActionFailed` when a hop is refused or the redirects never end."""
    request = driver.context.request
    guard = driver.guard
    if guard is None:
        return await request.fetch(url, method=method, headers=headers, timeout=timeout_ms)
    for _ in range(_MAX_HOPS):
        response = await request.fetch(
            url, method=method, headers=headers, timeout=timeout_ms, max_redirects=0
        )
        location = response.headers.get("location")
        if response.status not in _REDIRECTS or not location:
            return response
        await response.dispose()
        url = urljoin(url, location)
        refusal = await guard(DocumentRequest(url, kind, redirected=True))
        if refusal is not None:
            raise ActionFailed(f"it redirects to a page valet does not open ({refusal})")
    raise ActionFailed("the site redirects endlessly (redirect loop)")


async def content_length(driver: Driver, url: str) -> int | None:
    """The size the server declares for `url`, with the browser's cookies: a `HEAD`'s
    `Content-Length`, or when the server refuses `HEAD`, the total of a one-byte ranged `GET`.
    None when it declares none or cannot be asked."""
    timeout = driver.settings.action_timeout_s * 1000
    url = normalize_url(url)
    try:
        head = await _fetch(driver, url, "probe", method="HEAD", timeout_ms=timeout)
        try:
            declared = head.headers.get("content-length", "")
            refused = head.status in (405, 501)
        finally:
            await head.dispose()
        if head.ok and declared.isdigit():
            return int(declared)
        if not refused:
            return None
        ranged = await _fetch(
            driver, url, "probe", headers={"Range": "bytes=0-0"}, timeout_ms=timeout
        )
        try:
            total = ranged.headers.get("content-range", "").rpartition("/")[2]
            return int(total) if ranged.status == 206 and total.isdigit() else None
        finally:
            await ranged.dispose()
    except (Error, ActionFailed):
        return None


async def download_url(driver: Driver, url: str) -> ActionOutcome:
    """Fetch a URL with the browser's cookies and save it under artifacts/downloads."""
    url = normalize_url(url)
    limit = driver.settings.download_max_bytes

    async def op() -> str | None:
        try:
            response = await _fetch(
                driver, url, "download", timeout_ms=driver.settings.navigation_timeout_s * 1000
            )
        except Error as error:
            raise ActionFailed(concise(error)) from error
        try:
            if not response.ok:
                raise ActionFailed(f"the server answered HTTP {response.status}")
            declared = int(response.headers.get("content-length", "0") or 0)
            if declared > limit:
                raise ActionFailed(f"{declared:,} bytes is over the {limit:,}-byte limit")
            body = await response.body()
            if len(body) > limit:
                raise ActionFailed(f"{len(body):,} bytes is over the {limit:,}-byte limit")
            name = re.sub(
                r"[^\w.\- ]+", "_", _filename(url, response.headers.get("content-disposition"))
            )
            folder = driver.artifacts / "downloads"
            folder.mkdir(parents=True, exist_ok=True)
            dest = folder / name
            if dest.exists():
                dest = folder / f"{time.monotonic_ns() % 10**8}-{name}"
            await asyncio.to_thread(dest.write_bytes, body)
        finally:
            await response.dispose()
        saved.append(dest)
        return f"saved {name} ({len(body):,} bytes) to {dest}"

    saved: list[Path] = []
    outcome = await driver.act(f"downloaded {url}", op, compare=False)
    outcome.artifacts.extend(saved)
    outcome.changed = False
    return outcome
