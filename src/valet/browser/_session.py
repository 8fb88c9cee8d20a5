"""`BrowserSession`: the public face of valet's browser (launch or attach, observe, act).

Page-level problems (bad element ids, timeouts, unreachable hosts, TLS errors, HTTP errors,
redirect loops, crashed tabs, dialog storms) come back as `ActionOutcome(ok=False, ...)`;
only bugs in valet raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import re
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from playwright.async_api import (
    Browser,
    BrowserContext,
    Frame,
    Page,
    Playwright,
    ProxySettings,
    async_playwright,
)
from playwright.async_api import Error as PlaywrightError

from valet._home import private_dir
from valet.browser import _actions, _navigation, _reading
from valet.browser._driver import Driver
from valet.browser._egress import EgressCheck, EgressProxy, Resolver, resolve_addresses
from valet.browser._interception import DocumentCheck, DocumentInterceptor, DocumentRequest
from valet.browser._observe import Observer
from valet.browser._page_state import (
    local_storage_in,
    origin_of,
    read_page,
    read_storage,
    write_fields,
)
from valet.browser._pool import CHROMIUM_ARGS, EGRESS_ARGS, BrowserPool, PooledContext
from valet.browser._privacy import is_sensitive, wipe_profile
from valet.browser._resolve import resolve
from valet.browser._screencast import Screencast, ScreencastSettings
from valet.browser._settings import BrowserSettings, chromium_executable
from valet.browser._types import ActionOutcome, Element, Observation, Target


class BrowserSession:
    """One browser context driven by valet. Create it with `await BrowserSession.start(...)`."""

    def __init__(
        self,
        driver: Driver,
        playwright: Playwright | None,
        browser: Browser | None,
        owns_context: bool,
        pooled: PooledContext | None = None,
    ) -> None:
        self._driver = driver
        self._playwright = playwright
        self._pooled = pooled
        self._browser = browser
        self._owns_context = owns_context
        self._closed = False
        self._screencast: Screencast | None = None
        self._interceptor: DocumentInterceptor | None = None
        self._egress: EgressProxy | None = None
        self.profile_dir: Path | None = None
        """The persistent profile's folder, when the session uses one."""
        self._local: dict[str, list[dict[str, str]]] = {}
        """Local storage by origin, as `state` last read it (or the restored state held)."""
        self._open: set[str] = set()
        """The origins open in a frame when `state` last looked."""
        self.wiped: list[str] | None = None
        """After `close`: the sensitive sites that made valet wipe the persistent profile."""

    @classmethod
    async def start(
        cls,
        settings: BrowserSettings,
        artifacts_dir: Path,
        profiles_dir: Path | None = None,
        storage_state: Path | None = None,
        guard: DocumentCheck | None = None,
        egress: EgressCheck | None = None,
        resolve: Resolver = resolve_addresses,
        pool: BrowserPool | None = None,
    ) -> BrowserSession:
        """Launch (or attach to) the browser. `storage_state` (cookies and local storage saved
        by `save_state`) puts a throwaway profile back where an interrupted task left it.
        `guard` is asked about every document request before it is sent (pages, iframes,
        popups, each redirect hop, files fetched by URL): a text it returns refuses it.
        `egress` makes valet's egress proxy the browser's only way out (a browser reached over
        CDP on this machine included; a remote one is not): it is asked about every connection,
        with the addresses `resolve` gave for its host, before the proxy makes it.
        With a `pool`, the session is a context of one of the pool's browsers (unless the
        settings name a persistent profile or a browser of their own, `cdp_url`)."""
        await asyncio.to_thread(artifacts_dir.mkdir, parents=True, exist_ok=True)
        if pool is not None and settings.profile is None and settings.cdp_url is None:
            session = await cls._pooled_start(
                pool, settings, artifacts_dir, storage_state, guard, egress, resolve
            )
        else:
            session = await cls._own_start(
                settings, artifacts_dir, profiles_dir, storage_state, guard, egress, resolve
            )
        if storage_state is not None:
            session._local = await asyncio.to_thread(local_storage_in, storage_state)
        return session

    @classmethod
    async def _own_start(
        cls,
        settings: BrowserSettings,
        artifacts_dir: Path,
        profiles_dir: Path | None,
        storage_state: Path | None,
        guard: DocumentCheck | None,
        egress: EgressCheck | None,
        resolve: Resolver,
    ) -> BrowserSession:
        proxy = await EgressProxy.start(egress, resolve) if egress is not None else None
        playwright = await async_playwright().start()
        observer = Observer()
        try:
            await observer.register_engine(playwright.selectors)
            browser, context, owns_context = await _open_context(
                playwright, settings, profiles_dir, storage_state, proxy
            )
            await observer.watch(context)
        except BaseException:
            await playwright.stop()
            if proxy is not None:
                await proxy.close()
            raise
        context.set_default_timeout(settings.action_timeout_s * 1000)
        context.set_default_navigation_timeout(settings.navigation_timeout_s * 1000)
        driver = Driver(settings, context, artifacts_dir, observer)
        session = cls(driver, playwright, browser, owns_context)
        session._egress = proxy
        try:
            if guard is not None:
                session._interceptor = await _intercept(context, guard, settings)
                driver.guard = guard
            await driver.current_page()
        except BaseException:
            await session.close()
            raise
        if settings.profile is not None and settings.cdp_url is None and profiles_dir is not None:
            session.profile_dir = profiles_dir / settings.profile
        return session

    @classmethod
    async def _pooled_start(
        cls,
        pool: BrowserPool,
        settings: BrowserSettings,
        artifacts_dir: Path,
        storage_state: Path | None,
        guard: DocumentCheck | None,
        egress: EgressCheck | None,
        resolve: Resolver,
    ) -> BrowserSession:
        proxy = await EgressProxy.start(egress, resolve) if egress is not None else None
        try:
            pooled = await pool.open(
                settings,
                storage_state=storage_state,
                proxy=None if proxy is None else proxy.url,
            )
        except BaseException:
            if proxy is not None:
                await proxy.close()
            raise
        context = pooled.context
        context.set_default_timeout(settings.action_timeout_s * 1000)
        context.set_default_navigation_timeout(settings.navigation_timeout_s * 1000)
        driver = Driver(settings, context, artifacts_dir, pooled.observer)
        session = cls(driver, None, None, owns_context=True, pooled=pooled)
        session._egress = proxy
        try:
            await pooled.observer.watch(context)
            # Registered even without a guard: the pool refuses requests of unknown contexts.
            await pooled.guard(guard or _unguarded)
            driver.guard = guard
            await driver.current_page()
        except BaseException:
            await session.close()
            raise
        return session

    @property
    def crashed(self) -> bool:
        """The browser under this session is gone (killed, crashed, disconnected): nothing
        more can happen in it; a durable task reopens it where it was."""
        if self._pooled is not None:
            return self._pooled.crashed
        browser = self._browser or self._driver.context.browser
        return browser is not None and not browser.is_connected()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._screencast is not None:
            await self._screencast.close()
        await self._driver.drain()
        if self._pooled is not None:
            try:
                await self._pooled.close()
            finally:
                if self._egress is not None:
                    await self._egress.close()
            return
        try:
            if self._owns_context:
                await self._driver.context.close()
            if self._browser is not None:
                await self._browser.close()
            if self._interceptor is not None:  # only now: no page is left to navigate unchecked
                await self._interceptor.close()
        finally:
            try:
                if self._playwright is not None:
                    await self._playwright.stop()
            finally:
                if self._egress is not None:
                    await self._egress.close()
        self._wipe_if_sensitive()

    def _wipe_if_sensitive(self) -> None:
        """Wipe the persistent profile when the task visited a sensitive site and the settings
        ask for it (`wipe_profile_after_sensitive`)."""
        settings = self.settings
        if self.profile_dir is None or not settings.wipe_profile_after_sensitive:
            return
        touched = is_sensitive(self._driver.visited, settings.sensitive_sites)
        if touched:
            wipe_profile(self.profile_dir)
            self.wiped = touched

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def state(self) -> tuple[dict[str, object], list[dict[str, object]]]:
        """Where the task is, to put back after a restart: the context's cookies and local
        storage (in the shape of Playwright's storage state, which `start` takes back as
        `storage_state`), and what was typed into the active tab's forms (values that differ
        from the page's defaults; password, payment and one-time-code fields are never read).

        Cheaper than Playwright's `storage_state()`, which opens a hidden page and loads every
        other origin the context visited, on every call: the local storage is read from one
        frame of each origin open now; the others keep what they held when last read, which
        is exact unless an origin was open since then and is no longer (a click that stored
        something and left the site): only then is Playwright's whole reading used."""
        context = self._driver.context
        active = self._driver.page
        frames: dict[str, Frame] = {}
        for page in context.pages:
            if page.is_closed():
                continue
            for frame in page.frames:  # main frames first: theirs are read, not an iframe's
                if (origin := origin_of(frame.url)) is not None and not frame.is_detached():
                    frames.setdefault(origin, frame)
        left = (self._open | self._driver.navigated_origins) - frames.keys()
        self._driver.navigated_origins = set()
        self._open = set(frames)
        if left:
            whole, (_, fields) = await asyncio.gather(context.storage_state(), read_page(active))
            self._local = {
                origin["origin"]: [{"name": i["name"], "value": i["value"]} for i in items]
                for origin in whole.get("origins", [])
                if (items := origin.get("localStorage"))
            }
            cookies: list[Any] = list(whole.get("cookies", []))
        else:
            main = active.main_frame if active is not None else None
            others = {origin: frame for origin, frame in frames.items() if frame is not main}
            cookies, read, (own, fields) = await asyncio.gather(
                context.cookies(),
                asyncio.gather(*map(read_storage, others.values())),
                read_page(active),  # its storage and its fields in one round trip
            )
            found = list(zip(others, read, strict=True))
            found += [(origin, own) for origin, frame in frames.items() if frame is main]
            for origin, local in found:
                if local is None:
                    continue  # not readable now (navigating, sandboxed): as last read
                if local:
                    self._local[origin] = local
                else:
                    self._local.pop(origin, None)
        origins = [{"origin": at, "localStorage": items} for at, items in self._local.items()]
        return {"cookies": cookies, "origins": origins}, fields

    async def refill(self, fields: list[dict[str, object]]) -> int:
        """Put `fields` (from `state`) back into the active tab; how many were found."""
        page = self._driver.page
        if page is None or not fields:
            return 0
        put = await write_fields(page, fields)
        if put is not None:
            self._driver.invalidate()  # the page changed since it was last looked at
        return put or 0

    @property
    def settings(self) -> BrowserSettings:
        return self._driver.settings

    @property
    def page_url(self) -> str:
        page = self._driver.page
        return page.url if page is not None else "about:blank"

    async def settle(self, timeout_s: float = 5.0) -> None:
        """Wait until the active tab is quiet (no request for half a second, at most
        `timeout_s`): after the person hands the browser back, a page their last click or Enter
        is still loading is looked at once it is there, not while the previous one shows."""
        page = self._driver.page
        if page is None:
            return
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_load_state("networkidle", timeout=timeout_s * 1000)

    def screencast(self, settings: ScreencastSettings | None = None) -> Screencast:
        """The live view of this session's active tab and the person's input into it (one per
        session; `settings` apply when it is first asked for)."""
        if self._screencast is None:
            self._screencast = Screencast(self._driver, settings)
        return self._screencast

    async def live_page(self) -> Page:
        """The active tab itself, for the person while they have the browser (a takeover; the
        demo and tests play the person through it). valet's own actions never use it."""
        return await self._driver.current_page()

    # ---- observing ---------------------------------------------------------------------------

    async def observe(self, *, screenshot: bool = False) -> Observation:
        """What the model sees now. Right after an action this is the action's own
        post-action observation (no second pass over the page)."""
        return await self._driver.observe(screenshot)

    async def resolve(self, target: Target) -> Element | str:
        """The element a target designates, or a message listing close candidates."""
        return await resolve(self._driver, target)

    async def link_url(self, target: Target) -> str | None:
        """The absolute URL a click on `target` would open when it is (inside) a link, else None.
        Read live from the page, so the navigation guard can check a link before it is followed."""
        return await _actions.link_url(self._driver, target)

    async def find(self, query: str) -> ActionOutcome:
        """The controls anywhere on the page whose name, value or role matches `query`."""
        return await _reading.find(self._driver, query)

    async def read_page(self) -> ActionOutcome:
        """The page's main content as markdown in `content` (visible text as a fallback)."""
        return await _reading.read_page(self._driver)

    async def screenshot(self) -> ActionOutcome:
        """A PNG of the viewport saved under the artifacts directory."""
        return await _reading.screenshot(self._driver)

    # ---- navigation and tabs -----------------------------------------------------------------

    async def goto(self, url: str) -> ActionOutcome:
        return await _navigation.goto(self._driver, url)

    async def back(self) -> ActionOutcome:
        return await _navigation.history(self._driver, forward=False)

    async def forward(self) -> ActionOutcome:
        return await _navigation.history(self._driver, forward=True)

    async def open_tab(self, url: str | None = None) -> ActionOutcome:
        return await _navigation.open_tab(self._driver, url)

    async def switch_tab(self, index: int) -> ActionOutcome:
        return await _navigation.switch_tab(self._driver, index)

    async def close_tab(self, index: int | None = None) -> ActionOutcome:
        return await _navigation.close_tab(self._driver, index)

    # ---- element actions ---------------------------------------------------------------------

    async def click(self, target: Target) -> ActionOutcome:
        return await _actions.click(self._driver, target)

    async def click_at(self, x: float, y: float) -> ActionOutcome:
        return await _actions.click_at(self._driver, x, y)

    async def hover_at(self, x: float, y: float) -> ActionOutcome:
        return await _actions.hover_at(self._driver, x, y)

    async def type(
        self, target: Target, text: str, *, clear: bool = True, submit: bool = False
    ) -> ActionOutcome:
        """Fill a field (replacing its content unless clear=False); submit presses Enter."""
        return await _actions.type_text(self._driver, target, text, clear=clear, submit=submit)

    async def clear(self, target: Target) -> ActionOutcome:
        return await _actions.clear(self._driver, target)

    async def select(self, target: Target, option: str | list[str]) -> ActionOutcome:
        """Choose an option of a <select> by its label or value; a list chooses exactly those
        options of a multiple-choice list."""
        return await _actions.select(self._driver, target, option)

    async def set_checked(self, target: Target, checked: bool) -> ActionOutcome:
        return await _actions.set_checked(self._driver, target, checked)

    async def press(self, keys: str, target: Target | None = None, times: int = 1) -> ActionOutcome:
        """Press keys such as "Enter" or "Control+A" (`times` times), on an element or the
        focused one."""
        return await _actions.press(self._driver, keys, target, times)

    async def hover(self, target: Target) -> ActionOutcome:
        return await _actions.hover(self._driver, target)

    async def scroll(
        self,
        direction: Literal["up", "down", "left", "right"] = "down",
        amount: float = 1.0,
        target: Target | None = None,
    ) -> ActionOutcome:
        """Scroll the page (or the element's scrollable container) by `amount` pages."""
        return await _actions.scroll(self._driver, direction, amount, target)

    async def drag(
        self, source: Target | tuple[float, float], dest: Target | tuple[float, float]
    ) -> ActionOutcome:
        """Drag with the mouse from an element or viewport point to an element or point."""
        return await _actions.drag(self._driver, source, dest)

    async def upload(self, target: Target, paths: list[Path]) -> ActionOutcome:
        return await _actions.upload(self._driver, target, paths)

    async def wait_for(
        self, text: str | None = None, target: Target | None = None, timeout_s: float = 5
    ) -> ActionOutcome:
        """Wait until `text` is visible, or `target` is visible, or (neither) the page settles."""
        return await _actions.wait_for(self._driver, text, target, timeout_s)

    async def wait(self, seconds: float) -> ActionOutcome:
        """Let `seconds` pass, then report what changed on the page meanwhile."""
        return await _actions.wait(self._driver, seconds)

    async def content_length(self, url: str) -> int | None:
        """The size the server declares for `url` (`HEAD`, else a ranged `GET`), with the
        browser's cookies; None when unknown. For the gateway's download cap."""
        return await _reading.content_length(self._driver, url)

    async def download(self, target_or_url: Target | str) -> ActionOutcome:
        """Save a file under artifacts/downloads: fetch a URL, or click an element."""
        if isinstance(target_or_url, str):
            return await _reading.download_url(self._driver, target_or_url)
        outcome = await _actions.click(self._driver, target_or_url)
        if outcome.ok and not outcome.artifacts:
            outcome.ok = False
            outcome.message += "; no download started"
        return outcome


async def _unguarded(request: DocumentRequest) -> None:
    return None


async def _intercept(
    context: BrowserContext, guard: DocumentCheck, settings: BrowserSettings
) -> DocumentInterceptor:
    browser = context.browser
    if browser is None:  # not with Chromium, launched or reached over CDP
        raise RuntimeError("this browser cannot hold requests for valet's navigation guard")
    shared = settings.cdp_url is not None
    return await DocumentInterceptor.start(browser, context, guard, shared=shared)


async def _open_context(
    playwright: Playwright,
    settings: BrowserSettings,
    profiles_dir: Path | None,
    storage_state: Path | None = None,
    egress: EgressProxy | None = None,
) -> tuple[Browser | None, BrowserContext, bool]:
    viewport = {"width": settings.viewport_width, "height": settings.viewport_height}
    # Playwright passes `--proxy-server` and `--proxy-bypass-list=<-loopback>` (loopback goes
    # through the proxy too), and sends `context.request` through the same proxy.
    proxy = None if egress is None else ProxySettings(server=egress.url)
    args = CHROMIUM_ARGS if egress is None else [*CHROMIUM_ARGS, *EGRESS_ARGS]
    if settings.cdp_url is not None:
        # A fresh context in the running browser: isolated like a launched one, and one that
        # valet's selector engine is registered in (a pre-existing context would not have it).
        # Only a browser on this machine can reach valet's egress proxy.
        browser = await playwright.chromium.connect_over_cdp(settings.cdp_url)
        context = await browser.new_context(
            viewport=viewport,  # type: ignore[arg-type]
            accept_downloads=True,
            storage_state=storage_state,
            proxy=proxy if _on_this_machine(settings.cdp_url) else None,
        )
        return browser, context, True
    executable = chromium_executable(settings)
    if settings.profile is not None:
        if profiles_dir is None:
            raise ValueError("a named browser profile needs profiles_dir")
        if not re.fullmatch(r"[\w.\-]+", settings.profile) or settings.profile.startswith("."):
            raise ValueError(f"invalid profile name {settings.profile!r}")
        user_data = profiles_dir / settings.profile
        private_dir(user_data)
        context = await playwright.chromium.launch_persistent_context(
            user_data,
            executable_path=executable,
            headless=settings.headless,
            args=args,
            viewport=viewport,  # type: ignore[arg-type]
            accept_downloads=True,
            proxy=proxy,
        )
        return None, context, True
    browser = await playwright.chromium.launch(
        executable_path=executable, headless=settings.headless, args=args, proxy=proxy
    )
    context = await browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        accept_downloads=True,
        storage_state=storage_state,
    )
    return browser, context, True


def _on_this_machine(cdp_url: str) -> bool:
    host = (urlsplit(cdp_url).hostname or "").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
