"""The model-backed planner: a pydantic-ai agent that answers each step with one typed action.

Kept apart from the planner's types (`_planner.py`) so that code which only needs those does not
import pydantic-ai (slow to import)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
from pydantic_ai import Agent, NativeOutput, ToolOutput
from pydantic_ai.exceptions import AgentRunError, ModelAPIError, UnexpectedModelBehavior
from pydantic_ai.messages import BinaryContent, ModelResponse, TextPart, UserContent
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RunUsage

from valet.agent._planner import ModelFailure, OutputMode, Prompt, Proposal, Reply, Usage
from valet.tools import Action


class ModelPlanner:
    """A `Planner` over any pydantic-ai model; the actions are its output types."""

    def __init__(
        self,
        model: Model,
        actions: Sequence[type[Action]],
        instructions: str,
        output_mode: OutputMode = "tools",
        settings: ModelSettings | None = None,
    ) -> None:
        output: Any
        if output_mode == "tools":
            output = [ToolOutput(a, name=a.kind) for a in actions]
        else:
            output = NativeOutput(list(actions), name="action")
        self._agent: Agent[None, Any] = Agent(
            model, output_type=output, instructions=instructions, retries=0, model_settings=settings
        )

    async def propose(self, prompt: Prompt) -> Reply:
        content: list[UserContent] = [prompt.text]
        if prompt.screenshot is not None:
            content.append(BinaryContent(prompt.screenshot, media_type="image/png"))
        usage = RunUsage()
        try:
            result = await self._agent.run(content, usage=usage)
        except (UnexpectedModelBehavior, ModelAPIError, AgentRunError, httpx.HTTPError) as exc:
            return ModelFailure(_explain(exc), _usage(usage, None))
        output: object = result.output
        if not isinstance(output, Action):
            return ModelFailure(f"expected an action, got {type(output).__name__}")
        return Proposal(output, _usage(usage, result.response), _text_of(result.response))


def _explain(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(exc, UnexpectedModelBehavior) and cause is not None:
        return f"{exc.message}: {str(cause).strip()}"[:1500]
    return f"{type(exc).__name__}: {exc}"[:1500]


def _text_of(response: ModelResponse) -> str:
    return " ".join(p.content for p in response.parts if isinstance(p, TextPart)).strip()


def _usage(usage: RunUsage, response: ModelResponse | None) -> Usage:
    cost: float | None = None
    if response is not None:
        try:
            cost = float(response.cost().total_price)
        except (LookupError, ValueError, AssertionError):
            cost = None
    return Usage(usage.input_tokens, usage.output_tokens, usage.requests, cost)
