"""The live view of a session and the person's hands on it: CDP screencast and input.

`Screencast` streams JPEG frames of the session's active tab (`Page.startScreencast`) to any
number of watchers, each of which only ever gets the newest frame (a slow viewer skips frames, it
never holds the browser up). It follows the active tab when the agent or the person switches.
Input from the person (`pointer`, `wheel`, `key`, `insert_text`) is dispatched through CDP at
positions given as fractions of the frame image, mapped to CSS pixels with the frame's metadata,
so the viewer's panel can be any size.

Nothing here decides who may send input; the server's lease does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from playwright.async_api import CDPSession, Error, Page

from valet.browser._driver import Driver

Button = Literal["none", "left", "middle", "right"]
PointerKind = Literal["down", "up", "move"]
KeyKind = Literal["down", "up"]

_CDP_POINTER = {"down": "mousePressed", "up": "mouseReleased", "move": "mouseMoved"}
_FOLLOW_EVERY_S = 0.2
_CDP_TIMEOUT_S = 3.0
"""The longest the live view waits for one CDP answer. Chromium can leave a screenshot (or a new
session on a tab) unanswered while the tab commits a navigation; without a bound, the lock that
input shares with the screencast would stay held and the person's keys would never arrive."""
_GIVE_UP = (Error, TimeoutError)


@dataclass(frozen=True, slots=True)
class ScreencastSettings:
    """How frames are encoded."""

    quality: int = 70
    """JPEG quality, 0–100."""
    max_width: int = 1280
    """Frames are scaled down to fit this width (device pixels)."""
    max_height: int = 900
    """… and this height."""


@dataclass(frozen=True, slots=True)
class FrameGeometry:
    """What a frame shows, from CDP's `ScreencastFrameMetadata`."""

    device_width: float
    """Width of the screen the frame shows, in DIP."""
    device_height: float
    offset_top: float = 0.0
    """Top of the page's viewport within the frame, in DIP."""
    page_scale_factor: float = 1.0
    """Pinch zoom of the page."""

    @classmethod
    def of(cls, metadata: dict[str, Any]) -> FrameGeometry:
        return cls(
            device_width=float(metadata.get("deviceWidth") or 1),
            device_height=float(metadata.get("deviceHeight") or 1),
            offset_top=float(metadata.get("offsetTop") or 0),
            page_scale_factor=float(metadata.get("pageScaleFactor") or 1),
        )

    def to_css(self, x: float, y: float) -> tuple[float, float]:
        """A point given as fractions (0–1) of the frame image, in CSS pixels of the viewport."""
        x = min(max(x, 0.0), 1.0)
        y = min(max(y, 0.0), 1.0)
        scale = self.page_scale_factor or 1.0
        css_x = x * self.device_width / scale
        css_y = (y * self.device_height - self.offset_top) / scale
        return round(css_x, 2), round(max(css_y, 0.0), 2)


@dataclass(frozen=True, slots=True)
class Frame:
    """One JPEG of the active tab."""

    jpeg: bytes
    geometry: FrameGeometry
    painted_at: float
    """When Chromium produced it (seconds since the epoch)."""
    seq: int


@dataclass(eq=False)
class FrameFeed:
    """One watcher's view of the stream: only the newest frame is kept."""

    _latest: Frame | None = None
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _closed: bool = False

    def offer(self, frame: Frame) -> None:
        self._latest = frame
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    async def next(self) -> Frame | None:
        """The newest frame not seen yet (waits for one); None once the stream ended."""
        while True:
            if self._latest is not None:
                frame, self._latest = self._latest, None
                self._ready.clear()
                return frame
            if self._closed:
                return None
            await self._ready.wait()
            self._ready.clear()


class Screencast:
    """The live view of one session. Create it with `BrowserSession.screencast()`."""

    def __init__(self, driver: Driver, settings: ScreencastSettings | None = None) -> None:
        self._driver = driver
        self.settings = settings or ScreencastSettings()
        self._feeds: set[FrameFeed] = set()
        self._page: Page | None = None
        self._cdp: CDPSession | None = None
        self._last: Frame | None = None
        self._seq = 0
        self._painted = False
        """Whether the page cast now has sent a frame of its own."""
        self._casting = False
        """Whether the screencast of the page cast now has started."""
        self._follower: asyncio.Task[None] | None = None
        self._switch = asyncio.Lock()
        self._closed = False
        self._acks: set[asyncio.Task[object]] = set()

    @property
    def last_frame(self) -> Frame | None:
        return self._last

    @property
    def watchers(self) -> int:
        return len(self._feeds)

    @contextlib.asynccontextmanager
    async def watch(self) -> AsyncGenerator[FrameFeed]:
        """Frames while inside the block, starting with the latest one there is."""
        feed = FrameFeed()
        if self._closed:
            feed.close()
            yield feed
            return
        self._feeds.add(feed)
        if self._last is not None:
            feed.offer(self._last)
        if self._follower is None or self._follower.done():
            self._follower = asyncio.get_running_loop().create_task(self._follow())
        try:
            yield feed
        finally:
            self._feeds.discard(feed)
            if not self._feeds:
                await self._stop_follower()
                await self._detach()

    async def close(self) -> None:
        """End every watch (the session is closing)."""
        self._closed = True
        for feed in list(self._feeds):
            feed.close()
        await self._stop_follower()
        await self._detach()
        for task in list(self._acks):
            task.cancel()
        await asyncio.gather(*self._acks, return_exceptions=True)

    # ---- the person's input ------------------------------------------------------------------

    async def pointer(
        self,
        kind: PointerKind,
        x: float,
        y: float,
        *,
        button: Button = "left",
        click_count: int = 1,
        modifiers: int = 0,
    ) -> None:
        """A mouse press, release or move at (x, y), fractions of the frame image."""
        css_x, css_y = self.to_css(x, y)
        params: dict[str, Any] = {
            "type": _CDP_POINTER[kind],
            "x": css_x,
            "y": css_y,
            "modifiers": modifiers,
            "button": "none" if kind == "move" else button,
            "clickCount": 0 if kind == "move" else click_count,
        }
        await self._send("Input.dispatchMouseEvent", params)

    async def wheel(
        self, x: float, y: float, delta_x: float, delta_y: float, *, modifiers: int = 0
    ) -> None:
        css_x, css_y = self.to_css(x, y)
        params = {
            "type": "mouseWheel",
            "x": css_x,
            "y": css_y,
            "deltaX": delta_x,
            "deltaY": delta_y,
            "modifiers": modifiers,
        }
        await self._send("Input.dispatchMouseEvent", params)

    async def key(
        self,
        kind: KeyKind,
        key: str,
        *,
        code: str = "",
        key_code: int = 0,
        modifiers: int = 0,
    ) -> None:
        """A key going down or up, as the viewer's browser reported it (`KeyboardEvent.key`,
        `.code`, `.keyCode`). A printable key (one character, no Ctrl/Alt/Meta) types it."""
        printable = len(key) == 1 and not modifiers & 0b0111  # Alt=1, Ctrl=2, Meta=4 (Shift=8)
        text = "\r" if key == "Enter" else key if printable else ""
        params: dict[str, Any] = {
            "type": ("keyDown" if text else "rawKeyDown") if kind == "down" else "keyUp",
            "key": key,
            "code": code,
            "windowsVirtualKeyCode": key_code,
            "nativeVirtualKeyCode": key_code,
            "modifiers": modifiers,
        }
        if text and kind == "down":
            params["text"] = text
            params["unmodifiedText"] = text
        await self._send("Input.dispatchKeyEvent", params)

    async def insert_text(self, text: str) -> None:
        """Text as if pasted or composed (an input method), into the focused field."""
        await self._send("Input.insertText", {"text": text})

    def to_css(self, x: float, y: float) -> tuple[float, float]:
        """Fractions of the frame image → CSS pixels of the page, with the latest frame."""
        geometry = self._last.geometry if self._last is not None else self._viewport()
        return geometry.to_css(x, y)

    def _viewport(self) -> FrameGeometry:
        s = self._driver.settings
        return FrameGeometry(float(s.viewport_width), float(s.viewport_height))

    async def _send(self, method: str, params: dict[str, Any]) -> None:
        """Dispatch to the active tab; input for a tab that just closed (or that does not
        answer) is dropped."""
        with contextlib.suppress(*_GIVE_UP):
            async with self._switch:
                cdp = self._cdp
                if cdp is None or self._page is not self._driver.page:
                    page = await self._driver.current_page()
                    cdp = await self._attach(page)
            await _cdp_send(cdp, method, params)
        # What the agent last read is no picture of the page after the person's input: the
        # next observation reads it again (a reused one showed a login form signed in since).
        self._driver.invalidate()

    # ---- following the active tab ------------------------------------------------------------

    async def _follow(self) -> None:
        """Keeps the screencast on the session's active tab while anyone watches."""
        while self._feeds and not self._closed:
            page = self._driver.page
            if page is not None and (page is not self._page or self._cdp is None):
                async with self._switch:
                    with contextlib.suppress(*_GIVE_UP):  # tried again at the next turn
                        await self._attach(page)
            elif (cdp := self._cdp) is not None and not (self._casting and self._painted):
                async with self._switch:
                    if cdp is self._cdp:
                        await self._cast(cdp)
            await asyncio.sleep(_FOLLOW_EVERY_S)

    async def _stop_follower(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None and follower is not asyncio.current_task():
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower

    async def _attach(self, page: Page) -> CDPSession:
        """A CDP session on `page`, casting when anyone watches (the switch lock is held)."""
        if self._cdp is not None and self._page is page:
            return self._cdp
        await self._detach()
        async with asyncio.timeout(_CDP_TIMEOUT_S):
            cdp = await self._driver.context.new_cdp_session(page)
        self._page, self._cdp = page, cdp
        self._painted = False

        def on_frame(params: dict[str, Any]) -> None:
            self._on_frame(cdp, params)

        cdp.on("Page.screencastFrame", on_frame)
        self._casting = False
        if self._feeds:
            await self._cast(cdp)
        return cdp

    async def _cast(self, cdp: CDPSession) -> None:
        """Start the screencast (if it is not running) and show the page as it is now (if it
        has not painted since). Retried by the follower: a page in the middle of loading can
        refuse both."""
        s = self.settings
        with contextlib.suppress(*_GIVE_UP):
            if not self._casting:
                await _cdp_send(
                    cdp,
                    "Page.startScreencast",
                    {
                        "format": "jpeg",
                        "quality": s.quality,
                        "maxWidth": s.max_width,
                        "maxHeight": s.max_height,
                    },
                )
                self._casting = True
            await self._first_frame(cdp)

    async def _first_frame(self, cdp: CDPSession) -> None:
        """A still of the page as it is: the screencast only sends frames when the page paints,
        and a page that is already still would otherwise show nothing until it changes."""
        shot = cast(
            dict[str, Any],
            await _cdp_send(
                cdp, "Page.captureScreenshot", {"format": "jpeg", "quality": self.settings.quality}
            ),
        )
        metrics = cast(dict[str, Any], await _cdp_send(cdp, "Page.getLayoutMetrics"))
        view: dict[str, Any] = metrics.get("cssVisualViewport") or {}
        if cdp is not self._cdp or self._painted:  # moved on, or the screencast was first
            return
        self._seq += 1
        frame = Frame(
            jpeg=base64.b64decode(shot["data"]),
            geometry=FrameGeometry.of(
                {
                    "deviceWidth": view.get("clientWidth"),
                    "deviceHeight": view.get("clientHeight"),
                    "pageScaleFactor": view.get("scale"),
                }
            ),
            painted_at=time.time(),
            seq=self._seq,
        )
        self._last, self._painted = frame, True
        for feed in list(self._feeds):
            feed.offer(frame)

    async def _detach(self) -> None:
        cdp, self._cdp, self._page = self._cdp, None, None
        if cdp is None:
            return
        with contextlib.suppress(*_GIVE_UP):
            await _cdp_send(cdp, "Page.stopScreencast")
        with contextlib.suppress(*_GIVE_UP):
            async with asyncio.timeout(_CDP_TIMEOUT_S):
                await cdp.detach()

    def _on_frame(self, cdp: CDPSession, params: dict[str, Any]) -> None:
        ack: asyncio.Task[object] = asyncio.get_running_loop().create_task(
            _cdp_send(cdp, "Page.screencastFrameAck", {"sessionId": params["sessionId"]})
        )
        self._acks.add(ack)
        ack.add_done_callback(_settled(self._acks))
        if cdp is not self._cdp:
            return
        self._painted = True
        metadata: dict[str, Any] = params.get("metadata") or {}
        self._seq += 1
        frame = Frame(
            jpeg=base64.b64decode(params["data"]),
            geometry=FrameGeometry.of(metadata),
            painted_at=float(metadata.get("timestamp") or time.time()),
            seq=self._seq,
        )
        self._last = frame
        for feed in list(self._feeds):
            feed.offer(frame)


async def _cdp_send(cdp: CDPSession, method: str, params: dict[str, Any] | None = None) -> object:
    """One CDP call, answered within `_CDP_TIMEOUT_S` (else `TimeoutError`)."""
    sender = cast(Any, cdp)  # Playwright types CDP params loosely
    async with asyncio.timeout(_CDP_TIMEOUT_S):
        result: object = await sender.send(method, params)
    return result


def _settled(tasks: set[asyncio.Task[object]]) -> Any:
    def done(task: asyncio.Task[object]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # a failed ack (tab closed) is expected; do not log it

    return done
