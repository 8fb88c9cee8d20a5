"""Holding every document request until a check lets it go: pages, frames, popups, redirects.

Playwright's `route` does not see a redirect's follow-up requests, so a check made there (or
after the page loaded) comes too late: Chromium has already sent the request. Here the CDP
`Fetch` domain pauses each request for a document before it leaves the browser, each hop of a
redirect chain included (a hop carries `redirectedRequestId`), and the session's `check` says
whether it may go. It is enabled on the browser's own CDP session, not a page's: a page's
session misses popups (their first request goes out before anyone can attach to the new tab)
and frames in other processes (a cross-site iframe that navigates itself).

Fail closed: when the check raises, or cannot be asked in time, the request is refused. On a
browser valet does not own (`cdp_url`), requests of other browser contexts pass untouched: a
frame whose target is in another context, or an in-process frame none of valet's tabs holds
(when valet cannot tell whose a frame is, it is checked).

The check decides; nothing here knows the rules (that is the gateway's `DocumentGuard`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, cast

from playwright.async_api import Browser, BrowserContext, CDPSession, Error

_log = logging.getLogger(__name__)

DocumentKind = Literal["page", "frame", "download", "probe"]
"""What the document is for: a tab's page, an iframe, a file `download` fetched by URL, or a
`probe` (the size check before a download, which the download itself repeats)."""


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    """A request for a document that the browser is about to send."""

    url: str
    kind: DocumentKind
    redirected: bool = False
    """The server sent the browser here (a hop after a redirect), not the page or valet."""


DocumentCheck = Callable[[DocumentRequest], Awaitable[str | None]]
"""None lets the request go; a text refuses it and says why."""

_DOCUMENTS = [{"resourceType": "Document", "requestStage": "Request"}]
_UNCHECKED = "valet could not check where this request goes"
_FOREIGN = "this request is from no task valet knows of in its browser"


class DocumentInterceptor:
    """Pauses every document request of valet's browser contexts until their check answers.

    Made for one context (`start`), or for a browser many tasks share (`attach`, then `add`
    each task's context with its own check)."""

    def __init__(
        self,
        cdp: CDPSession,
        whole: DocumentCheck | None,
        *,
        foreign: Literal["pass", "refuse"],
        timeout_s: float = 10.0,
    ) -> None:
        """`whole`: the check of every request (a browser with one context, valet's), else each
        context's own. `foreign`: what happens to a request of a context valet did not add (a
        shared remote browser's other users pass; in valet's own browser, refused).
        `timeout_s`: how long a check may take before the request is refused."""
        self._cdp = cdp
        self._whole = whole
        self._foreign = foreign
        self._timeout_s = timeout_s
        self._scopes: dict[str, tuple[_Context, DocumentCheck]] = {}
        self._kinds: dict[str, tuple[Literal["page", "frame"], DocumentCheck] | None] = {}
        self._pending: set[asyncio.Task[None]] = set()

    @classmethod
    async def start(
        cls, browser: Browser, context: BrowserContext, check: DocumentCheck, *, shared: bool
    ) -> DocumentInterceptor:
        """Intercept from now on. `shared`: the browser may hold other contexts than valet's
        (a browser reached over CDP), whose requests must pass untouched."""
        if not shared:
            return await cls.attach(browser, whole=check)
        interceptor = await cls.attach(browser, foreign="pass")
        await interceptor.add(context, check)
        return interceptor

    @classmethod
    async def attach(
        cls,
        browser: Browser,
        *,
        whole: DocumentCheck | None = None,
        foreign: Literal["pass", "refuse"] = "refuse",
    ) -> DocumentInterceptor:
        """Intercept the browser's document requests from now on (see `__init__`)."""
        cdp = await browser.new_browser_cdp_session()
        interceptor = cls(cdp, whole, foreign=foreign)
        cdp.on("Fetch.requestPaused", interceptor._on_paused)
        await _send(cdp, "Fetch.enable", {"patterns": _DOCUMENTS})
        return interceptor

    async def add(self, context: BrowserContext, check: DocumentCheck) -> str:
        """Check the context's requests with `check` from now on; its id, for `remove`."""
        scope = await _Context.of(context)
        self._scopes[scope.id] = (scope, check)
        self._kinds.clear()
        return scope.id

    def remove(self, context_id: str) -> None:
        """The context is closed: its requests (if any came) count as foreign again."""
        self._scopes.pop(context_id, None)
        self._kinds.clear()

    async def close(self) -> None:
        for task in list(self._pending):
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        with contextlib.suppress(Error):
            await self._cdp.detach()

    def _on_paused(self, event: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _answer(self, event: dict[str, Any]) -> None:
        request_id = str(event["requestId"])
        try:
            async with asyncio.timeout(self._timeout_s):
                refusal = await self._decide(event)
        except Exception:
            _log.exception("document request check failed; the request is refused")
            refusal = _UNCHECKED
        with contextlib.suppress(Error):  # the request may be gone (tab closed, navigation cut)
            if refusal is None:
                await _send(self._cdp, "Fetch.continueRequest", {"requestId": request_id})
            else:
                await _send(
                    self._cdp,
                    "Fetch.failRequest",
                    {"requestId": request_id, "errorReason": "BlockedByClient"},
                )

    async def _decide(self, event: dict[str, Any]) -> str | None:
        found = await self._kind(str(event.get("frameId", "")))
        if found is None:
            return None if self._foreign == "pass" else _FOREIGN
        kind, check = found
        url = str(event["request"]["url"])
        return await check(DocumentRequest(url, kind, "redirectedRequestId" in event))

    async def _kind(self, frame_id: str) -> tuple[Literal["page", "frame"], DocumentCheck] | None:
        """Whether the frame is a tab's page or an iframe, and whose check applies; None when
        it is no context of valet's."""
        if frame_id in self._kinds:
            return self._kinds[frame_id]
        try:
            found = await _send(self._cdp, "Target.getTargetInfo", {"targetId": frame_id})
            info = cast(dict[str, Any], found)["targetInfo"]
        except Error:
            info = None  # an iframe in its parent's process is no target of its own
        check: DocumentCheck | None = self._whole
        if info is not None:
            kind: Literal["page", "frame"] = "page" if info.get("type") == "page" else "frame"
            if check is None and (scope := self._scopes.get(str(info.get("browserContextId")))):
                check = scope[1]
        else:
            kind = "frame"
            if check is None:
                check = await self._holder(frame_id)
        result = None if check is None else (kind, check)
        if len(self._kinds) > 4096:
            self._kinds.clear()
        self._kinds[frame_id] = result
        return result

    async def _holder(self, frame_id: str) -> DocumentCheck | None:
        """The check of the context one of whose tabs has this frame (an in-process iframe)."""
        for scope, check in list(self._scopes.values()):
            if await scope.holds(frame_id, self._cdp):
                return check
        return None


@dataclass
class _Context:
    """valet's browser context in a browser that may hold others."""

    id: str
    context: BrowserContext

    @classmethod
    async def of(cls, context: BrowserContext) -> _Context:
        page = context.pages[0] if context.pages else await context.new_page()
        cdp = await context.new_cdp_session(page)
        try:
            found = await _send(cdp, "Target.getTargetInfo")
        finally:
            await cdp.detach()
        return cls(str(cast(dict[str, Any], found)["targetInfo"]["browserContextId"]), context)

    async def holds(self, frame_id: str, browser: CDPSession) -> bool:
        """Whether one of the context's tabs has this frame (asked when it is not a target).
        When valet cannot tell, it counts as valet's and is checked: a tab cannot be asked, or
        the context has a tab Playwright has not announced yet (a popup just opened)."""
        pages = list(self.context.pages)
        for page in pages:
            try:
                cdp = await self.context.new_cdp_session(page)
                try:
                    tree = await _send(cdp, "Page.getFrameTree")
                finally:
                    await cdp.detach()
            except Error:
                return True
            if frame_id in _frame_ids(cast(dict[str, Any], tree)["frameTree"]):
                return True
        found = cast(dict[str, Any], await _send(browser, "Target.getTargets"))
        tabs = [
            target
            for target in found["targetInfos"]
            if target.get("type") == "page" and target.get("browserContextId") == self.id
        ]
        return len(tabs) > len(pages)


def _frame_ids(tree: dict[str, Any]) -> set[str]:
    ids = {str(tree["frame"]["id"])}
    for child in tree.get("childFrames", []):
        ids |= _frame_ids(cast(dict[str, Any], child))
    return ids


async def _send(cdp: CDPSession, method: str, params: dict[str, Any] | None = None) -> object:
    sender = cast(Any, cdp)  # Playwright types CDP params loosely
    result: object = await sender.send(method, params)
    return result
