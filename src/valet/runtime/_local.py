"""Running one task on this machine: wire model, browser, toolbox, recorder and the loop."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, Field
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings

from valet.agent import (
    Budget,
    HandBack,
    Handover,
    Inbox,
    Limits,
    ModelPlanner,
    OutputMode,
    Recorder,
    RunEnd,
    StepRecord,
    load_prompt,
    run_loop,
)
from valet.audit import AuditLog
from valet.browser import BrowserSession, BrowserSettings
from valet.errors import ValetError
from valet.gateway import Approver, DenyAllApprover, GatedToolbox, Gateway, TaskContext
from valet.policy import NavigationSettings, Policy, RuleSet, Scope, derive_scope
from valet.record import RunRecorder
from valet.tools import BrowserToolbox, Goto


class BrowserUnavailable(ValetError):
    """The browser could not be started or reached (e.g. a wrong `--cdp-url`)."""


class TaskSpec(BaseModel):
    """What to do and within which limits."""

    task: str = Field(min_length=1)
    start_url: str | None = None
    """Opened before the first step."""
    limits: Limits = Field(default_factory=Limits)
    browser: BrowserSettings = Field(default_factory=BrowserSettings)
    files_dir: Path | None = None
    """Folder the agent may upload files from."""
    allow_hosts: frozenset[str] = frozenset()
    """Internal hosts the browser may open anyway (`127.0.0.1:8765`, `intranet.lan`); loopback,
    private and link-local addresses are denied otherwise. The start URL's host is added: the
    person asked for it."""
    rules: RuleSet | None = None
    """The person's own limits (`max_amount`, `forbid_effect`…), enforced by the gateway."""

    def scope(self) -> Scope:
        """The task's least-privilege scope, from its words and the start URL only: fixed
        before any page is read; an action outside it asks the person."""
        return derive_scope(self.task, start_url=self.start_url)


@dataclass(frozen=True)
class TaskResult:
    run_id: str
    run_dir: Path
    end: RunEnd


@dataclass
class Tee:
    """Sends every step and the end to several recorders (the record, the progress view)."""

    recorders: tuple[Recorder, ...]

    def step(self, step: StepRecord) -> None:
        for recorder in self.recorders:
            recorder.step(step)

    def finish(self, end: RunEnd, budget: Budget) -> None:
        for recorder in self.recorders:
            recorder.finish(end, budget)

    def handover(self, reason: str, back: HandBack) -> None:
        for recorder in self.recorders:
            recorder.handover(reason, back)


async def run_task(
    spec: TaskSpec,
    model: Model,
    *,
    home: Path,
    model_info: dict[str, Any],
    output_mode: OutputMode = "tools",
    vision: bool = False,
    progress: Recorder | None = None,
    inbox: Inbox | None = None,
    approver: Approver | None = None,
    handover: Handover | None = None,
) -> TaskResult:
    """Run `spec` to its end with `model`; the run record lands in `home/runs/<id>/`.

    Every action passes the gateway: policy decides, `approver` answers the asks (by default
    nobody: asks are declined), and each decision goes to the audit log in `home/audit.db`.
    When the page needs the person (a login, a payment form…), `handover` gives them the
    browser; without one the run stops there (`Stopped("needs_person")`)."""
    settings = {
        **model_info,
        "start_url": spec.start_url,
        "scope": spec.scope().describe(),
        "limits": spec.limits.model_dump(),
        "browser": spec.browser.model_dump(mode="json", exclude={"cdp_url"})
        | {"cdp": spec.browser.cdp_url is not None},
    }
    record = RunRecorder(home / "runs", spec.task, settings)
    try:
        session = await BrowserSession.start(spec.browser, record.artifacts, home / "profiles")
    except PlaywrightError as exc:
        record.discard()
        raise BrowserUnavailable(_first_line(exc)) from exc
    except asyncio.CancelledError:
        record.discard()
        raise
    audit = AuditLog.open(home / "audit.db", home / "keys" / "audit.key")
    try:
        async with session:
            gateway = Gateway(
                rules=Policy(
                    rules=spec.rules or RuleSet(),
                    navigation=NavigationSettings(allow_hosts=_allowed_hosts(spec)),
                ),
                audit=audit,
                approver=approver or DenyAllApprover(),
                scope=spec.scope(),
                task=TaskContext(task_id=record.run_id, request=spec.task),
            )
            browser = BrowserToolbox(session, spec.files_dir, screenshots=vision)
            toolbox = GatedToolbox(browser, gateway)
            if spec.start_url:
                opening = GatedToolbox(browser, gateway, actor="person")
                await opening.execute(Goto(url=spec.start_url))
            limits = spec.limits
            planner = ModelPlanner(
                model,
                toolbox.actions,
                load_prompt("system.md"),
                output_mode,
                ModelSettings(max_tokens=limits.max_output_tokens, timeout=limits.model_timeout_s),
            )
            recorders: tuple[Recorder, ...] = (record,) if progress is None else (record, progress)
            end = await run_loop(
                spec.task, planner, toolbox, Tee(recorders), limits, inbox, handover
            )
    finally:
        audit.close()
    return TaskResult(record.run_id, record.dir, end)


def _allowed_hosts(spec: TaskSpec) -> frozenset[str]:
    if not spec.start_url:
        return spec.allow_hosts
    parts = urlsplit(spec.start_url)
    if not parts.hostname:
        return spec.allow_hosts
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return spec.allow_hosts | {host}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
