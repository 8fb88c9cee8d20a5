"""Small collaborators of the loop: the budget of a run and the loop detector."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from valet.agent._planner import Usage
from valet.agent._settings import Limits
from valet.agent._steps import Stopped
from valet.tools import Action


@dataclass
class Budget:
    """Steps, time, tokens and cost spent so far, against the run's limits."""

    limits: Limits
    started: float = field(default_factory=time.monotonic)
    steps: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    extended_usd: float = 0.0
    """What the person added to the budget when it was reached."""

    @property
    def deadline(self) -> float:
        """`loop.time()`-compatible monotonic deadline for the whole run."""
        return self.started + self.limits.max_seconds

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def charge(self, usage: Usage) -> None:
        self.steps += 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        if usage.cost_usd is None:
            self.cost_known = self.cost_known and usage.requests == 0
        else:
            self.cost_usd += usage.cost_usd

    def exhausted(self) -> Stopped | None:
        lim = self.limits
        if self.steps >= lim.max_steps:
            return Stopped("max_steps", f"reached the limit of {lim.max_steps} steps")
        if self.elapsed >= lim.max_seconds:
            return Stopped("max_time", f"ran for more than {lim.max_seconds:g} s")
        if self.input_tokens + self.output_tokens >= lim.max_tokens:
            return Stopped("max_tokens", f"used more than {lim.max_tokens} tokens")
        if lim.max_cost_usd is not None and self.cost_usd >= lim.max_cost_usd:
            return Stopped("max_cost", f"spent more than ${lim.max_cost_usd:g}")
        if lim.budget_usd is not None and self.cost_usd >= lim.budget_usd + self.extended_usd:
            spent = f"${self.cost_usd:.4f} spent on the model"
            return Stopped("budget", f"reached {lim.budget_of or 'its budget'} ({spent})")
        return None


LoopVerdict = Literal["ok", "warn", "stop"]


@dataclass
class LoopGuard:
    """Spots the same action repeated on the same page state."""

    repeats: int
    seen: Counter[str] = field(default_factory=lambda: Counter[str]())

    def check(self, action: Action, page_digest: str) -> LoopVerdict:
        key = f"{page_digest}|{action.kind}|{action.model_dump_json()}"
        self.seen[key] += 1
        count = self.seen[key]
        if count > self.repeats:
            return "stop"
        return "warn" if count == self.repeats else "ok"
