"""Fan-out of task events to websocket subscribers; one hub per server, on `app.state`."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field

from valet.server._schemas import TaskEvent

_QUEUE_SIZE = 1000


@dataclass
class EventHub:
    """Delivers every published event to every current subscriber, in order.

    A subscriber that falls more than `_QUEUE_SIZE` events behind is dropped (its queue gets
    `None`), so one stalled websocket never holds up the tasks."""

    _subscribers: set[asyncio.Queue[TaskEvent | None]] = field(
        default_factory=lambda: set[asyncio.Queue[TaskEvent | None]]()
    )
    _sessions: dict[asyncio.Queue[TaskEvent | None], str] = field(
        default_factory=lambda: dict[asyncio.Queue[TaskEvent | None], str]()
    )

    @contextmanager
    def subscribe(self, session: str | None = None) -> Generator[asyncio.Queue[TaskEvent | None]]:
        """A queue of every event from now on; `session`: the browser session it serves, so
        `end_session` can end it."""
        queue: asyncio.Queue[TaskEvent | None] = asyncio.Queue(_QUEUE_SIZE + 1)
        self._subscribers.add(queue)
        if session is not None:
            self._sessions[queue] = session
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
            self._sessions.pop(queue, None)

    def end_session(self, session: str) -> None:
        """Ends the subscriptions of one browser session (signed out or revoked)."""
        for queue, owner in list(self._sessions.items()):
            if owner == session and queue in self._subscribers:
                self._subscribers.discard(queue)
                queue.put_nowait(None)

    def publish(self, event: TaskEvent) -> None:
        for queue in list(self._subscribers):
            if queue.qsize() >= _QUEUE_SIZE:
                self._subscribers.discard(queue)
                queue.put_nowait(None)
            else:
                queue.put_nowait(event)

    def close(self) -> None:
        """Ends every subscription (server shutdown)."""
        for queue in list(self._subscribers):
            self._subscribers.discard(queue)
            queue.put_nowait(None)
