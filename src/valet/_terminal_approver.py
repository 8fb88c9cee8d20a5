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
    args = json.dumps(request.args, ensure_ascii=False, default=str)
    text = Text.assemble(
        ("valet asks: ", "bold magenta"),
        (f"{request.tool} ({request.effect}) ", "bold"),
        args[:300],
        "\n      why: ",
        (request.decision.reason, "italic"),
    )
    if request.sources:
        text.append(f"\n      values came from: {', '.join(request.sources)}", style="yellow")
    if request.findings:
        text.append(f"\n      warnings: {'; '.join(request.findings)}", style="yellow")
    return text


@dataclass
class TerminalApprover:
    """Shows what the agent wants to do and why, and waits for the person's y/N."""

    console: Console
    progress: ProgressView | None = None

    async def decide(self, request: ApprovalRequest) -> Approval:
        with self.progress.paused() if self.progress else contextlib.nullcontext():
            self.console.print(_describe(request))
            answer = await asyncio.to_thread(input, "      allow? [y/N] ")
        if answer.strip().lower() in ("y", "yes"):
            return Approval.approved("person:terminal")
        return Approval.declined("person:terminal", "the person said no")


@dataclass
class DemoApprover:
    """The demo plays the person: it shows each ask and approves it."""

    console: Console

    async def decide(self, request: ApprovalRequest) -> Approval:
        self.console.print(_describe(request))
        self.console.print(Text("      → approved (the demo plays the person)", style="magenta"))
        return Approval.approved("person:demo")
