"""The consequential action a tool body is running for: what makes an action reconcilable.

The runtime's journal sets it around every toolset call that changes something (below the
gateway, after the policy or the person allowed it). A connector reads it to give what it writes
an id chosen before the write (a Message-ID, a transaction id) and to mark the point of no
return, so that a task restarted after a crash can look the write up instead of guessing.

    action = running_action()
    message["Message-ID"] = f"<{action.id}@{domain}>" if action else make_msgid()
    ...
    if action: action.commit()   # just before the step that cannot be taken back
    smtp.data(...)
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RunningAction:
    """One journaled action, inside the tool body that performs it."""

    id: str
    """Stable across restarts of the task: the same action, reconciled after a crash, has the
    same id (letters, digits, `.` and `-` only)."""
    commit: Callable[[], None]
    """Record (durably) that the write is about to leave valet: an interruption after this is
    reconciled as "may have happened", before it as "did not happen"."""


_RUNNING: ContextVar[RunningAction | None] = ContextVar("valet_running_action", default=None)


def running_action() -> RunningAction | None:
    """The journaled action being run, inside a tool body (None outside the journal, e.g. in a
    test that calls the tool directly)."""
    return _RUNNING.get()


@contextmanager
def performing(action: RunningAction) -> Generator[None]:
    """Run the block as `action` (what the journal does around a tool body)."""
    token = _RUNNING.set(action)
    try:
        yield
    finally:
        _RUNNING.reset(token)
