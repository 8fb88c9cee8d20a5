"""Asking the person: the request shown to them, their answer, and who can answer.

An `Approver` answers asynchronously; a durable runtime implements it by suspending the task
until the person answers (hours if need be). `DenyAllApprover` is for unattended runs: it
declines everything (fail closed). `ScriptedApprover` answers from a list, for tests.

Besides yes, no and an edit, the person may answer "allow this on this site for the rest of
this task" (`Approval.approved_for_site`) when the request says it is `grantable`: only medium
and high risk effects (submit, create, update, download, send, publish, share; see
`valet.policy.Risk`). A purchase, a delete, running code and unknown effects are asked every
time; answering them "for this site" approves that one action only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from valet.policy import Decision

Answer = Literal["approved", "declined", "edited"]


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """What the person is asked about."""

    task_id: str
    tool: str
    effect: str
    args: dict[str, object]
    """The arguments (secrets redacted)."""
    decision: Decision
    """Why the gateway asks (the strictest rule's id and reason)."""
    sources: tuple[str, ...] = ()
    """Untrusted sources the arguments came from."""
    findings: tuple[str, ...] = ()
    site: str | None = None
    """The site the action acts on (`shop.example`, `127.0.0.1:8765`), if any."""
    risk: str = ""
    """The effect's risk tier: `low`, `medium`, `high` or `critical`."""
    grant: str = ""
    """What "allow for this site for this task" would allow (`send on shop.example`); empty
    when the effect is asked every time (critical risk) or has no site to scope it to."""
    provenance: tuple[str, ...] = ()
    """Where each consequential value came from, a line each (`to = lily@example.com: from
    what your request points to (mail from lily@example.com)`)."""
    rules: tuple[str, ...] = ()
    """Every rule that asked or refused, most specific first (`rule_id: reason`)."""
    warnings: tuple[str, ...] = ()
    """What the person should look at before saying yes, in plain words: a value that comes
    from content they did not point to, an action outside the task's scope, instruction-like
    text in what the agent read. Empty exactly when nothing is tainted or out of scope."""
    page: str = ""
    """For an action on a page: a digest of the page as it was when asked (its address, the
    element acted on, its form's values). An answer counts only for that page: the same
    action asked on a page that differs (reopened after a restart, changed in a takeover) is
    a new question."""

    @property
    def grantable(self) -> bool:
        return bool(self.grant)


@dataclass(frozen=True, slots=True)
class Approval:
    """The person's answer. `edited` runs with `args` instead (still subject to deny rules).
    `approved` with `for_site` also allows the same effect on the same site for the rest of
    the task (when the request is `grantable`; otherwise it approves this action only)."""

    answer: Answer
    approver: str
    """Who answered, e.g. `person:alice`, `deny-all`."""
    args: dict[str, object] | None = None
    note: str = ""
    for_site: bool = False

    @staticmethod
    def approved(approver: str = "person") -> Approval:
        return Approval("approved", approver)

    @staticmethod
    def approved_for_site(approver: str = "person") -> Approval:
        """Yes, and allow this effect on this site for the rest of this task."""
        return Approval("approved", approver, for_site=True)

    @staticmethod
    def declined(approver: str = "person", note: str = "") -> Approval:
        return Approval("declined", approver, note=note)

    @staticmethod
    def edited(args: dict[str, object], approver: str = "person") -> Approval:
        return Approval("edited", approver, args=args)


class Approver(Protocol):
    async def decide(self, request: ApprovalRequest) -> Approval: ...


class DenyAllApprover:
    """Declines every ask: for runs with nobody to ask. valet fails closed."""

    async def decide(self, request: ApprovalRequest) -> Approval:
        return Approval.declined("deny-all", "nobody is available to approve, so valet declines")


Script = Approval | Callable[[ApprovalRequest], Approval]


@dataclass
class ScriptedApprover:
    """Answers from `answers` in order (an `Approval` or a function of the request); declines
    once they run out. Every request is kept in `requests` for assertions."""

    answers: list[Script] = field(default_factory=lambda: list[Script]())
    requests: list[ApprovalRequest] = field(default_factory=lambda: list[ApprovalRequest]())

    @classmethod
    def of(cls, answers: Iterable[Script]) -> ScriptedApprover:
        return cls(list(answers))

    async def decide(self, request: ApprovalRequest) -> Approval:
        self.requests.append(request)
        if not self.answers:
            return Approval.declined("script", "the script has no more answers")
        answer = self.answers.pop(0)
        return answer if isinstance(answer, Approval) else answer(request)
