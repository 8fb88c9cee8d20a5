"""The decision core shared by `Gateway` (typed tools) and `GatedToolbox` (browser actions):
provenance, policy, the approver and the audit write, per task."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, cast

from pydantic_core import to_jsonable_python

from valet.audit import Actor, AuditEntry, AuditLog, Outcome, digest, mask_cards
from valet.effects import Effect
from valet.gateway._approval import Approval, ApprovalRequest, Approver, DenyAllApprover
from valet.policy import (
    CONSEQUENTIAL,
    PERSON,
    TRUSTED,
    ActionRequest,
    Decision,
    Finding,
    Grant,
    HeuristicDetector,
    InjectionDetector,
    Intent,
    Money,
    Policy,
    Provenance,
    Scope,
    Source,
    TaintedArg,
    Trace,
    leaves,
    risk_of,
    strictest,
)

log = logging.getLogger("valet.gateway")


@dataclass(frozen=True)
class TaskContext:
    """Who the task is for and what the person asked, fixed when the task starts."""

    task_id: str = ""
    on_behalf_of: str = "person"
    request: str = ""
    """The person's own words: values found here are never tainted."""
    trusted: tuple[object, ...] = ()
    """Trusted data (settings, the person's address book…), JSON-like."""


class Spending(Protocol):
    """Where the money a person's tasks move is kept across tasks (the server's database), for
    `max_amount` rules `per: month`."""

    def month(self) -> tuple[Money, ...]:
        """What the person's tasks paid this month, per currency (this task's included)."""
        ...

    def paid(self, money: Money) -> None:
        """Keep a payment this task just made."""
        ...


@dataclass(frozen=True, slots=True)
class Ruling:
    """What the gate concluded for one action, after asking the person if needed."""

    decision: Decision
    run: bool
    outcome: Outcome
    """`executed` when it may run (the caller may still turn it into `failed`/`error`)."""
    approver: str = ""
    args: dict[str, object] = field(default_factory=dict[str, object])
    """The arguments to run with (the person's edit, when they edited)."""

    @property
    def message(self) -> str:
        d = self.decision
        if self.outcome == "denied":
            return f"denied by rule {d.rule_id}: {d.reason}"
        if self.outcome == "declined":
            return f"declined by {self.approver} (rule {d.rule_id}: {d.reason})"
        return f"allowed by rule {d.rule_id}: {d.reason}"


@dataclass(frozen=True, slots=True)
class Taint:
    """What provenance says about one action's arguments."""

    tainted: tuple[TaintedArg, ...] = ()
    """Consequential values from content the person did not point to."""
    findings: tuple[Finding, ...] = ()
    origins: tuple[TaintedArg, ...] = ()
    """Where every consequential value came from."""
    carried: tuple[TaintedArg, ...] = ()
    """Web and e-mail addresses and account numbers inside the other arguments (a link in a
    message's body), where they came from."""

    @property
    def own(self) -> bool:
        """Every consequential value is the person's own (and there is at least one), and the
        addresses the action carries are the person's or the agent's own."""
        own = ("person", "trusted", "derived")
        return (
            bool(self.origins)
            and all(o.origin == "person" for o in self.origins)
            and all(c.origin in own for c in self.carried)
        )

    @property
    def aimed(self) -> tuple[str, ...] | None:
        """The call's values when every one is the person's own (said, configured, or worked
        out by the agent, not copied from anything read): what it returns is what the person
        pointed to. None otherwise."""
        own = ("person", "trusted", "derived")
        if not self.origins or any(o.origin not in own for o in self.origins):
            return None
        return tuple(o.value for o in self.origins)

    @property
    def sources(self) -> tuple[str, ...]:
        found = (str(source) for arg in self.tainted for source in arg.sources)
        return tuple(dict.fromkeys(found))


Recheck = Callable[[dict[str, object]], Awaitable[tuple[dict[str, object], Decision] | str]]
"""Re-validate and re-decide arguments the person edited: (args, decision) or an error text."""


def jsonable(value: object) -> object:
    return to_jsonable_python(value, fallback=str)


def jsonable_args(args: Mapping[str, object]) -> dict[str, object]:
    return cast(dict[str, object], jsonable(dict(args)))


class Gate:
    """Per task: the policy, the scope, the approver, the audit log and what has been read."""

    def __init__(
        self,
        *,
        policy: Policy,
        scope: Scope,
        approver: Approver,
        audit: AuditLog | None,
        task: TaskContext,
        detector: InjectionDetector,
        spending: Spending | None = None,
    ) -> None:
        self._policy = policy
        self._spending = spending
        """None: no month is kept here (`valet run`), so a per-month limit asks."""
        self._scope = scope
        self.approver = approver
        self.audit = audit
        self.task = task
        self.detector = detector
        self.provenance = Provenance()
        self._flags: dict[Source, tuple[Finding, ...]] = {}
        self._spent: dict[str, Decimal] = {}
        self._payments = 0
        """Payments (transfers, purchases by tools that move money) made in this task."""
        self._grants: list[Grant] = []
        self.intent = Intent.of(task.request)
        self._stated_used: set[str] = set()
        if task.request:
            self.provenance.add(PERSON, task.request)
        for item in task.trusted:
            self.provenance.add(TRUSTED, item)

    @classmethod
    def build(
        cls,
        *,
        rules: Policy | None = None,
        scope: Scope | None = None,
        approver: Approver | None = None,
        audit: AuditLog | None = None,
        task: TaskContext | None = None,
        detector: InjectionDetector | None = None,
        spending: Spending | None = None,
    ) -> Gate:
        return cls(
            policy=rules or Policy(),
            scope=scope or Scope(),
            approver=approver or DenyAllApprover(),
            audit=audit,
            task=task or TaskContext(),
            detector=detector or HeuristicDetector(),
            spending=spending,
        )

    @property
    def policy(self) -> Policy:
        return self._policy

    @property
    def scope(self) -> Scope:
        """The task's scope: fixed at construction; nothing can widen it later."""
        return self._scope

    def learn(
        self, source: Source, content: object, *, aimed_by: Sequence[str] | None = None
    ) -> tuple[Finding, ...]:
        """Record content read from `source`; untrusted content is scanned for injections.
        `aimed_by`: the values (all the person's own) of the call that returned it, so it is
        content the person pointed to (see `Taint.aimed`)."""
        data = jsonable(content)
        findings = tuple(
            self.provenance.add(source, data, scan=self.detector.scan, aimed_by=aimed_by)
        )
        if findings:
            self._flags[source] = self._flags.get(source, ()) + findings
        return findings

    def heard(self, text: str) -> None:
        """The person said `text` (a message, an answer): their values and their intent."""
        self.provenance.add(PERSON, text)
        self.intent = self.intent.adding(text)

    def stated(
        self, effect: Effect, tool: str, *, moves_money: bool = False
    ) -> tuple[bool | None, str | None]:
        """Whether the person's words state an action of `effect` by `tool` (None: the task
        has no request to tell, as in a library use of the gateway), and what the tool changes
        that they never named."""
        if not self.intent.text:
            return None, None
        return self.intent.states(effect, tool, moves_money=moves_money), self.intent.unnamed(tool)

    def preapproved(
        self, tool: str, effect: Effect, taint: Taint, *, moves_money: bool = False
    ) -> bool:
        """The request states this action and every consequential value is the person's own,
        and that has not been used yet (each stated action runs unasked once)."""
        if effect not in CONSEQUENTIAL or not taint.own:
            return False
        return _stated_key(tool, taint) not in self._stated_used and bool(
            self.stated(effect, tool, moves_money=moves_money)[0]
        )

    def used(self, tool: str, taint: Taint) -> None:
        """A stated action ran unasked: the next one like it is asked."""
        self._stated_used.add(_stated_key(tool, taint))

    def flags_of(self, source: Source) -> tuple[Finding, ...]:
        """What the injection detector found in content read from `source`."""
        return self._flags.get(source, ())

    def taint(self, args: Mapping[str, object], consequential: Iterable[str]) -> Taint:
        """Where each consequential argument came from; those from content the person did not
        point to; and the injection findings of the untrusted content any argument came
        from."""
        important = set(consequential)
        tainted: list[TaintedArg] = []
        origins: list[TaintedArg] = []
        carried: list[TaintedArg] = []
        findings: list[Finding] = []
        for name, value in args.items():
            if name not in important and _FREE_TEXT.search(name):
                for text in (i for i in _items(value) if isinstance(i, str)):
                    for found in dict.fromkeys(_ADDRESS.findall(text)):
                        trace = self.provenance.trace(found)
                        carried.append(_arg(name, trace))
                        if trace.tainted:  # passed on at the asking of what it was read in
                            findings.extend(self.provenance.urging(found))
            if name not in important and not self._flags:
                continue  # only consequential arguments matter until something is flagged
            for item in _items(value):
                if item is None or item == "":
                    continue
                trace = self.provenance.trace(item, short_ok=name in important)
                for source in trace.sources:
                    findings.extend(self._flags.get(source, ()))
                if name not in important:
                    continue
                arg = _arg(name, trace)
                origins.append(arg)
                if arg.untrusted:
                    tainted.append(arg)
        found = tuple(dict.fromkeys(findings))
        return Taint(tuple(tainted), found, tuple(origins), tuple(carried))

    @property
    def grants(self) -> tuple[Grant, ...]:
        """What the person allowed for a site for the rest of this task, in order."""
        return tuple(self._grants)

    def spent(self) -> tuple[Money, ...]:
        return tuple(Money(amount, currency) for currency, amount in self._spent.items())

    def spent_month(self) -> tuple[Money, ...] | None:
        """What the person's tasks paid this month (this one's included), or None when that
        cannot be known here (no record of the month, or it cannot be read: a per-month limit
        then asks)."""
        if self._spending is None:
            return None
        try:
            return self._spending.month()
        except Exception:  # the database is down: the limit cannot be checked
            log.warning("cannot read this month's payments", exc_info=True)
            return None

    def spend(self, money: Money, *, payment: bool = False) -> None:
        """`money` left the person's account; `payment`: by a transfer or a purchase (counted
        against the payments their request asks for), not a change to a standing order."""
        currency = money.currency.upper()
        self._spent[currency] = self._spent.get(currency, Decimal(0)) + money.amount
        self._payments += payment
        if self._spending is None:
            return
        try:
            self._spending.paid(money)
        except Exception:  # paid already: the month's sum is unknown from now on
            log.warning("cannot keep a payment of %s for the month's limit", money, exc_info=True)
            self._spending = None

    def beyond(self) -> str | None:
        """Why one more payment is more than the person's words ask for; None if it is not."""
        return self.intent.beyond(self._payments)

    def decide(self, request: ActionRequest, extra: Sequence[Decision] = ()) -> Decision:
        return strictest([*self._policy.decisions(request, self._scope, self._grants), *extra])

    async def rule(
        self,
        request: ActionRequest,
        decision: Decision,
        args: dict[str, object],
        taint: Taint,
        recheck: Recheck,
        page: str = "",
    ) -> Ruling:
        """Apply `decision`: run, refuse, or ask the approver (and re-decide an edit); `page`
        is the digest of the page the action is asked on, if any (see `ApprovalRequest`)."""
        if decision.verdict == "allow":
            return Ruling(decision, True, "executed", args=args)
        if decision.verdict == "deny":
            return Ruling(decision, False, "denied", args=args)
        grant = Grant.for_request(request)
        said = [
            decision if d.rule_id == decision.rule_id else d  # the deciding one, as explained
            for d in self._policy.decisions(request, self._scope, self._grants)
        ]
        if decision.rule_id not in {d.rule_id for d in said}:
            said.insert(0, decision)  # e.g. a navigation rule the caller added
        rules = tuple(f"{d.rule_id}: {d.reason}" for d in said if d.verdict != "allow")
        asked = ApprovalRequest(
            task_id=self.task.task_id,
            tool=request.tool,
            effect=request.effect.value,
            args=cast(dict[str, object], mask_cards(jsonable_args(args))),
            decision=decision,
            sources=taint.sources,
            findings=tuple(str(f) for f in taint.findings),
            site=request.site,
            risk=risk_of(request.effect).value,
            grant="" if grant is None else str(grant),
            provenance=tuple(f"{o.name} = {o.value}: from {o.source_words}" for o in taint.origins),
            rules=rules or (f"{decision.rule_id}: {decision.reason}",),
            warnings=_warnings(taint, said),
            page=page,
        )
        answer: Approval = await self.approver.decide(asked)
        match answer.answer:
            case "approved":
                if answer.for_site and grant is not None and grant not in self._grants:
                    self._grants.append(grant)
                    self.note(
                        actor="person",
                        what="grant",
                        details={"effect": grant.effect.value, "site": grant.site}
                        | ({"connector": grant.connector} if grant.connector else {})
                        | ({"for": list(grant.bound)} if grant.bound else {})
                        | {"approver": answer.approver},
                        reason=f"{answer.approver} allowed {grant} for the rest of this task",
                    )
                return Ruling(decision, True, "executed", answer.approver, args)
            case "declined":
                return Ruling(decision, False, "declined", answer.approver, args)
            case "edited":
                edited = dict(answer.args or {})
                self.provenance.add(PERSON, edited)
                redone = await recheck(edited)
                if isinstance(redone, str):
                    why = Decision.deny("gateway.invalid_edit", redone)
                    return Ruling(why, False, "invalid", answer.approver, edited)
                new_args, new_decision = redone
                if new_decision.verdict == "deny":
                    return Ruling(new_decision, False, "denied", answer.approver, new_args)
                return Ruling(new_decision, True, "executed", answer.approver, new_args)

    def note(self, *, actor: Actor, what: str, details: Mapping[str, object], reason: str) -> None:
        """Record an event that is not a tool call, e.g. the person editing their rules,
        taking over the browser or granting access: `what` names it (`rules.edit`)."""
        decision = Decision.allow(f"{actor}.{what}", reason)
        ruling = Ruling(decision, True, "recorded", args=dict(details))
        self.record(actor=actor, tool=what, effect="", ruling=ruling, outcome="recorded")

    def record(
        self,
        *,
        actor: Actor,
        tool: str,
        effect: str,
        ruling: Ruling,
        outcome: Outcome,
        result: object = None,
        taint: Taint | None = None,
        findings: Sequence[Finding] = (),
    ) -> None:
        """Write the audit record of one decision (and its result, when it ran)."""
        if self.audit is None:
            return
        taint = taint or Taint()
        noted = [str(f) for f in taint.findings] + [f"result: {f}" for f in findings]
        self.audit.append(
            AuditEntry(
                actor=actor,
                on_behalf_of=self.task.on_behalf_of,
                task_id=self.task.task_id,
                tool=tool,
                effect=effect,
                args=jsonable_args(ruling.args),
                verdict=ruling.decision.verdict,
                rule_id=ruling.decision.rule_id,
                reason=ruling.decision.reason,
                approver=ruling.approver,
                outcome=outcome,
                result_digest="" if result is None else digest(jsonable(result)),
                sources=taint.sources,
                findings=tuple(noted),
            )
        )


_WARNING_RULES = ("taint.", "provenance.", "injection.", "scope.", "grant.", "nav.", "intent.")
"""Rules whose ask or refusal is something for the person to look at (not valet's routine
"this effect asks first")."""


def _warnings(taint: Taint, decisions: Sequence[Decision]) -> tuple[str, ...]:
    """What the person should look at: values from content they did not point to, what the
    agent read that reads like instructions, and anything outside the task's scope."""
    found = [f"{arg.name} comes from {arg.source_words}" for arg in taint.tainted]
    found += [
        f"{arg.name} carries {arg.value}, from {arg.source_words}"
        for arg in taint.carried
        if arg.untrusted
    ]
    found += [
        f"what the agent read here contains text that reads like instructions to it ({f})"
        for f in taint.findings
    ]
    found += [
        d.reason
        for d in decisions
        if d.verdict != "allow"
        and d.rule_id.startswith(_WARNING_RULES)
        and not d.rule_id.startswith(("taint.", "provenance.", "injection."))
    ]
    return tuple(dict.fromkeys(found))


_ADDRESS = re.compile(
    r"https?://[^\s\"'<>]+(?<![.,;:!?)])|\bwww\.[^\s\"'<>]+(?<![.,;:!?)])|"
    r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+|"
    r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,3})?\b"
)
"""What a message can carry that sends someone somewhere: web and e-mail addresses, IBANs."""


_FREE_TEXT = re.compile(
    r"body|text|content|message|description|subject|title|comment|note|summary|html|markdown",
    re.IGNORECASE,
)
"""Arguments whose text a person reads (a reference such as `in_reply_to` is not carried)."""


def _arg(name: str, trace: Trace) -> TaintedArg:
    preview = trace.value if len(trace.value) <= 80 else trace.value[:79] + "…"
    return TaintedArg(name, preview, trace.sources, trace.excerpt, trace.origin, trace.labels)


def _stated_key(tool: str, taint: Taint) -> str:
    values = sorted(f"{o.name}={o.value}" for o in taint.origins)
    return "\x00".join([tool, *values])


def _items(value: object) -> list[object]:
    """The values to trace: a scalar itself (numbers stay numbers), else every leaf."""
    if value is None or isinstance(value, str | int | float | Decimal):
        return [value]
    return list(leaves(jsonable(value)))
