"""Risk tiers of effects, and the person's "allow this on this site for this task" grants.

| tier | effects | when asked, the person may answer |
|---|---|---|
| `low` | read, navigate, input | (never asked by the built-in rules) |
| `medium` | submit, create, update, download | once, or for this site for the rest of the task |
| `high` | send, publish, share | once, or for this site for the rest of the task |
| `critical` | purchase, delete, execute, unknown | once only: asked again every time |

A grant lifts only the built-in ask for one effect on one site (or connector) in one task: the
person's rules still deny, and the scope, taint and injection findings still ask.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from valet.effects import Effect
from valet.policy._request import ActionRequest


class Risk(StrEnum):
    """How much an effect can change, ordered from `low` to `critical`."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


RISK: dict[Effect, Risk] = {
    Effect.READ: Risk.LOW,
    Effect.NAVIGATE: Risk.LOW,
    Effect.INPUT: Risk.LOW,
    Effect.SUBMIT: Risk.MEDIUM,
    Effect.CREATE: Risk.MEDIUM,
    Effect.UPDATE: Risk.MEDIUM,
    Effect.DOWNLOAD: Risk.MEDIUM,
    Effect.SEND: Risk.HIGH,
    Effect.PUBLISH: Risk.HIGH,
    Effect.SHARE: Risk.HIGH,
    Effect.PURCHASE: Risk.CRITICAL,
    Effect.DELETE: Risk.CRITICAL,
    Effect.EXECUTE: Risk.CRITICAL,
    Effect.UNKNOWN: Risk.CRITICAL,
}
"""Each effect's tier (see the module's table)."""

GRANTABLE: frozenset[Risk] = frozenset({Risk.MEDIUM, Risk.HIGH})
"""Tiers a person may allow for a whole site for the rest of a task. Money leaving, data
destroyed, code run and effects valet cannot tell are asked every time."""


def risk_of(effect: Effect) -> Risk:
    return RISK.get(effect, Risk.CRITICAL)


@dataclass(frozen=True, slots=True)
class Grant:
    """The person allowed `effect` on `site` (a page's actions) for the rest of one task, or,
    for a connector's action, exactly the recipients (or consequential values) they were shown:
    never a whole connector."""

    effect: Effect
    site: str | None = None
    connector: str | None = None
    bound: tuple[str, ...] = ()
    """A connector's action: the recipients, else the `name=value` of its consequential
    arguments, the grant is limited to."""

    @staticmethod
    def for_request(request: ActionRequest) -> Grant | None:
        """The grant that would cover `request`, or `None` when it cannot be granted: a
        critical effect, or an action with neither site nor connector to scope it to."""
        if risk_of(request.effect) not in GRANTABLE:
            return None
        if request.connector is None or request.connector == "browser":
            return None if request.site is None else Grant(request.effect, site=request.site)
        bound = tuple(sorted({r.strip().lower() for r in request.recipients}))
        if not bound:
            bound = tuple(sorted({f"{o.name}={o.value}" for o in request.origins}))
        return Grant(request.effect, request.site, request.connector, bound)

    def covers(self, request: ActionRequest) -> bool:
        return Grant.for_request(request) == self

    @property
    def where(self) -> str:
        if self.connector is None:
            return self.site or "?"
        return f"the {self.connector} connector"

    def __str__(self) -> str:
        limited = f" for {', '.join(self.bound)}" if self.bound else ""
        return f"{self.effect.value} on {self.where}{limited}"
