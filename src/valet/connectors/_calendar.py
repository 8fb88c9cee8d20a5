"""The `calendar` connector: a CalDAV account as a toolset (Radicale, Nextcloud, Fastmail,
iCloud, Google Calendar's CalDAV endpoint…).

    [[connectors]]
    name = "calendar"
    connector = "calendar"
    url = "https://cloud.example/remote.php/dav"
    credential = "nextcloud"         # a vault credential bound to cloud.example
    timezone = "Europe/Paris"

    [[connectors]]
    name = "google_calendar"
    connector = "calendar"
    url = "https://apidata.googleusercontent.com/caldav/v2/me@gmail.com/events"
    account = "google"               # an OAuth account: its access token is sent as a bearer

With `account`, an OAuth account's access token (refreshed before it expires, and once more
after the server refused it) is sent as `Authorization: Bearer`; an app-password account signs
in with its vault credential, as `credential` would.

Reading (list calendars, search a time range, free/busy) is allowed; creating, changing and
deleting events ask the person. Inviting people is creating an event with attendees: their
addresses are the operation's recipients, so the person's recipient rules apply to them.

What valet writes carries its mark: an `X-VALET-TASK` property and a line in the description
(`attribution = false` turns both off). A new event gets a stable UID derived from what it says
(or the one the model gives), so a retried create finds the event instead of making a second.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, ClassVar, Literal, Protocol, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from caldav.davclient import DAVClient
from caldav.lib import error as dav_error
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from valet.connectors import _ical as ical
from valet.connectors._calendar_args import (
    CreateEvent,
    DeleteEvent,
    EmailAddress,
    FreeBusy,
    ListCalendars,
    SearchEvents,
    UpdateEvent,
)
from valet.connectors._dav_login import DavSignIn, dav_sign_in
from valet.connectors._errors import ConnectorError
from valet.connectors._toolset import AuthMethod, Operation, Run, Toolset
from valet.effects import Effect
from valet.gateway import ToolFailure, current_task

_MAX_EVENTS = 200


class CalendarSettings(BaseModel):
    """One CalDAV account, as configured by the person (`[[connectors]]` in `config.toml`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^https?://")
    """The CalDAV server (its root or the principal's URL), or one calendar's URL. Google:
    `https://apidata.googleusercontent.com/caldav/v2/<calendar id>/events`."""
    credential: str | None = None
    """The vault credential to sign in with (bound to the server's host); None: no login."""
    account: str | None = Field(default=None, min_length=1)
    """A connector account (`valet connectors add`) to sign in with instead of `credential`:
    an OAuth account's access token goes as a bearer token (Google), an app-password account
    signs in with its vault credential."""
    auth: Literal["password", "token"] = "password"
    """`password`: the credential's username and password (HTTP basic). `token`: its password
    is an access token, sent as a bearer token. An OAuth `account` always sends a bearer."""
    calendar: str | None = None
    """The calendar new events go to (its name or URL); default: the first one."""
    timezone: str = "UTC"
    """The IANA time zone for times given without an offset and for all-day events."""
    organizer: EmailAddress | None = None
    """The address invitations come from; default: the login's username when it is one."""
    attribution: bool = True
    """Mark the events valet creates or changes (`X-VALET-TASK` and a description line)."""
    note: str = Field(default="Added by valet, an AI agent, for task {task}.", max_length=500)
    """The line added to the description; `{task}` becomes the task id."""
    task_id: str = Field(default="", max_length=100)
    """The value of `X-VALET-TASK` for calls made outside a task; inside one (every call of a
    valet run) it is the task's id. Without either, valet makes an id per opened toolset so
    one task's marks belong together."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds one request to the server may take."""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (write e.g. Europe/Paris)") from exc
        return value

    @model_validator(mode="after")
    def _one_sign_in(self) -> CalendarSettings:
        if self.account is not None and self.credential is not None:
            raise ValueError("give either `account` or `credential`, not both")
        return self


class CalendarConnector:
    name: ClassVar[str] = "calendar"
    description: ClassVar[str] = (
        "A CalDAV calendar account: list calendars, search events, free/busy, create, update "
        "and delete events, invite people."
    )
    auth: ClassVar[AuthMethod] = "basic"
    scopes: ClassVar[tuple[str, ...]] = ("calendar.read", "calendar.write")
    settings: ClassVar[type[BaseModel]] = CalendarSettings

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        if not isinstance(settings, CalendarSettings):
            raise ConnectorError(f"toolset {name!r}: expected calendar settings")
        sign_in = dav_sign_in(name, settings.url, settings.credential, settings.account)
        return _open(name, settings, sign_in)


CALENDAR = CalendarConnector()


@asynccontextmanager
async def _open(
    name: str, settings: CalendarSettings, sign_in: DavSignIn
) -> AsyncGenerator[Toolset]:
    account = CalDavAccount(settings, sign_in)
    try:
        read, write = ("calendar.read",), ("calendar.write",)
        run = account.run
        operations = (
            Operation(
                "list_calendars", "List the calendars.", ListCalendars, Effect.READ,
                run(account.list_calendars), read,
            ),
            Operation(
                "search_events", "Events in a time range (recurring ones expanded).",
                SearchEvents, Effect.READ, run(account.search_events), read,
            ),
            Operation(
                "free_busy", "Busy and free intervals in a time range.", FreeBusy, Effect.READ,
                run(account.free_busy), read,
            ),
            Operation(
                "create_event", "Create an event; attendees are invited.", CreateEvent,
                Effect.CREATE, run(account.create_event), write, recipient_args=("attendees",),
                consequential_args=("attendees", "calendar"),
                idempotent=True,  # its UID comes from what it says: made again, found there
            ),
            Operation(
                "update_event", "Change an event (by UID); attendees replace the invited list.",
                UpdateEvent, Effect.UPDATE, run(account.update_event), write,
                recipient_args=("attendees",),
                consequential_args=("uid", "attendees", "calendar"), idempotent=True,
            ),
            Operation(
                "delete_event", "Delete an event (by UID).", DeleteEvent, Effect.DELETE,
                run(account.delete_event), write, consequential_args=("uid", "calendar"),
            ),
        )  # fmt: skip
        yield Toolset(name, f"the calendars at {settings.url}", "basic", operations, "calendar")
    finally:
        account.close()


# The few parts of the caldav library used here, typed (its objects serve both its sync and
# async clients, so its own annotations say "X or a coroutine"; the sync client returns X).


class _Response(Protocol):
    status: int
    reason: str


class _Object(Protocol):
    """A calendar object resource (an event, with its URL, text and ETag)."""

    url: object
    data: object
    props: Mapping[str, object]


class _Calendar(Protocol):
    url: object

    def get_display_name(self) -> str | None: ...
    def search(
        self, *, start: datetime, end: datetime, event: bool, expand: bool
    ) -> list[_Object]: ...
    def object_by_uid(self, uid: str) -> _Object: ...


class _Principal(Protocol):
    def calendars(self) -> list[_Calendar]: ...


class _Client(Protocol):
    headers: dict[str, str]

    def principal(self) -> _Principal: ...
    def calendar(self, *, url: str) -> _Calendar: ...
    def put(self, url: str, body: str, headers: Mapping[str, str]) -> _Response: ...
    def delete(self, url: str) -> _Response: ...
    def check_scheduling_support(self) -> bool: ...
    def close(self) -> None: ...


class CalDavAccount:
    """One CalDAV connection for the length of a task; calls run one at a time in a thread."""

    def __init__(self, settings: CalendarSettings, sign_in: DavSignIn) -> None:
        self.settings = settings
        self.sign_in = sign_in
        self.zone: tzinfo = ZoneInfo(settings.timezone)
        self._own_id = settings.task_id or uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._client: _Client | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    @property
    def mark(self) -> ical.Mark:
        """valet's mark on what this call writes, with the id of the task the call runs for
        (the same id as the run record's and the audit log's)."""
        running = current_task()
        task = running.task_id if running is not None and running.task_id else self._own_id
        note = self.settings.note.replace("{task}", task)
        return ical.Mark(self.settings.attribution, task, note)

    def run(self, body: Callable[[Any], object]) -> Run:
        tokens = self.sign_in.tokens

        async def call(args: Any) -> object:
            if tokens is None:
                return await asyncio.to_thread(self._guarded, body, args, None)
            bearer = await tokens.token()
            try:
                return await asyncio.to_thread(self._guarded, body, args, bearer)
            except ToolFailure as failure:  # refused: nothing was done, so once more
                if not isinstance(failure.__cause__, dav_error.AuthorizationError):
                    raise
                fresh = await tokens.token(renew=True)
                if fresh == bearer:
                    raise
                return await asyncio.to_thread(self._guarded, body, args, fresh)

        return call

    def _guarded(self, body: Callable[[Any], object], args: Any, bearer: str | None) -> object:
        url = self.settings.url
        with self._lock:
            try:
                if bearer is not None:
                    self.client.headers["Authorization"] = f"Bearer {bearer}"
                if self.sign_in.used is not None:
                    self.sign_in.used()
                return body(args)
            except dav_error.AuthorizationError as exc:
                who = self.sign_in.username
                raise ToolFailure(
                    f"the calendar server at {url} refused the login"
                    + (f" for {who!r}" if who else "")
                    + f": {self.sign_in.refused}"
                ) from exc
            except dav_error.DAVError as exc:
                reason = getattr(exc, "reason", "") or str(exc)
                raise ToolFailure(
                    f"the calendar server at {url} answered with an error: {reason}"
                ) from exc
            except OSError as exc:  # connection refused, DNS, timeouts (niquests' errors)
                raise ToolFailure(
                    f"cannot reach the calendar server at {url}: {_short(exc)}; is it running?"
                ) from exc

    @property
    def client(self) -> _Client:
        if self._client is None:
            login = self.sign_in.login
            headers: dict[str, str] = {}
            username = password = None
            if login is not None and self.settings.auth == "token":
                headers["Authorization"] = f"Bearer {login.password}"
            elif login is not None:
                username, password = login.username, login.password
            made: object = DAVClient(
                url=self.settings.url,
                username=username,
                password=password,
                headers=headers,
                timeout=int(self.settings.timeout),
                enable_rfc6764=False,
            )
            self._client = cast(_Client, made)
        return self._client

    # -- calendars -------------------------------------------------------------------------

    def calendars(self) -> list[tuple[str, _Calendar]]:
        """Every calendar of the account, with its display name."""
        client = self.client
        try:
            found = client.principal().calendars()
        except dav_error.AuthorizationError:
            raise
        except dav_error.DAVError:
            found = []
        if not found:  # the URL may be one calendar (Google's CalDAV endpoint)
            found = [client.calendar(url=self.settings.url)]
        named: list[tuple[str, _Calendar]] = []
        for calendar in found:
            label = calendar.get_display_name() or str(calendar.url).rstrip("/").rsplit("/", 1)[-1]
            named.append((label, calendar))
        return named

    def pick(self, wanted: str | None, *, default: bool = False) -> list[tuple[str, _Calendar]]:
        """The calendars named `wanted` (all when None; the default one when `default`)."""
        every = self.calendars()
        wanted = wanted or (self.settings.calendar if default else None)
        if wanted is None:
            return every[:1] if default else every
        key = wanted.strip().lower()
        for label, calendar in every:
            url = str(calendar.url).rstrip("/").lower()
            if key in (label.lower(), url, url.rsplit("/", 1)[-1]) or key.rstrip("/") == url:
                return [(label, calendar)]
        names = ", ".join(repr(label) for label, _ in every) or "none"
        raise ToolFailure(f"no calendar {wanted!r}; calendars: {names}")

    def list_calendars(self, args: ListCalendars) -> list[dict[str, object]]:
        return [{"name": label, "url": str(c.url)} for label, c in self.calendars()]

    # -- reading ---------------------------------------------------------------------------

    def _range(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        start, end = ical.as_datetime(start, self.zone), ical.as_datetime(end, self.zone)
        if end <= start:
            raise ToolFailure("the time range ends before it starts")
        if end - start > timedelta(days=366 * 2):
            raise ToolFailure("the time range is longer than two years; search a shorter one")
        return start, end

    def occurrences(
        self, wanted: str | None, start: datetime, end: datetime
    ) -> tuple[list[tuple[str, ical.Occurrence]], list[dict[str, object]]]:
        """The events in the range and the problems of the objects that could not be read."""
        found: list[tuple[str, ical.Occurrence]] = []
        problems: list[dict[str, object]] = []
        for label, calendar in self.pick(wanted):
            objects = calendar.search(start=start, end=end, event=True, expand=False)
            for item in objects:
                text = _text(item)
                try:
                    events = ical.occurrences(ical.parse(text), start, end, self.zone)
                except ical.BrokenEvent as exc:
                    problems.append(
                        {
                            "calendar": label,
                            "uid": ical.uid_of(text),
                            "url": str(item.url),
                            "problem": f"this event cannot be read: {exc}",
                        }
                    )
                    continue
                found.extend((label, e) for e in events)
        found.sort(key=lambda pair: (pair[1].start, pair[1].uid))
        return found, problems

    def search_events(self, args: SearchEvents) -> dict[str, object]:
        start, end = self._range(args.start, args.end)
        found, problems = self.occurrences(args.calendar, start, end)
        needle = args.text.strip().lower()
        if needle:
            found = [
                (label, e)
                for label, e in found
                if needle in f"{e.summary}\n{e.location}\n{e.description}".lower()
            ]
        result: dict[str, object] = {
            "events": [e.view(label) for label, e in found[:_MAX_EVENTS]],
        }
        if len(found) > _MAX_EVENTS:
            result["truncated"] = f"only the first {_MAX_EVENTS} of {len(found)} events"
        if problems:
            result["problems"] = problems
        return result

    def free_busy(self, args: FreeBusy) -> dict[str, object]:
        start, end = self._range(args.start, args.end)
        found, problems = self.occurrences(args.calendar, start, end)
        busy = ical.merged(
            (max(e.start, start), min(e.end, end)) for _, e in found if e.busy and e.end > e.start
        )
        result: dict[str, object] = {
            "busy": [{"start": s.isoformat(), "end": e.isoformat()} for s, e in busy],
            "free": [
                {"start": s.isoformat(), "end": e.isoformat()}
                for s, e in ical.gaps(busy, start, end)
            ],
        }
        if problems:
            result["problems"] = problems
        return result

    # -- writing ---------------------------------------------------------------------------

    def _find(self, uid: str, wanted: str | None) -> tuple[str, _Calendar, _Object] | None:
        for label, calendar in self.pick(wanted):
            try:
                item = calendar.object_by_uid(uid)
            except dav_error.NotFoundError:
                continue
            return label, calendar, item
        return None

    def _when(self, value: datetime | date) -> date:
        return ical.as_datetime(value, self.zone) if isinstance(value, datetime) else value

    def _organizer(self) -> str:
        if self.settings.organizer:
            return str(self.settings.organizer)
        username = self.sign_in.username
        return username if "@" in username else ""

    def create_event(self, args: CreateEvent) -> dict[str, object]:
        start, end = self._when(args.start), self._when(args.end)
        if isinstance(start, datetime) != isinstance(end, datetime):
            raise ToolFailure("give start and end both as times or both as dates (all-day)")
        if ical.as_datetime(end, self.zone) <= ical.as_datetime(start, self.zone):
            raise ToolFailure("the event ends before it starts")
        ((label, calendar),) = self.pick(args.calendar, default=True)
        who = [str(a) for a in args.attendees]
        uid = args.uid or ical.derived_uid(str(calendar.url), args.summary, start, end, who)
        existing = self._find(uid, label)
        if existing is not None:
            return {
                "created": False,
                "uid": uid,
                "calendar": label,
                "note": "an event with this UID is already there (an earlier try made it); "
                "nothing new was created",
            }
        fields = ical.EventFields(
            summary=args.summary,
            start=start,
            end=end,
            location=args.location or None,
            description=args.description or None,
            attendees=who,
        )
        text = ical.new_event(uid, fields, self._organizer(), self.mark)
        url = str(calendar.url).rstrip("/") + "/" + _resource_name(uid)
        response = self.client.put(
            url, text, {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"}
        )
        if response.status == 412:
            return {"created": False, "uid": uid, "calendar": label, "note": "already there"}
        _check(response.status, response.reason, "create the event")
        result: dict[str, object] = {"created": True, "uid": uid, "calendar": label}
        if who:
            result["invitations"] = self._invitations()
        return result

    def _invitations(self) -> str:
        try:
            schedules = self.client.check_scheduling_support()
        except (dav_error.DAVError, OSError):
            schedules = False
        if schedules:
            return "the server sends the invitations (CalDAV scheduling)"
        return (
            "this server does not send invitations: the attendees are listed on the event, "
            "but nobody was notified"
        )

    def update_event(self, args: UpdateEvent) -> dict[str, object]:
        found = self._find(args.uid, args.calendar)
        if found is None:
            raise ToolFailure(f"no event with UID {args.uid!r}")
        label, _, item = found
        fields = ical.EventFields(
            summary=args.summary,
            start=None if args.start is None else self._when(args.start),
            end=None if args.end is None else self._when(args.end),
            location=args.location,
            description=args.description,
            attendees=None if args.attendees is None else [str(a) for a in args.attendees],
        )
        try:
            text = ical.changed_event(_text(item), fields, self._organizer(), self.mark)
        except ical.BrokenEvent as exc:
            raise ToolFailure(
                f"the event {args.uid!r} cannot be read, so not changed: {exc}"
            ) from exc
        headers = {"Content-Type": "text/calendar; charset=utf-8"}
        etag = _etag(item)
        if etag:
            headers["If-Match"] = etag
        response = self.client.put(str(item.url), text, headers)
        if response.status == 412:
            raise ToolFailure(
                f"the event {args.uid!r} changed on the server meanwhile; search it again"
            )
        _check(response.status, response.reason, "change the event")
        return {"updated": True, "uid": args.uid, "calendar": label}

    def delete_event(self, args: DeleteEvent) -> dict[str, object]:
        found = self._find(args.uid, args.calendar)
        if found is None:
            raise ToolFailure(f"no event with UID {args.uid!r}")
        label, _, item = found
        response = self.client.delete(str(item.url))
        if response.status == 404:
            raise ToolFailure(f"no event with UID {args.uid!r}")
        _check(response.status, response.reason, "delete the event")
        return {"deleted": True, "uid": args.uid, "calendar": label}


def _text(item: _Object) -> str:
    data: object = item.data
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return "" if data is None else str(data)


def _etag(item: _Object) -> str:
    value = item.props.get("{DAV:}getetag")
    return str(value) if value else ""


def _resource_name(uid: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_.@" else "_" for ch in uid)
    return f"{safe[:120]}.ics"


def _check(status: int, reason: str, what: str) -> None:
    if status == 401 or status == 403:
        raise dav_error.AuthorizationError(reason=reason)
    if status >= 400:
        raise ToolFailure(f"the calendar server did not {what}: {status} {reason}")


def _short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known"):
        if marker in text:
            return marker.lower()
    return text[:200]
