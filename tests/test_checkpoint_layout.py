"""How a run's steps are checkpointed: from layout 2, the start of a step (the person's
messages, the page, the takeover check) is one checkpoint, `look-N`; from layout 3, the look
that follows an action is made in the action's checkpoint, `act-N`, after the browser's state
is saved. A run that began under an earlier layout (layout 1: its first checkpoint holds its id
alone) resumes with its own layout, step for step.

`Recorded` keeps checkpoints as a durable runtime does, in order, and replays them like DBOS:
the stored result while the steps are the same ones at the same places (a different step there
is an error), then live."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from valet.agent import Finished, HandBack, Limits
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.runtime import TaskSpec, _local, run_task
from valet.runtime._task_browser import StateNotSaved
from valet.sites import SiteServer

T = TypeVar("T")

SCRIPT: list[Any] = [
    {"click": {"role": "link", "name": "Cart"}},
    {"goto": "/shop"},
    {"done": {"answer": "looked around", "success": True}},
]


class Recorded:
    def __init__(self, stored: list[tuple[str, Any]] | None = None) -> None:
        self.stored = list(stored or [])
        self.names: list[str] = []
        self.replayed = 0
        self.before: dict[str, Callable[[], None]] = {}
        """Called before the step of that name runs live."""
        self.after: dict[str, Callable[[], None]] = {}
        """Called when the step of that name ran live, before it is stored."""

    async def step(self, name: str, run: Callable[[], Coroutine[Any, Any, T]]) -> T:
        index = len(self.names)
        self.names.append(name)
        if index < len(self.stored):
            recorded, value = self.stored[index]
            assert recorded == name, f"checkpoint {index} was {recorded!r}, replayed as {name!r}"
            self.replayed += 1
            return value
        if name in self.before:
            self.before[name]()
        value = await run()
        if name in self.after:
            self.after[name]()
        self.stored.append((name, value))
        return value


class Quiet:
    """The person says nothing and never takes over."""

    def __init__(self) -> None:
        self.looked = 0

    async def take(self) -> list[str]:
        self.looked += 1
        return []

    async def requested(self) -> str | None:
        return None

    async def hand_over(self, reason: str, url: str) -> HandBack | None:
        return None


async def _run(home: Path, sites: SiteServer, steps: Recorded, run_id: str) -> Quiet:
    person = Quiet()
    result = await run_task(
        TaskSpec(task="Look around", start_url=sites.url_for("/shop"), limits=Limits(max_steps=8)),
        scripted_model(ScriptPlayer(parse_steps(SCRIPT))),
        home=home,
        model_info={"model": "scripted:test"},
        inbox=person,
        handover=person,
        checkpoints=steps,
        run_id=run_id,
    )
    assert isinstance(result.end, Finished) and result.end.success, result.end
    return person


async def test_a_step_after_an_action_is_looked_at_in_the_actions_checkpoint(
    home: Path, sites: SiteServer
) -> None:
    first = Recorded()
    saved: list[str] = []
    page = home / "tasks" / "run-3" / "page.json"
    first.after["act-2"] = lambda: saved.append(json.loads(page.read_text())["url"])
    await _run(home, sites, first, "run-3")
    assert first.names == ["begin", "look-1", "model-0", "act-2", "model-1", "act-4", "model-2"]
    assert first.stored[0][1] == ("run-3", 3)  # the layout is kept with the run's id
    acted = first.stored[3][1]
    assert acted.outcome.ok and acted.looked is not None
    assert acted.looked.observation.url.endswith("/shop/cart")  # the page after the click
    assert saved == [acted.looked.observation.url]  # saved before the checkpoint is stored
    again = Recorded(first.stored[:4])  # interrupted after the first action
    person = await _run(home, sites, again, "run-3")
    assert again.names[:4] == first.names[:4] and again.replayed == 4
    live = again.names[4:]  # chosen on the page as replayed, the next action is chosen again
    assert {name.split("-")[0] for name in live} == {"model", "act"}
    assert person.looked == len([n for n in live if n.startswith("act-")])  # one with each


async def test_a_failed_save_fails_the_action_rather_than_storing_it(
    home: Path, sites: SiteServer
) -> None:
    steps = Recorded()
    page = home / "tasks" / "run-x" / "page.json"

    def unwritable() -> None:  # a folder where the page's state goes: the save cannot write it
        page.unlink()
        page.mkdir()

    steps.before["act-2"] = unwritable
    with pytest.raises(StateNotSaved, match="could not be saved"):
        await _run(home, sites, steps, "run-x")
    assert steps.names[-1] == "act-2" and [n for n, _ in steps.stored][-1] == "model-0"


async def test_a_run_begun_under_layout_2_resumes_with_it(
    home: Path, sites: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_local, "LAYOUT", 2)
    first = Recorded()
    await _run(home, sites, first, "run-2")
    monkeypatch.undo()
    assert first.names == [
        "begin",
        "look-1",
        "model-0",
        "act-2",
        "look-2",
        "model-1",
        "act-4",
        "look-3",
        "model-2",
    ]
    assert first.stored[0][1] == ("run-2", 2)
    again = Recorded(first.stored[:5])  # interrupted after the second step's look
    person = await _run(home, sites, again, "run-2")
    assert again.names[:5] == first.names[:5] and again.replayed == 5
    live = again.names[5:]  # the action chosen before the restart is chosen again
    assert {name.split("-")[0] for name in live} == {"look", "model", "act"}
    assert person.looked == sum(name.startswith("look-") for name in live)  # replays: none


async def test_a_run_begun_under_layout_1_resumes_with_it(
    home: Path, sites: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_local, "LAYOUT", 1)
    old = Recorded()
    await _run(home, sites, old, "run-1")
    monkeypatch.undo()
    assert old.names[:5] == ["begin", "inbox-1", "observe-1", "takeover-asked-1", "model-0"]
    stored = [("begin", "run-1"), *old.stored[1:7]]  # as stored before layouts: the id alone
    resumed = Recorded(stored)
    await _run(home, sites, resumed, "run-1")
    assert resumed.names[:7] == old.names[:7] and resumed.replayed == 7
    assert {name.split("-")[0] for name in resumed.names[7:]} == {
        "inbox",
        "observe",
        "takeover",
        "model",
        "act",
    }  # it goes on in its own layout


def test_a_replayed_step_is_shown_once() -> None:
    """A restart replays the steps a task had done: the timeline shows each index once, the
    replayed one in place of the one shown (its cost and metrics are not counted again)."""
    from valet.server._schemas import Step
    from valet.server._tasks import _put_step  # pyright: ignore[reportPrivateUsage]

    steps: list[Step] = []
    first = Step(index=1, action_text="mail_send", ok=True, result="sent")
    again = Step(index=1, action_text="mail_send", ok=True, result="found in Sent")
    assert _put_step(steps, first) is True
    assert _put_step(steps, Step(index=2, action_text="done", ok=True, result="done")) is True
    assert _put_step(steps, again) is False
    assert [(s.index, s.result) for s in steps] == [(1, "found in Sent"), (2, "done")]
