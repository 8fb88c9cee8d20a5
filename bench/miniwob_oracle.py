"""The oracle of `bench/miniwob.py`: solves MiniWoB++ tasks from valet's prompt text alone.

It reads what valet renders for the model (`miniwob_view.View`) and answers with valet's tools.
It is a test of the harness, not an agent: each task has its own solving logic
(`miniwob_solvers.py`, `miniwob_widgets.py`), which reads the task's instruction from the
page text as valet shows it.
When valet's text lacks what the task needs, or a tool failed, the oracle gives up with the
`Gap` that names what it could not find; that line is the bench's report.
"""

from __future__ import annotations

from typing import Any

import miniwob_solvers
import miniwob_widgets
from miniwob_solvers import TOLERANT
from miniwob_view import Gap, Move, Plan, View, arguments

SOLVERS = miniwob_solvers.SOLVERS | miniwob_widgets.SOLVERS


class Oracle:
    """One episode's oracle: each call reads valet's prompt and answers with one tool call."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.plan: Plan | None = None
        self.moves: list[Move] = []
        self.gap: str | None = None

    def next(self, prompt: str, tools: dict[str, dict[str, Any]]) -> Move:
        if self.gap is not None:
            return as_called(("done", {"answer": self.gap, "success": False}), tools)
        view = View.parse(prompt, tools)
        try:
            if self.moves and view.failed and self.task not in TOLERANT:
                kind, args = self.moves[-1]
                reason = view.last_result.splitlines()[0].removeprefix("FAILED: ")[:200]
                raise Gap(f"{kind} {args} failed: {reason}")
            if self.plan is None:
                self.plan = SOLVERS[self.task](view)
                move = next(self.plan)
            else:
                move = self.plan.send(view)
            move = as_called(move, tools)
        except StopIteration:
            answer = {"answer": "the oracle has no more actions", "success": True}
            return as_called(("done", answer), tools)
        except Gap as gap:
            self.gap = str(gap)
            return as_called(("done", {"answer": self.gap, "success": False}), tools)
        self.moves.append(move)
        return move


def as_called(move: Move, tools: dict[str, dict[str, Any]]) -> Move:
    """The tool call for `move`: its own tool, or valet's one `act` tool with its kind."""
    kind, args = move
    known = arguments(tools, kind)
    if known is None:
        raise Gap(f"valet has no `{kind}` action")
    for key in args:
        if key not in known:
            raise Gap(f"valet's `{kind}` takes no `{key}`")
    return move if kind in tools else ("act", {"kind": kind, **args})
