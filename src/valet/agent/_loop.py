"""The agent loop: observe, ask the model, act through the one call site, record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol, assert_never

from valet.agent._guards import Budget, LoopGuard
from valet.agent._history import History
from valet.agent._planner import ModelFailure, Planner, Proposal, Reply
from valet.agent._record import Recorder, StepClock, StepRecord
from valet.agent._settings import Limits
from valet.agent._steps import Continue, Finished, HandBack, RunEnd, StepEnd, Stopped
from valet.browser import ActionOutcome, Observation
from valet.tools import Action, AskPerson, Done


class Toolbox(Protocol):
    """Where actions meet the world. The gateway wraps this: every action passes `execute`."""

    @property
    def actions(self) -> tuple[type[Action], ...]: ...

    async def observe(self) -> Observation: ...

    async def execute(self, action: Action) -> ActionOutcome: ...


class Inbox(Protocol):
    """Messages the person adds to a running task; the loop reads them before each step."""

    async def take(self) -> list[str]: ...


class Handover(Protocol):
    """Giving the live browser to the person and getting it back.

    The loop hands over when the page needs the person (`Observation.needs_person`, found by
    code) or when the person asked for the browser (`requested`). Time spent with the person
    does not count against the run's time limit."""

    async def requested(self) -> str | None:
        """Why the person asked to take over, if they did since the last step."""
        ...

    async def hand_over(self, reason: str, url: str) -> HandBack | None:
        """Wait until the person hands the browser back; None when nobody can take over."""
        ...


class Questions(Protocol):
    """The person answering the agent's questions (`ask_person`). Their answer comes from the
    person, so the model may act on it; waiting does not count against the time limit."""

    async def ask(self, question: str) -> str | None:
        """The person's answer; None when nobody can answer here (or they chose not to)."""
        ...


NOBODY_ANSWERS = (
    "nobody can answer questions during this run: decide with what you know, or finish with "
    "`done` saying what you need from the person"
)


@dataclass
class _Run:
    history: History
    budget: Budget
    guard: LoopGuard
    inbox: Inbox | None = None
    handover: Handover | None = None
    questions: Questions | None = None
    deadline: asyncio.Timeout | None = None
    failures: int = 0
    unconfirmed: tuple[str, ...] = ()
    """Actions a restart interrupted that nobody could confirm: the run cannot end as a plain
    success while one is open."""

    @contextmanager
    def with_person(self) -> Generator[None]:
        """Time spent waiting for the person does not count against the run's time limit."""
        waited = time.monotonic()
        try:
            yield
        finally:
            if self.deadline is not None and (when := self.deadline.when()) is not None:
                self.deadline.reschedule(when + time.monotonic() - waited)


async def run_loop(
    task: str,
    planner: Planner,
    toolbox: Toolbox,
    recorder: Recorder,
    limits: Limits,
    inbox: Inbox | None = None,
    handover: Handover | None = None,
    questions: Questions | None = None,
) -> RunEnd:
    """Run `task` until the model calls `done` or a limit stops it; every step is recorded."""
    guard = LoopGuard(limits.loop_repeats)
    run = _Run(History(task, limits), Budget(limits), guard, inbox, handover, questions)
    end: StepEnd = Continue()
    try:
        async with asyncio.timeout(limits.max_seconds) as run.deadline:
            while isinstance(end, Continue):
                end = await _within_budget(run) or await _step(run, planner, toolbox, recorder)
    except TimeoutError:
        end = Stopped("max_time", f"ran for more than {limits.max_seconds:g} s")
    except asyncio.CancelledError:
        recorder.finish(Stopped("cancelled", "the run was cancelled"), run.budget)
        raise
    match end:
        case Finished() | Stopped():
            recorder.finish(end, run.budget)
            return end
        case _:  # the loop only ends on Finished or Stopped
            assert_never(end)


async def _step(run: _Run, planner: Planner, toolbox: Toolbox, recorder: Recorder) -> StepEnd:
    clock = StepClock()
    for message in await run.inbox.take() if run.inbox is not None else []:
        run.history.note(f"The person added: {message}")
    observation = await toolbox.observe()
    asked = await run.handover.requested() if run.handover is not None else None
    if (reason := asked or observation.needs_person) is not None:
        return await _hand_over(run, reason, observation.url, recorder)
    clock.lap("observe")
    prompt = run.history.prompt(observation)
    reply = await planner.propose(prompt)
    clock.lap("model")
    run.budget.charge(reply.usage)
    end, outcome = await _act(run, reply, observation, toolbox)
    clock.lap("act")
    recorder.step(StepRecord.of(run.budget.steps, observation, prompt, reply, outcome, clock))
    run.history.add(reply, outcome)
    if outcome.unconfirmed is not None:
        run.unconfirmed += (outcome.unconfirmed,)
    run.failures = 0 if outcome.ok else run.failures + 1
    if isinstance(end, Continue) and run.failures >= run.budget.limits.max_consecutive_failures:
        return Stopped("model_errors", f"{run.failures} failed steps in a row: {outcome.message}")
    return end


async def _hand_over(run: _Run, reason: str, url: str, recorder: Recorder) -> StepEnd:
    """Give the browser to the person; the next step observes afresh what they left."""
    if run.handover is None:
        return Stopped("needs_person", f"{reason}; nobody can take over the browser here")
    with run.with_person():
        back = await run.handover.hand_over(reason, url)
    if back is None:
        return Stopped("needs_person", f"{reason}; nobody took over the browser")
    recorder.handover(reason, back)
    run.history.note(
        f"The person took over the browser ({reason}) and handed it back after "
        f"{back.seconds:.0f} s; the page is now {back.url_after}. What they typed is not shown."
    )
    return Continue()


async def _act(
    run: _Run, reply: Reply, observation: Observation, toolbox: Toolbox
) -> tuple[StepEnd, ActionOutcome]:
    match reply:
        case ModelFailure(error=error):
            return Continue(), ActionOutcome(ok=False, message=f"invalid reply: {error}")
        case Proposal(action=Done(answer=answer, success=success)):
            return _finished(run, answer, success), ActionOutcome(ok=True, message="done")
        case Proposal(action=AskPerson(question=question)):
            return Continue(), await _ask(run, question)
        case Proposal(action=action):
            verdict = run.guard.check(action, observation.digest)
            if verdict == "stop":
                detail = f"repeated the same action on an unchanged page: {action.kind}"
                return Stopped("loop", detail), ActionOutcome(ok=False, message=detail)
            if verdict == "warn":
                message = (
                    "not done: you have repeated this exact action on this unchanged page "
                    f"{run.guard.repeats - 1} times already. Do something different."
                )
                return Continue(), ActionOutcome(ok=False, message=message)
            return Continue(), await toolbox.execute(action)
        case _:
            assert_never(reply)


def _finished(run: _Run, answer: str, success: bool) -> Finished:
    """The model's `done`; never a plain success while an interrupted action is unconfirmed."""
    if not run.unconfirmed:
        return Finished(answer, success)
    unsure = "; ".join(run.unconfirmed)
    note = f"valet could not confirm whether this took effect (it was interrupted): {unsure}"
    return Finished(f"{answer}\n\nCheck this: {note}.", success=False)


YES = frozenset({"yes", "y", "ok", "okay", "extend", "go on", "oui", "continue"})


async def _within_budget(run: _Run) -> Stopped | None:
    """The stop a limit calls for, if any. At the budget, with `budget_asks`, the person is
    asked first whether the task may spend as much again."""
    stop = run.budget.exhausted()
    limits = run.budget.limits
    if stop is None or stop.reason != "budget" or not limits.budget_asks:
        return stop
    if run.questions is None or not limits.budget_usd:
        return stop
    question = (
        f"This task {stop.detail}. May it spend ${limits.budget_usd:g} more on the model? "
        "Answer yes to go on; anything else stops it."
    )
    with run.with_person():
        answer = await run.questions.ask(question)
    if answer is None or answer.strip().lower().rstrip(".!") not in YES:
        return stop
    run.budget.extended_usd += limits.budget_usd
    run.history.note(f"The person gave the task ${limits.budget_usd:g} more to spend.")
    return None


async def _ask(run: _Run, question: str) -> ActionOutcome:
    """The person's answer, as the result of the model's `ask_person`."""
    if run.questions is None:
        return ActionOutcome(ok=False, message=NOBODY_ANSWERS)
    with run.with_person():
        answer = await run.questions.ask(question)
    if answer is None:
        return ActionOutcome(ok=False, message=f"the person did not answer; {NOBODY_ANSWERS}")
    run.history.note(f'You asked the person "{question}"; they answered: {answer}')
    return ActionOutcome(ok=True, message=f"the person answered: {answer}")
