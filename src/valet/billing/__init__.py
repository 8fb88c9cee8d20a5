"""Metering: plans, the monthly quota of task requests, overage, and the ledger that charges
each task request once."""

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
    "record_cost",
    "refund",
    "spent",
    "summary",
    "summary_of",
    "tasks_left",
    "utc_now",
]
