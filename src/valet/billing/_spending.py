"""Money the agent moved for a person (purchases, transfers), kept per calendar month for the
`max_amount` rules with `per: month`.

`valet_spending` holds one row per payment a task made: the person's (None: the installation's
operator), the month it falls in (the organization's time zone), the amount as an exact
decimal string. The gateway writes a row as soon as a payment ran, and reads the month's sum
before the next action that moves money, so tasks running at once (in any process sharing the
database) see each other's payments.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import sqlalchemy as sa

from valet.billing._ledger import meta

spending = sa.Table(
    "valet_spending",
    meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", sa.String(32), nullable=False),
    sa.Column("person", sa.String(16)),
    sa.Column("period", sa.String(7), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount", sa.String(40), nullable=False),
    sa.Column("at", sa.String(40), nullable=False),
    sa.Index("valet_spending_person", "period", "person"),
)


def record_payment(
    db: sa.Connection,
    task_id: str,
    person: str | None,
    period: str,
    amount: Decimal,
    currency: str,
    at: str,
) -> None:
    """Keep one payment a task made for `person` in `period` (`YYYY-MM`)."""
    db.execute(
        spending.insert().values(
            task_id=task_id,
            person=person,
            period=period,
            currency=currency.upper(),
            amount=format(amount, "f"),
            at=at,
        )
    )


def paid_in(db: sa.Connection, person: str | None, period: str) -> dict[str, Decimal]:
    """What `person`'s tasks (None: the operator's) paid in `period`, per currency."""
    who = spending.c.person.is_(None) if person is None else spending.c.person == person
    rows = db.execute(
        sa.select(spending.c.currency, spending.c.amount).where(spending.c.period == period, who)
    )
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount in rows:
        totals[str(currency)] += Decimal(str(amount))
    return dict(totals)
