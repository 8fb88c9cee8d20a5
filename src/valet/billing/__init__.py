"""Metering: plans, the monthly quota of task requests, overage, the ledger that charges
each task request once, and the money tasks moved each month (`record_payment`, `paid_in`)."""

from valet.billing._ledger import (
    ACCOUNT,
    Charged,
    DuplicateRequest,
    QuotaExceeded,
    by_day,
    charge,
    charged_by_task,
    record_cost,
    refund,
    spent,
    summary,
    summary_of,
    tasks_left,
)
from valet.billing._ledger import meta as ledger_tables
from valet.billing._plans import PLANS, Budgets, Metering, Plan, Price, utc_now
from valet.billing._spending import paid_in, record_payment

__all__ = [
    "ACCOUNT",
    "PLANS",
    "Budgets",
    "Charged",
    "DuplicateRequest",
    "Metering",
    "Plan",
    "Price",
    "QuotaExceeded",
    "by_day",
    "charge",
    "charged_by_task",
    "ledger_tables",
    "paid_in",
    "record_cost",
    "record_payment",
    "refund",
    "spent",
    "summary",
    "summary_of",
    "tasks_left",
    "utc_now",
]
