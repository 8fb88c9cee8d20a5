"""What the API accepts and answers, and the events its websockets stream: typed models only."""

from __future__ import annotations

from typing import Any, Literal, cast
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

TaskStatus = Literal["queued", "running", "waiting", "succeeded", "failed", "stopped", "cancelled"]
"""`queued` waits for a free slot; `waiting` waits for the person (an approval, a takeover);
the last four are final."""
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "stopped", "cancelled"})
ALL_STATUSES: tuple[TaskStatus, ...] = (
    "queued",
    "running",
    "waiting",
    "succeeded",
    "failed",
    "stopped",
    "cancelled",
)


MAX_TASK_CHARS = 20_000
"""The longest task the server takes; a longer one is refused (422), never cut."""


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NewTask(_Input):
    """A task to carry out."""

    task: str = Field(
        min_length=1, max_length=MAX_TASK_CHARS, description="What to do, in plain words."
    )
    start_url: str | None = Field(
        default=None, max_length=4_000, description="An http(s) page opened before the first step."
    )
    max_steps: int | None = Field(
        default=None, ge=1, le=500, description="Stop after this many steps (server default: 40)."
    )
    model: str | None = Field(
        default=None,
        max_length=500,
        description="`provider:name`, e.g. `openai:gpt-4.1`; default: the server's model.",
    )
    research: bool = Field(
        default=False,
        description="Deep research: `task` is a question; valet searches, reads sources in "
        "parallel, notes exact quotes and writes a report whose every cited sentence is "
        "checked against its passage (`GET /api/tasks/{task_id}/report`). Sources are read "
        "only where the navigation rules allow (the start page's host is allowed).",
    )
    agent_mode: bool = Field(
        default=True,
        description="The agent acts on its own (asking before consequential actions). "
        "Off: the task only reads — opening pages, reading, filling in a search — and the "
        "gateway denies every action that would change something.",
    )

    workflow: str | None = Field(
        default=None,
        max_length=100,
        pattern=r"^[\w.\-]+$",
        description="A saved workflow's name (`valet workflow save`): it is replayed without a "
        "model; only when a step no longer matches the page is the model called (see "
        "`on_mismatch`).",
    )
    params: dict[str, str] = Field(
        default_factory=dict, max_length=50, description="The workflow's parameters."
    )
    on_mismatch: Literal["model", "stop"] = Field(
        default="model",
        description="When a workflow step no longer matches the page: the model (the task's, "
        "else the server's) takes over the rest, or the task stops there. Without any model "
        "configured it stops.",
    )

    @field_validator("task", mode="before")
    @classmethod
    def _not_too_long(cls, value: object) -> object:
        """Refused whole, with the limit: a long paste is never cut to fit."""
        if isinstance(value, str) and len(value.strip()) > MAX_TASK_CHARS:
            length = len(value.strip())
            raise PydanticCustomError(
                "task_too_long",
                "the task is {length} characters long; the limit is {limit} characters "
                "(nothing was cut: shorten it and start it again)",
                {"length": f"{length:,}", "limit": f"{MAX_TASK_CHARS:,}"},
            )
        return value

    @field_validator("start_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL, e.g. https://example.com/")
        return value


class NewMessage(_Input):
    """A message for a running task, taken into account at its next step."""

    text: str = Field(min_length=1, max_length=4_000)


class Message(BaseModel):
    id: str
    text: str
    created_at: str
    delivered: bool = False
    """True once the agent has read it at one of its steps."""


class Step(BaseModel):
    """One step of a task, as shown in the timeline."""

    index: int
    started_at: str = ""
    action_text: str
    ok: bool
    result: str
    url: str = ""
    title: str = ""
    changed: bool | None = None
    model_message: str = ""
    model_error: str | None = None
    timings_ms: dict[str, float] = Field(default_factory=lambda: dict[str, float]())
    output: str = ""
    """What a tool gave back (a command's output), as the agent read it."""
    command: str = ""
    """The whole command, for an action that runs one (the workspace's shell)."""

    @property
    def duration_ms(self) -> float:
        return round(sum(self.timings_ms.values()), 1)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Step:
        """From one line of a run record's `steps.jsonl` (or a `StepRecord` as a dict)."""
        fields = {k: v for k, v in data.items() if k in cls.model_fields}
        action = data.get("action")
        ran = cast(dict[str, Any], action).get("command") if isinstance(action, dict) else None
        if isinstance(ran, str):
            fields["command"] = ran
        return cls.model_validate(fields)


class TaskSummary(BaseModel):
    id: str
    task: str
    status: TaskStatus
    created_at: str
    started_at: str | None
    finished_at: str | None
    steps: int
    """Steps done so far."""
    answer: str | None
    run_id: str | None
    waiting_for: str | None = None
    """While `waiting`: what for, e.g. `take over: login form`, `approve: Place order`."""


class TaskDetail(TaskSummary):
    start_url: str | None
    model: str | None
    max_steps: int
    agent_mode: bool
    research: bool = False
    """A deep-research task: its report at `GET /api/tasks/{task_id}/report` once written."""
    success: bool | None
    stop_reason: str | None
    """Why the run stopped before finishing (max_steps, loop, ...); set with status `stopped`."""
    detail: str | None
    error: str | None
    """Why a task failed to run at all (e.g. the browser could not start)."""
    cancel_requested: bool
    timeline: list[Step]
    messages: list[Message]
    pending_messages: int
    """Messages the agent has not read yet."""
    repaired: bool = False
    """A workflow replay whose steps no longer matched the page, finished by the model: its
    run can be saved as the repaired workflow (`POST /api/runs/{run_id}/workflow`)."""


class TaskCounts(BaseModel):
    """How many tasks are in each status, and in each inbox group."""

    by_status: dict[str, int]
    running: int
    """Queued or running."""
    waiting: int
    """Waiting for the person (a pending request)."""
    done: int


class TaskList(BaseModel):
    tasks: list[TaskSummary]
    counts: TaskCounts


class RunSummary(BaseModel):
    id: str
    task: str
    status: str
    created_at: str
    finished_at: str | None
    model: str | None
    steps: int | None
    end: dict[str, Any] | None


class RunDetail(RunSummary):
    settings: dict[str, Any]
    totals: dict[str, Any] | None
    timeline: list[Step]


class PersonRequest(BaseModel):
    """Something a task waits for the person to do (approvals, takeovers, questions)."""

    id: str
    task_id: str
    kind: Literal["approval", "takeover", "question"]
    summary: str
    """What the agent wants to do, or what it needs, in one line."""
    reason: str
    """Why it stopped for the person (for an approval: the gateway's reason)."""
    url: str | None
    """The page the agent was on."""
    created_at: str
    state: Literal[
        "pending", "approved", "declined", "edited", "handed_back", "answered", "cancelled"
    ] = "pending"
    tool: str | None = None
    """Approvals: the action the agent wants to take (`click`, `type`, …)."""
    effect: str | None = None
    """Approvals: its effect (`purchase`, `send`, …)."""
    args: dict[str, Any] | None = None
    """Approvals: its arguments (secrets redacted); an edit replaces them."""
    rule: str | None = None
    """Approvals: the gateway rule that asks."""
    sources: list[str] = Field(default_factory=lambda: list[str]())
    """Approvals: untrusted content the arguments came from."""
    findings: list[str] = Field(default_factory=lambda: list[str]())
    """Approvals: instruction-like text found where the arguments came from."""
    provenance: list[str] = Field(default_factory=lambda: list[str]())
    """Approvals: where each value that matters came from, a line each."""
    rules: list[str] = Field(default_factory=lambda: list[str]())
    """Approvals: every rule that asked, most specific first (`rule_id: reason`)."""
    warnings: list[str] = Field(default_factory=lambda: list[str]())
    """Approvals: what to look at before saying yes (empty when nothing is off)."""
    page: str | None = None
    """Approvals of an action on a page: a digest of the page as it was when asked. The answer
    counts for that page only; asked again on a page that differs, it is a new request."""
    answer: str | None = None
    """Questions: the person's answer."""
    answered_at: str | None = None
    answered_by: str | None = None


class EditedArgs(_Input):
    """The person's edit of an action's arguments (validated, then re-decided by the gateway)."""

    args: dict[str, Any] = Field(description='The action\'s arguments, e.g. `{"element": 12}`.')


class QuestionAnswer(_Input):
    """The person's answer to the agent's question (it reaches the model as the person's)."""

    text: str = Field(min_length=1, max_length=4_000, description="The answer, in plain words.")


class ViewerRef(_Input):
    """A viewer of a task's live view, as its websocket's `hello` message named it."""

    viewer: str = Field(min_length=1, max_length=64)


class Lease(BaseModel):
    """Who controls a task's browser."""

    task_id: str
    viewer: str | None
    """The viewer holding the lease (None: nobody)."""
    holder: str | None
    """Their name, as shown to other viewers ("controlled by …")."""
    state: Literal["free", "pending", "active"]
    """`pending`: taken, waiting for the agent to pause at its next step; `active`: the person
    has the mouse and keyboard."""
    since: str | None = None


class ErrorBody(BaseModel):
    """Every error answer: a stable code and a sentence for people."""

    error: str
    detail: Any


# Websocket events ----------------------------------------------------------------------------


class StatusEvent(BaseModel):
    type: Literal["status"] = "status"
    task_id: str
    seq: int
    status: TaskStatus
    at: str
    answer: str | None = None
    detail: str | None = None


class StepEvent(BaseModel):
    type: Literal["step"] = "step"
    task_id: str
    seq: int
    step: Step


class MessageEvent(BaseModel):
    """A message was added, or (again, `delivered` now true) the agent has read it."""

    type: Literal["message"] = "message"
    task_id: str
    seq: int
    message: Message


class RequestEvent(BaseModel):
    """A request to the person was opened, answered or withdrawn (its `state` says which)."""

    type: Literal["request"] = "request"
    task_id: str
    seq: int
    request: PersonRequest


TaskEvent = StatusEvent | StepEvent | MessageEvent | RequestEvent


class StreamMessage(BaseModel):
    """What the web app's event stream (`/ui/stream`) sends: one task's event (none in the first
    message, after every connect) with the counts as they are after it (the badge, the inbox)."""

    event: TaskEvent | None = None
    counts: TaskCounts
