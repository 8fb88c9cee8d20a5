"""Asking the model for the next action: one request per step, answer typed or a readable error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from valet.tools import Action

OutputMode = Literal["tools", "act", "json"]
"""`tools`: each action is its own native tool. `act`: one native tool, `act(kind, …)`, for
every browser action (a third of the schema characters; toolset operations stay one tool
each). `json`: the reply is JSON-schema constrained output, for models without (reliable) tool
calling."""


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    requests: int = 0
    cost_usd: float | None = None
    """None when the price of the model is unknown."""
    request_chars: int = 0
    """What the last request carried: system prompt, tool schemas and messages, in characters
    (0 when no request was made)."""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class Prompt:
    """One step's request: the text and, for vision models, a marked screenshot."""

    text: str
    screenshot: bytes | None = None
    observation_chars: int = 0
    """Size of the rendered page inside `text`."""


@dataclass(frozen=True, slots=True)
class Proposal:
    """The model chose an action."""

    action: Action
    usage: Usage
    message: str = ""
    """Any text the model wrote beside its action (its reasoning, when it gives one)."""


@dataclass(frozen=True, slots=True)
class ModelFailure:
    """The model's reply was not a valid action, or the model could not be reached."""

    error: str
    usage: Usage = field(default_factory=Usage)


Reply = Proposal | ModelFailure


class Planner(Protocol):
    async def propose(self, prompt: Prompt) -> Reply: ...
