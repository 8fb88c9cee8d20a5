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

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

from playwright.async_api import Error as PlaywrightError
from pydantic import ValidationError

from valet.agent import (
    HandBack,
    Handover,
    Inbox,
    ModelFailure,
    Planner,
    Prompt,
    Proposal,
    Questions,
    Reply,
    Toolbox,
    Usage,
)
from valet.browser import ActionOutcome, Observation
from valet.runtime._journal import Journal
from valet.runtime._recovery import Recovery
from valet.runtime._task_browser import BrowserCrashed
from valet.tools import Action

T = TypeVar("T")


class Checkpoints(Protocol):
    async def step(self, name: str, run: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run `run` once; on a replay return its stored result instead."""
        ...


async def replaying(
    checkpoints: Checkpoints, name: str, run: Callable[[], Coroutine[Any, Any, T]]
) -> tuple[T, bool]:
    """The step's result, and whether it was given back by a replay (`run` did not run)."""
    ran = False

    async def live() -> T:
        nonlocal ran
        ran = True
        return await run()

    return await checkpoints.step(name, live), not ran


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
    repeats: int = 0
    """Model turns whose action was not run because of a restart (chosen on the page as it
    was, or interrupted and found not to have happened): the model chose again after each,
    replayed turns and live ones alike."""


@dataclass(frozen=True)
class _Chosen:
    """A model turn as checkpoint data: the action by kind and arguments, never its class
    (toolset actions are classes built at run time, which cannot be pickled)."""

    kind: str
    args: dict[str, Any]
    usage: Usage
    message: str


def _stored(reply: Reply) -> _Chosen | ModelFailure:
    if isinstance(reply, ModelFailure):
        return reply
    args = reply.action.model_dump(mode="json", by_alias=True)
    return _Chosen(reply.action.kind, args, reply.usage, reply.message)


def _reply(stored: _Chosen | ModelFailure, actions: Sequence[type[Action]]) -> Reply:
    if isinstance(stored, ModelFailure):
        return stored
    action = next((a for a in actions if a.kind == stored.kind), None)
    if action is None:
        return ModelFailure(
            f"the action chosen before valet restarted ({stored.kind}) is no longer available",
            stored.usage,
        )
    try:
        return Proposal(action.model_validate(stored.args), stored.usage, stored.message)
    except ValidationError as exc:
        return ModelFailure(f"the action chosen before valet restarted is invalid now: {exc}")


LAYOUT = 3
"""How a run's steps are checkpointed, stored with its first checkpoint (`begin`) so that a run
resumes with the layout it began with. 1: the person's new messages, the observation and the
takeover check are a checkpoint each; 2: the three are one (`look-N`, see `CheckpointedLook`);
3: the look that follows an action is made in the action's checkpoint (`act-N`), so that a step
after an action has two checkpoints: the model's turn and the action."""


@dataclass(frozen=True)
class _Looked:
    messages: list[str]
    observation: Observation
    asked: str | None


@dataclass
class CheckpointedLook:
    """The start of a step as one checkpoint (layout 2): the person's new messages, the page,
    and whether the person asked to take over, read live (the page first: a look that fails
    takes none of the person's messages). The loop asks for each in turn (`messages`, then
    `observation`, then `asked`): the first asks for the look, the others are given what it
    found."""

    checkpoints: Checkpoints
    observe: Callable[[], Awaitable[Observation]]
    """Observes live (the toolbox's own, which reopens a browser that died)."""
    replayed: Callable[[Observation], None]
    """Told each observation a replay gives back (as the toolbox's own replays are)."""
    inbox: Inbox | None = None
    handover: Handover | None = None
    after_actions: bool = False
    """Layout 3: an action's checkpoint ends with the next step's look (`ahead`)."""
    _calls: int = field(default=0, init=False)
    _ahead: _Looked | None = field(default=None, init=False)
    _observation: Observation | None = field(default=None, init=False)
    _asked: tuple[str | None] | None = field(default=None, init=False)

    async def _live(self) -> _Looked:
        observation = await self.observe()
        messages = await self.inbox.take() if self.inbox is not None else []
        asked = await self.handover.requested() if self.handover is not None else None
        return _Looked(messages, observation, asked)

    async def ahead(self) -> _Looked | None:
        """The next step's look, made live inside an action's checkpoint (layout 3); None when
        the page cannot be read now (the next step then makes its look as a checkpoint of its
        own, and fails there if the page still cannot be read)."""
        try:
            return await self._live()
        except (PlaywrightError, BrowserCrashed):  # read again, as its own checkpoint
            return None

    def given(self, looked: _Looked, replayed: bool) -> None:
        """The look an action's checkpoint made (or gave back, replayed): the next step's."""
        if replayed:
            self.replayed(looked.observation)
        self._ahead = looked

    async def _look(self) -> list[str]:
        self._calls += 1
        if self._ahead is not None:  # made with the action before
            looked, self._ahead = self._ahead, None
        else:
            looked, replayed = await replaying(self.checkpoints, f"look-{self._calls}", self._live)
            if replayed:
                self.replayed(looked.observation)
        self._observation, self._asked = looked.observation, (looked.asked,)
        return looked.messages

    async def messages(self) -> list[str]:
        return await self._look()

    async def observation(self) -> Observation:
        if self._observation is None:  # no inbox: the observation starts the step
            await self._look()
        assert self._observation is not None
        observation, self._observation = self._observation, None
        return observation

    async def asked(self) -> str | None:
        if self._asked is None:
            await self._look()
        assert self._asked is not None
        (asked,), self._asked = self._asked, None
        return asked


@dataclass
class _LookedInbox:
    """The person's messages, from the step's look."""

    look: CheckpointedLook

    async def take(self) -> list[str]:
        return await self.look.messages()


@dataclass
class CheckpointedPlanner:
    """A `Planner` whose every model turn is a checkpoint."""

    inner: Planner
    actions: Sequence[type[Action]]
    checkpoints: Checkpoints
    resumption: Resumption
    on_resume: Callable[[int], None] | None = None
    """Told how many model turns count as done (a scripted model moves on to the next): the
    turns before this one, less those whose action a restart left unrun (chosen again)."""
    _told: int | None = field(default=None, init=False)

    async def propose(self, prompt: Prompt) -> Reply:
        index = self.resumption.proposals
        self.resumption.proposals += 1

        async def live() -> _Chosen | ModelFailure:
            done = index - self.resumption.repeats
            moved = self._told is None or done != self._told + 1  # a restart, or chosen again
            if self.on_resume is not None and moved:
                self.on_resume(done)
            self._told = done
            return _stored(await self.inner.propose(prompt))

        return _reply(await self.checkpoints.step(f"model-{index}", live), self.actions)


@dataclass
class CheckpointedToolbox:
    """A `Toolbox` whose observations and actions are checkpoints.

    `start` opens the live toolbox on the first call that must really run (nothing is opened
    while replaying); `resumed` is then True when earlier steps were replayed, so the browser
    can be put back where the interrupted run left it. The first live action after a replay
    is looked up in the journal: if an earlier process had started it, `recovery` reconciles
    it rather than running it blindly."""

    start: Callable[[bool], Awaitable[Toolbox]]
    actions: tuple[type[Action], ...]
    checkpoints: Checkpoints
    resumption: Resumption
    journal: Journal
    recovery: Recovery
    seen: Callable[[Observation], None] | None = None
    """Called with each replayed observation (the gateway learns again what pages said)."""
    lost: Callable[[], str | None] = lambda: None
    """What the reopened browser could not restore (its saved page, its cookies), if anything:
    the model is told with the restart."""
    reopens: int = 3
    """How many times a browser that died under the task is reopened before the task fails."""
    look: CheckpointedLook | None = None
    """Layout 2: observations come from the step's look (set once the look is made)."""
    _live: Toolbox | None = field(default=None, init=False)
    _calls: int = field(default=0, init=False)
    _reopened: int = field(default=0, init=False)

    async def opened(self) -> Toolbox:
        """The live toolbox, opened now if it was not (a wait for the person after a restart
        needs the browser back before the person can take it over)."""
        if self._live is None:
            resumed = self._calls > 1 or self.resumption.proposals > 0
            self._live = await self.start(resumed)
        return self._live

    async def _reopen(self, crash: BrowserCrashed) -> Toolbox:
        """The browser died under the task: open it again where the task was (as after a
        restart: the saved page, its fields, cookies and storage)."""
        self._reopened += 1
        if self._reopened > self.reopens:
            raise BrowserCrashed(f"{crash} {self._reopened} times; valet gave up") from crash
        self._live = None
        self.journal.reread()
        self._live = await self.start(True)
        return self._live

    async def observe(self) -> Observation:
        self._calls += 1
        if self.look is not None:
            return await self.look.observation()
        name = f"observe-{self._calls}"
        observation, replayed = await replaying(self.checkpoints, name, self.observe_live)
        if replayed:
            self.replayed(observation)
        return observation

    async def observe_live(self) -> Observation:
        """The page now, not checkpointed (a look checkpoints it with the step's messages)."""
        try:
            return await (await self.opened()).observe()
        except BrowserCrashed as crash:
            return await (await self._reopen(crash)).observe()

    def replayed(self, observation: Observation) -> None:
        """An observation a replay gave back: the gateway learns again what the page said."""
        self.recovery.last_seen = observation
        if self.seen is not None:
            self.seen(observation)

    async def execute(self, action: Action) -> ActionOutcome:
        self._calls += 1
        key = f"act-{self._calls}"
        look = self.look if self.look is not None and self.look.after_actions else None

        async def live() -> _Acted:
            acted = await self._act(key, action)
            if look is None:
                return acted
            return replace(acted, looked=await look.ahead())

        acted, replayed = await replaying(self.checkpoints, key, live)
        if acted.chosen_again:
            self.resumption.repeats += 1
        if look is not None and acted.looked is not None:
            look.given(acted.looked, replayed)
        return acted.outcome

    async def _act(self, key: str, action: Action) -> _Acted:
        """The action, live: reconciled if an earlier process had started it, not run when it
        was chosen before a restart, run otherwise."""
        restarted = self._live is None and self._calls > 1
        toolbox = await self.opened()
        self.journal.key = key
        if (entry := self.journal.found(key)) is not None:  # an earlier process started it
            resumed = await self.recovery.resume(key, entry, action, toolbox)
            return _Acted(resumed.outcome, chosen_again=resumed.choose_again)
        if restarted:  # chosen on the page as it was before the restart: choose again
            lost = self.lost()
            message = RESTARTED if lost is None else RESTARTED_LOST.format(lost=lost)
            return _Acted(ActionOutcome(ok=False, message=message), chosen_again=True)
        try:
            return _Acted(await toolbox.execute(action))
        except BrowserCrashed as crash:
            toolbox = await self._reopen(crash)
        if (entry := self.journal.found(key)) is not None:  # it had started: reconcile
            resumed = await self.recovery.resume(key, entry, action, toolbox)
            return _Acted(resumed.outcome, chosen_again=resumed.choose_again)
        return _Acted(ActionOutcome(ok=False, message=CRASHED), chosen_again=True)


@dataclass(frozen=True)
class _Acted:
    """An action step's checkpoint: its outcome, whether a restart left it unrun so that the
    model chooses again (replayed, this keeps a scripted model on the right turn), and from
    layout 3 the next step's look."""

    outcome: ActionOutcome
    chosen_again: bool = False
    looked: _Looked | None = None


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
    browser: Callable[[], Awaitable[object]]
    """Opens the browser if a restart left it closed: the person takes over a live page."""
    _calls: int = 0

    look: CheckpointedLook | None = None
    """Layout 2: whether the person asked is part of the step's look."""

    async def requested(self) -> str | None:
        self._calls += 1
        if self.look is not None:
            return await self.look.asked()
        return await self.checkpoints.step(f"takeover-asked-{self._calls}", self.inner.requested)

    async def hand_over(self, reason: str, url: str) -> HandBack | None:
        self._calls += 1

        async def live() -> HandBack | None:
            await self.browser()
            return await self.inner.hand_over(reason, url)

        return await self.checkpoints.step(f"handover-{self._calls}", live)


@dataclass
class CheckpointedQuestions:
    """The person's answers as checkpoints: a replay does not ask again."""

    inner: Questions
    checkpoints: Checkpoints
    browser: Callable[[], Awaitable[object]]
    """Opens the browser if a restart left it closed: the person may look at the page."""
    _calls: int = 0

    async def ask(self, question: str) -> str | None:
        self._calls += 1

        async def live() -> str | None:
            await self.browser()
            return await self.inner.ask(question)

        return await self.checkpoints.step(f"question-{self._calls}", live)


def checkpointed_person(
    layout: int,
    checkpoints: Checkpoints,
    toolbox: CheckpointedToolbox,
    inbox: Inbox | None,
    handover: Handover | None,
) -> tuple[Inbox | None, CheckpointedHandover | None]:
    """The person's messages and takeovers, checkpointed as the run's `layout` says: from
    layout 2, the messages, the observation and the takeover check of a step are one look."""
    handing = (
        None if handover is None else CheckpointedHandover(handover, checkpoints, toolbox.opened)
    )
    if layout < 2:
        return (None if inbox is None else CheckpointedInbox(inbox, checkpoints)), handing
    look = CheckpointedLook(
        checkpoints, toolbox.observe_live, toolbox.replayed, inbox, handover, layout >= 3
    )
    toolbox.look = look
    if handing is not None:
        handing.look = look
    return (None if inbox is None else _LookedInbox(look)), handing


RESTARTED_LOST = (
    "valet was restarted before this action ran, so it was not run, and it could not restore "
    "the task's browser: {lost}. Look at the page again and choose the next action."
)
CRASHED = (
    "The browser stopped working during this action, so it may not have run; valet reopened it "
    "where the task was after its last action. Look at the page again and choose the next action."
)
RESTARTED = (
    "valet was restarted before this action ran, so it was not run. Look at the page again "
    "(reopened where the task was, unless a note at its top says otherwise) and choose the "
    "next action."
)
