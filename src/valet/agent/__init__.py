"""The agent loop, its typed step results, prompts, history and limits.

`ModelPlanner` (pydantic-ai) loads on first use: code that only needs the loop's types does not
pay for importing pydantic-ai."""

from typing import TYPE_CHECKING, Any

from valet.agent._guards import Budget, LoopGuard
from valet.agent._history import History, describe_action, load_prompt
from valet.agent._loop import NOBODY_ANSWERS, Handover, Inbox, Questions, Toolbox, run_loop
from valet.agent._planner import (
    ModelFailure,
    OutputMode,
    Planner,
    Prompt,
    Proposal,
    Reply,
    Usage,
)
from valet.agent._record import Recorder, StepClock, StepRecord
from valet.agent._settings import Limits
from valet.agent._steps import (
    Continue,
    Finished,
    HandBack,
    RunEnd,
    StepEnd,
    Stopped,
    StopReason,
)

__all__ = [
    "NOBODY_ANSWERS",
    "Budget",
    "Continue",
    "Finished",
    "HandBack",
    "Handover",
    "History",
    "Inbox",
    "Limits",
    "LoopGuard",
    "ModelFailure",
    "ModelPlanner",
    "OutputMode",
    "Planner",
    "Prompt",
    "Proposal",
    "Questions",
    "Recorder",
    "Reply",
    "RunEnd",
    "StepClock",
    "StepEnd",
    "StepRecord",
    "StopReason",
    "Stopped",
    "Toolbox",
    "Usage",
    "describe_action",
    "load_prompt",
    "run_loop",
]

if TYPE_CHECKING:
    from valet.agent._model_planner import ModelPlanner


def __getattr__(name: str) -> Any:
    if name == "ModelPlanner":
        from valet.agent._model_planner import ModelPlanner

        return ModelPlanner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
