"""Every way a step, and so a run, can end: a closed union matched exhaustively."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

StopReason = Literal[
    "max_steps",
    "max_time",
    "max_tokens",
    "max_cost",
    "budget",
    "loop",
    "model_errors",
    "cancelled",
    "needs_person",
]
"""Why a run stopped before the model said it was done."""


@dataclass(frozen=True, slots=True)
class Continue:
    """The step ran; the loop goes on."""


@dataclass(frozen=True, slots=True)
class Finished:
    """The model called `done`."""

    answer: str
    success: bool


@dataclass(frozen=True, slots=True)
class Stopped:
    """The harness ended the run."""

    reason: StopReason
    detail: str


@dataclass(frozen=True, slots=True)
class HandBack:
    """A takeover that ended. Only this is kept: never what the person typed or clicked."""

    by: str
    """Who had the browser, e.g. `person`, `person:alice`."""
    seconds: float
    url_before: str
    url_after: str


StepEnd = Continue | Finished | Stopped
RunEnd = Finished | Stopped
