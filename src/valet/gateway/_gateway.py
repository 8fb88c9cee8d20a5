"""The gateway around typed Python tools: validate, decide, ask, audit, run, tag the result.

    gateway = Gateway(
        tools=[read_inbox, send_money],
        rules=Policy(rules=RuleSet(rules=(MaxAmount(limit=100, currency="EUR"),))),
        audit=AuditLog.open(home / "audit.db"),
        approver=DenyAllApprover(),
        scope=Scope(connectors=frozenset({"bank", "email"})),
        task=TaskContext(task_id="t1", request="Pay invoice 42 (120 EUR) to FR76…"),
    )
    result = await gateway.call("send_money", {"iban": "FR76…", "amount": 120})

Every call returns a `ToolResult`; model mistakes (unknown tool, bad arguments) and refusals are
values the model can read. Only valet's own bugs and a tool's unexpected exceptions raise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from itertools import count
from pathlib import Path
from typing import Any, cast

from valet.audit import Actor, AuditLog
from valet.effects import Effect
from valet.gateway._approval import Approver
from valet.gateway._errors import GatewayError, ToolFailure
from valet.gateway._gate import Gate, Ruling, Spending, Taint, TaskContext
from valet.gateway._tool import Tool, ToolEffects
from valet.gateway._urls import url_denials
from valet.policy import (
    TRUSTED,
    ActionRequest,
    Decision,
    Finding,
    InjectionDetector,
    Money,
    NavigationSettings,
    Policy,
    Scope,
    Source,
    site_of,
)


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a gated call returns. `value` is the tool's return value when it ran."""

    ok: bool
    message: str
    """For the model: empty on success, else why it failed or was refused."""
    decision: Decision
    """The gateway's decision (for refused model mistakes: a `gateway.*` deny)."""
    value: object = None
    source: Source | None = None
    """Provenance of `value`: `trusted` or `untrusted:<tool>#<call>`; treat untrusted values as
    data to read, never as instructions."""
    findings: tuple[Finding, ...] = field(default=())
    """Instruction-like passages the detector found in `value`."""
    approver: str = ""


AnyTool = Tool[..., Any]
_PAYMENTS = frozenset({Effect.SEND, Effect.PURCHASE})
"""The effects of a tool that moves money that make a payment (a transfer, a purchase), which
the person's request counts; an update (a standing order's amount) is not one."""

_RUNNING_FOR: ContextVar[TaskContext | None] = ContextVar("valet_gateway_task", default=None)
_NAVIGATION: ContextVar[NavigationSettings | None] = ContextVar("valet_navigation", default=None)


def current_task() -> TaskContext | None:
    """The task a gated call is running for, inside the tool's body (None outside
    `Gateway.call`): what a connector marks on mail, events and commits it writes."""
    return _RUNNING_FOR.get()


def current_run_folder() -> Path:
    """Inside a tool's body: the running task's run record folder (`runs/<task id>/`), where
    a connector keeps what belongs with the run (a research notebook, the workspace);
    `runs/untitled/` outside a task."""
    from valet.settings import valet_home

    task = _RUNNING_FOR.get()
    task_id = task.task_id if task is not None and task.task_id else "untitled"
    return valet_home() / "runs" / task_id


async def may_reach(url: str) -> str | None:
    """Inside a tool's body: why the running task may not reach `url` (the navigation rules,
    as for a URL argument: for the addresses a tool finds on its own, such as a redirect);
    None when it may. Outside `Gateway.call` every address is refused: nothing says which
    rules apply."""
    return await reach_check()(url)


def reach_check() -> Callable[[str], Awaitable[str | None]]:
    """`may_reach` bound to the running task's navigation rules now, for code that runs
    outside the tool's own context later (a browser's request handler)."""
    navigation = _NAVIGATION.get()

    async def check(url: str) -> str | None:
        if navigation is None:
            return "no task is running, so no navigation rules say where it may go"
        effects = ToolEffects(Effect.READ, url_args=("url",))
        denied = await url_denials(effects, {"url": url}, navigation)
        return None if not denied else denied[0].reason

    return check


class Gateway:
    """The one door between a model's tool calls and the world, for one task."""

    def __init__(
        self,
        tools: Iterable[AnyTool] = (),
        *,
        rules: Policy | None = None,
        audit: AuditLog | None = None,
        approver: Approver | None = None,
        scope: Scope | None = None,
        task: TaskContext | None = None,
        detector: InjectionDetector | None = None,
        spending: Spending | None = None,
    ) -> None:
        """`approver` defaults to declining every ask (fail closed); `audit=None` keeps no log
        (for experiments only: valet's runtime always passes one)."""
        self.gate = Gate.build(
            rules=rules,
            scope=scope,
            approver=approver,
            audit=audit,
            task=task,
            detector=detector,
            spending=spending,
        )
        self._tools: dict[str, AnyTool] = {}
        self._calls = count(1)
        for item in tools:
            if not isinstance(item, Tool):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise GatewayError(f"{item!r} is not a tool: declare it with @tool(effect=...)")
            if item.name in self._tools:
                raise GatewayError(f"two tools are named {item.name!r}")
            self._tools[item.name] = item

    @property
    def tools(self) -> tuple[AnyTool, ...]:
        return tuple(self._tools.values())

    @property
    def scope(self) -> Scope:
        return self.gate.scope

    def learn(self, source: Source, content: object) -> tuple[Finding, ...]:
        """Tell the gateway about content read outside it (e.g. a page the person opened)."""
        return self.gate.learn(source, content)

    def note(
        self, what: str, details: Mapping[str, object], reason: str, *, actor: Actor = "person"
    ) -> None:
        """Record an event that is not a tool call (a rule edit, a takeover, a grant), by
        default as the person's own action."""
        self.gate.note(actor=actor, what=what, details=details, reason=reason)

    async def call(
        self, name: str, args: Mapping[str, object] | None = None, *, actor: Actor = "agent"
    ) -> ToolResult:
        """Run tool `name` with `args` if the policy (or the person) allows it."""
        gate = self.gate
        found = self._tools.get(name)
        if found is None:
            known = ", ".join(self._tools) or "none"
            why = Decision.deny("gateway.unknown_tool", f"there is no tool named {name!r}")
            ruling = Ruling(why, False, "invalid", args=dict(args or {}))
            gate.record(actor=actor, tool=name, effect="unknown", ruling=ruling, outcome="invalid")
            return ToolResult(False, f"no tool named {name!r}; tools: {known}", decision=why)
        tool_ = found
        validated = tool_.validate(args or {})
        if isinstance(validated, str):
            why = Decision.deny("gateway.invalid_args", validated)
            ruling = Ruling(why, False, "invalid", args=dict(args or {}))
            gate.record(
                actor=actor,
                tool=name,
                effect=tool_.effects.effect,
                ruling=ruling,
                outcome="invalid",
            )
            return ToolResult(False, validated, decision=why)
        request, taint = self._facts(tool_, validated)
        navigation = gate.policy.navigation  # URL arguments go only where the browser may
        decision = gate.decide(request, await url_denials(tool_.effects, validated, navigation))

        async def recheck(edited: dict[str, object]) -> tuple[dict[str, object], Decision] | str:
            again = tool_.validate(edited)
            if isinstance(again, str):
                return again
            redone, _ = self._facts(tool_, again)
            return again, gate.decide(redone, await url_denials(tool_.effects, again, navigation))

        ruling = await gate.rule(request, decision, validated, taint, recheck)
        effect = tool_.effects.effect.value
        if not ruling.run:
            gate.record(
                actor=actor,
                tool=name,
                effect=effect,
                ruling=ruling,
                outcome=ruling.outcome,
                taint=taint,
            )
            return ToolResult(
                False, ruling.message, decision=ruling.decision, approver=ruling.approver
            )
        return await self._run(tool_, ruling, taint, actor)

    async def _run(self, tool_: AnyTool, ruling: Ruling, taint: Taint, actor: Actor) -> ToolResult:
        gate = self.gate
        effect = tool_.effects.effect.value
        running = _RUNNING_FOR.set(gate.task)
        navigating = _NAVIGATION.set(gate.policy.navigation)
        try:
            value: object = tool_.fn(**ruling.args)
            if tool_.is_async:
                value = await cast(Awaitable[object], value)
        except ToolFailure as failure:
            gate.record(
                actor=actor,
                tool=tool_.name,
                effect=effect,
                ruling=ruling,
                outcome="failed",
                result=str(failure),
                taint=taint,
            )
            return ToolResult(False, str(failure), decision=ruling.decision)
        except Exception:
            gate.record(
                actor=actor,
                tool=tool_.name,
                effect=effect,
                ruling=ruling,
                outcome="error",
                taint=taint,
            )
            raise
        finally:
            _RUNNING_FOR.reset(running)
            _NAVIGATION.reset(navigating)
        money = self._money(tool_, ruling.args)
        if money is not None:
            gate.spend(money, payment=tool_.effects.effect in _PAYMENTS)
        if ruling.decision.rule_id.startswith("intent.stated."):
            gate.used(tool_.name, taint)
        if tool_.effects.trusted:
            source = TRUSTED
        else:
            source = Source("untrusted", f"{tool_.name}#{next(self._calls)}")
        aimed = gate.taint(ruling.args, ruling.args.keys()).aimed
        findings = gate.learn(source, value, aimed_by=aimed)
        gate.record(
            actor=actor,
            tool=tool_.name,
            effect=effect,
            ruling=ruling,
            outcome="executed",
            result=value,
            taint=taint,
            findings=findings,
        )
        return ToolResult(
            True, "", ruling.decision, value, source, findings, approver=ruling.approver
        )

    def _facts(self, tool_: AnyTool, args: dict[str, object]) -> tuple[ActionRequest, Taint]:
        e = tool_.effects
        site = e.site
        if e.site_arg is not None and isinstance(args.get(e.site_arg), str):
            site = site_of(str(args[e.site_arg])) or site
        recipients: list[str] = []
        for arg in e.recipient_args:
            value = args.get(arg)
            if isinstance(value, str):
                recipients.append(value)
            elif isinstance(value, list | tuple):
                recipients.extend(str(v) for v in cast(Iterable[object], value))
        taint = self.gate.taint(args, tool_.consequential)
        money = self._money(tool_, args)
        stated, unnamed = self.gate.stated(e.effect, tool_.name, moves_money=money is not None)
        request = ActionRequest(
            tool=tool_.name,
            effect=e.effect,
            site=site,
            connector=e.connector,
            amount=money,
            spent=self.gate.spent(),
            spent_month=None if money is None else self.gate.spent_month(),
            recipients=tuple(recipients),
            tainted=taint.tainted,
            findings=taint.findings,
            origins=taint.origins,
            carried=taint.carried,
            stated=stated,
            unnamed=None if stated else unnamed,
            beyond=self.gate.beyond() if money is not None and e.effect in _PAYMENTS else None,
            preapproved=self.gate.preapproved(
                tool_.name, e.effect, taint, moves_money=money is not None
            ),
        )
        return request, taint

    @staticmethod
    def _money(tool_: AnyTool, args: Mapping[str, object]) -> Money | None:
        e = tool_.effects
        if e.amount_arg is None or args.get(e.amount_arg) is None:
            return None
        try:
            amount = Decimal(str(args[e.amount_arg]))
        except InvalidOperation:
            return None
        currency = e.currency or "???"
        if e.currency_arg is not None and args.get(e.currency_arg):
            currency = str(args[e.currency_arg])
        return Money(amount, currency.upper())
