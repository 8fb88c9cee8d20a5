"""The machinery behind a session: pages and their events, observation delivery, effect check.

`Driver.act` runs one action and compares the page before and after (URL + digest). It waits
for what the action set in motion, bounded: a new tab, a navigation (until domcontentloaded),
fetch/XHR requests it started, downloads; then the indexer's own short DOM-quiet settle, which
costs one macrotask when the page is already quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import (
    BrowserContext,
    Dialog,
    Download,
    Error,
    Frame,
    Page,
    Request,
)

from valet.browser._errors import concise
from valet.browser._interception import DocumentCheck
from valet.browser._masking import sensitive_fields
from valet.browser._observe import ObserveLimits, Observer, Snapshot
from valet.browser._render import fit_observation, render_observation
from valet.browser._settings import BrowserSettings
from valet.browser._types import ActionOutcome, Element, Observation, Tab

_DIALOG_WINDOW_S = 10.0


class ActionFailed(Exception):
    """Raised inside an action to report a readable failure (a model mistake, not a bug)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(eq=False)
class _Step:
    """What happened while one action ran."""

    page: Page
    nav_started: bool = False
    nav_committed: asyncio.Event = field(default_factory=asyncio.Event)
    requests: set[Request] = field(default_factory=lambda: set[Request]())
    requests_idle: asyncio.Event = field(default_factory=asyncio.Event)
    popups: list[Page] = field(default_factory=lambda: list[Page]())
    downloads: list[asyncio.Task[tuple[Path | None, str]]] = field(
        default_factory=lambda: list[asyncio.Task[tuple[Path | None, str]]]()
    )
    dialogs: list[str] = field(default_factory=lambda: list[str]())
    expect_popup: bool = False
    notes: list[str] = field(default_factory=lambda: list[str]())
    popup_arrived: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Latest:
    snapshot: Snapshot
    page: Page
    at: float
    delivered: bool = False


def element_label(element: Element) -> str:
    name = element.name if element.name.startswith("(") else f'"{element.name}"'
    return f"[{element.id}] {element.role} {name}"


class Driver:
    """Owns the browser context's pages, their event handlers, and the effect check."""

    def __init__(
        self,
        settings: BrowserSettings,
        context: BrowserContext,
        artifacts: Path,
        observer: Observer,
    ) -> None:
        self.settings = settings
        self.context = context
        self.artifacts = artifacts
        self.observer = observer
        """Its selector engine must be registered with the context's Playwright."""
        self.page: Page | None = None
        self._step: _Step | None = None
        self._dialogs: list[str] = []
        self._notes: list[str] = []
        self._dialog_count = 0
        self._dialog_times: list[float] = []
        self._last_dialog: dict[Page, float] = {}
        self._replacing: set[Page] = set()
        self._crashed: set[Page] = set()
        self._latest: _Latest | None = None
        self._known: dict[int, Element] = {}
        self._background: set[asyncio.Task[object]] = set()
        self._download_serial = 0
        self.visited: set[str] = set()
        """Every `host:port` a tab's main frame navigated to (for sensitive-site wipes)."""
        self.navigated_origins: set[str] = set()
        """The origins any frame navigated to since `BrowserSession.state` last took them."""
        self.guard: DocumentCheck | None = None
        """Asked about each redirect of a file fetched by URL (the browser's own requests are
        held by the session's `DocumentInterceptor`)."""
        self._step_ended = 0.0
        self._opening = False
        context.on("page", self._attach)
        for page in context.pages:
            self._attach(page)

    # ---- pages and events --------------------------------------------------------------------

    def _attach(self, page: Page) -> None:
        page.on("dialog", lambda dialog: self._spawn(self._on_dialog(page, dialog)))
        page.on("download", self._on_download)
        page.on("crash", lambda p: self._crashed.add(p))
        page.on("close", self._on_close)
        page.on("request", self._on_request)
        page.on("requestfinished", self._on_request_done)
        page.on("requestfailed", self._on_request_done)
        page.on("framenavigated", self._on_navigated)
        page.on("framedetached", self.observer.forget_frame)
        if self._opening:
            return
        if self._step is not None:
            self._step.popups.append(page)
            self._step.popup_arrived.set()
        elif time.monotonic() - self._step_ended < 2.0:
            # a popup that opened just after the action's own wait: switch to it now
            self.page = page
            self._latest = None
            self._notes.append(f"a new tab opened ({page.url}) and is now active")

    def _spawn(self, coro: Awaitable[object]) -> None:
        async def run() -> object:
            return await coro

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _on_dialog(self, page: Page, dialog: Dialog) -> None:
        now = time.monotonic()
        self._last_dialog[page] = now
        self._dialog_times = [t for t in self._dialog_times if now - t < _DIALOG_WINDOW_S]
        self._dialog_times.append(now)
        self._dialog_count += 1
        limit = self.settings.dialog_limit
        if self._dialog_count > limit or len(self._dialog_times) > limit:
            if page not in self._replacing:
                self._replacing.add(page)
                await self._replace(page)
            return
        text = f'{dialog.type} "{dialog.message[:200]}"'
        try:
            if dialog.type in ("alert", "beforeunload"):
                await dialog.accept()
                text += " (accepted)"
            else:
                await dialog.dismiss()
                text += " (dismissed)"
        except Error:
            return
        if len(self._dialogs) < 50:
            self._dialogs.append(text)
        if self._step is not None:
            self._step.dialogs.append(text)

    async def _replace(self, page: Page) -> None:
        """Close a tab stuck in a dialog loop and put a blank one in its place."""
        fresh = await self.new_page()
        self._dialog_times.clear()
        self._dialog_count = 0
        if page is self.page:
            self.page = fresh
        with contextlib.suppress(Error):
            await page.close(run_before_unload=False)
        note = (
            f"the page kept opening dialogs (over {self.settings.dialog_limit} in a row), "
            "so its tab was closed and replaced by a blank one"
        )
        self._notes.append(note)
        if self._step is not None:
            self._step.notes.append(note)

    def _on_close(self, page: Page) -> None:
        self._crashed.discard(page)
        self._last_dialog.pop(page, None)
        if page is self.page:
            others = [p for p in self.context.pages if not p.is_closed()]
            self.page = others[-1] if others else None

    def _on_request(self, request: Request) -> None:
        step = self._step
        if step is None or request.frame.page != step.page:
            return
        if request.is_navigation_request() and request.frame.parent_frame is None:
            step.nav_started = True
        elif request.resource_type in ("fetch", "xhr"):
            step.requests.add(request)
            step.requests_idle.clear()

    def _on_request_done(self, request: Request) -> None:
        step = self._step
        if step is None:
            return
        step.requests.discard(request)
        if not step.requests:
            step.requests_idle.set()
        if request.is_navigation_request() and request.frame.parent_frame is None:
            step.nav_committed.set()

    def _on_navigated(self, frame: Frame) -> None:
        parts = urlsplit(frame.url)
        if parts.hostname and frame.parent_frame is None:
            self.visited.add(f"{parts.hostname}:{parts.port or ''}".rstrip(":"))
        if parts.scheme in ("http", "https") and parts.netloc:
            self.navigated_origins.add(f"{parts.scheme}://{parts.netloc}")
        step = self._step
        if step is not None and frame.parent_frame is None and frame.page == step.page:
            step.nav_committed.set()

    def _on_download(self, download: Download) -> None:
        task = asyncio.get_running_loop().create_task(self._save_download(download))
        if self._step is not None:
            self._step.downloads.append(task)
        else:
            task.add_done_callback(lambda t: self._notes.append(t.result()[1]))

    async def _save_download(self, download: Download) -> tuple[Path | None, str]:
        name = re.sub(r"[^\w.\- ]+", "_", download.suggested_filename).strip() or "download"
        self._download_serial += 1
        folder = self.artifacts / "downloads"
        folder.mkdir(parents=True, exist_ok=True)
        dest = folder / name
        if dest.exists():
            dest = folder / f"{self._download_serial}-{name}"
        try:
            temp = await asyncio.wait_for(download.path(), self.settings.navigation_timeout_s)
        except (TimeoutError, Error) as error:
            with contextlib.suppress(Error):
                await download.cancel()
            reason = "took too long" if isinstance(error, TimeoutError) else concise(error)
            return None, f"download of {name} failed: {reason}"
        size = temp.stat().st_size
        if size > self.settings.download_max_bytes:
            await download.delete()
            return None, (
                f"download of {name} discarded: {size:,} bytes is over the "
                f"{self.settings.download_max_bytes:,}-byte limit"
            )
        await download.save_as(dest)
        await download.delete()
        return dest, f"downloaded {name} ({size:,} bytes) to {dest}"

    async def new_page(self) -> Page:
        """Open a tab ourselves (not a popup of the page)."""
        self._opening = True
        try:
            return await self.context.new_page()
        finally:
            self._opening = False

    async def current_page(self) -> Page:
        page = self.page
        if page is None or page.is_closed():
            open_pages = [p for p in self.context.pages if not p.is_closed()]
            page = open_pages[-1] if open_pages else await self.new_page()
            self.page = page
        return page

    def dialog_busy(self, page: Page) -> bool:
        """The page showed a dialog within the last two seconds (it may be in a dialog loop)."""
        return time.monotonic() - self._last_dialog.get(page, -10.0) < 2.0

    def crashed(self, page: Page) -> bool:
        return page in self._crashed

    def invalidate(self) -> None:
        self._latest = None

    # ---- observation -------------------------------------------------------------------------

    def _limits(self, settle: bool) -> ObserveLimits:
        s = self.settings
        return ObserveLimits(
            max_elements=s.max_elements,
            text_chars=s.max_text_chars,
            timeout_s=s.action_timeout_s,
            settle_quiet_ms=s.settle_quiet_ms if settle else None,
            settle_max_ms=s.settle_max_ms,
            settle_busy_ms=s.settle_busy_max_ms,
        )

    async def survey(self, max_elements: int) -> Snapshot:
        """Every control of the current tab (up to `max_elements` per document), without
        changing what the next observation reuses; their ids can be acted on."""
        page = await self.current_page()
        limits = replace(self._limits(settle=False), max_elements=max_elements)
        return await self.observer.snapshot(page, limits)

    async def compute(self, settle: bool = False) -> Snapshot:
        page = await self.current_page()
        if self.crashed(page):
            observation = Observation(
                url=page.url,
                title="",
                tabs=[],
                elements=[],
                text="(this tab crashed; goto a URL to reload it, or close it)",
            )
            snapshot = Snapshot(observation, (), 0, 0)
        else:
            snapshot = await self.observer.snapshot(page, self._limits(settle))
        self._latest = _Latest(snapshot, page, time.monotonic())
        self._known = {element.id: element for element in snapshot.observation.elements}
        return snapshot

    async def _tabs(self) -> list[Tab]:
        pages = [p for p in self.context.pages if not p.is_closed()]
        if len(pages) < 2:
            return []
        titles = await asyncio.gather(*(p.title() for p in pages), return_exceptions=True)
        return [
            Tab(index=i, title=t if isinstance(t, str) else "", url=p.url, active=p is self.page)
            for i, (p, t) in enumerate(zip(pages, titles, strict=True))
        ]

    async def deliver(self, snapshot: Snapshot, points: bool = False) -> Observation:
        """Turn a snapshot into the observation the caller sees (marks it as seen); `points`:
        with the middle of each control in view, for a model that sees the screenshot."""
        self.observer.mark_delivered(snapshot)
        if self._latest is not None and self._latest.snapshot is snapshot:
            self._latest.delivered = True
        dialogs = self._dialogs + self._notes
        self._dialogs, self._notes = [], []
        base = snapshot.observation
        observation = Observation(
            url=base.url,
            title=base.title,
            tabs=await self._tabs(),
            elements=base.elements,
            text=base.text,
            truncated=base.truncated,
            omitted_elements=base.omitted_elements,
            dialogs=dialogs,
            digest=base.digest,
            fields=base.fields,
            widgets=base.widgets,
            points=points,
            forms=base.forms,
            labels=base.labels,
        )
        return fit_observation(
            observation, self.settings.max_observation_chars, text_more=snapshot.text_more > 0
        )

    async def _unchanged_latest(self, page: Page) -> Snapshot | None:
        """The latest snapshot, however old, when the page has not changed since (a model took
        its time to answer): the page need not be read again before the action."""
        latest = self._latest
        if latest is None or latest.page is not page or self._notes or self.crashed(page):
            return None
        timeout = self.settings.action_timeout_s
        return (
            latest.snapshot
            if await self.observer.unchanged(latest.snapshot, page, timeout)
            else None
        )

    def fresh_latest(self) -> Snapshot | None:
        """The latest snapshot when it is still a faithful picture of the current tab."""
        latest = self._latest
        if latest is None or latest.page is not self.page or self._notes:
            return None
        if time.monotonic() - latest.at > self.settings.observation_reuse_s:
            return None
        return latest.snapshot

    async def observe(self, screenshot: bool = False) -> Observation:
        self._dialog_count = 0
        snapshot = self.fresh_latest()
        if snapshot is None or screenshot or self._latest is None or self._latest.delivered:
            snapshot = await self.compute()
        observation = await self.deliver(snapshot, points=screenshot)
        if screenshot:
            observation.screenshot = await self.marked_screenshot(observation)
        return observation

    async def marked_screenshot(self, observation: Observation) -> bytes | None:
        page = await self.current_page()
        ids = [e.id for e in observation.elements if not e.offscreen]
        await self.observer.draw_marks(page, ids)
        try:
            return await page.screenshot(
                timeout=self.settings.action_timeout_s * 1000, mask=sensitive_fields(page)
            )
        except Error:
            return None
        finally:
            await self.observer.draw_marks(page, ids, remove=True)

    def render(self, observation: Observation) -> str:
        return render_observation(observation, self.settings.max_observation_chars)

    # ---- resolution --------------------------------------------------------------------------

    def known(self, element_id: int) -> Element | None:
        element = self._known.get(element_id)
        if element is None and self.observer.knows(element_id):
            return Element(id=element_id, role="element", name=f"#{element_id}")
        return element

    def known_elements(self) -> list[Element]:
        return list(self._known.values())

    async def ensure_observed(self) -> None:
        if self._latest is None or self._latest.page is not self.page:
            await self.compute()

    # ---- the effect check --------------------------------------------------------------------

    async def act(
        self,
        label: str,
        op: Callable[[], Awaitable[str | None]],
        target: Element | None = None,
        *,
        compare: bool = True,
    ) -> ActionOutcome:
        """Run `op`, wait for what it set in motion, and report whether the page changed.

        With `compare=False` (navigations) the page is not observed first: the latest
        observation, however old, is the "before".
        """
        self._dialog_count = 0
        page = await self.current_page()
        if compare:
            before = (
                self.fresh_latest() or await self._unchanged_latest(page) or await self.compute()
            )
        else:
            before = self._latest.snapshot if self._latest is not None else None
        before_url = page.url if before is None else before.observation.url
        step = _Step(page=page)
        self._step = step
        error: str | None = None
        note: str | None = None
        try:
            note = await op()
        except ActionFailed as failure:
            error = failure.message
        except Error as failure:
            error = concise(failure)
        try:
            after, extra = await self._after(step)
        finally:
            self._step = None
            self._step_ended = time.monotonic()
        if step.notes and error is not None:
            error = step.notes[-1]
        elif step.notes:
            extra.extend(step.notes)
        changed = (
            before is None
            or after.observation.url != before_url
            or after.observation.digest != before.observation.digest
        )
        parts = [label] if error is None else [f"{label} failed: {error}"]
        if note:
            parts.append(note)
        parts.extend(extra)
        if not changed and error is None:
            parts.append("no visible change")
        return ActionOutcome(
            ok=error is None,
            message="; ".join(parts),
            changed=changed,
            artifacts=[path for path in step_paths(step) if path is not None],
            target=target,
        )

    async def _after(self, step: _Step) -> tuple[Snapshot, list[str]]:
        notes: list[str] = []
        nav_timeout = self.settings.navigation_timeout_s
        if step.expect_popup and not step.popups:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(step.popup_arrived.wait(), min(nav_timeout, 3.0))
        popups = [p for p in step.popups if not p.is_closed()]
        if popups:
            popup = popups[-1]
            with contextlib.suppress(Error, TimeoutError):
                await popup.wait_for_load_state("domcontentloaded", timeout=nav_timeout * 1000)
            if not popup.is_closed():
                self.page = popup
                index = self.context.pages.index(popup)
                notes.append(f"opened a new tab [{index}] {popup.url} and switched to it")
        elif step.nav_started or step.nav_committed.is_set():
            await self._wait_load(step)
        if step.requests:
            await self._wait_requests(step)
        snapshot = await self.compute(settle=True)
        page = await self.current_page()
        if step.nav_started and page is step.page and not step.nav_committed.is_set():
            await self._wait_load(step)
            snapshot = await self.compute(settle=True)
        if snapshot.unsettled:
            notes.append("the page was still changing when valet looked at it")
        for task in step.downloads:
            try:
                _path, message = await asyncio.wait_for(asyncio.shield(task), nav_timeout)
            except TimeoutError:
                message = "a download is still running"
            notes.append(message)
        if step.dialogs:
            notes.append("dialogs: " + "; ".join(step.dialogs[:3]))
        return snapshot, notes

    async def _wait_load(self, step: _Step) -> None:
        timeout = self.settings.navigation_timeout_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(step.nav_committed.wait(), timeout)
        if step.page.is_closed():
            return
        with contextlib.suppress(Error):
            await step.page.wait_for_load_state("domcontentloaded", timeout=timeout * 1000)

    def expect_popup(self) -> None:
        """Tell the running action's effect check that a new tab should open."""
        if self._step is not None:
            self._step.expect_popup = True

    async def _wait_requests(self, step: _Step) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                step.requests_idle.wait(), min(self.settings.action_timeout_s, 3.0)
            )

    # ---- lifecycle ---------------------------------------------------------------------------

    async def drain(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)


def step_paths(step: _Step) -> list[Path | None]:
    return [task.result()[0] for task in step.downloads if task.done() and not task.cancelled()]
