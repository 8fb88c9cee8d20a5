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
    refund,
    summary,
    summary_of,
    tasks_left,
)
from valet.billing._ledger import meta as ledger_tables
from valet.billing._plans import PLANS, Metering, Plan, utc_now

__all__ = [
    "ACCOUNT",
    "PLANS",
    "Charged",
    "DuplicateRequest",
    "Metering",
    "Plan",
    "QuotaExceeded",
    "by_day",
    "charge",
    "charged_by_task",
    "ledger_tables",
    "refund",
    "summary",
    "summary_of",
    "tasks_left",
    "utc_now",
]
