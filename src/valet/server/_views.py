"""Task and run state turned into the API's typed answers (shared by the API and the web app)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from valet.agent import Stopped
from valet.errors import RunNotFound
from valet.record import RunStore
from valet.server._principal import INSTALL, Principal
from valet.server._schemas import (
    ALL_STATUSES,
    Message,
    PersonRequest,
    RunDetail,
    RunSummary,
    Step,
    TaskCounts,
    TaskDetail,
    TaskSummary,
)
from valet.server._tasks import TaskManager, TaskState

RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
"""What a run id (or a prefix of one, or `last`) may look like; anything else is a 404."""


def task_summary(task: TaskState) -> TaskSummary:
    return TaskSummary(
        id=task.id,
        task=task.request.task,
        status=task.status,
        created_at=task.created_at,
        started_at=task.started_at,
        finished_at=task.finished_at,
        steps=len(task.steps),
        answer=task.answer,
        run_id=task.run_id,
        waiting_for=task.waiting_for if task.status == "waiting" else None,
    )


def task_detail(task: TaskState, runs: RunStore, stored: list[Step] | None = None) -> TaskDetail:
    """`stored`: its steps as the database keeps them (a task run on another machine)."""
    end = task.end
    return TaskDetail(
        **task_summary(task).model_dump(),
        start_url=task.request.start_url,
        model=task.model_name,
        max_steps=task.max_steps,
        agent_mode=task.request.agent_mode,
        research=task.request.research,
        success=getattr(end, "success", None),
        stop_reason=end.reason if isinstance(end, Stopped) else None,
        detail=end.detail if isinstance(end, Stopped) else None,
        error=task.error,
        cancel_requested=task.cancel_requested,
        timeline=_timeline(task, runs, stored or []),
        messages=list(task.messages),
        pending_messages=sum(not m.delivered for m in task.messages),
        repaired=task.repaired,
    )


def _timeline(task: TaskState, runs: RunStore, stored: list[Step]) -> list[Step]:
    """The steps from the run record when there is one here, else as the database keeps them
    or as they were reported, whichever has the most."""
    reported = stored if len(stored) > len(task.steps) else list(task.steps)
    if task.run_id is not None:
        try:
            _, steps = runs.load(task.run_id)
        except (RunNotFound, OSError, ValueError):
            pass
        else:
            if len(steps) >= len(reported):
                return [Step.from_record(s) for s in steps]
    return reported


def counts(manager: TaskManager, who: Principal = INSTALL) -> TaskCounts:
    by_status = dict.fromkeys(ALL_STATUSES, 0) | manager.counts(who)
    return TaskCounts(
        by_status=by_status,
        running=by_status["queued"] + by_status["running"],
        waiting=by_status["waiting"],
        done=sum(by_status[s] for s in ("succeeded", "failed", "stopped", "cancelled")),
    )


def run_summary(header: dict[str, Any]) -> RunSummary:
    totals: dict[str, Any] | None = header.get("totals")
    settings: dict[str, Any] = header.get("settings") or {}
    return RunSummary(
        id=str(header.get("id", "")),
        task=str(header.get("task", "")),
        status=str(header.get("status", "")),
        created_at=str(header.get("created_at", "")),
        finished_at=header.get("finished_at"),
        model=settings.get("model"),
        steps=None if totals is None else totals.get("steps"),
        end=header.get("end"),
    )


def run_detail(header: dict[str, Any], steps: list[dict[str, Any]]) -> RunDetail:
    return RunDetail(
        **run_summary(header).model_dump(),
        settings=header.get("settings") or {},
        totals=header.get("totals"),
        timeline=[Step.from_record(s) for s in steps],
    )


@dataclass(frozen=True)
class Entry:
    """One line of a task page's timeline: a step, or what passed between valet and the person
    (an approval asked and answered, a takeover, a question and its answer, a message)."""

    at: str
    """When (UTC, ISO 8601): entries are shown in this order."""
    step: Step | None = None
    kind: Literal["asked", "answered", "message", "step"] = "step"
    text: str = ""
    by: Literal["valet", "person", "system"] = "valet"
    message: Message | None = None


_ASKED = {
    "approval": "valet asked before it acts: {summary}",
    "takeover": "valet stopped for you: {summary}",
    "question": "valet asked you: {summary}",
}
_ANSWERED = {
    "approved": "You approved: {summary}",
    "edited": "You approved with your edit: {summary}",
    "declined": "You declined: {summary}",
    "handed_back": "You handed the browser back ({summary})",
    "answered": "You answered: {answer}",
    "cancelled": "Withdrawn (no answer needed any more): {summary}",
}


def timeline(task: TaskDetail, requests: list[PersonRequest]) -> list[Entry]:
    """The task's steps with its requests, their answers and the person's messages, in time
    order (a step without a time keeps its place after the one before it)."""
    entries: list[Entry] = []
    last = task.created_at
    for step in task.timeline:
        last = step.started_at or last
        entries.append(Entry(at=last, step=step))
    for r in requests:
        entries.append(
            Entry(at=r.created_at, kind="asked", text=_ASKED[r.kind].format(summary=r.summary))
        )
        if r.state != "pending" and r.answered_at:
            by = "system" if r.answered_by == "system" else "person"
            text = _ANSWERED[r.state].format(summary=r.summary, answer=r.answer or "")
            entries.append(Entry(at=r.answered_at, kind="answered", text=text, by=by))
    for m in task.messages:
        entries.append(Entry(at=m.created_at, kind="message", text=m.text, by="person", message=m))
    return sorted(entries, key=lambda e: e.at)
