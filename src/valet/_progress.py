"""Live progress of a run in the terminal (a `Recorder` that prints)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator
from dataclasses import dataclass, field

from rich.console import Console
from rich.status import Status
from rich.text import Text

from valet.agent import Budget, Finished, HandBack, RunEnd, StepRecord, Stopped


@dataclass
class ProgressView:
    """One line per step (step, action, result, URL, time, tokens, cost) and a live status."""

    console: Console
    started: float = field(default_factory=time.monotonic)
    tokens: int = 0
    cost: float | None = 0.0
    status: Status | None = None

    def __enter__(self) -> ProgressView:
        if self.console.is_terminal:
            self.status = self.console.status("starting the browser…")
            self.status.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.status is not None:
            self.status.stop()

    @contextlib.contextmanager
    def paused(self) -> Generator[None]:
        """Stop the live status line while the person is asked something."""
        if self.status is not None:
            self.status.stop()
        try:
            yield
        finally:
            if self.status is not None:
                self.status.start()

    def step(self, step: StepRecord) -> None:
        self.tokens += step.input_tokens + step.output_tokens
        if self.cost is not None:
            self.cost = (
                None
                if step.cost_usd is None and step.input_tokens
                else self.cost + (step.cost_usd or 0)
            )
        mark = Text("✓", style="green") if step.ok else Text("✗", style="red")
        line = Text.assemble(
            (f"{step.index:>3} ", "bold"),
            mark,
            " ",
            (step.action_text[:90], "cyan"),
        )
        if not step.ok or step.changed is False:
            note = step.model_error or step.result
            quiet = step.changed is False and step.ok and "no visible change" not in note
            suffix = " (no visible change)" if quiet else ""
            line.append(f"\n      {note[:160]}{suffix}", style="yellow")
        line.append(f"\n      {step.url[:100]}", style="dim")
        self.console.print(line)
        if self.status is not None:
            self.status.update(self._summary(f"step {step.index + 1}: thinking…"))

    def finish(self, end: RunEnd, budget: Budget) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None
        self.console.print(Text(self._summary("finished"), style="dim"))
        match end:
            case Finished(answer=answer, success=True):
                self.console.print(Text.assemble(("Done: ", "bold green"), answer))
            case Finished(answer=answer):  # success is False
                self.console.print(Text.assemble(("Not done: ", "bold red"), answer))
            case Stopped(reason=reason, detail=detail):
                self.console.print(Text.assemble((f"Stopped ({reason}): ", "bold yellow"), detail))

    def handover(self, reason: str, back: HandBack) -> None:
        self.console.print(
            Text.assemble(
                ("  ⇄ ", "bold magenta"),
                f"{back.by} had the browser for {back.seconds:.0f} s ({reason})",
                (f"\n      {back.url_after[:100]}", "dim"),
            )
        )

    def _summary(self, state: str) -> str:
        elapsed = time.monotonic() - self.started
        cost = "cost unknown" if self.cost is None else f"${self.cost:.4f}"
        return f"{state}  ·  {elapsed:.1f}s  ·  {self.tokens:,} tokens  ·  {cost}"
