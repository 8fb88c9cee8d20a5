"""What the model is told each step: the task, short summaries of earlier steps, the last
result in full, and the current page. Context stays flat however long the pages are."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from string import Template

from valet.agent._planner import ModelFailure, Prompt, Reply
from valet.agent._settings import Limits
from valet.browser import ActionOutcome, ByRole, Element, Observation, render_observation
from valet.tools import Action


def load_prompt(name: str) -> str:
    """A prompt template shipped in `valet/agent/prompts/`."""
    return resources.files("valet.agent").joinpath("prompts", name).read_text(encoding="utf-8")


def describe_action(action: Action, target: Element | None = None) -> str:
    """`click [12] button "Add to cart"` — one line, for summaries, progress and records."""
    fields = action.model_dump(mode="json", exclude_defaults=True)
    parts = [action.kind]
    element = fields.pop("element", None)
    if target is not None:
        parts.append(f'[{target.id}] {target.role} "{target.name}"')
    elif isinstance(element, dict):
        ref = ByRole.model_validate(element)
        parts.append(f'{ref.role} "{ref.name}"')
    elif element is not None:
        parts.append(f"[{element}]")
    for key, value in fields.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}={_clip(str(text), 120)}")
    return " ".join(parts)


def describe_reply(reply: Reply, target: Element | None = None) -> str:
    if isinstance(reply, ModelFailure):
        return "(invalid reply)"
    return describe_action(reply.action, target)


@dataclass
class History:
    """The run's memory as the model sees it."""

    task: str
    limits: Limits
    template: Template = field(default_factory=lambda: Template(load_prompt("step.md")))
    lines: list[str] = field(default_factory=lambda: list[str]())
    notes: list[str] = field(default_factory=lambda: list[str]())
    last: ActionOutcome | None = None

    def prompt(self, observation: Observation) -> Prompt:
        keep = self.limits.history_steps
        shown = self.lines[-keep:]
        dropped = len(self.lines) - len(shown)
        history = "\n".join(([f"({dropped} earlier steps not shown)"] if dropped else []) + shown)
        notes = "".join(f"\nNote: {n}\n" for n in self.notes)
        page = render_observation(observation)
        text = self.template.substitute(
            task=self.task,
            history=history or "(none yet)",
            notes=notes,
            last_result=self._last_result(),
            observation=page,
        )
        return Prompt(text, observation.screenshot, len(page))

    def add(self, reply: Reply, outcome: ActionOutcome) -> None:
        status = "ok" if outcome.ok else "FAILED"
        line = f"{len(self.lines) + 1}. {describe_reply(reply, outcome.target)} -> {status}: "
        self.lines.append(line + _clip(outcome.message, 200))
        self.last = outcome

    def note(self, text: str) -> None:
        """A message for the model that stays in every later prompt (e.g. from the person)."""
        self.notes.append(text)

    def _last_result(self) -> str:
        if self.last is None:
            return "(no action yet)"
        head = ("OK: " if self.last.ok else "FAILED: ") + self.last.message
        if self.last.changed is False:
            head += " (no visible change on the page)"
        if self.last.content:
            head += "\n\n" + _clip(self.last.content, self.limits.result_chars)
        return head


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split()) if "\n" not in text else text
    if len(text) <= limit:
        return text
    return text[:limit] + f"… [{len(text) - limit} more characters cut]"
