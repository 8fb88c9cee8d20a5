"""Asking the person in the terminal (until the web app's approvals inbox takes over)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass

from rich.console import Console
from rich.text import Text

from valet._progress import ProgressView
from valet.gateway import Approval, ApprovalRequest


def _describe(request: ApprovalRequest) -> Text:
    """The ask as the person reads it: the action and every argument, where each value that
    matters came from, every rule that asked (most specific first), then the warnings."""
    args = json.dumps(request.args, ensure_ascii=False, default=str)
    text = Text.assemble(
        ("valet asks: ", "bold magenta"),
        (f"{request.tool} ({request.effect}{_risk(request)}) ", "bold"),
        args if len(args) <= 600 else args[:599] + "…",
    )
    for line in request.provenance:
        text.append(f"\n      {line}")
    rules = request.rules or (f"{request.decision.rule_id}: {request.decision.reason}",)
    text.append("\n      why: ")
    text.append("; ".join(rules), style="italic")
    for warning in request.warnings:
        text.append(f"\n      warning: {warning}", style="bold yellow")
    return text


def _risk(request: ApprovalRequest) -> str:
    where = f" on {request.site}" if request.site else ""
    return f", {request.risk} risk{where}" if request.risk else where


@dataclass
class TerminalApprover:
    """Shows what the agent wants to do and why, and waits for the person's y/N — or, for
    medium and high risk effects, `s`: allow it on this site for the rest of this task."""

    console: Console
    progress: ProgressView | None = None

    async def decide(self, request: ApprovalRequest) -> Approval:
        with self.progress.paused() if self.progress else contextlib.nullcontext():
            self.console.print(_describe(request))
            if request.grantable:
                self.console.print(
                    Text(f"      s = allow {request.grant} for the rest of this task", "dim")
                )
            choices = "[y/s/N]" if request.grantable else "[y/N]"
            answer = await asyncio.to_thread(input, f"      allow? {choices} ")
        if answer.strip().lower() in ("y", "yes"):
            return Approval.approved("person:terminal")
        if request.grantable and answer.strip().lower() in ("s", "site"):
            return Approval.approved_for_site("person:terminal")
        return Approval.declined("person:terminal", "the person said no")


@dataclass
class TerminalQuestions:
    """The agent's `ask_person` questions, answered on the terminal (an empty line or end of
    input: no answer, and the agent goes on without one)."""

    console: Console
    progress: ProgressView | None = None

    async def ask(self, question: str) -> str | None:
        with self.progress.paused() if self.progress else contextlib.nullcontext():
            self.console.print(Text.assemble(("valet asks you: ", "bold magenta"), question))
            try:
                answer = await asyncio.to_thread(input, "      your answer: ")
            except EOFError:
                return None
        return answer.strip() or None
