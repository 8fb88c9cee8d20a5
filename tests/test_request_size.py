"""What each model request carries: the tool schemas built the way the planner builds them, a
whole step on the 200-control bench page within 14,000 characters, the one `act` tool standing
for every browser action, and `request_chars` in the run record."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from tests._runs import run_script

from valet.agent import (
    Finished,
    Limits,
    ModelFailure,
    ModelPlanner,
    OutputMode,
    Proposal,
    Usage,
)
from valet.agent._history import History, load_prompt
from valet.agent._planner import Prompt
from valet.browser import BrowserSession, BrowserSettings
from valet.sites import SiteServer
from valet.tools import (
    BROWSER_ACTIONS,
    Action,
    AskPerson,
    Click,
    Drag,
    Point,
    Press,
    Wait,
    WaitFor,
    one_tool,
)

ACTIONS: tuple[type[Action], ...] = (*BROWSER_ACTIONS[:-1], AskPerson, BROWSER_ACTIONS[-1])
"""What a run with someone to answer offers the model: every browser action and ask_person."""


class Recorded:
    """A model function that keeps what it was sent and answers with `answer` (kind, args)."""

    def __init__(self, kind: str = "done", args: dict[str, Any] | None = None) -> None:
        self.kind, self.args = kind, args if args is not None else {"answer": "ok"}
        self.info: AgentInfo | None = None
        self.messages: list[ModelMessage] = []

    def __call__(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        self.info, self.messages = info, messages
        if not info.output_tools:
            return ModelResponse(parts=[TextPart(json.dumps({"kind": self.kind, **self.args}))])
        if info.output_tools[0].name == "act":
            return ModelResponse(parts=[ToolCallPart("act", {"kind": self.kind, **self.args})])
        return ModelResponse(parts=[ToolCallPart(self.kind, self.args)])

    def schema_chars(self) -> int:
        """The tool definitions (or output schema) as compact JSON, as a provider gets them."""
        assert self.info is not None
        params = self.info.model_request_parameters
        sent: list[dict[str, Any]] = [
            {"name": t.name, "description": t.description, "parameters": t.parameters_json_schema}
            for t in params.output_tools
        ]
        if (shape := params.output_object) is not None:
            sent.append(
                {"name": shape.name, "description": shape.description, "schema": shape.json_schema}
            )
        return len(json.dumps(sent, separators=(",", ":"), ensure_ascii=False))


async def propose(mode: OutputMode, model: Recorded, text: str = "Choose.") -> Any:
    planner = ModelPlanner(FunctionModel(model), ACTIONS, load_prompt("system.md"), mode)
    return await planner.propose(Prompt(text))


@pytest.mark.parametrize("mode", ["act", "tools", "json"])
async def test_request_chars_count_the_system_prompt_the_schemas_and_the_message(
    mode: OutputMode,
) -> None:
    model = Recorded()
    reply = await propose(mode, model, "Choose the next action.")
    assert isinstance(reply, Proposal), reply
    system = len(load_prompt("system.md").strip())  # as pydantic-ai sends instructions
    expected = system + model.schema_chars() + len("Choose the next action.")
    assert reply.usage.request_chars == expected


async def test_one_act_tool_carries_every_browser_action_in_far_fewer_characters() -> None:
    sizes: dict[str, int] = {}
    for mode in ("act", "tools", "json"):
        model = Recorded()
        await propose(mode, model)
        sizes[mode] = model.schema_chars()
        assert model.info is not None
    assert sizes["act"] <= 3_500, sizes
    assert sizes["act"] * 2 < sizes["tools"], sizes
    assert sizes["json"] <= 3_500, sizes
    act = one_tool(ACTIONS)
    description = act.__doc__ or ""
    for action in ACTIONS:
        assert f"\n{action.kind}(" in description, action.kind


@pytest.mark.parametrize(
    ("args", "action"),
    [
        ({"kind": "click", "element": 4}, Click(element=4)),
        ({"kind": "drag", "source": 3, "target": {"x": 10, "y": 20}}, None),
        ({"kind": "press", "keys": "ArrowDown", "times": 3}, Press(keys="ArrowDown", times=3)),
        ({"kind": "wait", "seconds": 2, "text": "ignored: not a field of wait"}, Wait(seconds=2)),
        ({"kind": "wait_for"}, WaitFor()),
    ],
)
async def test_an_act_call_becomes_the_typed_action(
    args: dict[str, Any], action: Action | None
) -> None:
    kind = args.pop("kind")
    reply = await propose("act", Recorded(kind, args))
    assert isinstance(reply, Proposal), reply
    expected = action or Drag(source=3, target=Point(x=10, y=20))
    assert reply.action == expected and type(reply.action) is type(expected)


async def test_an_act_call_that_does_not_fit_its_action_is_a_readable_failure() -> None:
    missing = await propose("act", Recorded("click", {}))
    assert isinstance(missing, ModelFailure)
    assert missing.error.startswith("act click: element:"), missing.error
    too_many = await propose("act", Recorded("press", {"keys": "Tab", "times": 500}))
    assert isinstance(too_many, ModelFailure)
    assert "times" in too_many.error and "50" in too_many.error
    assert too_many.usage.request_chars > 0


@pytest.fixture(scope="module")
async def session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserSession]:
    browser = await BrowserSession.start(BrowserSettings(), tmp_path_factory.mktemp("artifacts"))
    yield browser
    await browser.close()


async def test_a_step_on_the_200_control_page_carries_at_most_14000_characters(
    session: BrowserSession, sites: SiteServer
) -> None:
    outcome = await session.goto(sites.url_for("/bench/200"))
    assert outcome.ok, outcome.message
    observation = await session.observe()
    history = History("Find Grace Hopper's order and mark it as shipped.", Limits())
    history.add(Proposal(Wait(seconds=1), Usage()), outcome)
    prompt = history.prompt(observation)
    model = Recorded("click", {"element": observation.elements[0].id})
    planner = ModelPlanner(FunctionModel(model), ACTIONS, load_prompt("system.md"))
    reply = await planner.propose(prompt)
    assert isinstance(reply, Proposal), reply
    chars = reply.usage.request_chars
    system = len(load_prompt("system.md").strip())
    assert chars == system + model.schema_chars() + len(prompt.text)
    assert chars <= 14_000, (
        f"system {system} + schemas {model.schema_chars()} "
        f"+ message {len(prompt.text)} (page {prompt.observation_chars}) = {chars}"
    )


@pytest.mark.parametrize("mode", ["act", "json"])
async def test_the_run_record_counts_each_request_and_act_drives_the_loop(
    home: Path, sites: SiteServer, mode: OutputMode
) -> None:
    script: list[Any] = [
        {"press": {"role": "spinbutton", "name": "Tickets", "keys": "ArrowDown", "times": 3}},
        {"wait_for": {}},
        {"done": "two tickets"},
    ]
    run = await run_script(home, sites, script, start="/mouse/spinner", output_mode=mode)
    assert isinstance(run.end, Finished) and run.end.success, run.steps[-1]
    kinds = [step["action"]["kind"] for step in run.steps]
    assert kinds == ["press", "wait_for", "done"]
    assert run.steps[0]["ok"], run.steps[0]["result"]
    for step in run.steps:
        assert step["request_chars"] > step["observation_chars"] > 0
