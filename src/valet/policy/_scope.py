"""Least privilege for one task: the sites, connectors and operations it may use.

A scope is fixed (and shown to the person) before the task reads any untrusted content; it is
frozen, and nothing read later can widen it. An action outside it asks the person.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from valet.effects import Effect
from valet.policy._decision import Decision
from valet.policy._request import ActionRequest
from valet.policy._sites import matches_any


class Scope(BaseModel):
    """What one task may touch. `None` means "not restricted" for that dimension."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sites: frozenset[str] | None = None
    """Site patterns (`example.com`, `127.0.0.1:8765`) the task may act on."""
    connectors: frozenset[str] | None = None
    """Connectors (e.g. `email`, `bank`) the task may use."""
    operations: frozenset[str] | None = None
    """Tool names or effect names (`read_inbox`, `send`) the task may perform."""
    preapproved: frozenset[Effect] = frozenset()
    """Consequential effects the person approved in advance for this task: the built-in ask is
    lifted for them. Person rules, scope and taint still apply."""

    def check(self, request: ActionRequest) -> Decision | None:
        if (
            self.sites is not None
            and request.site is not None
            and not matches_any(request.site, self.sites)
        ):
            return Decision.ask(
                "scope.site", f"{request.site} is outside this task's sites ({_list(self.sites)})"
            )
        if (
            self.connectors is not None
            and request.connector is not None
            and request.connector not in self.connectors
        ):
            return Decision.ask(
                "scope.connector",
                f"the {request.connector} connector is outside this task's scope "
                f"({_list(self.connectors)})",
            )
        if (
            self.operations is not None
            and request.tool not in self.operations
            and request.effect.value not in self.operations
        ):
            return Decision.ask(
                "scope.operation",
                f"{request.tool} ({request.effect.value}) is outside this task's operations "
                f"({_list(self.operations)})",
            )
        return None


def _list(items: frozenset[str]) -> str:
    return ", ".join(sorted(items)) or "none"
