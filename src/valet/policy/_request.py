"""The facts a policy decides on: one action, described as plain data (no I/O, no page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from valet.effects import Effect
from valet.policy._injection import Finding
from valet.policy._taint import Source


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency (ISO code, upper case, e.g. `EUR`)."""

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency}"


@dataclass(frozen=True, slots=True)
class TaintedArg:
    """An argument whose value was found only in untrusted content."""

    name: str
    value: str
    """A short preview of the value."""
    sources: tuple[Source, ...]
    excerpt: str = ""
    """The untrusted text around the value, to show the person where it came from."""


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """One action the agent wants to take, as the policy sees it."""

    tool: str
    effect: Effect
    site: str | None = None
    """The host (with `:port` when not the default) the action acts on, if any."""
    connector: str | None = None
    """The connector the tool belongs to (e.g. `email`, `bank`), if any."""
    amount: Money | None = None
    """Money the action moves (a purchase total, a transfer)."""
    spent: tuple[Money, ...] = ()
    """Money already moved in this task, per currency (for per-task limits)."""
    recipients: tuple[str, ...] = ()
    """Who receives what the action sends or shares (e-mail addresses, accounts)."""
    tainted: tuple[TaintedArg, ...] = ()
    """Consequential arguments that come from untrusted content only."""
    findings: tuple[Finding, ...] = field(default=())
    """Injection findings in the untrusted content that influenced this action."""
    size_bytes: int | None = None
    """The size of what the action would download, when the server declared it."""
