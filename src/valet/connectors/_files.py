"""The `files` connector: a folder on this machine as a toolset (list, read, write, delete).

    [[connectors]]
    name = "notes"
    connector = "files"
    root = "~/notes"

Paths are relative to `root`; nothing outside it can be reached (`..` and symlinks out of it
are refused). Reading is allowed, writing asks (`update`), deleting asks (`delete`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from valet.connectors._errors import ConnectorError
from valet.connectors._toolset import AuthMethod, Operation, Run, Toolset
from valet.effects import Effect
from valet.gateway import ToolFailure

_MAX_READ = 200_000


class FilesSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path
    """The folder the toolset works in."""


class ListFiles(BaseModel):
    folder: str = Field(default="", description="Folder relative to the root ('' = the root).")


class ReadFile(BaseModel):
    path: str = Field(description="File path relative to the root.")


class WriteFile(BaseModel):
    path: str = Field(description="File path relative to the root (created if missing).")
    text: str = Field(description="The file's whole new content.")


class DeleteFile(BaseModel):
    path: str = Field(description="File path relative to the root.")


class FilesConnector:
    name: ClassVar[str] = "files"
    description: ClassVar[str] = "A folder on this machine: list, read, write and delete files."
    auth: ClassVar[AuthMethod] = "none"
    scopes: ClassVar[tuple[str, ...]] = ("files.read", "files.write")
    settings: ClassVar[type[BaseModel]] = FilesSettings

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        if not isinstance(settings, FilesSettings):
            raise ConnectorError(f"toolset {name!r}: expected files settings")
        root = settings.root.expanduser()
        if not root.is_dir():
            raise ConnectorError(f"toolset {name!r}: {root} is not a folder")
        return _open(name, root.resolve())


FILES = FilesConnector()


@asynccontextmanager
async def _open(name: str, folder: Path) -> AsyncGenerator[Toolset]:
    def inside(relative: str) -> Path:
        path = (folder / relative).resolve()
        if not path.is_relative_to(folder):
            raise ToolFailure(f"{relative!r} is outside the {name} folder")
        return path

    def list_files(args: ListFiles) -> list[str]:
        where = inside(args.folder)
        if not where.is_dir():
            raise ToolFailure(f"no folder {args.folder!r}")
        found = sorted(where.iterdir())
        return [str(p.relative_to(folder)) + ("/" if p.is_dir() else "") for p in found]

    def read_file(args: ReadFile) -> str:
        path = inside(args.path)
        if not path.is_file():
            raise ToolFailure(f"no file {args.path!r}")
        with path.open(encoding="utf-8", errors="replace") as f:
            return f.read(_MAX_READ)

    def write_file(args: WriteFile) -> str:
        path = inside(args.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(args.text, encoding="utf-8")
        return f"wrote {len(args.text)} characters to {args.path}"

    def delete_file(args: DeleteFile) -> str:
        path = inside(args.path)
        if not path.is_file():
            raise ToolFailure(f"no file {args.path!r}")
        path.unlink()
        return f"deleted {args.path}"

    read, write = ("files.read",), ("files.write",)
    operations = (
        Operation(
            "list_files", "List a folder.", ListFiles, Effect.READ, _thread(list_files), read
        ),
        Operation(
            "read_file", "Read a text file.", ReadFile, Effect.READ, _thread(read_file), read
        ),
        Operation(
            "write_file", "Write a text file.", WriteFile, Effect.UPDATE, _thread(write_file), write
        ),
        Operation(
            "delete_file", "Delete a file.", DeleteFile, Effect.DELETE, _thread(delete_file), write
        ),
    )
    yield Toolset(name, f"the folder {folder}", "none", operations, connector="files")


def _thread(body: Callable[[Any], object]) -> Run:
    """Run a blocking file operation in a worker thread."""

    async def run(args: Any) -> object:
        return await asyncio.to_thread(body, args)

    return run
