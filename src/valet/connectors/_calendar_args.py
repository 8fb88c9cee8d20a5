"""The arguments of the calendar connector's operations (the model's typed tool calls)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints
from pydantic.functional_validators import BeforeValidator

EmailAddress = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^[^@\s<>,;:]+@[^@\s<>,;:]+\.[^@\s<>,;:]+$"),
    Field(examples=["ann@example.org"]),
]
"""An e-mail address (`ann@example.org`)."""
_T1, _T2 = "2026-12-07T09:00:00+01:00", "2026-12-07T10:00:00+01:00"


def _day_or_time(value: object) -> object:
    """`2026-12-15` is a day (an all-day event) however the arguments arrive: read from a
    dict rather than JSON, pydantic would take it for midnight."""
    if isinstance(value, str) and len(text := value.strip()) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return value
    return value


When = Annotated[datetime | date, BeforeValidator(_day_or_time)]
"""A time (`2026-12-15T10:00:00+01:00`) or a day (`2026-12-15`, all day)."""


class ListCalendars(BaseModel):
    pass


class SearchEvents(BaseModel):
    start: datetime = Field(description="Start of the time range (ISO 8601).", examples=[_T1])
    end: datetime = Field(description="End of the time range (ISO 8601).", examples=[_T2])
    text: str = Field(default="", description="Only events whose title, place or notes hold it.")
    calendar: str | None = Field(default=None, description="One calendar's name (default: all).")


class FreeBusy(BaseModel):
    start: datetime = Field(description="Start of the time range (ISO 8601).", examples=[_T1])
    end: datetime = Field(description="End of the time range (ISO 8601).", examples=[_T2])
    calendar: str | None = Field(default=None, description="One calendar's name (default: all).")


class CreateEvent(BaseModel):
    summary: str = Field(min_length=1, description="The event's title.")
    start: When = Field(description="Start: ISO time, or a date for all-day.", examples=[_T1])
    end: When = Field(description="End (exclusive): ISO time, or a date.", examples=[_T2])
    location: str = ""
    description: str = ""
    attendees: list[EmailAddress] = Field(
        default_factory=list[EmailAddress], description="People to invite (email addresses)."
    )
    calendar: str | None = Field(default=None, description="The calendar (default: the usual).")
    uid: str | None = Field(
        default=None,
        description="A UID for the event; default: one derived from the event, so that "
        "retrying the same create never makes a second event.",
    )


class UpdateEvent(BaseModel):
    uid: str = Field(min_length=1, description="The event's UID (from search_events).")
    summary: str | None = None
    start: When | None = None
    end: When | None = None
    location: str | None = None
    description: str | None = None
    attendees: list[EmailAddress] | None = Field(
        default=None, description="The full new list of people invited (replaces it)."
    )
    calendar: str | None = None


class DeleteEvent(BaseModel):
    uid: str = Field(min_length=1, description="The event's UID (from search_events).")
    calendar: str | None = None
