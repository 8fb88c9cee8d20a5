"""Limits of one run, as typed settings."""

from __future__ import annotations

from pydantic import BaseModel, Field


class Limits(BaseModel):
    """When the harness stops a run that has not finished by itself."""

    max_steps: int = Field(default=40, ge=1)
    """Model turns before the run stops with `max_steps`."""
    max_seconds: float = Field(default=900.0, gt=0)
    """Wall-clock time for the whole run before it stops with `max_time`."""
    max_tokens: int = Field(default=2_000_000, ge=1)
    """Input plus output tokens over the run before it stops with `max_tokens`."""
    max_cost_usd: float | None = Field(default=None, gt=0)
    """Model cost over the run before it stops with `max_cost` (None: no cap)."""
    budget_usd: float | None = Field(default=None, ge=0)
    """What the run may still spend on the model under the budgets that bind it (the task's,
    the person's and the organization's month): reached, it stops with `budget`."""
    budget_of: str = ""
    """Which budget `budget_usd` comes from, as the stop says it ("the task's budget of $0.50")."""
    budget_asks: bool = False
    """Reaching `budget_usd`, ask the person whether to give the task as much again (yes: it
    goes on; anything else, or nobody to ask: it stops with `budget`)."""
    loop_repeats: int = Field(default=3, ge=2)
    """The same action on the same page this many times is refused with a warning; once more
    and the run stops with `loop`."""
    max_consecutive_failures: int = Field(default=5, ge=1)
    """Failed steps in a row (invalid replies, unknown elements, failed actions) before the run
    stops with `model_errors`."""
    history_steps: int = Field(default=25, ge=1)
    """Earlier steps kept as one-line summaries in the prompt; older ones are counted only."""
    max_output_tokens: int = Field(default=2048, ge=16)
    """Longest reply the model may write in one step (a runaway generation is cut here)."""
    model_timeout_s: float = Field(default=120.0, gt=0)
    """How long one model request may take before it counts as a failed step."""
    result_chars: int = Field(default=6000, ge=200)
    """Longest action payload (e.g. `read_page` markdown) shown to the model, once."""
