"""A model that plays a script: drives tests, demos and workflow replay with no model at all.

It is a pydantic-ai `FunctionModel`, so it travels the same path as a real model: it reads the
same prompt, answers with the same tool calls (or JSON in `json` output mode), and its mistakes
(`say`, `raw`) are handled like a real model's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

from valet.models._script import ScriptStep
from valet.tools import ACTIONS_BY_KIND


@dataclass
class ScriptPlayer:
    """Per-run state of a scripted model: which step comes next."""

    steps: list[ScriptStep]
    replay: bool = False
    """Workflow replay: when the previous step failed or the page no longer meets a step's
    expectation, stop (or hand over to `fallback`)."""
    fallback: Model | None = None
    """A real model that takes over the rest of the task when a replayed step fails."""
    provider_name: str | None = None
    """Set by `scripted_model(priced_as=...)`: replies are priced like that provider's model."""
    position: int = 0
    handed_over: bool = field(default=False, init=False)

    async def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = _last_prompt(messages)
        if self.handed_over and self.fallback is not None:
            return await self.fallback.request(
                messages, info.model_settings, info.model_request_parameters
            )
        if self.replay and self.position > 0 and "# Last action result\nFAILED" in prompt:
            failed = self.steps[self.position - 1]
            if self.fallback is not None:
                self.handed_over = True
                return await self.fallback.request(
                    messages, info.model_settings, info.model_request_parameters
                )
            reason = _failure_line(prompt)
            answer = f"replay stopped at step {self.position} ({failed.describe()}): {reason}"
            return self._respond(info, "done", {"answer": answer, "success": False})
        if self.position >= len(self.steps):
            return self._respond(
                info, "done", {"answer": "the script has no more actions", "success": False}
            )
        step = self.steps[self.position]
        self.position += 1
        if step.expect is not None and (why := step.expect.failure(prompt)) is not None:
            if self.replay and self.fallback is not None:  # the page changed: the model goes on
                self.handed_over = True
                return await self.fallback.request(
                    messages, info.model_settings, info.model_request_parameters
                )
            answer = f"script expectation failed before step {self.position}: {why}"
            return self._respond(info, "done", {"answer": answer, "success": False})
        if step.text is not None:
            return self._response(TextPart(step.text))
        return self._respond(info, step.kind, step.args)

    def _respond(self, info: AgentInfo, kind: str, args: dict[str, object]) -> ModelResponse:
        if info.output_tools:
            if all(tool.name != kind for tool in info.output_tools):
                args, kind = {"kind": kind, **args}, "act"  # every browser action in one tool
            return self._response(ToolCallPart(tool_name=kind, args=args))
        return self._response(TextPart(json.dumps(_json_reply(info, kind, args))))

    def _response(self, part: TextPart | ToolCallPart) -> ModelResponse:
        return ModelResponse(parts=[part], model_name="scripted", provider_name=self.provider_name)


def scripted_model(player: ScriptPlayer, priced_as: str | None = None) -> FunctionModel:
    """A model playing `player`'s script. `priced_as="openai:gpt-4o"` makes its (estimated)
    token usage cost what that model would, to exercise cost accounting and limits."""
    if priced_as is None:
        return FunctionModel(player, model_name="scripted")
    provider, _, name = priced_as.partition(":")
    player.provider_name = provider
    return FunctionModel(player, model_name=name)


def _json_reply(info: AgentInfo, kind: str, args: dict[str, object]) -> dict[str, object]:
    """The JSON a model answers with in `json` output mode: valet's own actions as the flat
    `act` object (`{"kind": "click", "element": 3}`); with toolset operations beside them,
    a union member (`{"result": {"kind": <member>, "data": …}}`)."""
    shape = info.model_request_parameters.output_object
    schema = json.dumps(shape.json_schema) if shape is not None else ""
    flat = {"kind": kind, **args}
    if '"result"' not in schema:
        return flat
    if kind in ACTIONS_BY_KIND and '"act"' in schema:
        return {"result": {"kind": "act", "data": flat}}
    action = ACTIONS_BY_KIND.get(kind)
    label = action.__name__ if action is not None else kind
    return {"result": {"kind": label, "data": args}}


def _last_prompt(messages: list[ModelMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    content = part.content
                    if isinstance(content, str):
                        return content
                    return "\n".join(c for c in content if isinstance(c, str))
    return ""


def _failure_line(prompt: str) -> str:
    section = prompt.split("# Last action result\n", 1)[-1]
    return section.splitlines()[0].removeprefix("FAILED: ").strip() if section else "failed"


def resume_script(model: Model, turns: int) -> None:
    """Move a scripted model past the `turns` replies a restarted durable run replayed (real
    models keep no such state: nothing to do)."""
    if isinstance(model, FunctionModel) and isinstance(model.function, ScriptPlayer):
        model.function.position = turns
