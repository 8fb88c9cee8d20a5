"""iCalendar text for the calendar connector: reading events (one broken event never hides the
others), building new ones, changing them, and the attribution marker valet leaves on them.

Times without a zone ("floating", or given by the model without an offset) are read in the
toolset's time zone. An event whose start cannot be read, whose time zone is unknown, or that
ends before it starts is reported as a problem instead of being guessed at.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import cast

import recurring_ical_events  # pyright: ignore[reportMissingTypeStubs]
from icalendar import Calendar, Component, Event, vCalAddress

MARK_PROPERTY = "X-VALET-TASK"
"""The property valet adds to events it creates or changes; its value names the task."""
PRODID = "-//valet//calendar connector//EN"


class BrokenEvent(ValueError):
    """A calendar object valet cannot read reliably (the message says why)."""


@dataclass(frozen=True, slots=True)
class Mark:
    """How valet marks what it writes, so the other side can tell it from the person."""

    enabled: bool
    task: str
    note: str

    def apply(self, event: Component) -> None:
        if not self.enabled:
            return
        if MARK_PROPERTY in event:
            del event[MARK_PROPERTY]
        add(event, MARK_PROPERTY, self.task)
        description = str(event.get("DESCRIPTION", ""))
        if self.note and self.note not in description:
            text = f"{description}\n\n{self.note}" if description else self.note
            if "DESCRIPTION" in event:
                del event["DESCRIPTION"]
            add(event, "DESCRIPTION", text)


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One event (or one occurrence of a recurring event) in a time range."""

    uid: str
    summary: str
    start: datetime
    end: datetime
    all_day: bool
    location: str
    description: str
    attendees: tuple[str, ...]
    organizer: str
    busy: bool
    """Blocks time (not transparent, not cancelled)."""
    recurring: bool
    by_valet: bool

    def view(self, calendar: str) -> dict[str, object]:
        """The JSON-like view the model reads."""
        start: object = self.start.date().isoformat() if self.all_day else self.start.isoformat()
        end: object = self.end.date().isoformat() if self.all_day else self.end.isoformat()
        found: dict[str, object] = {
            "uid": self.uid,
            "summary": self.summary,
            "start": start,
            "end": end,
            "all_day": self.all_day,
            "calendar": calendar,
            "attendees": list(self.attendees),
        }
        optional = {
            "location": self.location,
            "description": self.description,
            "organizer": self.organizer,
        }
        found.update({k: v for k, v in optional.items() if v})
        if self.recurring:
            found["recurring"] = True
        if self.by_valet:
            found["added_by_valet"] = True
        return found


def parse(text: str) -> Calendar:
    """The calendar in `text`; raises `BrokenEvent` when it is not iCalendar at all."""
    try:
        calendar = Calendar.from_ical(text)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise BrokenEvent(f"not valid iCalendar ({exc})") from exc
    if not isinstance(calendar, Calendar):  # pyright: ignore[reportUnnecessaryIsInstance]
        raise BrokenEvent("not a VCALENDAR")
    return calendar


def events_of(calendar: Calendar) -> list[Event]:
    found = calendar.walk("VEVENT")  # pyright: ignore[reportUnknownMemberType]
    return [c for c in found if isinstance(c, Event)]


def uid_of(text: str) -> str:
    """The UID in a calendar object's text, or '' (for naming a broken object)."""
    for line in text.splitlines():
        if line.upper().startswith("UID:"):
            return line[4:].strip()
    return ""


def check(event: Event, zone: tzinfo) -> None:
    """Raise `BrokenEvent` when the event's times cannot be read reliably."""
    if "DTSTART" not in event:
        raise BrokenEvent("it has no start (DTSTART)")
    for name in ("DTSTART", "DTEND"):
        if name not in event:
            continue
        prop = event[name]
        value: object = getattr(prop, "dt", None)
        if not isinstance(value, date):
            raise BrokenEvent(f"its {name} is not a date or time: {prop!r}")
        zone_id = prop.params.get("TZID")
        if zone_id and isinstance(value, datetime) and value.tzinfo is None:
            raise BrokenEvent(f"its time zone {zone_id!r} is unknown, so its time is not known")
    start = as_datetime(event.start, zone)
    if "DTEND" in event and as_datetime(event.end, zone) < start:
        raise BrokenEvent("it ends before it starts")


def occurrences(
    calendar: Calendar, start: datetime, end: datetime, zone: tzinfo
) -> list[Occurrence]:
    """The events of `calendar` (recurrences expanded) that overlap [start, end)."""
    masters = events_of(calendar)
    if not masters:
        raise BrokenEvent("it holds no event (VEVENT)")
    for event in masters:
        check(event, zone)
    recurring = any("RRULE" in e or "RDATE" in e for e in masters)
    try:
        query = recurring_ical_events.of(calendar)  # pyright: ignore[reportUnknownMemberType]
        found: list[Component] = query.between(start, end)  # pyright: ignore[reportUnknownMemberType]
    except Exception as exc:  # the library raises many kinds on bad recurrence data
        raise BrokenEvent(f"its recurrence cannot be computed ({exc})") from exc
    return [_occurrence(e, zone, recurring) for e in found if isinstance(e, Event)]


def _occurrence(event: Event, zone: tzinfo, recurring: bool) -> Occurrence:
    start_value = event.start
    all_day = not isinstance(start_value, datetime)
    start = as_datetime(start_value, zone)
    end = as_datetime(event.end, zone) if ("DTEND" in event or "DURATION" in event) else start
    if all_day and end == start:
        end = start + timedelta(days=1)
    transparent = str(event.get("TRANSP", "OPAQUE")).upper() == "TRANSPARENT"
    cancelled = str(event.get("STATUS", "")).upper() == "CANCELLED"
    organizer = event.get("ORGANIZER")
    return Occurrence(
        uid=str(event.get("UID", "")),
        summary=str(event.get("SUMMARY", "")),
        start=start,
        end=end,
        all_day=all_day,
        location=str(event.get("LOCATION", "")),
        description=str(event.get("DESCRIPTION", "")),
        attendees=tuple(address(a) for a in _attendees(event)),
        organizer="" if organizer is None else address(organizer),
        busy=not transparent and not cancelled,
        recurring=recurring,
        by_valet=MARK_PROPERTY in event,
    )


def _attendees(event: Component) -> list[object]:
    value: object = event.get("ATTENDEE")
    if value is None:
        return []
    if isinstance(value, list):
        return list(cast(list[object], value))
    return [value]


def address(value: object) -> str:
    """`mailto:Ann@Example.org` → `Ann@Example.org`."""
    text = str(value)
    return text[7:] if text.lower().startswith("mailto:") else text


def as_datetime(value: date | datetime, zone: tzinfo) -> datetime:
    """A date (midnight) or a floating time in `zone`; zoned times unchanged."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(), zone)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def derived_uid(calendar_url: str, summary: str, start: date, end: date, who: Sequence[str]) -> str:
    """A stable UID for an event valet creates: the same request gives the same UID, so a
    retried create finds the event it already made instead of making a second one."""
    key = "\n".join([calendar_url, summary, start.isoformat(), end.isoformat(), *sorted(who)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32] + "@valet"


@dataclass(frozen=True, slots=True)
class EventFields:
    """What a new or changed event says (None: unchanged, for an update)."""

    summary: str | None = None
    start: date | None = None
    end: date | None = None
    location: str | None = None
    description: str | None = None
    attendees: Sequence[str] | None = None


def new_event(uid: str, fields: EventFields, organizer: str, mark: Mark) -> str:
    """The iCalendar text of a new event."""
    event = Event.new(uid=uid, stamp=datetime.now(UTC), sequence=0)
    _apply(event, fields, organizer)
    mark.apply(event)
    calendar = Calendar()
    add(calendar, "PRODID", PRODID)
    add(calendar, "VERSION", "2.0")
    calendar.add_component(event)
    return calendar.to_ical().decode("utf-8")


def changed_event(text: str, fields: EventFields, organizer: str, mark: Mark) -> str:
    """`text` with its main event changed by `fields` (every occurrence of a recurring one)."""
    calendar = parse(text)
    masters = [e for e in events_of(calendar) if "RECURRENCE-ID" not in e]
    if not masters:
        raise BrokenEvent("it holds no main event to change")
    event = masters[0]
    _apply(event, fields, organizer)
    sequence = int(str(event.get("SEQUENCE", 0))) if str(event.get("SEQUENCE", 0)).isdigit() else 0
    _set(event, "SEQUENCE", sequence + 1)
    _set(event, "DTSTAMP", datetime.now(UTC))
    _set(event, "LAST-MODIFIED", datetime.now(UTC))
    mark.apply(event)
    return calendar.to_ical().decode("utf-8")


def _apply(event: Component, fields: EventFields, organizer: str) -> None:
    if fields.start is not None:
        _set(event, "DTSTART", fields.start)
        if "DURATION" in event and fields.end is not None:
            del event["DURATION"]
    if fields.end is not None:
        _set(event, "DTEND", fields.end)
    for name, value in (
        ("SUMMARY", fields.summary),
        ("LOCATION", fields.location),
        ("DESCRIPTION", fields.description),
    ):
        if value is not None:
            _set(event, name, value)
    if fields.attendees is not None:
        if "ATTENDEE" in event:
            del event["ATTENDEE"]
        for who in fields.attendees:
            add(event, "ATTENDEE", _invitee(who))
        if fields.attendees and organizer and "ORGANIZER" not in event:
            add(event, "ORGANIZER", vCalAddress(f"mailto:{organizer}"))


def _invitee(email: str) -> vCalAddress:
    attendee = vCalAddress(f"mailto:{email}")
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = "NEEDS-ACTION"
    attendee.params["RSVP"] = "TRUE"
    return attendee


def _set(event: Component, name: str, value: object) -> None:
    if name in event:
        del event[name]
    add(event, name, value)


def add(component: Component, name: str, value: object) -> None:
    """`component.add` (its value parameter is untyped in icalendar)."""
    component.add(name, value)  # pyright: ignore[reportUnknownMemberType]


def merged(intervals: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Overlapping or touching intervals joined, in order."""
    joined: list[tuple[datetime, datetime]] = []
    for start, end in sorted(intervals):
        if joined and start <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(joined[-1][1], end))
        else:
            joined.append((start, end))
    return joined


def gaps(
    busy: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The free intervals of [start, end) around the merged `busy` ones."""
    free: list[tuple[datetime, datetime]] = []
    cursor = start
    for b_start, b_end in busy:
        if b_start > cursor:
            free.append((cursor, min(b_start, end)))
        cursor = max(cursor, b_end)
        if cursor >= end:
            break
    if cursor < end:
        free.append((cursor, end))
    return [(s, e) for s, e in free if e > s]
