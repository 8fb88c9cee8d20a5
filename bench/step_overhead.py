"""A full valet step vs the least any browser agent does per step, in the same run.

valet: the whole loop as `valet run` wires it (`runtime.run_task`: checkpoints, the gateway
with its audit log, the journal, the browser toolbox, the run record, the history), with the
model replaced by a planner that answers at once. One step is the time from one answer of the
planner to the next request: the action through the gateway (classify, decide, audit, act,
wait, settle, observe), the run record and history written, the next observation and prompt.

bare: the same action on the same element with a Playwright locator, then
`page.aria_snapshot(mode="ai")` — the least any agent does to see the page it acts on next.

Both run in the same process and browser, each in its own context on the same bench page (so
neither disturbs the other's page), interleaved: bare, valet, bare, valet… so each goes first
half of the time. The first `--warmup` steps of each case are not counted.

`request_chars` is what the model would receive at a step on the 200-control page: the system
prompt, the tool definitions pydantic-ai builds from the action models (name, description and
JSON schema, compact JSON), and the step's prompt text, taken from the real model planner with
a model function that only records its request.

`--think-ms` makes the planner take that long to answer, as a real model does (not counted in
either side's time): the page's latest observation is then older when the action runs.

Usage: .venv/bin/python bench/step_overhead.py [--steps 40] [--warmup 5] [--think-ms 0]
       [--profile FILE]
The last line is machine-readable.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import BrowserContext, Locator, Page
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

import valet.agent
from valet.agent import Limits, OutputMode, Prompt, Proposal, Reply, Usage
from valet.browser import BrowserSession, ByRole
from valet.models import ModelConfig
from valet.runtime import TaskSpec, run_task
from valet.sites import SiteServer
from valet.tools import Action, Click, Done, Select, Type

PAGE = "/bench/200"
STATUSES = ("Pending", "Paid", "Shipped", "Delivered", "Refunded")


@dataclass(frozen=True)
class Case:
    name: str
    action: Literal["click", "type", "select"]
    role: str
    label: str
    css: str


CASES = [
    Case("click checkbox", "click", "checkbox", "Flagged only", "input[name=flagged]"),
    Case("click link", "click", "link", "Export CSV", "a[href='#export']"),
    Case("type", "type", "textbox", "Display name", "#s-name"),
    Case("select", "select", "combobox", "Status of order 58210", "select[name='status-58210']"),
]


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Measured:
    valet_ms: list[float] = field(default_factory=lambda: list[float]())
    bare_ms: list[float] = field(default_factory=lambda: list[float]())
    request_chars: dict[str, int] = field(default_factory=lambda: dict[str, int]())
    observation_chars: int = 0


def count_request(
    actions: Sequence[type[Action]], instructions: str, output_mode: OutputMode
) -> Any:
    """The real model planner, with a model that only records the request it receives."""
    seen: dict[str, int] = {}

    def record(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        tools = [*info.function_tools, *info.output_tools]
        schemas = [
            {"name": t.name, "description": t.description, "parameters": t.parameters_json_schema}
            for t in tools
        ]
        prompt = sum(
            len(text)
            for message in messages
            if isinstance(message, ModelRequest)
            for part in message.parts
            if isinstance(part, UserPromptPart)
            for text in ([part.content] if isinstance(part.content, str) else part.content)
            if isinstance(text, str)
        )
        seen["system"] = len(info.instructions or "")
        seen["schemas"] = len(json.dumps(schemas, separators=(",", ":"), ensure_ascii=False))
        seen["messages"] = prompt
        seen["tools"] = len(tools)
        return ModelResponse(parts=[ToolCallPart("done", {"answer": "-", "success": True})])

    from valet.agent._model_planner import ModelPlanner

    return ModelPlanner(FunctionModel(record), actions, instructions, output_mode), seen


class InstantPlanner:
    """Answers each step at once with the case's action; runs the bare step between answers."""

    def __init__(
        self, actions: Sequence[type[Action]], instructions: str, output_mode: OutputMode
    ) -> None:
        self.actions = actions
        self.instructions = instructions
        self.output_mode: OutputMode = output_mode
        self.bench: Bench | None = None

    async def propose(self, prompt: Prompt) -> Reply:
        assert self.bench is not None
        return await self.bench.answer(self, prompt)


@dataclass
class Bench:
    case: Case
    steps: int
    warmup: int
    measured: Measured
    session: BrowserSession | None = None
    bare: Locator | None = None
    bare_page: Page | None = None
    target: int | None = None
    count: int = 0
    mark: float | None = None
    profile: cProfile.Profile | None = None
    bare_context: BrowserContext | None = None
    think_s: float = 0.0

    async def answer(self, planner: InstantPlanner, prompt: Prompt) -> Reply:
        now = time.perf_counter()
        if self.profile is not None:
            self.profile.disable()
        if self.mark is not None and self.count > self.warmup:
            self.measured.valet_ms.append((now - self.mark) * 1000)
        self.count += 1
        if self.count > self.warmup + self.steps:
            return Proposal(Done(answer="bench over", success=True), Usage())
        if self.target is None:
            await self._prepare(planner, prompt)
        bare_ms = await self._bare_step()
        if self.count > self.warmup:
            self.measured.bare_ms.append(bare_ms)
        action = self._action()
        if self.think_s:
            await asyncio.sleep(self.think_s)  # a model's answer time, not counted
        if self.profile is not None and self.count > self.warmup:
            self.profile.enable()
        self.mark = time.perf_counter()
        return Proposal(action, Usage())

    async def _prepare(self, planner: InstantPlanner, prompt: Prompt) -> None:
        assert self.session is not None
        case = self.case
        found = await self.session.resolve(ByRole(role=case.role, name=case.label))
        assert not isinstance(found, str), found
        self.target = found.id
        if not self.measured.request_chars:
            real, seen = count_request(planner.actions, planner.instructions, planner.output_mode)
            await real.propose(prompt)
            self.measured.request_chars = dict(seen)
            self.measured.observation_chars = prompt.observation_chars
        live = await self.session.live_page()
        browser = live.context.browser
        assert browser is not None
        self.bare_context = await browser.new_context(viewport=live.viewport_size)
        page = await self.bare_context.new_page()
        await page.goto(self.session.page_url)
        self.bare_page, self.bare = page, page.locator(case.css)

    def _action(self) -> Action:
        assert self.target is not None
        match self.case.action:
            case "click":
                return Click(element=self.target)
            case "type":
                return Type(element=self.target, text=f"Northwind {self.count}")
            case "select":
                return Select(element=self.target, option=STATUSES[self.count % len(STATUSES)])

    async def _bare_step(self) -> float:
        assert self.bare is not None and self.bare_page is not None
        start = time.perf_counter()
        match self.case.action:
            case "click":
                await self.bare.click()
            case "type":
                await self.bare.fill(f"Northwind {self.count}")
            case "select":
                await self.bare.select_option(label=STATUSES[self.count % len(STATUSES)])
        await self.bare_page.aria_snapshot(mode="ai")
        return (time.perf_counter() - start) * 1000


async def run_case(
    sites: SiteServer,
    case: Case,
    steps: int,
    warmup: int,
    profile: cProfile.Profile | None,
    think_s: float = 0.0,
) -> tuple[Measured, dict[str, list[float]]]:
    measured = Measured()
    bench = Bench(case, steps, warmup, measured, profile=profile, think_s=think_s)

    def make_planner(
        model: object,
        actions: Sequence[type[Action]],
        instructions: str,
        output_mode: OutputMode,
        *_: Any,
    ) -> InstantPlanner:
        planner = InstantPlanner(actions, instructions, output_mode)
        planner.bench = bench
        return planner

    def on_session(session: BrowserSession) -> None:
        bench.session = session

    original = valet.agent.__getattr__("ModelPlanner")
    valet.agent.ModelPlanner = make_planner  # type: ignore[attr-defined]  # the model, replaced
    try:
        with tempfile.TemporaryDirectory() as home:
            spec = TaskSpec(
                task=f"bench: {case.name} on the dashboard",
                start_url=sites.url_for(PAGE),
                limits=Limits(max_steps=warmup + steps + 2, loop_repeats=10_000),
            )
            result = await run_task(
                spec,
                FunctionModel(lambda _m, _i: ModelResponse(parts=[])),
                home=Path(home),
                model_info={"model": "bench:instant"},
                output_mode=ModelConfig.model_fields["output_mode"].default,  # as `valet run`
                on_session=on_session,
            )
            assert result.end.__class__.__name__ == "Finished", result.end
            laps: dict[str, list[float]] = {}
            for line in (result.run_dir / "steps.jsonl").read_text().splitlines()[warmup + 1 :]:
                for phase, ms in json.loads(line).get("timings_ms", {}).items():
                    laps.setdefault(phase, []).append(ms)
    finally:
        valet.agent.ModelPlanner = original  # type: ignore[attr-defined]
        if bench.bare_context is not None:
            await bench.bare_context.close()
    return measured, laps


async def main(steps: int, warmup: int, profile_to: Path | None, think_s: float = 0.0) -> None:
    rows: list[str] = []
    all_valet: list[float] = []
    all_bare: list[float] = []
    request: dict[str, int] = {}
    observation_chars = 0
    profile = cProfile.Profile() if profile_to is not None else None
    with SiteServer() as sites:
        for case in CASES:
            measured, laps = await run_case(sites, case, steps, warmup, profile, think_s)
            all_valet += measured.valet_ms
            all_bare += measured.bare_ms
            if measured.request_chars:
                request, observation_chars = measured.request_chars, measured.observation_chars
            v50, b50 = statistics.median(measured.valet_ms), statistics.median(measured.bare_ms)
            phases = " ".join(
                f"{phase}={statistics.median(values):.1f}" for phase, values in laps.items()
            )
            rows.append(
                f"{case.name:<16} {v50:>9.1f} {pct(measured.valet_ms, 0.95):>9.1f} "
                f"{b50:>9.1f} {pct(measured.bare_ms, 0.95):>9.1f} {v50 / b50:>6.2f}  {phases}"
            )
    print(
        f"{'case':<16} {'valet p50':>9} {'valet p95':>9} {'bare p50':>9} {'bare p95':>9} "
        f"{'ratio':>6}  valet phases p50 (ms)"
    )
    for row in rows:
        print(row)
    print(
        f"request: system={request.get('system')} schemas={request.get('schemas')} "
        f"({request.get('tools')} tools) messages={request.get('messages')}"
    )
    if profile is not None and profile_to is not None:
        profile.dump_stats(profile_to)
    p50, bare50 = statistics.median(all_valet), statistics.median(all_bare)
    request_chars = sum(request.get(k, 0) for k in ("system", "schemas", "messages"))
    print(
        f"ratio={p50 / bare50:.2f} p50_ms={p50:.1f} p95_ms={pct(all_valet, 0.95):.1f} "
        f"bare_p50_ms={bare50:.1f} bare_p95_ms={pct(all_bare, 0.95):.1f} "
        f"request_chars={request_chars} observation_chars={observation_chars} "
        f"steps={len(all_valet)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="valet's full loop step vs bare Playwright")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="the planner waits this long before each answer (a model's time, not counted)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.warmup, args.profile, args.think_ms / 1000))
