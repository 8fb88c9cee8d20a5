"""What a task runs with: its spec (the installation's rules and toolsets, a person's own
rules, accounts and organization's limits, a research brief, budgets, the browser), the person's
space its connectors sign in from, and the vault that fills its logins."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from valet.agent import Limits
from valet.billing import Metering
from valet.browser import BrowserSettings
from valet.errors import ConfigError, StoreUnavailable, ValetError
from valet.research._task import RESEARCH_TOOLSET, research_brief, research_toolset
from valet.runtime import TaskSpec, person_setup
from valet.server._accounts import Accounts
from valet.server._settings import ModelChoice
from valet.server._task_state import TaskState
from valet.store import PeopleError
from valet.vault import Vault


class CannotRun(ValetError):
    """The task cannot start: its configuration, rules, accounts or vault cannot be read (the
    message says which, for the person)."""


@dataclass(frozen=True)
class Ready:
    spec: TaskSpec
    space: Path | None
    """A person's space: their connectors sign in from it (None: the installation's task)."""
    vault: Vault | None


async def prepare(
    task: TaskState,
    choice: ModelChoice,
    *,
    home: Path,
    accounts: Accounts,
    browser: BrowserSettings,
    billed: tuple[str, Metering],
    on_behalf: str,
) -> Ready:
    """Everything task `task` runs with, read afresh (rules and toolsets change between tasks).
    Raises `CannotRun`; `SQLAlchemyError` or `StoreUnavailable` when its budgets cannot be
    read (unknown spending: no run)."""
    request = task.request
    try:  # the person's rules, toolsets and grants, read afresh for every task
        setup = await asyncio.to_thread(person_setup, home)
    except ConfigError as exc:
        raise CannotRun(f"valet's configuration is invalid: {exc}") from exc
    researching = [t for t in setup["toolsets"] if t.connector == RESEARCH_TOOLSET]
    space = None  # a person's task signs in with their own accounts and vault only
    if task.owner is not None:
        try:
            setup, space = await asyncio.to_thread(accounts.person_setup, home, task.owner, setup)
        except (ConfigError, ValidationError, PeopleError, StoreUnavailable) as exc:
            raise CannotRun(f"your rules or accounts cannot be read: {exc}") from exc
    if request.research:  # the installation's research toolset (its index, its search)
        others = [t for t in setup["toolsets"] if t.connector != RESEARCH_TOOLSET]
        setup["toolsets"] = research_toolset([*others, *researching[:1]])
    budget, budget_of = await asyncio.to_thread(
        accounts.budget_for, task.id, task.owner, task.cost_usd, billed
    )
    price = accounts.metering.price_of(task.model_name)
    spec = TaskSpec(
        on_behalf_of=on_behalf,
        price_per_mtok=None if price is None else (price.input, price.output),
        task=research_brief(request.task) if request.research else request.task,
        start_url=request.start_url or choice.start_url,
        limits=Limits(
            max_steps=task.max_steps,
            budget_usd=budget,
            budget_of=budget_of,
            # only a task's own budget is extended: a month's is the month's
            budget_asks=accounts.metering.budgets.ask and budget_of.startswith("the task's"),
        ),
        # A persistent profile holds the installation's sign-ins: a person's task gets a
        # fresh, isolated one.
        browser=browser if task.owner is None else browser.model_copy(update={"profile": None}),
        read_only=not request.agent_mode,
        **setup,
    )
    try:  # the vault fills logins on bound sites, as in `valet run` (the person's own)
        vault = await asyncio.to_thread(Vault.load, space or home)
    except ValetError as exc:
        raise CannotRun(f"the vault cannot be opened: {exc}") from exc
    return Ready(spec, space, vault)
