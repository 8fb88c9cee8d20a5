"""A task's live browser view over a websocket, and who controls the browser (the lease).

The websocket `/api/tasks/{id}/live` carries binary messages (JPEG frames of the agent's active
tab, newest only: a slow viewer skips frames) and JSON text messages:

- server → viewer: `hello` (this viewer's id and name), `lease` (who controls the browser and
  whether it is you), `status` (what the agent waits for, if anything), `browser` (whether the
  task has a browser now), `error` (refused input), `ended`;
- viewer → server: `pointer`, `wheel`, `key`, `text`. Input is accepted only from the viewer
  holding the lease, and only while the agent is paused (`active`); it is dispatched to the
  browser and forgotten: never logged, stored, or shown to the model.

One viewer controls at a time. Taking the lease asks the agent to pause at its next step
(`pending`); once it has, the lease is `active`. Only handing back releases it and lets the
agent go on with a fresh look at the page, or the holder staying away: when the holder's
websocket closes (a reload, a closed tab, a dropped connection) the lease is kept for them for
a grace period (`LiveView.grace_s`), and a live view that opens with `?resume=<their viewer id>`
within it is that same viewer again, holding the same lease. Once the grace period is over
without them, the lease is released as if they had handed back.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from valet.browser import BrowserSession
from valet.errors import ValetError
from valet.server._pumps import until_one_ends
from valet.server._schemas import Lease

_OUTBOX = 64
_NAME_CHARS = 40


class LeaseConflict(ValetError):
    """The browser is controlled by someone else, or not by you."""


class UnknownViewer(ValetError):
    """No viewer of this task's live view has that id."""


class NoBrowser(ValetError):
    """The task has no browser to take over (not started yet, or ended)."""


# ---- what viewers send -----------------------------------------------------------------------


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PointerInput(_Input):
    type: Literal["pointer"]
    kind: Literal["down", "up", "move"]
    x: float = Field(ge=0, le=1)
    """Fraction of the frame image's width."""
    y: float = Field(ge=0, le=1)
    button: Literal["none", "left", "middle", "right"] = "left"
    clicks: int = Field(default=1, ge=0, le=3)
    modifiers: int = Field(default=0, ge=0, le=15)


class WheelInput(_Input):
    type: Literal["wheel"]
    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    dx: float = Field(default=0, ge=-10_000, le=10_000)
    dy: float = Field(default=0, ge=-10_000, le=10_000)
    modifiers: int = Field(default=0, ge=0, le=15)


class KeyInput(_Input):
    type: Literal["key"]
    kind: Literal["down", "up"]
    key: str = Field(min_length=1, max_length=32)
    code: str = Field(default="", max_length=32)
    key_code: int = Field(default=0, ge=0, le=255)
    modifiers: int = Field(default=0, ge=0, le=15)


class TextInput(_Input):
    type: Literal["text"]
    text: str = Field(min_length=1, max_length=10_000)


ViewerInput = Annotated[
    PointerInput | WheelInput | KeyInput | TextInput, Field(discriminator="type")
]
_INPUT: TypeAdapter[PointerInput | WheelInput | KeyInput | TextInput] = TypeAdapter(ViewerInput)


# ---- viewers and the lease -------------------------------------------------------------------


Outbox = asyncio.Queue[dict[str, Any] | None]


def _outbox() -> Outbox:
    return Outbox(_OUTBOX)


def _put(outbox: Outbox, message: dict[str, Any] | None) -> None:
    """Queue a control message; a viewer that stopped reading loses the oldest ones."""
    if outbox.full():
        with contextlib.suppress(asyncio.QueueEmpty):
            outbox.get_nowait()
    outbox.put_nowait(message)


@dataclass(eq=False)
class Viewer:
    """One open live view (a browser tab of the person's); the same viewer again when that tab
    reloads and resumes it."""

    id: str
    name: str
    outbox: Outbox = field(default_factory=_outbox)
    connection: int = 0
    """Which of its websockets is current (a resumed viewer's old one may still be closing)."""
    away: asyncio.TimerHandle | None = None
    """While its websocket is gone: the end of its grace period (it holds the lease)."""

    def send(self, message: dict[str, Any] | None) -> None:
        _put(self.outbox, message)

    def reconnect(self) -> None:
        """A new websocket serves this viewer: the old one's messages end, the grace ends."""
        _put(self.outbox, None)
        self.outbox = _outbox()
        self.connection += 1
        if self.away is not None:
            self.away.cancel()
            self.away = None


Released = Callable[[str, float], None]
"""Told when a lease that was active ends: (holder's name, seconds they had the browser)."""


class LiveView:
    """The live view of one task: its browser (when it has one), viewers and the lease."""

    def __init__(self, task_id: str, grace_s: float = 30.0) -> None:
        self.task_id = task_id
        self.grace_s = grace_s
        """How long the lease waits for a holder whose websocket closed to come back."""
        self.session: BrowserSession | None = None
        self.ended = False
        self.paused = False
        """The agent waits for the person (in a takeover), so input may reach the page."""
        self.on_release: Released | None = None
        self.waiting_for: str | None = None
        self._viewers: dict[str, Viewer] = {}
        self._joined = 0
        self._holder: Viewer | None = None
        self._taken_at = ""
        self._active_since: float | None = None
        self._browser_changed = asyncio.Event()
        self._watched = asyncio.Event()
        """Set while at least one viewer has the live view open (watch mode)."""

    # -- the browser --

    def attach(self, session: BrowserSession) -> None:
        """The task's browser (the runtime calls this each time it opens one)."""
        self.session = session
        self._browser_changed.set()
        self._broadcast({"type": "browser", "live": True})

    @property
    def page_url(self) -> str | None:
        return None if self.session is None else self.session.page_url

    def waiting(self, what: str | None) -> None:
        """Tell viewers what the agent waits for (`take over: login form`), or that it goes on."""
        self.waiting_for = what
        self._broadcast({"type": "status", "waiting_for": what})

    def end(self) -> None:
        """The task ended: viewers are told, the lease goes, nothing more is accepted."""
        if self.ended:
            return
        self.ended = True
        self.paused = False
        if self._holder is not None and self._holder.away is not None:
            self._holder.away.cancel()
        self._holder = None
        self.session = None
        self._browser_changed.set()
        self._broadcast({"type": "ended"})
        for viewer in self._viewers.values():
            viewer.send(None)

    # -- viewers --

    def join(self, name: str | None) -> Viewer:
        self._joined += 1
        shown = " ".join((name or "").split())[:_NAME_CHARS] or f"viewer {self._joined}"
        viewer = Viewer(secrets.token_urlsafe(12), shown)
        self._viewers[viewer.id] = viewer
        self._watched.set()
        return viewer

    def resume(self, viewer_id: str) -> Viewer | None:
        """The viewer holding the lease, back on a new websocket (a reload, a reconnection);
        None when `viewer_id` does not hold it (then the live view opens as a new viewer)."""
        holder = self._holder
        if holder is None or holder.id != viewer_id or self.ended:
            return None
        holder.reconnect()
        self._viewers[holder.id] = holder
        self._watched.set()
        return holder

    def leave(self, viewer: Viewer) -> None:
        """A viewer closed its live view. The lease it held waits `grace_s` for it to come
        back (`resume`); then it is handed back."""
        self._viewers.pop(viewer.id, None)
        if not self._viewers:
            self._watched.clear()
        if self._holder is viewer and viewer.away is None and not self.ended:
            loop = asyncio.get_running_loop()
            viewer.away = loop.call_later(self.grace_s, self._gone, viewer)

    def _gone(self, viewer: Viewer) -> None:
        """The grace period of a holder that did not come back is over."""
        viewer.away = None
        if self._holder is viewer and viewer.id not in self._viewers:
            self.release(viewer.id)

    @property
    def watched(self) -> bool:
        """Someone has the live view open."""
        return self._watched.is_set()

    async def until_watched(self) -> None:
        """Return once someone has the live view open."""
        await self._watched.wait()

    def viewer(self, viewer_id: str) -> Viewer:
        found = self._viewers.get(viewer_id)
        if found is None:
            raise UnknownViewer(
                f"no open live view of task {self.task_id} has viewer id {viewer_id!r}; "
                "open the live view first (its hello message names the viewer)"
            )
        return found

    # -- the lease --

    @property
    def holder(self) -> Viewer | None:
        return self._holder

    @property
    def active(self) -> bool:
        return self._holder is not None and self.paused

    def lease(self) -> Lease:
        holder = self._holder
        state: Literal["free", "pending", "active"] = (
            "free" if holder is None else "active" if self.paused else "pending"
        )
        return Lease(
            task_id=self.task_id,
            viewer=None if holder is None else holder.id,
            holder=None if holder is None else holder.name,
            state=state,
            since=self._taken_at or None,
        )

    def take(self, viewer_id: str) -> Lease:
        """Give the browser to `viewer_id`; `pending` until the agent pauses."""
        viewer = self.viewer(viewer_id)
        if self.ended or self.session is None:
            raise NoBrowser(f"task {self.task_id} has no browser to take over right now")
        holder = self._holder
        if holder is not None and holder is not viewer:
            raise LeaseConflict(f"the browser is controlled by {holder.name}")
        if holder is None:
            self._holder = viewer
            self._taken_at = datetime.now(UTC).isoformat()
            if self.paused:
                self._active_since = time.monotonic()
            self._broadcast_lease()
        return self.lease()

    def release(self, viewer_id: str | None) -> Lease:
        """End the lease of `viewer_id` (None: only when nobody holds it)."""
        holder = self._holder
        if holder is not None and (viewer_id is None or holder.id != viewer_id):
            raise LeaseConflict(f"the browser is controlled by {holder.name}, not by you")
        self._holder = None
        self._taken_at = ""
        since, self._active_since = self._active_since, None
        if holder is not None:
            if holder.away is not None:
                holder.away.cancel()
                holder.away = None
            self._broadcast_lease()
            if since is not None and self.on_release is not None:
                self.on_release(holder.name, time.monotonic() - since)
        return self.lease()

    def pause(self) -> None:
        """The agent stopped for the person: a pending lease becomes active."""
        self.paused = True
        if self._holder is not None and self._active_since is None:
            self._active_since = time.monotonic()
        self._broadcast_lease()

    def proceed(self) -> None:
        """The agent goes on: nobody controls the browser any more."""
        self.paused = False
        if self._holder is not None and self._holder.away is not None:
            self._holder.away.cancel()
            self._holder.away = None
        self._holder = None
        self._taken_at = ""
        self._active_since = None
        self._broadcast_lease()

    def _broadcast_lease(self) -> None:
        for viewer in self._viewers.values():
            viewer.send(self._lease_message(viewer))

    def _lease_message(self, viewer: Viewer) -> dict[str, Any]:
        lease = self.lease()
        return lease.model_dump() | {
            "type": "lease",
            "you": lease.viewer == viewer.id,
            "paused": self.paused,
        }

    def _broadcast(self, message: dict[str, Any]) -> None:
        for viewer in self._viewers.values():
            viewer.send(message)

    # -- input --

    async def dispatch(self, viewer: Viewer, raw: str) -> str | None:
        """Run one input message of `viewer`; a refusal as text (never echoing the input)."""
        if self._holder is not viewer:
            return "you do not control this browser: take over first"
        if not self.paused or self.session is None:
            return "the agent has not paused yet; input is accepted once it has"
        try:
            event = _INPUT.validate_json(raw)
        except ValidationError:
            return "invalid input message"
        screen = self.session.screencast()
        match event:
            case PointerInput():
                await screen.pointer(
                    event.kind,
                    event.x,
                    event.y,
                    button=event.button,
                    click_count=event.clicks,
                    modifiers=event.modifiers,
                )
            case WheelInput():
                await screen.wheel(event.x, event.y, event.dx, event.dy, modifiers=event.modifiers)
            case KeyInput():
                await screen.key(
                    event.kind,
                    event.key,
                    code=event.code,
                    key_code=event.key_code,
                    modifiers=event.modifiers,
                )
            case TextInput():
                await screen.insert_text(event.text)
        return None

    # -- the websocket --

    async def serve(
        self, websocket: WebSocket, name: str | None, resume: str | None = None
    ) -> None:
        """One viewer's websocket, accepted: frames out, control messages both ways. With
        `resume` (the viewer id an earlier websocket of this tab was given), the viewer holding
        the lease comes back as itself."""
        viewer = (None if resume is None else self.resume(resume)) or self.join(name)
        connection, outbox = viewer.connection, viewer.outbox
        viewer.send({"type": "hello", "viewer": viewer.id, "name": viewer.name})
        viewer.send({"type": "browser", "live": self.session is not None})
        viewer.send({"type": "status", "waiting_for": self.waiting_for})
        viewer.send(self._lease_message(viewer))
        if self.ended:
            viewer.send({"type": "ended"})
            viewer.send(None)
        try:
            await until_one_ends(
                self._send_control(websocket, outbox),
                self._send_frames(websocket),
                self._receive(websocket, viewer),
            )
        finally:
            if viewer.connection == connection:  # not resumed on another websocket meanwhile
                self.leave(viewer)
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close()

    async def _send_control(self, websocket: WebSocket, outbox: Outbox) -> None:
        while (message := await outbox.get()) is not None:
            await websocket.send_json(message)

    async def _send_frames(self, websocket: WebSocket) -> None:
        while not self.ended:
            session = self.session
            if session is None:
                self._browser_changed.clear()
                await self._browser_changed.wait()
                continue
            async with session.screencast().watch() as feed:
                while (frame := await feed.next()) is not None and self.session is session:
                    await websocket.send_bytes(frame.jpeg)
            if self.session is session:  # the browser closed under the watch
                self._browser_changed.clear()
                await self._browser_changed.wait()

    async def _receive(self, websocket: WebSocket, viewer: Viewer) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                raw = message.get("text")
                if raw is None:
                    viewer.send({"type": "error", "detail": "send input as JSON text"})
                    continue
                refusal = await self.dispatch(viewer, raw)
                if refusal is not None:
                    viewer.send({"type": "error", "detail": refusal})
