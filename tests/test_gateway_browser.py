"""`GatedToolbox` on real headless Chromium and the local sites, driven by the real loop and a
scripted model that does whatever it is told."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tests.test_agent_loop import CHEAPEST
from tests.test_agent_loop import SHOP_TASK as FULL_SHOP_TASK

from valet.agent import (
    Budget,
    Finished,
    HandBack,
    Limits,
    ModelPlanner,
    RunEnd,
    StepRecord,
    Toolbox,
    load_prompt,
    run_loop,
)
from valet.audit import KEY_ENV, AuditLog
from valet.browser import BrowserSession, BrowserSettings
from valet.gateway import GatedToolbox, Gateway, ScriptedApprover, TaskContext
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.policy import NavigationSettings, Policy, site_of
from valet.sites import SiteServer
from valet.tools import BrowserToolbox, Goto

SHOP_TASK: list[Any] = FULL_SHOP_TASK[:-1]  # everything up to `done`


@dataclass
class Steps:
    steps: list[StepRecord] = field(default_factory=lambda: list[StepRecord]())
    end: RunEnd | None = None

    def step(self, step: StepRecord) -> None:
        self.steps.append(step)

    def finish(self, end: RunEnd, budget: Budget) -> None:
        self.end = end

    def handover(self, reason: str, back: HandBack) -> None:
        raise AssertionError(f"no takeover expected here: {reason}")


@dataclass
class Run:
    steps: list[StepRecord]
    end: RunEnd | None
    asked: ScriptedApprover
    audit: AuditLog


async def run_gated(tmp_path: Path, sites: SiteServer, script: list[Any]) -> Run:
    home = sites.url_for("/")
    demo = NavigationSettings(allow_hosts=frozenset({site_of(home) or ""}))
    audit = AuditLog.open(tmp_path / "audit.db", tmp_path / "audit.key")
    approver = ScriptedApprover()
    gateway = Gateway(
        rules=Policy(navigation=demo),
        audit=audit,
        approver=approver,
        task=TaskContext(task_id="shop", on_behalf_of="alice", request="Buy a USB-C cable"),
    )
    session = await BrowserSession.start(BrowserSettings(), tmp_path / "artifacts")
    recorder = Steps()
    async with session:
        toolbox: Toolbox = GatedToolbox(BrowserToolbox(session), gateway)
        assert (await toolbox.execute(Goto(url=sites.url_for("/shop")))).ok
        planner = ModelPlanner(
            scripted_model(ScriptPlayer(parse_steps(script))),
            toolbox.actions,
            load_prompt("system.md"),
        )
        await run_loop("scripted", planner, toolbox, recorder, Limits())
    return Run(recorder.steps, recorder.end, approver, audit)


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


async def test_an_ordinary_shop_task_runs_without_asking(tmp_path: Path, sites: SiteServer) -> None:
    run = await run_gated(tmp_path, sites, [*SHOP_TASK, {"done": "added"}])
    assert run.end == Finished("added", True), [s.result for s in run.steps]
    assert [s.result for s in run.steps if not s.ok] == []
    assert run.asked.requests == []
    records = list(run.audit.records())
    assert records and all(r.verdict == "allow" for r in records)
    assert {r.effect for r in records} <= {"read", "input", "navigate"}
    assert run.audit.verify().ok


async def test_an_obedient_model_is_stopped(tmp_path: Path, sites: SiteServer) -> None:
    hostile: list[Any] = [
        {"goto": "file:///etc/passwd"},
        {"goto": "http://169.254.169.254/latest/meta-data/"},
        {"goto": "http://127.0.0.1:1/admin"},
        {"done": "tried"},
    ]
    run = await run_gated(tmp_path, sites, hostile)
    results = [step.result for step in run.steps[:3]]
    assert results[0].startswith("denied by rule nav.scheme.file:")
    assert results[1].startswith("denied by rule nav.metadata:")
    assert results[2].startswith("denied by rule nav.loopback:")
    assert all(not step.ok for step in run.steps[:3])
    assert all(step.url.startswith(sites.url_for("/shop")) for step in run.steps)
    assert run.end == Finished("tried", True)


async def test_removing_from_the_cart_asks_first(tmp_path: Path, sites: SiteServer) -> None:
    script: list[Any] = [
        *SHOP_TASK,
        {"click": {"role": "button", "name": "Remove"}},
        {"expect": {"text": CHEAPEST}},
        {"done": "kept"},
    ]
    run = await run_gated(tmp_path, sites, script)
    remove = next(s for s in run.steps if "Remove" in s.action_text)
    assert not remove.ok
    assert remove.result.startswith("declined by script (rule builtin.ask.delete:")
    assert [r.effect for r in run.asked.requests] == ["delete"]
    assert run.end == Finished("kept", True)  # the expectation held: the item is still there
