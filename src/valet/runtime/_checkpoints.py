"""Checkpoints: what makes a run durable. Every call that touches the world (observe the page,
ask the model, act, read the person's messages, hand over the browser) runs as one step whose
result is stored; a workflow that restarts after a crash replays the stored results in order
and goes live again at the first step that never finished.

`Immediate` runs steps directly (`valet run`); `DbosCheckpoints` makes each one a DBOS step
inside the task's workflow (`valet serve`). The loop itself does not know which it runs on:
the wrappers here present the same `Toolbox`, `Planner`, `Inbox`, `Handover` and `Questions`
it expects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from valet.agent import HandBack, Handover, Inbox, Planner, Prompt, Questions, Reply, Toolbox
from valet.browser import ActionOutcome, ByRole, Observation
from valet.effects import Effect
from valet.tools import Action, BrowserToolbox

T = TypeVar("T")


class Checkpoints(Protocol):
    async def step(self, name: str, run: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run `run` once; on a replay return its stored result instead."""
        ...


class Immediate:
    """No durability: every step simply runs."""

    async def step(self, name: str, run: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return await run()


class DbosCheckpoints:
    """Each step is a DBOS step of the current workflow (results stored in its database)."""

    async def step(self, name: str, run: Callable[[], Coroutine[Any, Any, T]]) -> T:
        from dbos import DBOS  # only durable runs need it (it is slow to import)

        return await DBOS.run_step_async({"name": name, "retries_allowed": False}, run)


@dataclass
class Resumption:
    """How many steps of each kind were replayed: the first live call after a replay knows it
    resumes an interrupted run (to reopen the browser where it was, to move a script on)."""

    proposals: int = 0
    stale_action: bool = False
    """The run restarted between a model turn and its action: the action was not run on the
    reopened page (it was chosen on the page as it was), the model chooses again."""


@dataclass
class CheckpointedPlanner:
    """A `Planner` whose every model turn is a checkpoint."""

    inner: Planner
    checkpoints: Checkpoints
    resumption: Resumption
    on_resume: Callable[[int], None] | None = None
    """Told how many model turns count as done: the replayed ones before the first live turn,
    one fewer when the last chosen action was not run on the reopened page."""
    _live: bool = field(default=False, init=False)

    async def propose(self, prompt: Prompt) -> Reply:
        index = self.resumption.proposals
        self.resumption.proposals += 1

        async def live() -> Reply:
            if self.on_resume is not None:
                if self.resumption.stale_action:  # the last choice is made again, live
                    self.on_resume(index - 1)
                elif not self._live and index:
                    self.on_resume(index)
            self.resumption.stale_action = False
            self._live = True
            return await self.inner.propose(prompt)

        return await self.checkpoints.step(f"model-{index}", live)


@dataclass
class CheckpointedToolbox:
    """A `Toolbox` whose observations and actions are checkpoints.

    `start` opens the live toolbox on the first call that must really run (nothing is opened
    while replaying); `resumed` is then True when earlier steps were replayed, so the browser
    can be put back where the interrupted run left it."""

    start: Callable[[bool], Awaitable[Toolbox]]
    actions: tuple[type[Action], ...]
    checkpoints: Checkpoints
    resumption: Resumption
    journal: Journal
    seen: Callable[[Observation], None] | None = None
    """Called with each replayed observation (the gateway learns again what pages said)."""
    _live: Toolbox | None = field(default=None, init=False)
    _calls: int = field(default=0, init=False)

    async def _toolbox(self) -> Toolbox:
        if self._live is None:
            resumed = self._calls > 1 or self.resumption.proposals > 0
            self._live = await self.start(resumed)
        return self._live

    async def observe(self) -> Observation:
        self._calls += 1
        ran = False

        async def live() -> Observation:
            nonlocal ran
            ran = True
            return await (await self._toolbox()).observe()

        observation = await self.checkpoints.step(f"observe-{self._calls}", live)
        if not ran and self.seen is not None:
            self.seen(observation)
        return observation

    async def execute(self, action: Action) -> ActionOutcome:
        self._calls += 1
        key = f"act-{self._calls}"

        async def live() -> ActionOutcome:
            if self._live is None and self._calls > 1:
                # Restarted after the model chose this action on the page as it was then.
                await self._toolbox()
                if self.journal.started(key):  # it was running when valet stopped
                    return ActionOutcome(ok=False, message=INTERRUPTED)
                self.resumption.stale_action = True
                return ActionOutcome(ok=False, message=RESTARTED)
            toolbox = await self._toolbox()
            self.journal.key = key
            return await toolbox.execute(action)

        return await self.checkpoints.step(key, live)


@dataclass
class CheckpointedInbox:
    """The person's messages as checkpoints: a replay sees the same messages at the same step."""

    inner: Inbox
    checkpoints: Checkpoints
    _calls: int = 0

    async def take(self) -> list[str]:
        self._calls += 1

        async def live() -> list[str]:
            return await self.inner.take()

        return await self.checkpoints.step(f"inbox-{self._calls}", live)


@dataclass
class CheckpointedHandover:
    """Takeovers as checkpoints: a replay does not wait for the person again."""

    inner: Handover
    checkpoints: Checkpoints
    _calls: int = 0

    async def requested(self) -> str | None:
        self._calls += 1
        return await self.checkpoints.step(f"takeover-asked-{self._calls}", self.inner.requested)

    async def hand_over(self, reason: str, url: str) -> HandBack | None:
        self._calls += 1

        async def live() -> HandBack | None:
            return await self.inner.hand_over(reason, url)

        return await self.checkpoints.step(f"handover-{self._calls}", live)


@dataclass
class CheckpointedQuestions:
    """The person's answers as checkpoints: a replay does not ask again."""

    inner: Questions
    checkpoints: Checkpoints
    _calls: int = 0

    async def ask(self, question: str) -> str | None:
        self._calls += 1

        async def live() -> str | None:
            return await self.inner.ask(question)

        return await self.checkpoints.step(f"question-{self._calls}", live)


RESTARTED = (
    "valet was restarted before this action ran; the page was reopened where the task was. "
    "Look at it again and choose the next action."
)
INTERRUPTED = (
    "valet was restarted while this action was running, so it was not repeated. Look at the "
    "page: if the action took effect, go on; if not, do it again (it will be checked again)."
)


@dataclass
class Journal:
    """Write-ahead notes of actions that change something, kept below the gateway.

    Before such an action runs, its key is written (and synced to disk); a checkpointed step
    that finished is never run again, so finding the key on a later attempt means the earlier
    attempt was interrupted mid-action: it is not run blindly a second time. Reads are not
    journaled (running them again is harmless)."""

    path: Path
    key: str = ""
    earlier: frozenset[str] = field(init=False)
    """Keys written by earlier processes, read once when the run opens (a step of this process
    may act more than once, e.g. leaving a denied page: its own keys never count)."""

    def __post_init__(self) -> None:
        self.earlier = frozenset(_journal_keys(self.path))

    def started(self, key: str) -> bool:
        """Whether an earlier process started the action `key` (and was interrupted)."""
        return key in self.earlier

    def write(self, key: str, action: Action) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"key": key, "kind": action.kind}) + "\n")
            out.flush()
            os.fsync(out.fileno())


def _journal_keys(path: Path) -> list[str]:
    """The keys in a journal; a line cut short by a crash is skipped."""
    if not path.is_file():
        return []
    keys: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            keys.append(str(json.loads(line)["key"]))
        except (ValueError, KeyError, TypeError):
            continue
    return keys


@dataclass
class JournaledToolbox:
    """Below the gateway: an interrupted consequential action is never re-run blindly."""

    inner: BrowserToolbox
    journal: Journal

    @property
    def actions(self) -> tuple[type[Action], ...]:
        return self.inner.actions

    @property
    def page_url(self) -> str:
        """The live page's URL (the gateway checks vault bindings against it)."""
        return self.inner.page_url

    async def link_url(self, element: int | ByRole) -> str | None:
        """Where a click on `element` would go (the gateway checks it before the click)."""
        return await self.inner.link_url(element)

    async def observe(self) -> Observation:
        return await self.inner.observe()

    async def execute(self, action: Action) -> ActionOutcome:
        key = self.journal.key
        if action.effect is Effect.READ or not key:
            return await self.inner.execute(action)
        if self.journal.started(key):
            return ActionOutcome(ok=False, message=INTERRUPTED)
        self.journal.write(key, action)
        return await self.inner.execute(action)
