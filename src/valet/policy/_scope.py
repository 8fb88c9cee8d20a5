"""Least privilege for one task: the sites, connectors and operations it may use.

A scope is fixed (and shown to the person) before the task reads any untrusted content; it is
frozen, and nothing read later can widen it. An action outside it asks the person.

`derive_scope` builds it from the person's own words and settings only (never from a page):

- sites: the start URL's site and every site the task names (`fnac.com`, `https://x.example/`);
  when there is neither, any site (navigation rules and the person's site lists still apply);
- operations: reading, navigating, typing, submitting forms and downloading, plus the
  consequential effects the task's words name (`buy` → purchase, `email` → send, `delete`,
  `post` → publish, `share`, `run the script` → execute), in English or French;
- connectors: those the settings give (`None`: not restricted);
- grants: what the task may do on each connector (`ConnectorGrant`, read-only by default);
  an action outside them is denied, not asked (`None`: no grants, e.g. no connectors);
- read only: with agent mode off, only reading, opening pages, filling in fields and
  downloading; everything else is denied.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from valet.effects import Effect
from valet.policy._decision import Decision
from valet.policy._grants import ConnectorGrant, merge_grants
from valet.policy._request import ActionRequest
from valet.policy._sites import matches_any, site_of
from valet.policy._words import effects_in, sites_in

ROUTINE: tuple[Effect, ...] = (
    Effect.READ,
    Effect.NAVIGATE,
    Effect.INPUT,
    Effect.SUBMIT,
    Effect.DOWNLOAD,
)
"""Operations every task may perform (submitting a form and downloading still follow the
built-in rules: a submit asks)."""

READ_ONLY: frozenset[Effect] = frozenset(
    {Effect.READ, Effect.NAVIGATE, Effect.INPUT, Effect.DOWNLOAD}
)
"""What a read-only task may do: read, open pages, fill in a page's fields (a search box; sending
them is a submit) and download. Everything else changes something and is denied."""


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
    grants: tuple[ConnectorGrant, ...] | None = None
    """Per connector, the effects this task may have (see `valet.policy.ConnectorGrant`);
    `None`: connectors are not limited by grants."""
    read_only: bool = False
    """The person turned agent mode off: the task only reads (`READ_ONLY`); any other action
    is denied, whatever was approved or granted."""

    def check(self, request: ActionRequest) -> Decision | None:
        if self.read_only and request.effect not in READ_ONLY:
            return Decision.deny(
                "scope.read_only",
                f"agent mode is off for this task: it may only read, so {request.tool} "
                f"({request.effect.value}) is not done",
            )
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
            and not self.granted(request)
        ):
            return Decision.ask(
                "scope.operation",
                f"{request.tool} ({request.effect.value}) is outside this task's operations "
                f"({_list(self.operations)})",
            )
        return None

    def granted(self, request: ActionRequest) -> bool:
        """Whether the person's grant on the request's connector covers its effect (then the
        operation is in scope: the person named it for this task or in a standing grant)."""
        return any(
            g.connector == request.connector and request.effect in g.effects
            for g in self.grants or ()
        )

    def describe(self) -> str:
        """One line for the person, e.g. `sites shop.example · operations read, …`."""
        sites = "any" if self.sites is None else _list(self.sites)
        if self.operations is None:
            operations = "any"
        else:
            order = [e.value for e in Effect]
            operations = ", ".join(
                sorted(self.operations, key=lambda o: (order.index(o) if o in order else 99, o))
            )
        connectors = "any" if self.connectors is None else _list(self.connectors)
        line = f"sites {sites} · operations {operations} · connectors {connectors}"
        if self.read_only:
            line = f"read only (agent mode off) · {line}"
        if self.preapproved:
            line += f" · approved in advance {', '.join(sorted(self.preapproved))}"
        if self.grants is not None:
            line += f" · grants {'; '.join(g.describe() for g in self.grants) or 'none'}"
        return line


def derive_scope(
    task: str,
    *,
    start_url: str | None = None,
    sites: Iterable[str] = (),
    connectors: Iterable[str] | None = None,
    preapproved: Iterable[Effect] = (),
    grants: Iterable[ConnectorGrant] | None = None,
    read_only: bool = False,
) -> Scope:
    """The scope of a task, from its words and settings only: call it before anything is read.

    `sites` and `connectors` come from settings (the person's choices); `connectors=None`
    leaves connectors unrestricted; `grants` (the person's, per connector) limits what the task
    may do on each; `read_only`: agent mode is off, the task may only read."""
    found = sites_in(task)
    start = site_of(start_url) if start_url else None
    if start is not None:
        found.insert(0, start)
    found.extend(sites)
    operations = {e.value for e in ROUTINE} | {e.value for e in effects_in(task)}
    return Scope(
        sites=frozenset(found) or None,
        connectors=None if connectors is None else frozenset(connectors),
        operations=frozenset(operations),
        preapproved=frozenset(preapproved),
        grants=None if grants is None else merge_grants(grants),
        read_only=read_only,
    )


def _list(items: frozenset[str]) -> str:
    return ", ".join(sorted(items)) or "none"
