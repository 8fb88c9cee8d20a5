"""What the loop reports after each step and at the end, and to whom (the `Recorder`)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from valet.agent._guards import Budget
from valet.agent._history import describe_reply
from valet.agent._planner import ModelFailure, Prompt, Proposal, Reply
from valet.agent._steps import HandBack, RunEnd
from valet.browser import ActionOutcome, Observation


@dataclass
class StepClock:
    """Milliseconds spent in each phase of a step."""

    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    _mark: float = field(default_factory=time.perf_counter)
    laps: dict[str, float] = field(default_factory=lambda: dict[str, float]())

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.laps[phase] = round((now - self._mark) * 1000, 1)
        self._mark = now


@dataclass(frozen=True)
class StepRecord:
    """One step of a run, as stored in `steps.jsonl`."""

    index: int
    started_at: str
    url: str
    title: str
    observation_digest: str
    observation_chars: int
    action: dict[str, Any] | None
    """`{"kind": "click", "element": 12}`; None when the reply was not a valid action."""
    action_text: str
    target: dict[str, Any] | None
    """The element acted on: id, role, name, frame (replay addresses it by role and name)."""
    model_message: str
    model_error: str | None
    ok: bool
    result: str
    changed: bool | None
    artifacts: list[str]
    timings_ms: dict[str, float]
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    request_chars: int = 0
    """What the step's model request carried: system prompt, tool schemas and messages."""
    screenshot: bytes | None = field(default=None, repr=False)
    """The marked screenshot the model saw (vision models); stored as a file, not inline."""
    output: str = ""
    """What a tool gave back (a command's output, a file's text), as the model read it, up to
    `RECORDED_OUTPUT` characters: the timeline shows it under the action."""

    @classmethod
    def of(
        cls,
        index: int,
        observation: Observation,
        prompt: Prompt,
        reply: Reply,
        outcome: ActionOutcome,
        clock: StepClock,
    ) -> StepRecord:
        action: dict[str, Any] | None = None
        if isinstance(reply, Proposal):
            fields = reply.action.model_dump(mode="json", exclude_defaults=True)
            action = {"kind": reply.action.kind, **fields}
        target = None if outcome.target is None else asdict(outcome.target)
        return cls(
            index=index,
            started_at=clock.started_at,
            url=observation.url,
            title=observation.title,
            observation_digest=observation.digest,
            observation_chars=prompt.observation_chars,
            action=action,
            action_text=describe_reply(reply, outcome.target),
            target=target,
            model_message=reply.message if isinstance(reply, Proposal) else "",
            model_error=reply.error if isinstance(reply, ModelFailure) else None,
            ok=outcome.ok,
            result=outcome.message,
            changed=outcome.changed,
            artifacts=[str(p) for p in outcome.artifacts],
            timings_ms=dict(clock.laps),
            input_tokens=reply.usage.input_tokens,
            output_tokens=reply.usage.output_tokens,
            cost_usd=reply.usage.cost_usd,
            request_chars=reply.usage.request_chars,
            screenshot=observation.screenshot,
            output=_recorded(outcome.content),
        )


RECORDED_OUTPUT = 20_000


def _recorded(content: str | None) -> str:
    if not content or len(content) <= RECORDED_OUTPUT:
        return content or ""
    left = len(content) - RECORDED_OUTPUT
    return f"{content[:RECORDED_OUTPUT]}\n… ({left:,} more characters not kept in the record)"


class Recorder(Protocol):
    """Receives every step and the end of the run (the run record, the UI, progress)."""

    def step(self, step: StepRecord) -> None: ...

    def finish(self, end: RunEnd, budget: Budget) -> None: ...

    def handover(self, reason: str, back: HandBack) -> None:
        """The person had the browser (a takeover); only that it happened is recorded."""
        ...
