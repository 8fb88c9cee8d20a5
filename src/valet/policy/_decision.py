"""A verdict with the rule that gave it and a reason a person can read; the strictest wins."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Verdict = Literal["allow", "ask", "deny"]
"""`allow` runs the action, `ask` waits for the person, `deny` refuses it."""

_SEVERITY: dict[Verdict, int] = {"allow": 0, "ask": 1, "deny": 2}


@dataclass(frozen=True, slots=True)
class Decision:
    """What one rule (or the combination of all) says about one action."""

    verdict: Verdict
    rule_id: str
    """Which rule decided, e.g. `builtin.ask.send`, `person.max_amount#1`, `nav.private`."""
    reason: str
    """One sentence for the person (and the model), e.g. `sending asks you first`."""

    @property
    def severity(self) -> int:
        return _SEVERITY[self.verdict]

    def stricter_than(self, other: Decision) -> bool:
        return self.severity > other.severity

    @staticmethod
    def allow(rule_id: str, reason: str) -> Decision:
        return Decision("allow", rule_id, reason)

    @staticmethod
    def ask(rule_id: str, reason: str) -> Decision:
        return Decision("ask", rule_id, reason)

    @staticmethod
    def deny(rule_id: str, reason: str) -> Decision:
        return Decision("deny", rule_id, reason)


def strictest(decisions: Iterable[Decision]) -> Decision:
    """The strictest decision (deny > ask > allow); the first one wins a tie.

    With no decision at all, the answer is `ask`: nothing is allowed by default silence.
    """
    best: Decision | None = None
    for decision in decisions:
        if best is None or decision.stricter_than(best):
            best = decision
    if best is None:
        return Decision.ask("builtin.no_rule", "no rule covers this action, so it asks you first")
    return best
