"""Who a task acts and pays for, and how much it may still spend.

The plan's metering (each account's month in its own time zone), the ledger's counts, the
model cost each task has run up and the budgets over it, the rules a person and their
organization set, what a person's task runs with, and the name the audit log gives whom a task
acts for. One object the task
manager keeps; the database holds every number (so servers sharing it agree).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from valet._home import person_space
from valet._rules_file import load_rules
from valet.billing import (
    ACCOUNT,
    Metering,
    by_day,
    charged_by_task,
    paid_in,
    record_cost,
    record_payment,
    spent,
    summary,
    utc_now,
)
from valet.connectors import Accounts as ConnectorAccounts
from valet.connectors import people_toolsets
from valet.errors import ConfigError, StoreUnavailable
from valet.policy import AllowConnectors, Money, Rule, RuleSet
from valet.server._principal import INSTALL, Principal
from valet.store import People, PeopleError, TaskStore

log = logging.getLogger("valet.server")


@dataclass
class Accounts:
    """The accounting of one task manager (its store and people are set as it starts)."""

    metering: Metering = field(default_factory=lambda: Metering(None, ZoneInfo("UTC")))
    """The plan task requests are charged against (`[usage]`, read at start)."""
    clock: Callable[[], datetime] = utc_now
    """Now, for the month a request is charged in (tests move it)."""
    people: People | None = None
    """Multi-person mode: the accounts tasks' owners are found in."""
    store: TaskStore | None = None
    """Where charges and costs are kept (a durable server's); None: nothing is counted."""

    def metering_for(self, timezone: str | None) -> Metering:
        """The plan's metering with the month counted in `timezone` (an organization's)."""
        if timezone is None or timezone == self.metering.zone.key:
            return self.metering
        return replace(self.metering, zone=ZoneInfo(timezone))

    def account_of(self, owner: str | None) -> tuple[str, Metering]:
        """The account a task of `owner`'s is charged to (their organization's, theirs, or the
        installation's) and its metering (the organization's month)."""
        if owner is None:
            return ACCOUNT, self.metering
        member = None if self.people is None else self.people.membership(owner)
        if member is None:
            return f"person:{owner}", self.metering
        return f"org:{member.org.id}", self.metering_for(member.org.timezone)

    def on_behalf(self, owner: str | None) -> str:
        """Whom a task of `owner`'s acts for, as the audit log names them: "person" (the
        installation's person), else their e-mail address (their id if gone)."""
        if owner is None:
            return "person"
        try:
            return owner if self.people is None else self.people.person(owner).email
        except PeopleError:
            return owner

    def person_setup(
        self, home: Path, owner: str, setup: dict[str, Any]
    ) -> tuple[dict[str, Any], Path]:
        """What a task of `owner`'s runs with, from the installation's `setup` (`person_setup`
        of `valet.runtime`), and the person's space its connectors sign in from.

        Rules: the installation's (its operator's bind everyone), the person's own and their
        organization's. Toolsets: those that sign in with an account the person connected in
        their space (or that the installation shares), under the installation's standing
        grants, less those an `allow_connectors` rule leaves out. Never the installation's
        accounts, vault, grants on other toolsets, or another person's anything. Raises
        `ConfigError` (their accounts file), `PeopleError` and `ValidationError` (their rules)."""
        space = person_space(home, owner)
        rules = RuleSet(rules=(*setup["rules"].rules, *self.owned_rules(owner)))
        toolsets = people_toolsets(setup["toolsets"], ConnectorAccounts.load(space))
        limits = [r for r in rules.rules if isinstance(r, AllowConnectors)]
        toolsets = [t for t in toolsets if all(r.allows_toolset(t.name) for r in limits)]
        names = {t.name for t in toolsets}
        grants = tuple(g for g in setup["grants"] if g.connector in names)
        return setup | {"rules": rules, "toolsets": tuple(toolsets), "grants": grants}, space

    def refuses_model(self, home: Path, owner: str | None, model: str) -> str | None:
        """Why a task of `owner`'s may not use `model`: an `allow_models` rule of the
        installation's, the person's or their organization's (None: it may). Rules that
        cannot be read refuse (a limit never fails open)."""
        try:
            rules = load_rules(home).rules
            if owner is not None:
                rules = (*rules, *self.owned_rules(owner))
        except (ConfigError, ValidationError, PeopleError, StoreUnavailable) as exc:
            return f"the rules that say which models are allowed cannot be read: {exc}"
        return RuleSet(rules=rules).refuses_model(model)

    def owned_rules(self, owner: str) -> tuple[Rule, ...]:
        """A person's own rules, then their organization's (marked as set by it)."""
        people = self.people
        if people is None:
            return ()
        own = RuleSet.model_validate(people.rules_of("person:" + owner)).rules
        member = people.membership(owner)
        if member is None:
            return own
        found = RuleSet.model_validate(people.rules_of("org:" + member.org.id))
        return (*own, *(r.model_copy(update={"set_by": "organization"}) for r in found.rules))

    def usage(self, who: Principal = INSTALL) -> dict[str, Any] | None:
        """Where `who`'s account stands this month (None: nothing is counted here)."""
        if self.store is None:
            return None
        metering, now = self.metering_for(who.timezone), self.clock()
        return self.store.read(lambda db: summary(db, metering, now, who.account))

    def daily(self, who: Principal = INSTALL) -> dict[int, int]:
        """Task requests charged to `who`'s account per day of this month."""
        if self.store is None:
            return {}
        metering, now, account = self.metering_for(who.timezone), self.clock(), who.account
        return self.store.read(lambda db: by_day(db, metering, now, account))

    def charged(self, who: Principal) -> dict[str, int]:
        """Task requests charged to `who`'s account this month, per task."""
        if self.store is None:
            return {}
        account, period = who.account, self.metering_for(who.timezone).period(self.clock())
        return self.store.read(lambda db: charged_by_task(db, account, period))

    def record_cost(
        self, task_id: str, owner: str | None, cost_usd: float, billed: tuple[str, Metering]
    ) -> None:
        """A task's model cost so far, kept for the budgets; `billed`: its `account_of`
        (a failed write is logged: the run's record keeps the cost either way)."""
        store = self.store
        if store is None:
            return
        now = self.clock()
        account, metering = billed
        period = metering.period(now)
        try:
            store.write(
                f"the model cost of task {task_id}",
                lambda db: record_cost(db, task_id, account, owner, period, cost_usd, now),
            )
        except (SQLAlchemyError, StoreUnavailable) as exc:
            log.warning("cannot record the model cost of task %s: %s", task_id, exc)

    def spending_for(
        self, task_id: str, owner: str | None, billed: tuple[str, Metering]
    ) -> TaskSpending | None:
        """Where task `task_id` keeps its payments and reads its person's month (None: no
        database here, so a per-month limit asks)."""
        if self.store is None:
            return None
        return TaskSpending(self.store, task_id, owner, billed[1], self.clock)

    def budget_for(
        self, task_id: str, owner: str | None, cost_usd: float, billed: tuple[str, Metering]
    ) -> tuple[float | None, str]:
        """What a task (which spent `cost_usd` so far, billed as `billed`) may still spend on
        the model under `[usage]`'s budgets, and which budget that is (None: none binds it)."""
        budgets, store = self.metering.budgets, self.store
        found: list[tuple[float, str]] = []
        if budgets.task is not None:
            found.append((budgets.task, f"the task's budget of ${budgets.task:g}"))
        if store is None or (budgets.person is None and budgets.org is None):
            return min(found, default=(None, ""), key=lambda b: b[0] or 0.0)
        account, metering = billed
        period = metering.period(self.clock())
        if budgets.person is not None:
            whose = {"person": owner} if owner else {"account": account}
            used = store.read(lambda db: spent(db, period, besides=task_id, **whose))
            left = max(budgets.person - used, 0.0) + cost_usd
            found.append((left, f"your monthly budget of ${budgets.person:g}"))
        if budgets.org is not None and account.startswith("org:"):
            used = store.read(lambda db: spent(db, period, account=account, besides=task_id))
            left = max(budgets.org - used, 0.0) + cost_usd
            found.append((left, f"your organization's monthly budget of ${budgets.org:g}"))
        return min(found, key=lambda b: b[0])


@dataclass(frozen=True)
class TaskSpending:
    """One task's payments, kept in the task database with its person's (the gateway's
    `Spending`): the month is the person's organization's calendar month."""

    store: TaskStore
    task_id: str
    owner: str | None
    metering: Metering
    clock: Callable[[], datetime]

    def month(self) -> tuple[Money, ...]:
        period = self.metering.period(self.clock())
        totals = self.store.read(lambda db: paid_in(db, self.owner, period))
        return tuple(Money(amount, currency) for currency, amount in sorted(totals.items()))

    def paid(self, money: Money) -> None:
        now = self.clock()
        period = self.metering.period(now)
        self.store.write(
            f"a payment of task {self.task_id}",
            lambda db: record_payment(
                db, self.task_id, self.owner, period, money.amount, money.currency, now.isoformat()
            ),
        )
