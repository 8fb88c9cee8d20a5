"""Per-task connector grants: which effects a task may have on each connector it uses.

A task gets only the connectors it was given, and on each only the effects its grant lists:
read-only by default. A write (create, update, delete, send, share…) needs the person's grant
for that task, or a standing grant in `config.toml`:

    [grants]
    notes = ["read", "update"]      # the `notes` toolset may be read and written by every task

An action outside its grant is denied (`grant.read_only`, `grant.effect`, `grant.connector`),
whatever the model asks and whoever would approve it: the person widens a grant before the task,
never during it. Inside the grant the usual rules still apply (a write still asks unless the
grant's `approved` lists it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Self, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from valet.effects import Effect
from valet.errors import ConfigError
from valet.policy._decision import Decision
from valet.policy._request import ActionRequest

READ_ONLY: frozenset[Effect] = frozenset({Effect.READ})

NOT_GRANTED = frozenset({"browser"})
"""Connectors that grants do not cover (the browser has its own scope and rules)."""


class ConnectorGrant(BaseModel):
    """What one task may do with one connector (a toolset, by the name the person gave it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    connector: str = Field(min_length=1)
    """The toolset's name (`notes`, `git`, `work_mail`), as in `config.toml`."""
    effects: frozenset[Effect] = READ_ONLY
    """The effects allowed on it; read-only unless the person says more."""
    approved: frozenset[Effect] = frozenset()
    """Effects (among `effects`) the person approved in advance on this connector: the built-in
    ask is lifted for them. The person's rules, taint and injection findings still apply."""

    @field_validator("approved")
    @classmethod
    def _approved(cls, value: frozenset[Effect]) -> frozenset[Effect]:
        return value - {Effect.UNKNOWN}

    @classmethod
    def of(cls, connector: str, *effects: Effect | str, approved: Iterable[Effect] = ()) -> Self:
        """`ConnectorGrant.of("notes", "update")`: read plus the effects named."""
        allowed = READ_ONLY | {Effect(e) for e in effects}
        return cls(connector=connector, effects=allowed, approved=frozenset(approved))

    @property
    def read_only(self) -> bool:
        return self.effects <= READ_ONLY

    def check(self, request: ActionRequest) -> Decision | None:
        """A denial when `request` is outside this grant, else None."""
        if request.effect in self.effects:
            return None
        what = f"{request.tool} ({request.effect.value})"
        if self.read_only:
            return Decision.deny(
                "grant.read_only",
                f"this task may only read {self.connector}; {what} needs your grant for the task "
                f"or a standing grant ([grants] {self.connector} = [...] in config.toml)",
            )
        allowed = ", ".join(sorted(e.value for e in self.effects))
        return Decision.deny(
            "grant.effect",
            f"{what} is outside this task's grant on {self.connector} ({allowed})",
        )

    def describe(self) -> str:
        """`notes: read, update (approved: update)`."""
        line = f"{self.connector}: {', '.join(sorted(e.value for e in self.effects))}"
        if self.approved:
            line += f" (approved: {', '.join(sorted(e.value for e in self.approved))})"
        return line


def merge_grants(grants: Iterable[ConnectorGrant]) -> tuple[ConnectorGrant, ...]:
    """One grant per connector: the union of the effects (and approvals) given for it."""
    merged: dict[str, ConnectorGrant] = {}
    for grant in grants:
        seen = merged.get(grant.connector)
        if seen is not None:
            grant = ConnectorGrant(
                connector=grant.connector,
                effects=seen.effects | grant.effects,
                approved=seen.approved | grant.approved,
            )
        merged[grant.connector] = grant
    return tuple(merged[name] for name in sorted(merged))


def check_grants(grants: Iterable[ConnectorGrant], request: ActionRequest) -> Decision | None:
    """A denial when `request` is outside the task's grants (a connector with no grant, or an
    effect its grant does not list); None for actions grants do not cover (the browser)."""
    if request.connector is None or request.connector in NOT_GRANTED:
        return None
    for grant in grants:
        if grant.connector == request.connector:
            return grant.check(request)
    return Decision.deny(
        "grant.connector",
        f"this task was given no access to {request.connector} ({request.tool})",
    )


def approved_for(grants: Iterable[ConnectorGrant], request: ActionRequest) -> frozenset[Effect]:
    """The effects approved in advance on the request's connector."""
    for grant in grants:
        if grant.connector == request.connector:
            return grant.approved & grant.effects
    return frozenset()


def standing_grants(config: Mapping[str, Any]) -> tuple[ConnectorGrant, ...]:
    """The person's standing grants: `[grants]` in `config.toml`, `name = ["read", "update"]`
    (or a table `{ effects = [...], approved = [...] }`)."""
    table: object = config.get("grants", {})
    if not isinstance(table, dict):
        raise ConfigError("config.toml: [grants] must be a table of connector = [effects]")
    found: list[ConnectorGrant] = []
    for name, value in cast(dict[str, object], table).items():
        entry: object = value
        if isinstance(value, list):
            entry = {"effects": cast(list[object], value)}
        if not isinstance(entry, dict):
            raise ConfigError(f"config.toml: [grants] {name}: expected a list of effects")
        fields = cast(dict[str, object], entry)
        try:
            effects = [Effect(str(e)) for e in cast(list[object], fields.get("effects", []))]
            approved = [Effect(str(e)) for e in cast(list[object], fields.get("approved", []))]
            found.append(ConnectorGrant.of(name, *effects, approved=approved))
        except (ValueError, ValidationError, TypeError) as exc:
            known = ", ".join(e.value for e in Effect)
            raise ConfigError(f"config.toml: [grants] {name}: {exc} (effects: {known})") from exc
    return merge_grants(found)
