"""The ledger: each task request charged once, in the transaction that admits the task.

`valet_usage` holds one row per account and month (task requests admitted, overage credits
spent); a charge is a conditional `UPDATE … WHERE tasks < quota`, so that concurrent requests
(threads, processes, servers on one Postgres) can never admit more than the quota: the
database serializes the updates of one row and re-checks the condition. `valet_ledger` keeps
every charge and refund, unique by idempotency key: a request sent twice with the same key is
charged once and answered with the task it made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from valet.billing._plans import Metering
from valet.errors import ValetError

ACCOUNT = "install"
"""The account charged in single-person mode (organizations will each have their own)."""

meta = sa.MetaData()

usage = sa.Table(
    "valet_usage",
    meta,
    sa.Column("account", sa.String(64), primary_key=True),
    sa.Column("period", sa.String(7), primary_key=True),
    sa.Column("tasks", sa.Integer, nullable=False, default=0),
    sa.Column("overage_credits", sa.Integer, nullable=False, default=0),
)

ledger = sa.Table(
    "valet_ledger",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("task_id", sa.String(32), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),  # quota, overage, unmetered, refund
    sa.Column("tasks", sa.Integer, nullable=False),
    sa.Column("credits", sa.Integer, nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.UniqueConstraint("account", "key", name="valet_ledger_key"),
)


costs = sa.Table(
    "valet_costs",
    meta,
    sa.Column("task_id", sa.String(32), primary_key=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("person", sa.String(16)),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("cost_usd", sa.Float, nullable=False),
    sa.Column("updated_at", sa.String(40), nullable=False),
    sa.Index("valet_costs_period", "period", "account"),
)
"""Each task's model cost so far, in US dollars, for the budgets and the usage page."""


class QuotaExceeded(ValetError):
    """A task request beyond the month's quota (and overage off or at its cap)."""

    def __init__(self, message: str, usage: dict[str, Any]) -> None:
        super().__init__(message)
        self.usage = usage


@dataclass(frozen=True)
class Charged:
    """A task request admitted (`task_id` its task), or one charged before under the same
    idempotency key (`again`: `task_id` is the task that first request made)."""

    task_id: str
    kind: str
    again: bool = False


def _insert(db: sa.Connection) -> Any:
    return (postgresql if db.dialect.name == "postgresql" else sqlite).insert(usage)


def charge(
    db: sa.Connection,
    metering: Metering,
    task_id: str,
    now: datetime,
    key: str | None = None,
    account: str = ACCOUNT,
) -> Charged:
    """Charge one task request inside the caller's transaction (which adds the task): raises
    `QuotaExceeded` (the caller's transaction then rolls back: no task, no charge)."""
    key = key or task_id
    if (before := _charge_of(db, account, key)) is not None:
        return Charged(before, "", again=True)
    period = metering.period(now)
    db.execute(
        _insert(db)
        .values(account=account, period=period, tasks=0, overage_credits=0)
        .on_conflict_do_nothing()
    )
    row = (usage.c.account == account) & (usage.c.period == metering.period(now))
    quota = metering.quota
    kind, credits = "unmetered" if metering.plan is None else "quota", 0
    if quota is None:
        db.execute(usage.update().where(row).values(tasks=usage.c.tasks + 1))
    elif not _admitted(db, usage.update().where(row & (usage.c.tasks < quota))):
        assert metering.plan is not None
        price = metering.plan.overage_credits
        within_cap = sa.true()
        if metering.overage_cap is not None:
            within_cap = usage.c.overage_credits + price <= metering.overage_cap
        over = usage.update().where(row & within_cap)
        if not metering.overage or not _admitted(
            db, over, overage_credits=usage.c.overage_credits + price
        ):
            shown = summary(db, metering, now, account)
            raise QuotaExceeded(refusal(metering, shown, now), shown)
        kind, credits = "overage", price
    try:
        with db.begin_nested():  # the same key sent twice at once: the second finds the first
            db.execute(
                ledger.insert().values(
                    account=account,
                    period=period,
                    key=key,
                    task_id=task_id,
                    kind=kind,
                    tasks=1,
                    credits=credits,
                    at=now.isoformat(),
                )
            )
    except IntegrityError:
        raise DuplicateRequest(key) from None
    return Charged(task_id, kind)


class DuplicateRequest(ValetError):
    """The same idempotency key is being charged by another request at this moment."""


def _admitted(db: sa.Connection, update: Any, **more: Any) -> bool:
    result = db.execute(update.values(tasks=usage.c.tasks + 1, **more))
    return result.rowcount == 1


def _charge_of(db: sa.Connection, account: str, key: str) -> str | None:
    found = db.execute(
        sa.select(ledger.c.task_id).where(
            (ledger.c.account == account) & (ledger.c.key == key) & (ledger.c.kind != "refund")
        )
    ).first()
    return None if found is None else str(found[0])


def by_day(db: sa.Connection, metering: Metering, now: datetime, account: str) -> dict[int, int]:
    """Task requests charged to `account` on each day of `now`'s month (day of the month in
    the plan's time zone → net count; refunds count on the day of their charge's request)."""
    rows = db.execute(
        sa.select(ledger.c.task_id, ledger.c.tasks, ledger.c.at, ledger.c.kind).where(
            (ledger.c.account == account) & (ledger.c.period == metering.period(now))
        )
    ).all()
    day_of: dict[str, int] = {}
    counts: dict[int, int] = {}
    for task_id, tasks, at, _ in sorted(rows, key=lambda r: r[3] == "refund"):  # charges first
        day = day_of.setdefault(
            str(task_id), datetime.fromisoformat(str(at)).astimezone(metering.zone).day
        )
        counts[day] = counts.get(day, 0) + int(tasks)
    return {day: count for day, count in counts.items() if count > 0}


def record_cost(
    db: sa.Connection,
    task_id: str,
    account: str,
    person: str | None,
    period: str,
    cost_usd: float,
    now: datetime,
) -> None:
    """The task's model cost so far (replaces what was recorded for it)."""
    values = {"cost_usd": cost_usd, "updated_at": now.isoformat()}
    changed = db.execute(costs.update().where(costs.c.task_id == task_id).values(**values))
    if changed.rowcount == 0:
        db.execute(
            costs.insert().values(
                task_id=task_id, account=account, person=person, period=period, **values
            )
        )


def spent(
    db: sa.Connection,
    period: str,
    *,
    account: str | None = None,
    person: str | None = None,
    besides: str | None = None,
) -> float:
    """Model cost in `period` of an account's tasks or a person's (`besides`: without that
    task's)."""
    where = costs.c.period == period
    if account is not None:
        where &= costs.c.account == account
    if person is not None:
        where &= costs.c.person == person
    if besides is not None:
        where &= costs.c.task_id != besides
    found = db.execute(sa.select(sa.func.sum(costs.c.cost_usd)).where(where)).scalar()
    return float(found or 0.0)


def charged_by_task(db: sa.Connection, account: str, period: str) -> dict[str, int]:
    """Task requests charged to `account` in `period`, net of refunds, per task id."""
    rows = db.execute(
        sa.select(ledger.c.task_id, sa.func.sum(ledger.c.tasks))
        .where((ledger.c.account == account) & (ledger.c.period == period))
        .group_by(ledger.c.task_id)
    ).all()
    return {str(task): int(count) for task, count in rows if int(count) > 0}


def refund(db: sa.Connection, task_id: str, now: datetime) -> bool:
    """Give back the charge of `task_id` to the account it was charged to (a request
    cancelled before it started); False when it was not charged or was refunded already."""
    charged = db.execute(
        sa.select(ledger).where((ledger.c.task_id == task_id) & (ledger.c.kind != "refund"))
    ).first()
    if charged is None:
        return False
    account = str(charged.account)
    try:
        with db.begin_nested():
            db.execute(
                ledger.insert().values(
                    account=account,
                    period=charged.period,
                    key=f"refund:{task_id}",
                    task_id=task_id,
                    kind="refund",
                    tasks=-1,
                    credits=-charged.credits,
                    at=now.isoformat(),
                )
            )
    except IntegrityError:
        return False  # refunded already
    row = (usage.c.account == account) & (usage.c.period == charged.period)
    db.execute(
        usage.update()
        .where(row)
        .values(tasks=usage.c.tasks - 1, overage_credits=usage.c.overage_credits - charged.credits)
    )
    return True


def summary(
    db: sa.Connection, metering: Metering, now: datetime, account: str = ACCOUNT
) -> dict[str, Any]:
    """Where the account stands this month (what `GET /api/usage` and `valet usage` show)."""
    found = db.execute(
        sa.select(usage.c.tasks, usage.c.overage_credits).where(
            (usage.c.account == account) & (usage.c.period == metering.period(now))
        )
    ).first()
    used, credits = (int(found[0]), int(found[1])) if found is not None else (0, 0)
    shown = summary_of(metering, now, used, credits)
    shown["cost_usd"] = round(spent(db, metering.period(now), account=account), 6)
    return shown


def summary_of(
    metering: Metering, now: datetime, used: int, credits: int, metered: bool = True
) -> dict[str, Any]:
    """The usage summary's shape, from what was counted (`metered` False: nothing is charged
    here, an in-process server without a task database; `used` is then what it ran)."""
    quota = metering.quota if metered else None
    plan = metering.plan
    return {
        "metered": metered,
        "plan": None if plan is None else plan.name,
        "period": metering.period(now),
        "timezone": metering.zone.key,
        "quota": quota,
        "used": used,
        "remaining": None if quota is None else max(quota - used, 0),
        "resets_at": metering.resets_at(now).isoformat(),
        "overage": {
            "enabled": metering.overage,
            "credits_used": credits,
            "cap": metering.overage_cap,
            "credits_per_task": None if plan is None else plan.overage_credits,
        },
        "cost_usd": 0.0,
        "budgets_usd": {
            "task": metering.budgets.task,
            "person": metering.budgets.person,
            "org": metering.budgets.org,
        },
    }


def refusal(metering: Metering, shown: dict[str, Any], now: datetime) -> str:
    """Why a task request is refused, when the quota comes back, and how to go on."""
    resets = metering.resets_at(now)
    when = f"{resets:%-d %B %Y} at 00:00 ({metering.zone.key})"
    plan = shown["plan"]
    text = f"You have used {shown['used']} of {shown['quota']} agent tasks this month ({plan} plan)"
    overage = shown["overage"]
    if metering.overage:
        text += f" and {overage['credits_used']} of {overage['cap']} overage credits"
        how = "raise the overage cap (`[usage] overage_cap` in config.toml)"
    else:
        how = "enable overage (`[usage] overage = true` in config.toml) or change the plan"
    return f"{text}. The quota resets on {when}. To go on before then, {how}."


def tasks_left(shown: dict[str, Any]) -> dict[str, str] | None:
    """A usage summary in words: `text` (how many task requests are left this month) and
    `detail` (plan, used, reset, overage); None when no plan limits them."""
    quota, used = shown.get("quota"), int(shown.get("used") or 0)
    if quota is None:
        return None
    resets = datetime.fromisoformat(str(shown["resets_at"]))
    overage = shown["overage"]
    detail = (
        f"{shown['plan']} plan: {used} of {quota} used this month; "
        f"resets {resets:%-d %B %Y} at 00:00 ({shown['timezone']})"
    )
    if overage["enabled"]:
        cap = "no cap" if overage["cap"] is None else f"a cap of {overage['cap']}"
        detail += (
            f"; beyond it, {overage['credits_per_task']} credit(s) a task "
            f"({overage['credits_used']} used, {cap})"
        )
    left = max(int(quota) - used, 0)
    noun = "task" if left == 1 else "tasks"
    return {"text": f"{left} of {quota} {noun} left this month", "detail": detail}
