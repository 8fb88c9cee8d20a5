"""What the API accepts and answers, and the events its websockets stream: typed models only."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

TaskStatus = Literal["queued", "running", "succeeded", "failed", "stopped", "cancelled"]
"""`queued` waits for a free slot; the last four are final."""
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "stopped", "cancelled"})
ALL_STATUSES: tuple[TaskStatus, ...] = (
    "queued",
    "running",
    "succeeded",
    "failed",
    "stopped",
    "cancelled",
)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NewTask(_Input):
    """A task to carry out."""

    task: str = Field(min_length=1, max_length=20_000, description="What to do, in plain words.")
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
    agent_mode: bool = Field(
        default=True,
        description="The agent acts in its browser on its own. Stored with the task; a "
        "read-only mode is enforced once the gateway exists.",
    )

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

    @property
    def duration_ms(self) -> float:
        return round(sum(self.timings_ms.values()), 1)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Step:
        """From one line of a run record's `steps.jsonl` (or a `StepRecord` as a dict)."""
        return cls.model_validate({k: v for k, v in data.items() if k in cls.model_fields})


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


class TaskDetail(TaskSummary):
    start_url: str | None
    model: str | None
    max_steps: int
    agent_mode: bool
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
    """Why it stopped for the person."""
    url: str | None
    created_at: str


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
    type: Literal["message"] = "message"
    task_id: str
    seq: int
    message: Message


TaskEvent = StatusEvent | StepEvent | MessageEvent
