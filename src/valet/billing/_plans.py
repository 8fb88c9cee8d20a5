"""Plans as configuration: how many agent tasks a month, and what happens beyond.

A *task request* is a task the person (or a schedule of theirs) asks for: each is charged once
when it is admitted. Answers, approvals, takeovers, messages to a running task, restarts and
retries are not task requests. The month is the calendar month in the installation's time
zone (`[usage] timezone`).

    [usage]
    plan = "plus"                 # free, plus, team, pro, enterprise, or one of [plans.NAME]
    timezone = "Europe/Paris"     # when the month starts (UTC when not given)
    seats = 3                     # for a plan counted per seat (team)
    overage = true                # task requests beyond the quota, charged in credits
    overage_cap = 100             # at most this many credits a month

    [plans.plus]                  # change a plan, or add one
    tasks = 60
    overage_credits = 2

Without `[usage] plan`, nothing is limited: usage is still counted (`valet usage`).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from valet.errors import ConfigError


class Plan(BaseModel):
    """One plan. `tasks`: task requests a month (None: no limit, e.g. enterprise)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = ""
    tasks: int | None = Field(default=0, ge=0)
    per_seat: bool = False
    """The quota is `tasks` per seat, pooled over the organization's seats."""
    overage_credits: int = Field(default=1, ge=0)
    """Credits one task request costs beyond the quota."""
    models: tuple[str, ...] | None = None
    """The models its tasks may use, as `provider:model` patterns (`openai:gpt-4o*`,
    `ollama:*`); None: any."""
    task_budget_usd: float | None = Field(default=None, ge=0)
    """The most model cost one task may have (with `[usage] task_budget_usd`, the smaller)."""

    def allows(self, model: str | None) -> bool:
        """Whether a task may use `model` (`provider:model`) under this plan."""
        if self.models is None:
            return True
        return model is not None and any(fnmatch.fnmatchcase(model, p) for p in self.models)


PLANS: dict[str, Plan] = {
    "free": Plan(name="free", tasks=0),
    "plus": Plan(name="plus", tasks=40),
    "team": Plan(name="team", tasks=40, per_seat=True),
    "pro": Plan(name="pro", tasks=400),
    "enterprise": Plan(name="enterprise", tasks=None),
}
"""The plans valet knows without configuration."""


class _UsageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: str | None = None
    timezone: str = "UTC"
    seats: int = Field(default=1, ge=1)
    overage: bool = False
    overage_cap: int | None = Field(default=None, ge=0)
    task_budget_usd: float | None = Field(default=None, ge=0)
    person_budget_usd: float | None = Field(default=None, ge=0)
    org_budget_usd: float | None = Field(default=None, ge=0)
    budget_reached: Literal["stop", "ask"] = "stop"


class Price(BaseModel):
    """A model's price in US dollars per million tokens (`[prices."provider:model"]`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


@dataclass(frozen=True)
class Budgets:
    """Model cost limits in US dollars (None: none): per task, per person and per
    organization per month (`[usage] task_budget_usd`, `person_budget_usd`, `org_budget_usd`)."""

    task: float | None = None
    person: float | None = None
    org: float | None = None
    ask: bool = False
    """A task at its own budget asks the person to give it as much again (else it stops)."""


@dataclass(frozen=True)
class Metering:
    """What `[usage]` asks for: the plan (None: not limited), and the month's time zone."""

    plan: Plan | None
    zone: ZoneInfo
    seats: int = 1
    overage: bool = False
    overage_cap: int | None = None
    budgets: Budgets = field(default_factory=Budgets)
    prices: dict[str, Price] = field(default_factory=dict[str, Price])
    """`[prices]`: a model's price, over what pydantic-ai knows (or for a model it does not)."""

    def price_of(self, model: str | None) -> Price | None:
        """The configured price of `provider:model` (or of every model of `provider`)."""
        if not model:
            return None
        return self.prices.get(model) or self.prices.get(model.partition(":")[0])

    @property
    def quota(self) -> int | None:
        """Task requests a month within the plan (None: no limit)."""
        if self.plan is None or self.plan.tasks is None:
            return None
        return self.plan.tasks * (self.seats if self.plan.per_seat else 1)

    def period(self, now: datetime) -> str:
        """The month `now` falls in, in the time zone: `2026-12`."""
        return now.astimezone(self.zone).strftime("%Y-%m")

    def resets_at(self, now: datetime) -> datetime:
        """When the next month starts, in the time zone."""
        local = now.astimezone(self.zone)
        first = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        return (first + timedelta(days=32)).replace(day=1)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metering:
        """From `config.toml`'s `[usage]` and `[plans.*]`; `ConfigError` names what is wrong."""
        try:
            usage = _UsageConfig.model_validate(config.get("usage") or {})
        except ValidationError as exc:
            raise ConfigError(f"[usage]: {_first(exc)}") from None
        plans = dict(PLANS)
        tables: object = config.get("plans") or {}
        if not isinstance(tables, dict):
            raise ConfigError("config.toml: [plans] must be a table of plans")
        for name, table in cast(dict[str, object], tables).items():
            if not isinstance(table, dict):
                raise ConfigError(f"[plans.{name}] must be a table")
            base = plans.get(name, Plan(name=name))
            changed = base.model_dump() | cast(dict[str, object], table) | {"name": name}
            try:
                plans[name] = Plan.model_validate(changed)
            except ValidationError as exc:
                raise ConfigError(f"[plans.{name}]: {_first(exc)}") from None
        try:
            zone = ZoneInfo(usage.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(
                f"[usage] timezone: unknown time zone {usage.timezone!r} (e.g. 'Europe/Paris')"
            ) from None
        plan = None
        if usage.plan is not None:
            plan = plans.get(usage.plan)
            if plan is None:
                known = ", ".join(sorted(plans))
                raise ConfigError(f"[usage] plan: no plan {usage.plan!r} (known: {known})")
        candidates = (usage.task_budget_usd, None if plan is None else plan.task_budget_usd)
        task_budget = min((b for b in candidates if b is not None), default=None)
        budgets = Budgets(
            task_budget,
            usage.person_budget_usd,
            usage.org_budget_usd,
            ask=usage.budget_reached == "ask",
        )
        return cls(
            plan, zone, usage.seats, usage.overage, usage.overage_cap, budgets, _prices(config)
        )


def _prices(config: dict[str, Any]) -> dict[str, Price]:
    tables: object = config.get("prices") or {}
    if not isinstance(tables, dict):
        raise ConfigError('config.toml: [prices] must be a table of "provider:model" = prices')
    found: dict[str, Price] = {}
    for name, table in cast(dict[str, object], tables).items():
        try:
            found[name] = Price.model_validate(table)
        except ValidationError as exc:
            raise ConfigError(f'[prices."{name}"]: {_first(exc)}') from None
    return found


def _first(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error.get("loc", ()))
    return f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", ""))


def utc_now() -> datetime:
    return datetime.now(UTC)
