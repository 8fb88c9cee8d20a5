"""The person's side of the server's tasks: what waits for them, their answers, their takeovers.

- `RequestBook`: every request to the person (approvals, takeovers, questions) across tasks
  and how each was answered. It is the one place that state lives; in durable mode every change
  is stored (`valet_requests`), so a request survives a restart of the server.
- `WebApprover` (an `Approver`) puts the gateway's asks in the book and waits for the answer.
- `WebHandover` (a `Handover`) pauses the agent while the person has the browser.
- `WebQuestions` (`Questions`) puts the agent's `ask_person` questions in the book.
- `TaskPerson` is also the task's `Watch` (watch mode): someone has its live view open.
- `PersonDesk` ties them to each task's `LiveView` and writes what the person did to the audit
  log as actor `person`: approvals (what, the rule, the answer) and takeovers (who, how long,
  the URL before and after; never what they typed or clicked).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import ValidationError

from valet.agent import HandBack
from valet.audit import AuditEntry, AuditLog
from valet.browser import BrowserSession
from valet.errors import StoreUnavailable, ValetError
from valet.gateway import Approval, ApprovalRequest
from valet.record import RunStore
from valet.server._live import LeaseConflict, LiveView, NoBrowser
from valet.server._schemas import Lease, PersonRequest
from valet.store import StoredRequest
from valet.tools import ACTIONS_BY_KIND

log = logging.getLogger("valet.server")

ASKED_REASON = "the person asked to take over"
Answer = Literal["approved", "declined", "edited"]
Waiting = Callable[[str, str | None], None]
"""Told when a task starts or stops waiting for the person: (task id, what for or None)."""


class RequestNotFound(ValetError):
    """No request has that id."""


class RequestClosed(ValetError):
    """The request was already answered, or cannot be answered this way."""


class InvalidEdit(ValetError):
    """Edited arguments that do not fit the action."""

    def __init__(self, problems: list[dict[str, Any]]) -> None:
        super().__init__("invalid arguments")
        self.problems = problems


def _now() -> str:
    return datetime.now(UTC).isoformat()


# ---- the book of requests --------------------------------------------------------------------


Persist = Callable[[StoredRequest], None]
"""Stores a request and its state (the server's `TaskStore.save_request` when durable)."""


@dataclass
class RequestBook:
    """Requests to the person and their answers. `records` is everything there is to persist.

    With `persist` (durable mode) every change is stored, so a request outlives the process: a
    task resumed after a restart that asks the same thing again (same kind, action, arguments)
    finds its request, with the same id, still pending or already answered in the meantime;
    anything else it left pending is withdrawn when it asks something new or ends."""

    records: dict[str, PersonRequest] = field(default_factory=lambda: dict[str, PersonRequest]())
    persist: Persist | None = None
    suspending: bool = False
    """The server stops and its tasks will resume: their pending requests stay pending."""
    changed: Callable[[PersonRequest], None] | None = None
    """Told of every request opened, answered or withdrawn (the web app shows it live)."""
    _answered: dict[str, asyncio.Event] = field(default_factory=lambda: dict[str, asyncio.Event]())
    _fingerprints: dict[str, str] = field(default_factory=lambda: dict[str, str]())
    _claimed: set[str] = field(default_factory=lambda: set[str]())

    def restore(self, stored: list[StoredRequest]) -> None:
        """Requests of an earlier process (no task waits on them until it asks again)."""
        for item in stored:
            record = PersonRequest.model_validate(item.record)
            self.records[record.id] = record
            self._fingerprints[record.id] = item.fingerprint
            if item.claimed:
                self._claimed.add(record.id)

    def open(self, **fields: Any) -> PersonRequest:
        """A request for a waiting task: the earlier one it left owed (see above), or a new one."""
        print_ = _fingerprint(fields)
        task_id = str(fields["task_id"])
        owed: PersonRequest | None = None
        for record in [r for r in self.records.values() if r.task_id == task_id]:
            if record.id in self._answered or record.id in self._claimed:
                continue  # awaited in this process, or already acted on
            if owed is None and self._fingerprints.get(record.id) == print_:
                owed = record
                continue
            # Left by an earlier process and not asked again: withdrawn, its answer forfeit.
            if record.state == "pending":
                self.close(record.id, "cancelled", "system")
            self._save(self.records[record.id], claimed=True)
            self._claimed.add(record.id)
        if owed is not None:
            event = self._answered[owed.id] = asyncio.Event()
            if owed.state != "pending":
                event.set()
            return owed
        record = PersonRequest(id=secrets.token_hex(6), created_at=_now(), **fields)
        self._fingerprints[record.id] = print_
        self._save(record)  # stored before anyone is shown it
        self.records[record.id] = record
        self._answered[record.id] = asyncio.Event()
        if self.changed is not None:
            self.changed(record)
        return record

    def get(self, request_id: str) -> PersonRequest:
        try:
            return self.records[request_id]
        except KeyError:
            raise RequestNotFound(f"no request {request_id!r}") from None

    def pending(self, task_id: str | None = None) -> list[PersonRequest]:
        """Unanswered requests, oldest first."""
        return [
            r
            for r in self.records.values()
            if r.state == "pending" and (task_id is None or r.task_id == task_id)
        ]

    def close(
        self,
        request_id: str,
        state: str,
        by: str,
        args: dict[str, Any] | None = None,
        answer: str | None = None,
    ) -> PersonRequest:
        record = self.get(request_id)
        if record.state != "pending":
            raise RequestClosed(f"request {request_id} was already answered ({record.state})")
        update: dict[str, Any] = {"state": state, "answered_at": _now(), "answered_by": by}
        if args is not None:
            update["args"] = args
        if answer is not None:
            update["answer"] = answer
        closed = record.model_copy(update=update)
        # Saved before it counts: when the save fails (`StoreUnavailable`: disk full, read-only
        # file, database down) the request stays pending and the task goes on waiting for it.
        self._save(closed)
        self.records[request_id] = closed
        if (event := self._answered.get(request_id)) is not None:
            event.set()
        if self.changed is not None:
            self.changed(closed)
        return closed

    def sync(self, record: PersonRequest) -> None:
        """A request as another process sharing the database has it now: a new one shown
        here, or the answer given there to one this process's task waits on."""
        known = self.records.get(record.id)
        if known == record or (known is not None and known.state != "pending"):
            return
        self.records[record.id] = record
        if record.state != "pending" and (event := self._answered.get(record.id)) is not None:
            event.set()

    async def wait(self, request_id: str) -> PersonRequest:
        """The request once answered; cancelled with the task, it is closed as `cancelled`
        (unless the server is suspending: the resumed task will ask for it again)."""
        event = self._answered.get(request_id)
        try:
            if event is not None:
                await event.wait()
        except asyncio.CancelledError:
            if self.get(request_id).state == "pending" and not self.suspending:
                try:
                    self.close(request_id, "cancelled", "system")
                except StoreUnavailable as exc:  # stays pending: withdrawn at the next ask
                    log.warning("request %s: %s", request_id, exc)
            raise
        finally:
            self._answered.pop(request_id, None)
        answered = self.get(request_id)
        try:
            self._save(answered, claimed=True)
        except StoreUnavailable as exc:
            # The answer is acted on now; stored as unclaimed it is only owed again to a task
            # that resumes from before this ask and asks exactly the same thing.
            log.warning("request %s: %s", request_id, exc)
        self._claimed.add(request_id)
        return answered

    def _save(self, record: PersonRequest, *, claimed: bool | None = None) -> None:
        """Store `record` (raises `StoreUnavailable` when the store cannot write)."""
        if self.persist is not None:
            self.persist(
                StoredRequest(
                    id=record.id,
                    task_id=record.task_id,
                    fingerprint=self._fingerprints.get(record.id, ""),
                    claimed=record.id in self._claimed if claimed is None else claimed,
                    record=record.model_dump(mode="json"),
                )
            )


def _fingerprint(fields: dict[str, Any]) -> str:
    """What makes two requests the same question to the person (not when or where)."""
    same = {k: fields.get(k) for k in ("task_id", "kind", "summary", "tool", "effect", "args")}
    if fields.get("page"):  # and, for an action on a page, the page it was asked on
        same["page"] = fields["page"]
    if fields.get("kind") == "takeover":
        same["reason"] = fields.get("reason")
    return hashlib.sha256(json.dumps(same, sort_keys=True, default=str).encode()).hexdigest()


# ---- one task's person -----------------------------------------------------------------------


class TaskPerson:
    """What `run_task` gets for one server task: the approver, the handover, the live view."""

    def __init__(self, desk: PersonDesk, task_id: str) -> None:
        self.desk = desk
        self.task_id = task_id
        self.view = desk.view(task_id)
        self.approver = WebApprover(self)
        self.handover = WebHandover(self)
        self.questions = WebQuestions(self)

    def attach(self, session: BrowserSession) -> None:
        """`run_task`'s `on_session`: the live view shows this browser."""
        self.view.attach(session)

    def watched(self) -> bool:
        """`run_task`'s `watch`: someone has this task's live view open."""
        return self.view.watched

    async def until_watched(self, site: str) -> None:
        """The agent waits on a sensitive site until the person opens the live view."""
        self.desk.waiting(self.task_id, f"open the live view: {site} is sensitive")
        try:
            await self.view.until_watched()
        finally:
            self.desk.waiting(self.task_id, None)


class WebApprover:
    """Asks the person in the web app: the request waits in the book until they answer."""

    def __init__(self, person: TaskPerson) -> None:
        self._person = person

    async def decide(self, request: ApprovalRequest) -> Approval:
        person = self._person
        desk = person.desk
        summary = _summary(request)
        record = desk.book.open(
            task_id=person.task_id,
            kind="approval",
            summary=summary,
            reason=request.decision.reason,
            url=person.view.page_url,
            tool=request.tool,
            effect=request.effect,
            args=dict(request.args),
            rule=request.decision.rule_id,
            sources=list(request.sources),
            findings=list(request.findings),
            provenance=list(request.provenance),
            rules=list(request.rules),
            warnings=list(request.warnings),
            page=request.page or None,
        )
        desk.waiting(person.task_id, f"approve: {summary}")
        try:
            answered = await desk.book.wait(record.id)
        finally:
            desk.waiting(person.task_id, None)
        approver = answered.answered_by or "person"
        match answered.state:
            case "approved":
                return Approval.approved(approver)
            case "edited":
                return Approval.edited(dict(answered.args or {}), approver)
            case _:
                return Approval.declined(approver, "declined by the person")


class WebHandover:
    """Pauses the agent while the person has the browser; the lease says who has it."""

    def __init__(self, person: TaskPerson) -> None:
        self._person = person
        self._asked = False

    async def requested(self) -> str | None:
        view = self._person.view
        if view.holder is not None and not view.paused:
            self._asked = True
            return ASKED_REASON
        return None

    async def hand_over(self, reason: str, url: str) -> HandBack | None:
        person = self._person
        desk, view = person.desk, person.view
        asked, self._asked = self._asked, False
        if asked and view.holder is None:  # they handed back before the agent paused
            return HandBack("person", 0.0, url, url)
        summary = _stop_summary(reason)
        record = desk.book.open(
            task_id=person.task_id, kind="takeover", summary=summary, reason=reason, url=url
        )
        desk.waiting(person.task_id, f"take over: {summary}")
        waited = time.monotonic()
        view.pause()
        try:
            answered = await desk.book.wait(record.id)
        finally:
            view.proceed()
            desk.waiting(person.task_id, None)
        if view.session is not None:  # a page the person's last click is loading
            await view.session.settle()
        after = view.page_url or url
        seconds = desk.took.pop(record.id, time.monotonic() - waited)
        back = HandBack(answered.answered_by or "person", seconds, url, after)
        desk.note_takeover(person.task_id, reason, back)
        return back


class WebQuestions:
    """The agent's questions wait in the book until the person answers (or the task ends)."""

    def __init__(self, person: TaskPerson) -> None:
        self._person = person

    async def ask(self, question: str) -> str | None:
        person = self._person
        desk = person.desk
        record = desk.book.open(
            task_id=person.task_id,
            kind="question",
            summary=question,
            reason="the agent needs an answer only you can give",
            url=person.view.page_url,
        )
        desk.waiting(person.task_id, f"answer: {question}")
        try:
            answered = await desk.book.wait(record.id)
        finally:
            desk.waiting(person.task_id, None)
        return answered.answer if answered.state == "answered" else None


# ---- the desk: every task's person -----------------------------------------------------------


class PersonDesk:
    """The person's side of every task of one server (on `TaskManager.desk`)."""

    def __init__(self, home: Path, waiting: Waiting, takeover_grace_s: float = 30.0) -> None:
        self.home = home
        self.takeover_grace_s = takeover_grace_s
        """How long a takeover waits for its holder to come back after their live view
        closed (a reload, a dropped connection) before it ends as if they handed back."""
        self.book = RequestBook()
        self.took: dict[str, float] = {}
        """Seconds the person had the browser, per takeover request (until it is recorded)."""
        self._waiting = waiting
        self._views: dict[str, LiveView] = {}
        self._audit: AuditLog | None = None
        self.on_behalf: Callable[[str], str] = lambda _task_id: "person"
        """Whom a task acts for, as the audit log names them (the task's owner)."""

    def view(self, task_id: str) -> LiveView:
        view = self._views.get(task_id)
        if view is None:
            view = self._views[task_id] = LiveView(task_id, self.takeover_grace_s)
            view.on_release = lambda by, seconds: self._released(task_id, by, seconds)
        return view

    def task(self, task_id: str) -> TaskPerson:
        """The approver, handover and live view of a task that starts running."""
        return TaskPerson(self, task_id)

    def waiting(self, task_id: str, what: str | None) -> None:
        self._waiting(task_id, what)
        self.view(task_id).waiting(what)

    def end(self, task_id: str) -> None:
        """The task ended: its open requests are cancelled and its live view closes, and what
        the person did is signed in an audit checkpoint (and sent to the witnesses). (When the
        server suspends, a durable task has not ended: it asks again when it resumes.)"""
        for record in [] if self.book.suspending else self.book.pending(task_id):
            self.book.close(record.id, "cancelled", "system")
        if (view := self._views.get(task_id)) is not None:
            view.end()
        if self._audit is not None:
            self._audit.checkpoint()

    def close(self) -> None:
        """The server shuts down: every task's view ends and the audit log is checkpointed and
        closed."""
        for task_id in list(self._views):
            self.end(task_id)
        if self._audit is not None:
            self._audit.close()
            self._audit = None

    # -- takeover --

    def takeover(self, task_id: str, viewer_id: str) -> Lease:
        """Give the browser to a viewer; a running agent pauses at its next step."""
        return self.view(task_id).take(viewer_id)

    def handback(self, task_id: str, viewer_id: str | None) -> Lease:
        """Release the viewer's lease; the agent goes on (even when nobody held the lease).
        While someone holds the browser only they may hand it back (`LeaseConflict`)."""
        view = self.view(task_id)
        if view.holder is not None and viewer_id is None:
            raise LeaseConflict(
                f"{view.holder.name} has the browser: the agent goes on once they hand it back "
                "(Hand back, in the live view)"
            )
        if view.holder is None:
            takeovers = [r for r in self.book.pending(task_id) if r.kind == "takeover"]
            if not takeovers:
                raise NoBrowser(f"task {task_id} is not waiting for a takeover")
            self.book.close(takeovers[0].id, "handed_back", "person")
            return view.lease()
        return view.release(viewer_id)

    def _released(self, task_id: str, by: str, seconds: float) -> None:
        for record in self.book.pending(task_id):
            if record.kind == "takeover":
                self.took[record.id] = seconds
                self.book.close(record.id, "handed_back", f"person:{by}")

    # -- approvals --

    def answer(
        self, request_id: str, answer: Answer, args: dict[str, Any] | None = None
    ) -> PersonRequest:
        """Approve, decline or edit a pending approval; an edit must fit the action."""
        record = self.book.get(request_id)
        if record.kind != "approval":
            raise RequestClosed(f"request {request_id} is a {record.kind}: {_HOW[record.kind]}")
        if record.state != "pending":
            raise RequestClosed(f"request {request_id} was already answered ({record.state})")
        if answer == "edited":
            args = _validated(record.tool or "", args or {})
        closed = self.book.close(request_id, answer, "person", args if answer == "edited" else None)
        self._note(
            record.task_id,
            "approval",
            {
                "request": record.id,
                "tool": record.tool or "",
                "effect": record.effect or "",
                "rule": record.rule or "",
                "answer": answer,
            },
            f"the person {answer} {record.summary}",
        )
        return closed

    # -- questions --

    def reply(self, request_id: str, text: str) -> PersonRequest:
        """Answer the agent's question; the answer reaches the model as the person's."""
        record = self.book.get(request_id)
        if record.kind != "question":
            raise RequestClosed(f"request {request_id} is a {record.kind}: {_HOW[record.kind]}")
        closed = self.book.close(request_id, "answered", "person", answer=text)
        self._note(
            record.task_id,
            "answer",
            {"request": record.id, "question": record.summary, "answer": text},
            f"the person answered the agent's question: {record.summary}",
        )
        return closed

    # -- audit --

    def note_takeover(self, task_id: str, reason: str, back: HandBack) -> None:
        self._note(
            task_id,
            "takeover",
            {
                "by": back.by,
                "seconds": round(back.seconds, 1),
                "url_before": back.url_before,
                "url_after": back.url_after,
                "reason": reason,
            },
            f"{back.by} had the browser for {back.seconds:.0f} s ({reason})",
        )

    def _note(self, task_id: str, what: str, details: dict[str, object], reason: str) -> None:
        if self._audit is None:
            self._audit = AuditLog.of_home(self.home)
        self._audit.append(
            AuditEntry(
                actor="person",
                on_behalf_of=self.on_behalf(task_id),
                task_id=self._run_id(task_id) or task_id,
                tool=what,
                effect="",
                args=details | {"server_task": task_id},
                verdict="allow",
                rule_id=f"person.{what}",
                reason=reason,
                approver="person",
                outcome="recorded",
            )
        )

    def _run_id(self, task_id: str) -> str | None:
        """The run record of a server task (the gateway audits under the run's id)."""
        for header in RunStore(self.home / "runs").list(limit=50):
            settings = cast(dict[str, Any], header.get("settings") or {})
            if settings.get("server_task") == task_id:
                return str(header.get("id"))
        return None


_HOW = {
    "approval": "approve, edit or decline it",
    "takeover": "take over the browser and hand it back",
    "question": "answer it",
}
"""How each kind of request is answered (for the error when answered the wrong way)."""


def _summary(request: ApprovalRequest) -> str:
    """What the agent wants to do, in a few words: the element's name when the gateway's
    reason quotes it (`Place order`), else the action and its effect."""
    quoted = re.search(r'"([^"]{1,80})"', request.decision.reason)
    if quoted:
        return quoted.group(1)
    return f"{request.tool} ({request.effect})"


def _stop_summary(reason: str) -> str:
    """Why the agent stopped, in a few words: `the page asks for a password (login form)` →
    `login form`; `the page shows a CAPTCHA (reCAPTCHA)` → `a CAPTCHA`."""
    first = reason.split(";")[0].strip()
    named = re.search(r"\(([^()]{1,60}(?:form|verification))\)$", first)
    if named:
        return named.group(1)
    short = re.sub(r"\s*\([^()]*\)$", "", first)
    for prefix in ("the page asks for ", "the page asks ", "the page shows "):
        short = short.removeprefix(prefix)
    return short or reason


def _validated(tool: str, args: dict[str, Any]) -> dict[str, Any]:
    action = ACTIONS_BY_KIND.get(tool)
    if action is None:
        return args  # not a browser action: the gateway re-validates it
    try:
        return action.model_validate(args).model_dump(mode="json")
    except ValidationError as exc:
        raise InvalidEdit(
            [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in exc.errors(include_url=False)
            ]
        ) from exc
