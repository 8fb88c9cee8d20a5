"""The loop, driven by a scripted model, on real headless Chromium and the local sites."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from tests._runs import run_script

from valet.agent import (
    Finished,
    HandBack,
    Limits,
    Prompt,
    Proposal,
    StepClock,
    StepRecord,
    Stopped,
    Usage,
    describe_action,
)
from valet.browser import ActionOutcome, Observation
from valet.effects import Effect
from valet.gateway import Approval, ScriptedApprover
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.record import RunStore
from valet.runtime import TaskSpec, run_task
from valet.sites import SiteServer
from valet.tools import Action

CHEAPEST = "USB-C Cable 1 m (Basic)"

SHOP_TASK = [
    {
        "type": {
            "role": "searchbox",
            "name": "Search products",
            "text": "USB-C cable",
            "submit": True,
        }
    },
    {"expect": {"url": "/shop/search"}},
    {"select": {"role": "combobox", "name": "Sort by", "option": "Price: low to high"}},
    {"click": {"role": "button", "name": "Apply filters"}},
    {"expect": {"element": {"role": "link", "name": CHEAPEST}}},
    {"click": {"role": "link", "name": CHEAPEST}},
    {"type": {"role": "spinbutton", "name": "Quantity", "text": "2"}},
    {"click": {"role": "button", "name": "Add to cart"}},
    {"expect": {"text": "Added to cart"}},
    {"goto": "/shop/cart"},
    {"expect": {"text": CHEAPEST}},
    {"done": {"answer": f"Added two '{CHEAPEST}' to the cart", "success": True}},
]


async def test_multi_step_shop_task_completes_and_is_recorded(
    home: Path, sites: SiteServer
) -> None:
    run = await run_script(home, sites, SHOP_TASK)
    assert run.end == Finished(f"Added two '{CHEAPEST}' to the cart", True), run.steps[-1]
    assert run.header["status"] == "succeeded"
    assert run.header["totals"]["steps"] == len(run.steps) == 8
    assert all(step["ok"] for step in run.steps), [s["result"] for s in run.steps]
    cart = run.steps[-1]
    assert cart["url"].endswith("/shop/cart")
    add = next(
        s
        for s in run.steps
        if s["action_text"].startswith("click") and "Add to cart" in s["action_text"]
    )
    assert add["target"]["role"] == "button" and add["target"]["name"] == "Add to cart"
    assert add["changed"] is True
    for step in run.steps:
        assert step["observation_chars"] > 0 and step["observation_digest"]
        assert set(step["timings_ms"]) == {"observe", "model", "act"}


async def test_json_output_mode_drives_the_same_task(home: Path, sites: SiteServer) -> None:
    run = await run_script(home, sites, SHOP_TASK, output_mode="json")
    assert isinstance(run.end, Finished) and run.end.success, run.steps[-1]


async def test_bad_element_id_is_reported_and_the_run_recovers(
    home: Path, sites: SiteServer
) -> None:
    run = await run_script(
        home,
        sites,
        [{"click": 99999}, {"click": {"role": "link", "name": "Cart"}}, {"done": "ok"}],
    )
    assert isinstance(run.end, Finished) and run.end.success
    first = run.steps[0]
    assert first["ok"] is False
    assert "99999" in first["result"]
    assert run.steps[1]["ok"] is True and run.steps[2]["url"].endswith("/shop/cart")


async def test_invalid_replies_go_back_to_the_model_then_stop_cleanly(
    home: Path, sites: SiteServer
) -> None:
    run = await run_script(
        home,
        sites,
        [{"raw": {"tool": "click", "args": {"element": "the blue one"}}}]
        + [{"say": "I will click."}] * 6,
        limits=Limits(max_consecutive_failures=4),
    )
    assert isinstance(run.end, Stopped) and run.end.reason == "model_errors"
    assert len(run.steps) == 4
    assert all(step["action"] is None for step in run.steps)
    assert "valid integer" in run.steps[0]["model_error"]
    assert "tool call" in run.steps[1]["model_error"]


async def test_max_steps_stops_with_its_reason(home: Path, sites: SiteServer) -> None:
    script = [{"scroll": "down"}, {"scroll": "up"}] * 5
    run = await run_script(home, sites, script, limits=Limits(max_steps=3))
    assert run.end == Stopped("max_steps", "reached the limit of 3 steps")
    assert len(run.steps) == 3 and run.header["end"]["reason"] == "max_steps"


async def test_max_tokens_stops_with_its_reason(home: Path, sites: SiteServer) -> None:
    run = await run_script(home, sites, [{"scroll": "down"}] * 5, limits=Limits(max_tokens=10))
    assert isinstance(run.end, Stopped) and run.end.reason == "max_tokens"
    assert len(run.steps) == 1


async def test_max_cost_stops_with_its_reason_and_costs_are_recorded(
    home: Path, sites: SiteServer
) -> None:
    script = [{"scroll": "down"}, {"scroll": "up"}] * 5
    limits = Limits(max_cost_usd=0.002)
    run = await run_script(home, sites, script, limits=limits, priced_as="openai:gpt-4o")
    assert isinstance(run.end, Stopped) and run.end.reason == "max_cost", run.end
    costs = [step["cost_usd"] for step in run.steps]
    assert all(cost is not None and cost > 0 for cost in costs)
    assert sum(costs) >= 0.002 > sum(costs[:-1])
    assert run.header["totals"]["cost_usd"] == round(sum(costs), 6)


async def test_max_time_stops_a_hanging_step(home: Path, sites: SiteServer) -> None:
    script = [{"wait_for": {"text": "this text never appears", "timeout": 20}}, {"done": "no"}]
    run = await run_script(home, sites, script, limits=Limits(max_seconds=2.5))
    assert isinstance(run.end, Stopped) and run.end.reason == "max_time"
    assert run.header["status"] == "stopped"


async def test_repeating_a_dead_click_triggers_loop_detection(
    home: Path, sites: SiteServer
) -> None:
    dead = {"click": {"role": "button", "name": "Does nothing"}}
    settle = {"wait_for": {"element": {"role": "button", "name": "Dismiss recommendation"}}}
    approver = ScriptedApprover.of([Approval.approved()] * 6)
    run = await run_script(home, sites, [settle] + [dead] * 6, start="/dynamic", approver=approver)
    assert isinstance(run.end, Stopped) and run.end.reason == "loop", run.steps
    assert "cannot tell what" in approver.requests[0].decision.reason, "unknown effect: asked"
    clicks = run.steps[1:]
    assert clicks[0]["ok"] and clicks[0]["changed"] is False
    assert "no visible change" in clicks[0]["result"]
    warned = clicks[2]
    assert warned["ok"] is False and "repeated this exact action" in warned["result"]
    assert len(clicks) == 4


async def test_acts_inside_iframes_and_a_shadow_root(home: Path, sites: SiteServer) -> None:
    script = [
        {"type": {"role": "textbox", "name": "Coupon code", "text": "SAVE10"}},
        {"click": {"role": "button", "name": "Apply"}},
        {"expect": {"text": "Coupon applied: SAVE10"}},
        {"type": {"role": "textbox", "name": "Shadow name", "text": "Ada"}},
        {"click": {"role": "button", "name": "Shadow action"}},
        {"expect": {"text": "Shadow clicked: Ada"}},
        {"type": {"role": "textbox", "name": "Email for deals", "text": "ada@example.com"}},
        {"click": {"role": "button", "name": "Subscribe"}},
        {"expect": {"text": "Subscribed ada@example.com"}},
        {"done": "ok"},
    ]
    approver = ScriptedApprover.of([Approval.approved()] * 3)
    # The newsletter iframe comes from the same server under another loopback name (another
    # origin): internal hosts are refused unless allowed, in frames too.
    widget = f"localhost:{urlsplit(sites.url_for('/')).port}"
    run = await run_script(
        home, sites, script, start="/frames", approver=approver, allow_hosts=frozenset({widget})
    )
    assert isinstance(run.end, Finished) and run.end.success, run.end
    asked = [request.args for request in approver.requests]
    assert len(asked) == 3, "Apply and Subscribe submit forms, Shadow action is unknown: all asked"
    coupon = run.steps[0]["target"]
    assert coupon["frame"] is not None


async def test_vision_runs_store_the_marked_screenshot_of_each_step(
    home: Path, sites: SiteServer
) -> None:
    run = await run_script(home, sites, [{"scroll": "down"}, {"done": "ok"}], vision=True)
    assert isinstance(run.end, Finished) and run.end.success
    for step in run.steps:
        image = Path(run.header["dir"]) / step["screenshot"]
        assert image.read_bytes().startswith(b"\x89PNG"), image


async def test_a_message_from_the_person_reaches_the_next_step(
    home: Path, sites: SiteServer
) -> None:
    class Messages:
        def __init__(self) -> None:
            self.queue = ["take the cheapest one"]

        async def take(self) -> list[str]:
            taken, self.queue = self.queue, []
            return taken

    player = ScriptPlayer(
        parse_steps(
            [
                {"expect": {"prompt": "The person added: take the cheapest one"}},
                {"scroll": "down"},
                {"expect": {"prompt": "The person added: take the cheapest one"}},
                {"done": "heard"},
            ]
        )
    )
    spec = TaskSpec(task="t", start_url=sites.url_for("/shop"))
    result = await run_task(
        spec, scripted_model(player), home=home, model_info={}, inbox=Messages()
    )
    assert result.end == Finished("heard", True)


async def test_the_person_takes_over_and_the_agent_resumes_with_a_fresh_look(
    home: Path, sites: SiteServer
) -> None:
    class Person:
        """Asks for the browser once; while they have it, they open the cart themselves."""

        def __init__(self, session_page: list[str]) -> None:
            self.asked = True
            self.urls = session_page

        async def requested(self) -> str | None:
            asked, self.asked = self.asked, False
            return "the person asked to take over" if asked else None

        async def hand_over(self, reason: str, url: str) -> HandBack | None:
            self.urls.append(url)
            return HandBack(by="person", seconds=3.0, url_before=url, url_after=url + "#cart")

    urls: list[str] = []
    player = ScriptPlayer(
        parse_steps(
            [
                {"expect": {"prompt": "The person took over the browser"}},
                {"done": "resumed"},
            ]
        )
    )
    spec = TaskSpec(task="t", start_url=sites.url_for("/shop"))
    result = await run_task(
        spec, scripted_model(player), home=home, model_info={}, handover=Person(urls)
    )
    assert result.end == Finished("resumed", True)
    assert urls == [sites.url_for("/shop")]
    header, steps = RunStore(home / "runs").load(result.run_id)
    assert len(steps) == 1  # the takeover is not a model step
    [taken] = header["handovers"]
    assert taken["by"] == "person" and taken["seconds"] == 3.0
    assert taken["url_before"] == sites.url_for("/shop") and taken["after_step"] is None


async def test_a_page_that_needs_the_person_stops_the_run_when_nobody_can_take_over(
    home: Path, sites: SiteServer
) -> None:
    class Nobody:
        async def requested(self) -> str | None:
            return "the person asked to take over"

        async def hand_over(self, reason: str, url: str) -> HandBack | None:
            return None

    spec = TaskSpec(task="t", start_url=sites.url_for("/shop"))
    player = ScriptPlayer(parse_steps([{"done": "never reached"}]))
    result = await run_task(
        spec, scripted_model(player), home=home, model_info={}, handover=Nobody()
    )
    assert isinstance(result.end, Stopped) and result.end.reason == "needs_person"
    assert "nobody took over" in result.end.detail


class Answers:
    """The person at the other end of `ask_person`: answers in turn (None: no answer)."""

    def __init__(self, *answers: str | None) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    async def ask(self, question: str) -> str | None:
        self.asked.append(question)
        return self.answers.pop(0)


async def test_the_agent_asks_the_person_and_acts_on_the_answer(
    home: Path, sites: SiteServer
) -> None:
    person = Answers("the blue one", None)
    player = ScriptPlayer(
        parse_steps(
            [
                {"ask_person": {"question": "Which colour do you want?"}},
                {"expect": {"prompt": "OK: the person answered: the blue one"}},
                {"ask_person": {"question": "And the size?"}},
                {"expect": {"prompt": "the person did not answer"}},
                # The answer stays in every later prompt, as the person's.
                {"expect": {"prompt": 'You asked the person "Which colour do you want?"'}},
                {"done": "asked"},
            ]
        )
    )
    spec = TaskSpec(task="buy a cable", start_url=sites.url_for("/shop"))
    result = await run_task(
        spec, scripted_model(player), home=home, model_info={}, questions=person
    )
    assert result.end == Finished("asked", True)
    assert person.asked == ["Which colour do you want?", "And the size?"]
    _, steps = RunStore(home / "runs").load(result.run_id)
    assert [s["ok"] for s in steps] == [True, False, True]
    assert steps[0]["action_text"] == "ask_person question=Which colour do you want?"


async def test_without_anyone_to_answer_the_agent_cannot_ask(home: Path, sites: SiteServer) -> None:
    """`ask_person` is not offered; a model that calls it anyway is told nobody answers."""
    run = await run_script(
        home,
        sites,
        [
            {"ask_person": {"question": "Which one?"}},
            {"expect": {"prompt": "FAILED"}},
            {"done": {"answer": "decided alone", "success": True}},
        ],
    )
    assert run.end == Finished("decided alone", True)
    assert not run.steps[0]["ok"]


class AddEvent(Action):
    """An action with a day and a time among its arguments (a calendar's create_event)."""

    kind: ClassVar[str] = "add_event"
    effect: ClassVar[Effect] = Effect.CREATE
    day: date
    at: datetime | None = None


def test_an_action_with_dates_is_described_and_recorded() -> None:
    action = AddEvent(day=date(2026, 12, 15), at=datetime(2026, 12, 15, 9, 30))
    page = Observation(url="about:blank", title="", tabs=[], elements=[], text="")
    reply, outcome = Proposal(action, Usage()), ActionOutcome(ok=True, message="added")
    step = StepRecord.of(1, page, Prompt("add it"), reply, outcome, StepClock())
    assert describe_action(action) == "add_event day=2026-12-15 at=2026-12-15T09:30:00"
    assert step.action == {"kind": "add_event", "day": "2026-12-15", "at": "2026-12-15T09:30:00"}
    assert json.loads(json.dumps(step.action)) == step.action  # what steps.jsonl holds
