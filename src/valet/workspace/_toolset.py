"""The `workspace` connector: the task's own folder and a sandboxed shell in it, as a toolset.

    [[connectors]]
    name = "workspace"
    connector = "workspace"
    cpu_s = 120          # per command: CPU seconds, memory, processes, file size, wall time
    memory_mb = 2048
    processes = 64
    file_mb = 1024
    wall_s = 300
    keep = "always"      # at the end of a task: "always", "failed" (if it failed), "never"

Each task has its own workspace, kept with its run record (`runs/<id>/workspace/`): what the
shell makes there (a CSV summary, a chart) stays with the run. `workspace_shell` runs a
command in the sandbox (see `_sandbox.py`): its effect is `execute`, so valet asks before
each command unless a grant or the request allows it, and the audit log keeps each command.
Listing and reading the workspace are reads; writing a file is an update, and so is making a
result file with a typed helper (`workspace_make_table` for xlsx with formulas and a native
chart or csv, `workspace_make_chart` for png/svg, `workspace_make_slides` for pptx,
`workspace_make_report` for a PDF from Markdown): no program runs for those.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from valet.browser import print_pdf
from valet.connectors._errors import ConnectorError
from valet.connectors._toolset import AuthMethod, Operation, Toolset
from valet.effects import Effect
from valet.gateway import ToolFailure
from valet.workspace._artifacts import (
    PAGE_PICTURES,
    SLIDE_PICTURES,
    Chart,
    Report,
    Slides,
    Table,
    pictures_of,
    report_html,
    report_pictures,
    write_chart,
    write_slides,
    write_table,
)
from valet.workspace._folder import (
    HIDDEN,
    current_workspace,
    in_workspace,
    put_in_workspace,
    workspace_file,
    workspace_of,
    write_in_workspace,
)
from valet.workspace._sandbox import Sandbox, SandboxLimits, SandboxUnavailable

_MAX_READ = 100_000


class WorkspaceSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    cpu_s: int = Field(default=120, ge=1, le=3600)
    memory_mb: int = Field(default=2048, ge=64, le=65536)
    processes: int = Field(default=64, ge=4, le=4096)
    file_mb: int = Field(default=1024, ge=1, le=102400)
    wall_s: float = Field(default=300, gt=0, le=7200)
    keep: Literal["always", "failed", "never"] = "always"
    """When the task ends: keep its workspace with the run record, keep it only when the task
    did not succeed (to see what went wrong), or remove it."""


class Shell(BaseModel):
    command: str = Field(
        min_length=1,
        max_length=20_000,
        description="A shell command (sh -c) run in the task's workspace folder (/workspace), "
        "with the system's programs and python3 (pandas, openpyxl, matplotlib, python-pptx), "
        "no network; the files the task's browser downloaded are in /downloads (read only).",
    )


class ListFiles(BaseModel):
    pass


class ReadFile(BaseModel):
    path: str = Field(description="A file in the workspace, relative to it.")


class WriteFile(BaseModel):
    path: str = Field(description="A file in the workspace, relative to it (made if missing).")
    text: str = Field(description="Its whole new content.")


class WorkspaceConnector:
    name: ClassVar[str] = "workspace"
    description: ClassVar[str] = (
        "The task's own folder and a sandboxed shell in it (no network, limits)."
    )
    auth: ClassVar[AuthMethod] = "none"
    scopes: ClassVar[tuple[str, ...]] = ("workspace.read", "workspace.execute")
    settings: ClassVar[type[BaseModel]] = WorkspaceSettings
    granted: ClassVar[tuple[str, ...]] = ("update", "execute")
    """Without `[grants]`, tasks may make files and run commands here (the task's own folder);
    every command is still asked unless the person's request or a grant allows it."""

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        if not isinstance(settings, WorkspaceSettings):
            raise ConnectorError(f"toolset {name!r}: expected workspace settings")
        limits = SandboxLimits(
            cpu_s=settings.cpu_s,
            memory_mb=settings.memory_mb,
            processes=settings.processes,
            file_mb=settings.file_mb,
            wall_s=settings.wall_s,
        )
        try:
            Sandbox(Path("/nonexistent"), limits).check()
        except SandboxUnavailable as exc:
            raise ConnectorError(f"toolset {name!r}: {exc}") from exc
        return _open(name, limits, settings.keep)


WORKSPACE = WorkspaceConnector()


@asynccontextmanager
async def _open(name: str, limits: SandboxLimits, keep: str) -> AsyncGenerator[Toolset]:
    async def shell(args: Shell) -> str:
        here = current_workspace()
        downloads = here.parent / "artifacts" / "downloads"  # what the task's browser saved
        result = await Sandbox(here, limits, downloads).run(args.command)
        return result.shown()

    async def list_files(args: ListFiles) -> str:
        def listing() -> str:
            root = current_workspace()
            if not root.is_dir():
                return "the workspace is empty"
            found = [
                f"{p.relative_to(root)} ({p.stat().st_size:,} bytes)"
                for p in sorted(root.rglob("*"))
                if p.is_file() and HIDDEN not in p.relative_to(root).parts
            ]
            return "\n".join(found) or "the workspace is empty"

        return await asyncio.to_thread(listing)

    async def read_file(args: ReadFile) -> str:
        def head() -> bytes:  # not all of a file a command made, maybe a gigabyte
            with workspace_file(args.path).open("rb") as file:
                return file.read(_MAX_READ)

        return (await asyncio.to_thread(head)).decode("utf-8", "replace")

    async def made(relative: str, write: Callable[[Path], str]) -> str:
        def work() -> str:
            path, what = write_in_workspace(relative, write)
            return f"made {relative} ({what}; {path.stat().st_size:,} bytes)"

        return await asyncio.to_thread(work)

    async def make_table(args: Table) -> str:
        return await made(args.path, lambda path: write_table(args, path))

    async def make_chart(args: Chart) -> str:
        return await made(args.path, lambda path: write_chart(args, path))

    async def make_slides(args: Slides) -> str:
        names = [slide.image for slide in args.slides if slide.image]
        pictures = await asyncio.to_thread(pictures_of, names, in_workspace, SLIDE_PICTURES)
        return await made(args.path, lambda path: write_slides(args, path, pictures))

    async def make_report(args: Report) -> str:
        def page() -> str:  # in a thread: Markdown of 500,000 characters takes seconds to parse
            if in_workspace(args.path).suffix.lower() != ".pdf":
                raise ToolFailure(f"{args.path!r} must end in .pdf")
            names = report_pictures(args.markdown)
            return report_html(args, pictures_of(names, in_workspace, PAGE_PICTURES))

        pdf = await print_pdf(await asyncio.to_thread(page))
        await asyncio.to_thread(put_in_workspace, args.path, pdf, overwrite=True)
        return f"made {args.path} (a PDF report; {len(pdf):,} bytes)"

    async def write_file(args: WriteFile) -> str:
        content = args.text.encode("utf-8")
        await asyncio.to_thread(put_in_workspace, args.path, content, overwrite=True)
        return f"wrote {len(args.text)} characters to {args.path}"

    read, execute = ("workspace.read",), ("workspace.execute",)
    operations = (
        Operation(
            "shell",
            "Run a shell command in the workspace's sandbox.",
            Shell,
            Effect.EXECUTE,
            shell,
            execute,
            consequential_args=("command",),
        ),
        Operation(
            "list_files", "List the workspace's files.", ListFiles, Effect.READ, list_files, read
        ),
        Operation(
            "read_file", "Read a file of the workspace.", ReadFile, Effect.READ, read_file, read
        ),
        Operation(
            "write_file",
            "Write a text file in the workspace.",
            WriteFile,
            Effect.UPDATE,
            write_file,
            execute,
            idempotent=True,
        ),
    )
    made_by = "Make {} in the workspace (written by valet, no program needed)."
    operations += (
        Operation(
            "make_table",
            made_by.format("a table: .xlsx (formulas kept, an optional chart) or .csv"),
            Table,
            Effect.UPDATE,
            make_table,
            execute,
            idempotent=True,
        ),
        Operation(
            "make_chart",
            made_by.format("a chart picture (.png or .svg)"),
            Chart,
            Effect.UPDATE,
            make_chart,
            execute,
            idempotent=True,
        ),
        Operation(
            "make_slides",
            made_by.format("a slide deck (.pptx)"),
            Slides,
            Effect.UPDATE,
            make_slides,
            execute,
            idempotent=True,
        ),
        Operation(
            "make_report",
            made_by.format("a PDF report from Markdown"),
            Report,
            Effect.UPDATE,
            make_report,
            execute,
            idempotent=True,
        ),
    )

    def at_end(task_id: str, succeeded: bool) -> None:
        if keep == "never" or (keep == "failed" and succeeded):
            shutil.rmtree(workspace_of(task_id), ignore_errors=True)

    yield Toolset(
        name,
        "the task's workspace and sandboxed shell",
        "none",
        operations,
        connector="workspace",
        at_end=at_end,
    )
