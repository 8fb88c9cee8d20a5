"""Running one task on this machine: wire model, browser, toolbox, recorder and the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from valet.agent import (
    Budget,
    Finished,
    HandBack,
    Handover,
    Inbox,
    Limits,
    OutputMode,
    Questions,
    Recorder,
    RunEnd,
    StepRecord,
    load_prompt,
    run_loop,
)
from valet.audit import AuditLog, LogRedaction
from valet.browser import BrowserPool, BrowserSession, BrowserSettings
from valet.connectors import (
    Toolset,
    ToolsetConfig,
    default_grant,
    open_toolsets,
    toolset_actions,
)
from valet.gateway import (
    Approver,
    DenyAllApprover,
    Gateway,
    Spending,
    TaskContext,
    TaskSecrets,
    Watch,
    learn_page,
)
from valet.policy import (
    STOP_KINDS,
    ConnectorGrant,
    NavigationSettings,
    Policy,
    RuleSet,
    Scope,
    StopKind,
    derive_scope,
)
from valet.record import RunRecorder
from valet.runtime._checkpoints import (
    LAYOUT,
    CheckpointedPlanner,
    CheckpointedQuestions,
    CheckpointedToolbox,
    Checkpoints,
    Immediate,
    Resumption,
    checkpointed_person,
)
from valet.runtime._journal import Journal, journal_lines, journaled_tool
from valet.runtime._recovery import Recovery
from valet.runtime._task_browser import BrowserUnavailable, TaskBrowser
from valet.runtime._traces import task_span
from valet.tools import BROWSER_ACTIONS, AskPerson, Done
from valet.vault import Vault

if TYPE_CHECKING:  # pydantic-ai loads with the first run, not with the module (slow import)
    from pydantic_ai.models import Model


class TaskSpec(BaseModel):
    """What to do and within which limits."""

    task: str = Field(min_length=1)
    price_per_mtok: tuple[float, float] | None = None
    """The model's price in US dollars per million input and output tokens, when configured
    (`[prices]`); else what pydantic-ai knows of it."""
    on_behalf_of: str = "person"
    """Whom the agent acts for, as the audit log names them ("person": the installation's
    person; else the id of the person who asked, in multi-person mode)."""
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
    stops: frozenset[StopKind] = STOP_KINDS
    """Where valet stops and hands the browser to the person, found by code on the page:
    `login` (a password field), `payment` (card number, expiry, security code, IBAN),
    `captcha` (reCAPTCHA, hCaptcha, Turnstile) and `otp` (a one-time code). Default: all.
    Whatever this says, the agent never types into password, payment or one-time-code fields
    itself (only an exact vault placeholder)."""
    toolsets: tuple[ToolsetConfig, ...] = ()
    """Toolsets to attach (MCP servers, connectors): each operation becomes a typed action that
    passes the gateway. Opened when the task starts, closed when it ends."""
    grants: tuple[ConnectorGrant, ...] = ()
    """What the task may do on each toolset, given by the person (for this task, or standing
    grants from `config.toml`). A toolset without one is read-only; an action outside its
    grant is denied whatever the model asks (`grant.read_only`)."""

    read_only: bool = False
    """Agent mode off: the task may only read (open pages, read, fill in a search, download);
    the gateway denies anything that would change something."""

    def scope(self) -> Scope:
        """The task's least-privilege scope, from its words, the start URL and the person's
        grants only: fixed before any page is read; an action outside it asks the person (or,
        outside its connector grants, is denied)."""
        grants = None
        if self.toolsets or self.grants:
            named = {grant.connector for grant in self.grants}  # a grant given replaces
            defaults = (default_grant(t) for t in self.toolsets if t.name not in named)
            grants = (*defaults, *self.grants)
        return derive_scope(
            self.task, start_url=self.start_url, grants=grants, read_only=self.read_only
        )


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
    questions: Questions | None = None,
    vault: Vault | None = None,
    checkpoints: Checkpoints | None = None,
    on_session: Callable[[BrowserSession], None] | None = None,
    watch: Watch | None = None,
    run_id: str | None = None,
    browsers: BrowserPool | None = None,
    spending: Spending | None = None,
) -> TaskResult:
    """Run `spec` to its end with `model`; the run record lands in `home/runs/<id>/`.

    The run's id (`run_id`, e.g. the server's task id, else a new one) is the task's id
    everywhere: the run record, the audit log, and the marks connectors leave on what they write
    (`X-Valet-Task` on mail, `X-VALET-TASK` on events, commit trailers).

    Every action passes the gateway: policy decides, `approver` answers the asks (by default
    nobody: asks are declined), and each decision goes to the audit log in `home/audit.db`.
    When the page needs the person (a login, a payment form…), `handover` gives them the
    browser; without one the run stops there (`Stopped("needs_person")`). With `questions`,
    the model may `ask_person` and wait for the answer.
    With a `vault`, the model's placeholders (`{{vault:NAME.password}}`) are filled on the
    credential's sites, and no vault value reaches the run record or the audit log.
    With durable `checkpoints` (a DBOS workflow), a run restarted after a crash replays what it
    already did and goes on from the first step that never finished; `on_session` receives the
    browser each time one is opened (the live view). With a `watch` (the live view's viewers),
    actions on sensitive sites wait until the person watches (`BrowserSettings.watch_sensitive`
    turns that off). With `browsers` (a worker's shared browsers), the task's browser is a
    context in one of them; if that browser dies, a durable run reopens the task's browser
    where it was. With `spending` (the server's record of the person's payments), `max_amount`
    rules `per: month` count what the person's other tasks paid this month."""
    steps = checkpoints or Immediate()
    settings = {
        **model_info,
        "start_url": spec.start_url,
        "scope": spec.scope().describe(),
        "limits": spec.limits.model_dump(),
        "browser": spec.browser.model_dump(mode="json", exclude={"cdp_url"})
        | {"cdp": spec.browser.cdp_url is not None},
    }
    secrets = TaskSecrets(vault)
    opened: list[RunRecorder] = []

    async def begin() -> tuple[str, int]:
        opened.append(RunRecorder(home / "runs", spec.task, settings, secrets.redactor, run_id))
        return opened[0].run_id, LAYOUT

    async with AsyncExitStack() as stack:
        stack.enter_context(task_span(run_id or "", str(model_info.get("model") or "")))
        toolsets = await open_toolsets(spec.toolsets, stack)  # before the record: may fail
        run_id, layout = _begun(await steps.step("begin", begin))
        record = (
            opened[0]
            if opened
            else RunRecorder.resume(
                home / "runs", run_id, secrets.redactor, task=spec.task, settings=settings
            )
        )
        return await _run(
            spec,
            model,
            home=home,
            record=record,
            secrets=secrets,
            toolsets=toolsets,
            steps=steps,
            layout=layout,
            durable=checkpoints is not None,
            output_mode=output_mode,
            vision=vision,
            progress=progress,
            inbox=inbox,
            approver=approver,
            handover=handover,
            questions=questions,
            on_session=on_session,
            watch=watch,
            browsers=browsers,
            spending=spending,
        )


async def _run(
    spec: TaskSpec,
    model: Model,
    *,
    home: Path,
    record: RunRecorder,
    secrets: TaskSecrets,
    toolsets: Sequence[Toolset],
    steps: Checkpoints,
    layout: int,
    durable: bool,
    output_mode: OutputMode,
    vision: bool,
    progress: Recorder | None,
    inbox: Inbox | None,
    approver: Approver | None,
    handover: Handover | None,
    questions: Questions | None,
    on_session: Callable[[BrowserSession], None] | None,
    watch: Watch | None,
    browsers: BrowserPool | None,
    spending: Spending | None,
) -> TaskResult:
    run_id = record.run_id
    audit = AuditLog.of_home(home, redactor=secrets.redactor)
    logs = LogRedaction(secrets.redactor).install()
    journal = Journal(journal_lines(home, run_id), task_id=run_id)
    gateway = Gateway(
        tools=[journaled_tool(tool, journal) for toolset in toolsets for tool in toolset.tools()],
        rules=Policy(
            rules=spec.rules or RuleSet(),
            navigation=NavigationSettings(allow_hosts=_allowed_hosts(spec)),
        ),
        audit=audit,
        approver=approver or DenyAllApprover(),
        scope=spec.scope(),
        task=TaskContext(task_id=run_id, on_behalf_of=spec.on_behalf_of, request=spec.task),
        spending=spending,
    )
    browser = TaskBrowser(spec, home, record, gateway, secrets, toolsets, vision, durable, journal)
    browser.on_session = on_session
    browser.pool = browsers
    browser.watch = watch if spec.browser.watch_sensitive else None
    actions = toolset_actions(BROWSER_ACTIONS, gateway, toolsets)
    if questions is not None:  # offered only when someone can answer
        actions = (*actions[:-1], AskPerson, Done)
    resumption = Resumption()
    recovery = Recovery(
        journal, gateway, toolsets, questions, secrets.redactor, system=lambda: browser.system
    )
    toolbox = CheckpointedToolbox(
        start=browser.start,
        actions=actions,
        checkpoints=steps,
        resumption=resumption,
        journal=journal,
        recovery=recovery,
        seen=lambda page: learn_page(gateway.gate, page),
        lost=lambda: browser.lost,
    )
    limits = spec.limits
    from pydantic_ai.settings import ModelSettings

    from valet.agent import ModelPlanner
    from valet.models import resume_script

    planner = CheckpointedPlanner(
        ModelPlanner(
            model,
            actions,
            load_prompt("system.md"),
            output_mode,
            ModelSettings(max_tokens=limits.max_output_tokens, timeout=limits.model_timeout_s),
            _pricer(spec.price_per_mtok),
        ),
        actions,
        steps,
        resumption,
        on_resume=lambda turns: resume_script(model, turns),
    )
    recorders: tuple[Recorder, ...] = (record,) if progress is None else (record, progress)
    messages, handing = checkpointed_person(layout, steps, toolbox, inbox, handover)
    browser.save_with_look = toolbox.look is not None and toolbox.look.after_actions
    try:
        end: RunEnd = await run_loop(
            spec.task,
            planner,
            toolbox,
            Tee(recorders),
            limits,
            None if messages is None else _HeardInbox(messages, gateway),
            handing,
            None
            if questions is None
            else _HeardAnswers(CheckpointedQuestions(questions, steps, toolbox.opened), gateway),
        )
        await browser.forget_state()
        succeeded = isinstance(end, Finished) and end.success
        for toolset in toolsets:
            if toolset.at_end is not None:
                await asyncio.to_thread(toolset.at_end, run_id, succeeded)
    except BrowserUnavailable:
        if browser.session is None and not record.steps_written:
            record.discard()
        raise
    finally:
        try:
            await browser.close()
        finally:
            logs.remove()
            await asyncio.to_thread(audit.close)  # it may send a head to a witness
    return TaskResult(record.run_id, record.dir, end)


@dataclass
class _HeardInbox:
    """The person's messages to a running task are their own words to the gateway too: the
    values they give and the actions they ask for (also when a restart replays them)."""

    inner: Inbox
    gateway: Gateway

    async def take(self) -> list[str]:
        messages = await self.inner.take()
        for message in messages:
            self.gateway.gate.heard(message)
        return messages


@dataclass
class _HeardAnswers:
    """The person's answers to the agent's questions, likewise."""

    inner: Questions
    gateway: Gateway

    async def ask(self, question: str) -> str | None:
        answer = await self.inner.ask(question)
        if answer is not None:
            self.gateway.gate.heard(answer)
        return answer


def _begun(stored: object) -> tuple[str, int]:
    """The run's id and checkpoint layout, from its first checkpoint (a run begun before
    layouts stored its id alone: layout 1)."""
    if isinstance(stored, str):
        return stored, 1
    run_id, layout = cast(tuple[str, int], stored)
    return run_id, layout


def _allowed_hosts(spec: TaskSpec) -> frozenset[str]:
    if not spec.start_url:
        return spec.allow_hosts
    parts = urlsplit(spec.start_url)
    if not parts.hostname:
        return spec.allow_hosts
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return spec.allow_hosts | {host}


def _pricer(price: tuple[float, float] | None) -> Callable[[int, int], float] | None:
    if price is None:
        return None
    per_input, per_output = price
    return lambda input_tokens, output_tokens: (
        (input_tokens * per_input + output_tokens * per_output) / 1_000_000
    )


def person_setup(home: Path) -> dict[str, Any]:
    """What the person configured for every task: their rules (`rules.toml`), the toolsets
    (`[[mcp]]`, `[[connectors]]`) and standing grants (`[grants]`) of `config.toml`, as
    `TaskSpec` fields. Raises `ConfigError` when either file is invalid: no task runs without
    the person's limits."""
    from valet._rules_file import load_rules
    from valet.connectors import configured_toolsets
    from valet.policy import standing_grants
    from valet.settings import load_config

    config = load_config(home)
    return {
        "rules": load_rules(home),
        "toolsets": tuple(configured_toolsets(config)),
        "grants": standing_grants(config),
    }
