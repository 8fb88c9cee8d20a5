"""A server task's state and the small pieces around the task manager: its errors, what it
keeps of each task, and how the loop reports steps and reads the person's messages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from valet.agent import Budget, Finished, HandBack, RunEnd, StepRecord
from valet.billing import Metering
from valet.errors import ConfigError, ValetError
from valet.server._schemas import (
    FINAL_STATUSES,
    Message,
    MessageEvent,
    NewTask,
    Step,
    TaskEvent,
    TaskStatus,
)
from valet.store import shown_url

if TYPE_CHECKING:
    from valet.server._tasks import TaskManager

EventMaker = Callable[[int], TaskEvent]
"""Builds a task's next event from its sequence number."""

ASKS = {"approval": "approve", "takeover": "take over", "question": "answer"}
"""How `waiting_for` names each kind of request (`approve: Place order`)."""


class TaskNotFound(ValetError):
    """No task has that id."""


class TaskFinished(ValetError):
    """The task already ended; it cannot be cancelled or messaged."""


class BadModel(ConfigError):
    """The model asked for cannot be used."""


def now() -> str:
    return datetime.now(UTC).isoformat()


def lost_message(url: str, lost: list[str]) -> str:
    shown = ", ".join(lost[:10]) + (f" and {len(lost) - 10} more" if len(lost) > 10 else "")
    return (
        f"{len(lost)} unfinished task(s) have a workflow but are missing from the task "
        f"database {shown_url(url)} (was it emptied, replaced or moved?): {shown}.\n"
        "valet did not start and changed nothing. To recover, restore the task database from "
        "a backup and start again; or start with --forget-lost-tasks to cancel these tasks' "
        "workflows (their run records in runs/ and the audit log are kept)."
    )


@dataclass
class TaskState:
    """Everything the server knows about one task."""

    id: str
    request: NewTask
    model_name: str | None
    max_steps: int
    status: TaskStatus = "queued"
    owner: str | None = None
    """The person who asked for it (multi-person mode); None: the install's."""
    cost_usd: float = 0.0
    """Model cost of its steps so far (where the model's price is known)."""
    billed: tuple[str, Metering] | None = None
    """The account it is charged to and that account's month (found when first needed)."""
    created_at: str = field(default_factory=now)
    started_at: str | None = None
    finished_at: str | None = None
    run_id: str | None = None
    end: RunEnd | None = None
    error: str | None = None
    cancel_requested: bool = False
    saved_answer: str | None = None
    """The final answer of a task that ended before the server restarted."""
    waiting_for: str | None = None
    """While `waiting`: what for (`take over: login form`, `approve: Place order`)."""
    steps: list[Step] = field(default_factory=lambda: list[Step]())
    messages: list[Message] = field(default_factory=lambda: list[Message]())
    events: list[TaskEvent] = field(default_factory=lambda: list[TaskEvent]())
    handle: asyncio.Task[None] | None = field(default=None, repr=False)
    repaired: bool = False
    """A workflow replay that the model had to finish (see `_replay.py`)."""

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def answer(self) -> str | None:
        return self.end.answer if isinstance(self.end, Finished) else self.saved_answer


@dataclass
class Progress:
    """The task's `Recorder`: turns each recorded step into an event."""

    manager: TaskManager
    task: TaskState

    def step(self, step: StepRecord) -> None:
        self.manager.record_step(self.task, step)

    def finish(self, end: RunEnd, budget: Budget) -> None:
        self.task.end = end
        if budget.cost_usd:
            self.manager.record_cost(self.task, budget.cost_usd)

    def handover(self, reason: str, back: HandBack) -> None:
        """The takeover is shown by the status events; the run record keeps it."""


def read_event(task_id: str, message: Message) -> EventMaker:
    return lambda seq: MessageEvent(task_id=task_id, seq=seq, message=message)


@dataclass
class TaskInbox:
    """The person's messages for one task, handed to the loop before each step."""

    manager: TaskManager
    task_id: str

    async def take(self) -> list[str]:
        return [message.text for message in self.manager.take_messages(self.task_id)]
