"""The calendar connector against a real Radicale server on 127.0.0.1 (started for the session
by `tests/_servers.py`): every operation through the gateway, reads allowed and writes asked, a
declined write leaves the server unchanged (checked with a direct CalDAV client), no duplicate
after a retried create, the attribution marker, and the error cases: wrong login, server down,
broken events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import caldav
import pytest
from cryptography.fernet import Fernet
from tests._servers import CAL_PASSWORD as PASSWORD
from tests._servers import Radicale, free_port

from valet.audit import AuditLog
from valet.connectors import ConnectorError, Toolset, ToolsetConfig, open_toolsets
from valet.connectors._ical import BrokenEvent, parse
from valet.gateway import Approval, Gateway, ScriptedApprover, TaskContext
from valet.policy import AllowedRecipientDomains, Policy, RuleSet
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault

DAY = datetime(2026, 12, 7, tzinfo=UTC)  # a Monday


@pytest.fixture
def user(radicale: Radicale) -> str:
    """A fresh Radicale user for one test: its calendars are its own."""
    return radicale.add_user()


@pytest.fixture
def vault_home(home: Path, monkeypatch: pytest.MonkeyPatch, radicale: Radicale, user: str) -> Path:
    """valet's home with a vault holding the right login and a wrong one for the server."""
    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())
    vault = Vault.open(home, create=True)
    host = f"127.0.0.1:{radicale.port}"
    vault.add(Credential(name="cal", domains=(host,), username=user, password=PASSWORD))
    vault.add(Credential(name="wrong", domains=(host,), username=user, password="nope"))
    vault.add(Credential(name="elsewhere", domains=("cal.example",), username=user))
    vault.save()
    return home


@pytest.fixture
def calendars(radicale: Radicale, user: str) -> dict[str, caldav.Calendar]:
    """The user's two calendars, made with a direct client (not valet)."""
    principal = radicale.client(user).principal()
    return {
        name: principal.make_calendar(name=name, cal_id=name.lower()) for name in ("Work", "Home")
    }


@asynccontextmanager
async def calendar_toolset(radicale: Radicale, **settings: Any) -> AsyncIterator[Toolset]:
    config = ToolsetConfig(
        name="cal",
        connector="calendar",
        settings={"url": radicale.url, "credential": "cal", "timezone": "UTC", **settings},
    )
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config], stack)
        yield toolset


def ics(uid: str, start: str, end: str, summary: str, extra: str = "") -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T000000Z\r\nDTSTART{start}\r\nDTEND{end}\r\n"
        f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def fill(work: caldav.Calendar, home: caldav.Calendar) -> None:
    work.save_event(
        ics(
            "standup",
            ":20261207T090000Z",
            ":20261207T091500Z",
            "Standup",
            "RRULE:FREQ=DAILY;COUNT=5\r\n",
        )
    )
    work.save_event(
        ics(
            "review",
            ":20261207T140000Z",
            ":20261207T150000Z",
            "Design review",
            "LOCATION:Room 4\r\nATTENDEE:mailto:bob@example.org\r\n",
        )
    )
    work.save_event(ics("late", ":20261210T090000Z", ":20261210T100000Z", "Outside range"))
    home.save_event(ics("dentist", ":20261207T143000Z", ":20261207T160000Z", "Dentist"))
    home.save_event(
        ics(
            "holiday",
            ";VALUE=DATE:20261208",
            ";VALUE=DATE:20261209",
            "Holiday",
            "TRANSP:TRANSPARENT\r\n",
        )
    )


def server_events(calendar: caldav.Calendar) -> dict[str, str]:
    """UID → iCalendar text of every event on the server, read with a direct client."""
    found: dict[str, str] = {}
    for event in calendar.events():
        text = str(event.data)
        found[str(next(iter(parse(text).walk("VEVENT")))["UID"])] = text
    return found


def range_of(days: int = 2) -> dict[str, str]:
    return {"start": DAY.isoformat(), "end": (DAY + timedelta(days=days)).isoformat()}


async def test_reads_run_without_asking(
    radicale: Radicale, vault_home: Path, calendars: dict[str, caldav.Calendar], audit: AuditLog
) -> None:
    work, home = calendars["Work"], calendars["Home"]
    fill(work, home)
    work_name = str(work.get_display_name())
    approver = ScriptedApprover()
    async with calendar_toolset(radicale) as toolset:
        gateway = Gateway(toolset.tools(), audit=audit, approver=approver)
        listed = await gateway.call("cal_list_calendars", {})
        found = await gateway.call("cal_search_events", {**range_of(), "calendar": work_name})
        everywhere = await gateway.call("cal_search_events", range_of())
        texts = await gateway.call("cal_search_events", {**range_of(), "text": "room 4"})
        busy = await gateway.call(
            "cal_free_busy",
            {"start": "2026-12-07T08:00:00+00:00", "end": "2026-12-07T18:00:00+00:00"},
        )
        backwards = await gateway.call(
            "cal_search_events", {"start": DAY.isoformat(), "end": "2026-12-01T00:00:00Z"}
        )
        unknown = await gateway.call("cal_search_events", {**range_of(), "calendar": "Nope"})
    assert toolset.scopes == ("calendar.read", "calendar.write")
    assert listed.ok
    names = {c["name"] for c in listed.value}  # type: ignore[union-attr]
    assert {work_name, str(home.get_display_name())} <= names
    assert found.ok and isinstance(found.value, dict)
    events = found.value["events"]
    assert [(e["uid"], e["start"]) for e in events] == [
        ("standup", "2026-12-07T09:00:00+00:00"),
        ("review", "2026-12-07T14:00:00+00:00"),
        ("standup", "2026-12-08T09:00:00+00:00"),
    ]
    review = events[1]
    assert review["summary"] == "Design review" and review["location"] == "Room 4"
    assert review["attendees"] == ["bob@example.org"] and review["end"].startswith("2026-12-07T15")
    assert events[0]["recurring"] is True
    assert {e["uid"] for e in everywhere.value["events"]} == {  # type: ignore[index]
        "standup",
        "review",
        "dentist",
        "holiday",
    }
    holiday = next(e for e in everywhere.value["events"] if e["uid"] == "holiday")  # type: ignore[index]
    assert holiday["all_day"] is True and holiday["start"] == "2026-12-08"
    assert [e["uid"] for e in texts.value["events"]] == ["review"]  # type: ignore[index]
    assert busy.ok and busy.value == {
        "busy": [
            {"start": "2026-12-07T09:00:00+00:00", "end": "2026-12-07T09:15:00+00:00"},
            {"start": "2026-12-07T14:00:00+00:00", "end": "2026-12-07T16:00:00+00:00"},
        ],
        "free": [
            {"start": "2026-12-07T08:00:00+00:00", "end": "2026-12-07T09:00:00+00:00"},
            {"start": "2026-12-07T09:15:00+00:00", "end": "2026-12-07T14:00:00+00:00"},
            {"start": "2026-12-07T16:00:00+00:00", "end": "2026-12-07T18:00:00+00:00"},
        ],
    }
    assert not backwards.ok and "ends before it starts" in backwards.message
    assert not unknown.ok and "no calendar 'Nope'" in unknown.message
    assert approver.requests == []
    assert {r.verdict for r in audit.records()} == {"allow"}


async def test_writes_ask_and_a_declined_write_changes_nothing(
    radicale: Radicale, vault_home: Path, calendars: dict[str, caldav.Calendar], audit: AuditLog
) -> None:
    work, home = calendars["Work"], calendars["Home"]
    fill(work, home)
    before = server_events(work)
    work_name = str(work.get_display_name())
    approver = ScriptedApprover()  # declines everything
    new = {
        "summary": "Planning",
        "start": "2026-12-09T10:00:00Z",
        "end": "2026-12-09T11:00:00Z",
        "calendar": work_name,
    }
    async with calendar_toolset(radicale) as toolset:
        gateway = Gateway(toolset.tools(), audit=audit, approver=approver)
        created = await gateway.call("cal_create_event", new)
        updated = await gateway.call("cal_update_event", {"uid": "review", "summary": "Gone"})
        deleted = await gateway.call("cal_delete_event", {"uid": "dentist"})
    assert not created.ok and not updated.ok and not deleted.ok
    assert [(r.tool, r.effect) for r in approver.requests] == [
        ("cal_create_event", "create"),
        ("cal_update_event", "update"),
        ("cal_delete_event", "delete"),
    ]
    assert server_events(work) == before
    assert set(server_events(home)) == {"dentist", "holiday"}
    assert [(r.verdict, r.outcome) for r in audit.records()] == [("ask", "declined")] * 3


async def test_create_invites_marks_and_never_duplicates_on_retry(
    radicale: Radicale,
    vault_home: Path,
    calendars: dict[str, caldav.Calendar],
    audit: AuditLog,
    user: str,
) -> None:
    work = calendars["Work"]
    work_name = str(work.get_display_name())
    approver = ScriptedApprover.of([Approval.approved("person:alice")] * 4)
    new = {
        "summary": "Lunch with Bob",
        "start": "2026-12-09T12:00:00",  # no offset: the toolset's time zone
        "end": "2026-12-09T13:00:00",
        "attendees": ["bob@example.org"],
        "location": "Cafe",
    }
    rules = Policy(rules=RuleSet(rules=(AllowedRecipientDomains(domains=("example.org",)),)))
    async with calendar_toolset(radicale, calendar=work_name, timezone="Europe/Paris") as ts:
        gateway = Gateway(ts.tools(), rules=rules, audit=audit, approver=approver)
        first = await gateway.call("cal_create_event", new)
        retry = await gateway.call("cal_create_event", new)
        outsider = await gateway.call("cal_create_event", {**new, "attendees": ["eve@evil.test"]})
        chosen = {**new, "summary": "Offsite", "uid": "offsite-2026", "attendees": []}
        given = await gateway.call("cal_create_event", chosen)
        given_again = await gateway.call("cal_create_event", chosen)
    assert first.ok and isinstance(first.value, dict) and first.value["created"] is True
    assert "nobody was notified" in first.value["invitations"]
    assert retry.ok and retry.value["created"] is False  # type: ignore[index]
    assert retry.value["uid"] == first.value["uid"]  # type: ignore[index]
    assert not outsider.ok and "eve@evil.test is outside the domains you allow" in outsider.message
    assert given.ok and given.value["uid"] == "offsite-2026"  # type: ignore[index]
    assert given_again.ok and given_again.value["created"] is False  # type: ignore[index]
    assert len(approver.requests) == 4  # the outsider was denied before anyone was asked
    on_server = server_events(work)
    assert set(on_server) == {first.value["uid"], "offsite-2026"}
    text = on_server[str(first.value["uid"])]
    event = next(iter(parse(text).walk("VEVENT")))
    assert event.decoded("DTSTART") == datetime(2026, 12, 9, 11, 0, tzinfo=UTC).astimezone(
        event.decoded("DTSTART").tzinfo
    )
    assert str(event["ATTENDEE"]) == "mailto:bob@example.org"
    assert event["ATTENDEE"].params["RSVP"] == "TRUE"
    assert str(event["ORGANIZER"]) == f"mailto:{user}"
    task = str(event["X-VALET-TASK"])
    assert len(task) == 12  # no task id given: one made for the opened toolset
    assert str(event["DESCRIPTION"]) == f"Added by valet, an AI agent, for task {task}."
    assert str(event["LOCATION"]) == "Cafe"


async def test_update_and_delete(
    radicale: Radicale, vault_home: Path, calendars: dict[str, caldav.Calendar], audit: AuditLog
) -> None:
    work, home = calendars["Work"], calendars["Home"]
    fill(work, home)
    approver = ScriptedApprover.of([Approval.approved()] * 4)
    async with calendar_toolset(radicale, attribution=False) as toolset:
        gateway = Gateway(toolset.tools(), audit=audit, approver=approver)
        moved = await gateway.call(
            "cal_update_event",
            {
                "uid": "review",
                "start": "2026-12-07T16:00:00Z",
                "end": "2026-12-07T17:00:00Z",
                "attendees": ["bob@example.org", "carol@example.org"],
            },
        )
        deleted = await gateway.call("cal_delete_event", {"uid": "dentist"})
        again = await gateway.call("cal_delete_event", {"uid": "dentist"})
        missing = await gateway.call("cal_update_event", {"uid": "nope", "summary": "x"})
        found = await gateway.call("cal_search_events", range_of(1))
    assert moved.ok and moved.value == {
        "updated": True,
        "uid": "review",
        "calendar": str(work.get_display_name()),
    }
    assert deleted.ok and not again.ok and "no event with UID 'dentist'" in again.message
    assert not missing.ok and "no event with UID 'nope'" in missing.message
    review = next(iter(parse(server_events(work)["review"]).walk("VEVENT")))
    assert review.decoded("DTSTART") == datetime(2026, 12, 7, 16, tzinfo=UTC)
    assert [str(a) for a in review["ATTENDEE"]] == [
        "mailto:bob@example.org",
        "mailto:carol@example.org",
    ]
    assert int(review["SEQUENCE"]) == 1
    assert str(review["SUMMARY"]) == "Design review" and str(review["LOCATION"]) == "Room 4"
    assert "X-VALET-TASK" not in review  # attribution = false
    assert "dentist" not in server_events(home)
    assert [e["uid"] for e in found.value["events"]] == ["standup", "review"]  # type: ignore[index]


async def test_an_unknown_uid_event_update_marks_by_default(
    radicale: Radicale, vault_home: Path, calendars: dict[str, caldav.Calendar]
) -> None:
    work, home = calendars["Work"], calendars["Home"]
    fill(work, home)
    approver = ScriptedApprover.of([Approval.approved()])
    async with calendar_toolset(radicale, task_id="task-42") as toolset:
        gateway = Gateway(toolset.tools(), approver=approver)
        renamed = await gateway.call("cal_update_event", {"uid": "dentist", "summary": "Dr. K"})
    assert renamed.ok
    dentist = next(iter(parse(server_events(home)["dentist"]).walk("VEVENT")))
    assert str(dentist["SUMMARY"]) == "Dr. K" and str(dentist["X-VALET-TASK"]) == "task-42"
    assert str(dentist["DESCRIPTION"]) == "Added by valet, an AI agent, for task task-42."


async def test_events_are_marked_with_the_id_of_the_task_the_call_runs_for(
    radicale: Radicale, vault_home: Path, calendars: dict[str, caldav.Calendar]
) -> None:
    approver = ScriptedApprover.of([Approval.approved()] * 2)
    new = {"summary": "Pay invoice", "start": "2026-12-15", "end": "2026-12-16"}
    async with calendar_toolset(radicale, calendar="work") as toolset:
        for task in ("run-1", "run-2"):  # one toolset, two tasks: each call its own task's id
            gateway = Gateway(toolset.tools(), approver=approver, task=TaskContext(task_id=task))
            created = await gateway.call("cal_create_event", {**new, "uid": f"pay-{task}"})
            assert created.ok, created.message
    events = server_events(calendars["Work"])
    for task in ("run-1", "run-2"):
        event = next(iter(parse(events[f"pay-{task}"]).walk("VEVENT")))
        assert str(event["X-VALET-TASK"]) == task
        assert str(event["DESCRIPTION"]) == f"Added by valet, an AI agent, for task {task}."


async def test_a_day_given_as_a_date_is_an_all_day_event(
    radicale: Radicale, vault_home: Path, calendars: dict[str, caldav.Calendar]
) -> None:
    approver = ScriptedApprover.of([Approval.approved()] * 2)
    day = {"summary": "Pay invoice", "start": "2026-12-15", "end": "2026-12-16", "uid": "pay"}
    async with calendar_toolset(radicale, calendar="work", timezone="Europe/Paris") as toolset:
        gateway = Gateway(toolset.tools(), approver=approver)
        created = await gateway.call("cal_create_event", day)
        moved = await gateway.call(
            "cal_update_event", {"uid": "pay", "start": "2026-12-14", "end": "2026-12-15"}
        )
    assert created.ok and moved.ok, (created.message, moved.message)
    event = next(iter(parse(server_events(calendars["Work"])["pay"]).walk("VEVENT")))
    assert event.decoded("DTSTART") == date(2026, 12, 14)  # a day, not midnight in Paris
    assert event.decoded("DTEND") == date(2026, 12, 15)


async def test_broken_events_are_reported_and_the_others_still_listed(
    radicale: Radicale, vault_home: Path, calendars: dict[str, caldav.Calendar], user: str
) -> None:
    work = calendars["Work"]
    work.save_event(ics("fine", ":20261207T100000Z", ":20261207T110000Z", "Fine"))
    folder = radicale.storage / "collection-root" / user / "work"
    # Radicale serves these two (they are valid iCalendar)…
    (folder / "mars.ics").write_text(
        ics(
            "mars",
            ";TZID=Mars/Olympus:20261207T120000",
            ";TZID=Mars/Olympus:20261207T130000",
            "Unknown zone",
        )
    )
    (folder / "backwards.ics").write_text(
        ics("backwards", ":20261207T150000Z", ":20261207T140000Z", "Ends first")
    )
    # …and skips this one itself (truncated): it never reaches a client.
    (folder / "cut.ics").write_text(ics("cut", ":20261207T150000Z", ":x", "Cut")[:90])
    async with calendar_toolset(radicale) as toolset:
        gateway = Gateway(toolset.tools())
        found = await gateway.call("cal_search_events", {**range_of(1), "calendar": "work"})
        busy = await gateway.call("cal_free_busy", {**range_of(1), "calendar": "work"})
    assert found.ok and isinstance(found.value, dict)
    assert [e["uid"] for e in found.value["events"]] == ["fine"]
    problems = {p["uid"]: p["problem"] for p in found.value["problems"]}
    assert problems == {
        "mars": "this event cannot be read: its time zone 'Mars/Olympus' is unknown, so its "
        "time is not known",
        "backwards": "this event cannot be read: it ends before it starts",
    }
    assert busy.ok and len(busy.value["problems"]) == 2  # type: ignore[index]
    assert busy.value["busy"] == [  # type: ignore[index]
        {"start": "2026-12-07T10:00:00+00:00", "end": "2026-12-07T11:00:00+00:00"}
    ]


def test_unreadable_calendar_text_is_a_broken_event() -> None:
    with pytest.raises(BrokenEvent, match="not valid iCalendar"):
        parse("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:2026")


async def test_wrong_login_and_server_down_are_clear_failures(
    radicale: Radicale, vault_home: Path, user: str
) -> None:
    async with calendar_toolset(radicale, credential="wrong") as toolset:
        wrong = await Gateway(toolset.tools()).call("cal_list_calendars", {})
    down_url = f"http://127.0.0.1:{free_port()}/"
    config = ToolsetConfig(name="cal", connector="calendar", settings={"url": down_url})
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config], stack)
        down = await Gateway(toolset.tools()).call("cal_search_events", range_of())
    assert not wrong.ok
    assert wrong.message == (
        f"the calendar server at {radicale.url} refused the login for '{user}': wrong "
        "username or password, or no access (check vault credential 'wrong')"
    )
    assert PASSWORD not in wrong.message and "nope" not in wrong.message
    assert not down.ok
    assert down.message == (
        f"cannot reach the calendar server at {down_url}: connection refused; is it running?"
    )


async def test_a_login_is_only_sent_to_its_own_server(radicale: Radicale, vault_home: Path) -> None:
    with pytest.raises(ConnectorError, match=r"bound to cal\.example, not to http://127\.0\.0\.1"):
        async with calendar_toolset(radicale, credential="elsewhere"):
            pass
    with pytest.raises(ConnectorError, match="no credential 'missing'"):
        async with calendar_toolset(radicale, credential="missing"):
            pass
    with pytest.raises(ConnectorError, match="unknown time zone 'Mars/Olympus'"):
        async with calendar_toolset(radicale, timezone="Mars/Olympus"):
            pass
