"""The journal: every consequential action, browser or toolset, written before it runs and
resolved after, so that a task restarted after a crash knows which action was interrupted.

    journal.start(key, "mail_send")      # fsynced, after the gateway allowed the action
    journal.commit(key)                  # optional: the point of no return (SMTP DATA)
    ... the action ...
    journal.end(key, ok=True, message=..., content=...)  # not fsynced: see `end`

A checkpointed step that finished is never run again, so an entry of an earlier process is
found only for the step that was running when valet stopped:
- ended: the action finished but its step was not stored; the stored ending is given back;
- started, not ended: the action was interrupted. It is *reconciled* (see `_recovery.py`),
  never run again blindly and never reported as not run when it might have.

Reads are not journaled (running them again is harmless). The lines live in the task's state
folder (`home/tasks/<run>/journal.jsonl`, private: `JournalFile`), or, when valet's database is
shared by processes on several machines (Postgres), in that database (`JournalTable`): the
process that resumes a task may not be on the machine that started its action. Either way
they are removed when the run ends.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from valet._home import private_dir
from valet.browser import ActionOutcome, ByRole, Observation
from valet.effects import Effect
from valet.gateway import RunningAction, Tool, ToolFailure, performing
from valet.store import JournalTable, shared_database
from valet.tools import Action, BrowserToolbox

_KEPT_CHARS = 4000
"""How much of an action's result the journal keeps to give back after a restart."""


@dataclass(frozen=True)
class Entry:
    """What an earlier process wrote about one action."""

    key: str
    kind: str
    url: str = ""
    """The page it ran on (browser actions)."""
    committed: bool = False
    """It passed its point of no return (`RunningAction.commit`)."""
    ended: bool = False
    ok: bool = False
    message: str = ""
    content: str | None = None


Event = Literal["start", "commit", "end"]


class JournalLines(Protocol):
    """Where a journal's lines are kept."""

    def append(self, line: str, sync: bool = True) -> None:
        """Keep one line; with `sync`, durably before returning."""
        ...

    def read(self) -> list[str]:
        """Every line kept so far, in order."""
        ...


@dataclass(frozen=True)
class JournalFile:
    """A journal's lines in a private file, each `sync` line forced to disk."""

    path: Path

    def append(self, line: str, sync: bool = True) -> None:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            if sync:
                os.fsync(out.fileno())

    def read(self) -> list[str]:
        if not self.path.is_file():
            return []
        return self.path.read_text(encoding="utf-8").splitlines()


def journal_lines(home: Path, run_id: str) -> JournalLines:
    """Where the journal of run `run_id` is kept: in the database when it is shared (Postgres),
    else in the run's state folder."""
    if (url := shared_database(home)) is not None:
        return JournalTable(url, run_id)
    return JournalFile(home / "tasks" / run_id / "journal.jsonl")


@dataclass
class Journal:
    """Write-ahead notes of one task's consequential actions."""

    lines: JournalLines
    task_id: str = ""
    key: str = ""
    """The checkpointed step running now (`act-7`): what the next action is journaled as."""
    earlier: dict[str, Entry] = field(init=False)
    """Entries written by earlier processes, read once when the run opens (a step of this
    process may act more than once, e.g. leaving a denied page: its own entries never count)."""

    def __post_init__(self) -> None:
        self.earlier = _read(self.lines.read())

    def reread(self) -> None:
        """Count every entry written so far as an earlier one: the task's browser died and was
        reopened, so what this process started is looked at as after a restart."""
        self.earlier = _read(self.lines.read())

    def found(self, key: str) -> Entry | None:
        """What an earlier process did at step `key`, if it acted there."""
        return self.earlier.get(key)

    def action_id(self, key: str) -> str:
        """The id a connector gives what the action at `key` writes (the same after a restart)."""
        task = "".join(c for c in self.task_id if c.isalnum() or c in "-.") or "task"
        return f"valet.{task}.{key}"

    def start(self, key: str, kind: str, url: str = "") -> None:
        self._write({"key": key, "event": "start", "kind": kind, "url": url})

    def commit(self, key: str) -> None:
        self._write({"key": key, "event": "commit"})

    def end(self, key: str, outcome: ActionOutcome) -> None:
        content = outcome.content[:_KEPT_CHARS] if outcome.content is not None else None
        line = {
            "key": key,
            "event": "end",
            "ok": outcome.ok,
            "message": outcome.message[:_KEPT_CHARS],
            "content": content,
        }
        # Not forced to disk: a process killed right after still leaves it in the kernel's
        # cache; only a power cut could lose it, and then its step's checkpoint too, so that
        # the start without an end is reconciled, as any interrupted action is.
        self._write(line, sync=False)

    def settle(self, key: str, ok: bool, message: str) -> None:
        """An interrupted entry, reconciled: what the step's outcome was."""
        self.end(key, ActionOutcome(ok=ok, message=message))
        self.earlier.pop(key, None)

    def _write(self, line: dict[str, Any], sync: bool = True) -> None:
        self.lines.append(json.dumps(line), sync)


def _read(lines: list[str]) -> dict[str, Entry]:
    """The entries in a journal by key, later lines completing earlier ones; a line cut short
    by a crash is skipped."""
    found: dict[str, Entry] = {}
    for line in lines:
        try:
            data = json.loads(line)
            key = str(data["key"])
        except (ValueError, KeyError, TypeError):
            continue
        event = data.get("event", "start")
        before = found.get(key)
        if event == "start" or before is None:
            found[key] = Entry(key, str(data.get("kind", "")), str(data.get("url", "")))
        elif event == "commit":
            found[key] = Entry(before.key, before.kind, before.url, committed=True)
        elif event == "end":
            content = data.get("content")
            found[key] = Entry(
                before.key,
                before.kind,
                before.url,
                before.committed,
                ended=True,
                ok=bool(data.get("ok")),
                message=str(data.get("message", "")),
                content=content if isinstance(content, str) else None,
            )
    return found


@dataclass
class JournaledToolbox:
    """Below the gateway: the browser's consequential actions are journaled."""

    inner: BrowserToolbox
    journal: Journal

    @property
    def actions(self) -> tuple[type[Action], ...]:
        return self.inner.actions

    @property
    def page_url(self) -> str:
        """The live page's URL (the gateway checks vault bindings against it)."""
        return self.inner.page_url

    async def link_url(self, element: int | ByRole) -> str | None:
        """Where a click on `element` would go (the gateway checks it before the click)."""
        return await self.inner.link_url(element)

    async def content_length(self, url: str) -> int | None:
        return await self.inner.content_length(url)

    async def observe(self) -> Observation:
        return await self.inner.observe()

    async def execute(self, action: Action) -> ActionOutcome:
        key = self.journal.key
        if action.effect is Effect.READ or not key:
            return await self.inner.execute(action)
        self.journal.start(key, action.kind, self.inner.page_url)
        outcome = await self.inner.execute(action)
        self.journal.end(key, outcome)
        return outcome


def journaled_tool(tool: Tool[..., Any], journal: Journal) -> Tool[..., Any]:
    """`tool` with its body journaled (below the gateway: it runs only once allowed). Inside
    the body, `valet.gateway.running_action()` gives the action's stable id and its commit."""
    if tool.effects.effect is Effect.READ:
        return tool
    fn: Callable[..., object] = tool.fn

    async def call(**kwargs: object) -> object:
        value = fn(**kwargs)
        return await cast(Awaitable[object], value) if tool.is_async else value

    async def run(**kwargs: object) -> object:
        key = journal.key
        if not key:
            return await call(**kwargs)
        journal.start(key, tool.name)
        action = RunningAction(journal.action_id(key), lambda: journal.commit(key))
        try:
            with performing(action):
                value = await call(**kwargs)
        except ToolFailure as failure:
            journal.end(key, ActionOutcome(ok=False, message=str(failure)))
            raise
        shown = value if isinstance(value, str) else json.dumps(value, default=str)
        journal.end(key, ActionOutcome(ok=True, message=tool.name, content=shown))
        return value

    return Tool(run, tool.name, tool.effects, tool.args_model, is_async=True)
