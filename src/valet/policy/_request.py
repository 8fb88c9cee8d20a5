"""The facts a policy decides on: one action, described as plain data (no I/O, no page)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from valet.effects import Effect
from valet.policy._injection import Finding
from valet.policy._taint import UNTRUSTED_ORIGINS, Origin, Source


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency (ISO code, upper case, e.g. `EUR`)."""

    amount: Decimal
    currency: str

    def __str__(self) -> str:
        return f"{self.amount:f} {self.currency}"


@dataclass(frozen=True, slots=True)
class TaintedArg:
    """Where one consequential argument's value came from (see `Origin`)."""

    name: str
    value: str
    """A short preview of the value."""
    sources: tuple[Source, ...]
    excerpt: str = ""
    """The untrusted text around the value, to show the person where it came from."""
    origin: Origin = "content"
    labels: tuple[str, ...] = ()
    """The sources in words (`read_file#2: filename bill.txt`)."""

    @property
    def untrusted(self) -> bool:
        """From content the person did not point to, or from instruction-like text."""
        return self.origin in UNTRUSTED_ORIGINS

    @property
    def source_words(self) -> str:
        """Where it came from, for the person."""
        if self.origin in ("person", "trusted"):
            return "your request" if self.origin == "person" else "your own settings"
        if self.origin == "derived":
            return "worked out by the agent (found word for word in nothing it read)"
        where = "; ".join(self.labels) or ", ".join(str(s) for s in self.sources)
        if self.origin == "designated":
            return f"what your request points to ({where})"
        if self.origin == "flagged":
            return f"a passage that reads like instructions to the agent ({where})"
        return f"content your request did not point to ({where})"


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
    spent_month: tuple[Money, ...] | None = None
    """Money the person's tasks moved this calendar month, this one's included, per currency
    (for per-month limits; read only for an action that moves money). None: not known here."""
    recipients: tuple[str, ...] = ()
    """Who receives what the action sends or shares (e-mail addresses, accounts)."""
    tainted: tuple[TaintedArg, ...] = ()
    """Consequential arguments that come from untrusted content only (origin `content` or
    `flagged`)."""
    origins: tuple[TaintedArg, ...] = ()
    """Where every consequential argument came from (shown in an ask)."""
    carried: tuple[TaintedArg, ...] = ()
    """Web and e-mail addresses and account numbers inside the other arguments (a link in a
    message), with where each came from."""
    stated: bool | None = None
    """Whether the person's request states this action (see `Intent`); None when valet does
    not check (browser actions: the page's controls are classified, not named by tools)."""
    unnamed: str | None = None
    """What the tool changes that the request never names (`password`), when not stated."""
    beyond: str | None = None
    """Why this payment is one more than the request asks for ("your request asks for one
    payment, and it was made already"); None when it is not, or not a payment."""
    preapproved: bool = False
    """The request states exactly this action with these values (all the person's own), and
    it has not been used yet: it runs without asking (once)."""
    findings: tuple[Finding, ...] = field(default=())
    """Injection findings in the untrusted content that influenced this action."""
    size_bytes: int | None = None
    """The size of what the action would download, when the server declared it."""
