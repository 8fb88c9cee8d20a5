"""The model-backed planner: a pydantic-ai agent that answers each step with one typed action.

Kept apart from the planner's types (`_planner.py`) so that code which only needs those does not
import pydantic-ai (slow to import)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from pydantic import ValidationError
from pydantic_ai import Agent, NativeOutput, ToolOutput
from pydantic_ai.exceptions import AgentRunError, ModelAPIError, UnexpectedModelBehavior
from pydantic_ai.messages import (
    BinaryContent,
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    UserContent,
    UserPromptPart,
)
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings
from pydantic_ai.usage import RunUsage

from valet.agent._planner import ModelFailure, OutputMode, Prompt, Proposal, Reply, Usage
from valet.tools import ACTIONS_BY_KIND, Action, ActionChoice, one_tool


class ModelPlanner:
    """A `Planner` over any pydantic-ai model; the actions are its output types: one tool each
    (`tools`), one `act` tool for valet's own actions beside one per toolset operation (`act`),
    or one JSON schema where valet's own actions are that same `act` object (`json`)."""

    def __init__(
        self,
        model: Model,
        actions: Sequence[type[Action]],
        instructions: str,
        output_mode: OutputMode = "act",
        settings: ModelSettings | None = None,
        pricer: Callable[[int, int], float] | None = None,
    ) -> None:
        """`pricer`: a step's cost in US dollars from its input and output tokens, over the
        price pydantic-ai knows (a configured price table)."""
        self._pricer = pricer
        output: Any
        own = [a for a in actions if ACTIONS_BY_KIND.get(a.kind) is a]
        others = [a for a in actions if a not in own]
        choices: list[type[Action] | type[ActionChoice]] = [one_tool(own)] if own else []
        match output_mode:
            case "tools":
                output = [ToolOutput(a, name=a.kind) for a in actions]
            case "act":
                output = [ToolOutput(a, name=a.kind) for a in others]
                output[:0] = [ToolOutput(c, name="act") for c in choices]
            case "json":
                output = NativeOutput([*choices, *others], name="action")
        self._model = _Measured(model)
        self._agent: Agent[None, Any] = Agent(
            self._model,
            output_type=output,
            instructions=instructions,
            retries=0,
            model_settings=settings,
        )

    async def propose(self, prompt: Prompt) -> Reply:
        content: list[UserContent] = [prompt.text]
        if prompt.screenshot is not None:
            content.append(BinaryContent(prompt.screenshot, media_type="image/png"))
        usage = RunUsage()
        self._model.chars = 0
        try:
            result = await self._agent.run(content, usage=usage)
        except (UnexpectedModelBehavior, ModelAPIError, AgentRunError, httpx.HTTPError) as exc:
            return ModelFailure(_explain(exc), self._usage(usage, None))
        output: object = result.output
        spent = self._usage(usage, result.response)
        if isinstance(output, ActionChoice):
            try:
                output = output.action()
            except ValidationError as exc:
                return ModelFailure(f"act {output.kind}: {_errors(exc)}", spent)
        if not isinstance(output, Action):
            return ModelFailure(f"expected an action, got {type(output).__name__}", spent)
        return Proposal(output, spent, _text_of(result.response))

    def _usage(self, usage: RunUsage, response: ModelResponse | None) -> Usage:
        cost: float | None = None
        if self._pricer is not None:
            cost = self._pricer(usage.input_tokens, usage.output_tokens)
        elif response is not None:
            try:
                cost = float(response.cost().total_price)
            except (LookupError, ValueError, AssertionError):
                cost = None
        chars = self._model.chars
        return Usage(usage.input_tokens, usage.output_tokens, usage.requests, cost, chars)


class _Measured(WrapperModel):
    """The planner's model, counting the characters of each request it passes on."""

    def __init__(self, wrapped: Model) -> None:
        super().__init__(wrapped)
        self.chars = 0
        """The last request's system prompt, tool schemas and messages, in characters."""

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        self.chars = request_chars(messages, model_request_parameters)
        return await super().request(messages, model_settings, model_request_parameters)


def request_chars(messages: Sequence[ModelMessage], parameters: ModelRequestParameters) -> int:
    """What a request carries, in characters: its instructions (the system prompt), its tool
    definitions or output schema (name, description and JSON schema, as compact JSON) and the
    text of the person's side of its messages (one request per step: the step's prompt).
    Images are not counted."""
    tools = [*parameters.function_tools, *parameters.output_tools]
    schemas: list[dict[str, Any]] = [
        {"name": t.name, "description": t.description, "parameters": t.parameters_json_schema}
        for t in tools
    ]
    if (shape := parameters.output_object) is not None:
        schemas.append(
            {"name": shape.name, "description": shape.description, "schema": shape.json_schema}
        )
    chars = len(json.dumps(schemas, separators=(",", ":"), ensure_ascii=False)) if schemas else 0
    for message in messages:
        if isinstance(message, ModelRequest):
            chars += len(message.instructions or "")
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    texts: Sequence[object] = (
                        [part.content] if isinstance(part.content, str) else part.content
                    )
                    chars += sum(len(text) for text in texts if isinstance(text, str))
        else:
            chars += sum(len(p.content) for p in message.parts if isinstance(p, TextPart))
    return chars


def _explain(exc: BaseException) -> str:
    cause = exc.__cause__
    if isinstance(exc, UnexpectedModelBehavior) and cause is not None:
        return f"{exc.message}: {str(cause).strip()}"[:1500]
    return f"{type(exc).__name__}: {exc}"[:1500]


def _errors(exc: ValidationError) -> str:
    """A validation error as one clause per field, without pydantic's links."""
    found = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
    return found[:1500]


def _text_of(response: ModelResponse) -> str:
    return " ".join(p.content for p in response.parts if isinstance(p, TextPart)).strip()
