"""When a schedule fires: a cron expression, or a plain phrase turned into one.

Phrases understood (case does not matter; times as `8`, `8:30`, `8am`, `5:30 pm`, `17:00`,
`noon`, `midnight`; the time is the schedule's timezone's):

    every minute | every 15 minutes | every hour | hourly | every 2 hours
    every day at 8:00 | daily at 8 | every weekday at 8:00 | every weekend at 10am
    every monday at 9 | every monday and thursday at 17:30 | weekly on friday at 16:00
    every month on the 1st at 9:00 | monthly on the 15th at 18:00

A five-field cron expression (`0 8 * * 1-5`) is taken as it is. Anything else is refused with
the forms above, never guessed (a day without a time of day is refused).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from valet.errors import ValetError


class BadSchedule(ValetError):
    """A schedule's timing (or timezone) cannot be understood."""


@dataclass(frozen=True)
class When:
    """A schedule's timing: the cron expression it runs on, and the words it was given in."""

    cron: str
    text: str

    def next_after(self, moment: datetime, timezone: str) -> datetime:
        """The first firing after `moment` (aware), in `timezone`."""
        local = moment.astimezone(ZoneInfo(timezone))
        found: datetime = croniter(self.cron, local).get_next(datetime)
        return found


_DAYS = {
    "sunday": 0,
    "monday": 1,
    "tuesday": 2,
    "wednesday": 3,
    "thursday": 4,
    "friday": 5,
    "saturday": 6,
}
_ALIASES = {"mon": "monday", "tue": "tuesday", "tues": "tuesday", "wed": "wednesday",
            "thu": "thursday", "thur": "thursday", "thurs": "thursday", "fri": "friday",
            "sat": "saturday", "sun": "sunday"}  # fmt: skip
_TIME = re.compile(
    r"^(?:(?P<noon>noon|midday)|(?P<midnight>midnight)|"
    r"(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>am|pm|a\.m\.|p\.m\.)?)$"
)
HELP = (
    "say it as a cron expression (`0 8 * * 1-5`) or as e.g. `every weekday at 8:00`, "
    "`every day at 7:30`, `every monday and thursday at 17:00`, `every month on the 1st at 9`, "
    "`every 15 minutes`, `every hour`"
)


def parse_when(text: str) -> When:
    """`text` as a `When`; raises `BadSchedule` saying what is understood."""
    words = " ".join(text.strip().lower().replace(",", " ").split())
    if not words:
        raise BadSchedule(f"a schedule needs a time: {HELP}")
    if _is_cron(words):
        return When(words, text.strip())
    cron = _phrase(words)
    if cron is None:
        raise BadSchedule(f"cannot understand {text.strip()!r}: {HELP}")
    return When(cron, text.strip())


def check_timezone(name: str) -> str:
    """`name` if it is an IANA timezone (`Europe/Paris`, `UTC`); raises `BadSchedule`."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadSchedule(
            f"{name!r} is not a timezone: use an IANA name such as Europe/Paris or UTC"
        ) from None
    return name


def _is_cron(words: str) -> bool:
    fields = words.split()
    if len(fields) != 5 or not all(re.fullmatch(r"[\d*/,\-a-z]+", f) for f in fields):
        return False
    return bool(croniter.is_valid(words))


def _phrase(words: str) -> str | None:
    if found := re.fullmatch(r"every (?:(\d+) )?minutes?", words):
        return _every(found.group(1), "minute", 59) or None
    if words == "hourly" or (found := re.fullmatch(r"every (?:(\d+) )?hours?", words)):
        step = None if words == "hourly" else found.group(1)  # type: ignore[union-attr]
        every = _every(step, "hour", 23)
        return None if every is None else f"0 {every.split()[1]} * * *"
    body, _, at = words.partition(" at ")
    time = _time(at) if at else None
    if time is None:  # a day without a time of day would be a guess
        return None
    hour, minute = time
    days = _days(body)
    if days is not None:
        return f"{minute} {hour} * * {days}"
    if found := re.fullmatch(r"(?:every month|monthly) on the (\d{1,2})(?:st|nd|rd|th)?", body):
        day = int(found.group(1))
        return f"{minute} {hour} {day} * *" if 1 <= day <= 31 else None
    return None


def _every(step: str | None, unit: str, most: int) -> str | None:
    """`*/N` in the minute or hour field (N=1: every one)."""
    n = int(step) if step else 1
    if not 1 <= n <= most:
        return None
    field = "*" if n == 1 else f"*/{n}"
    return f"{field} * * * *" if unit == "minute" else f"0 {field} * * *"


def _days(body: str) -> str | None:
    """The day-of-week field for `every day`, `weekday`, `monday and friday`…; None if no."""
    if body in ("every day", "daily", "each day"):
        return "*"
    if body in ("every weekday", "weekdays", "on weekdays"):
        return "1-5"
    if body in ("every weekend", "weekends", "on weekends", "every weekend day"):
        return "0,6"
    found = re.fullmatch(r"(?:every|weekly on|on|each) (.+)", body)
    if found is None:
        return None
    names = re.split(r"\s+(?:and\s+)?|\s*and\s*", found.group(1))
    days: list[int] = []
    for name in filter(None, names):
        name = _ALIASES.get(name.rstrip("s"), name.rstrip("s") if name.endswith("days") else name)
        if name not in _DAYS:
            return None
        days.append(_DAYS[name])
    return ",".join(str(d) for d in sorted(set(days))) if days else None


def _time(text: str) -> tuple[int, int] | None:
    """(hour, minute) of `8`, `8:30`, `8am`, `5:30 pm`, `17:00`, `noon`; None if not a time."""
    found = _TIME.fullmatch(text.strip())
    if found is None:
        return None
    if found.group("noon"):
        return 12, 0
    if found.group("midnight"):
        return 0, 0
    hour, minute = int(found.group("h")), int(found.group("m") or 0)
    ampm = (found.group("ampm") or "").replace(".", "")
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return hour, minute
