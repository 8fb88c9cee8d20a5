"""The `files` connector: a folder on this machine as a toolset (list, search, read, write, move,
import, delete).

    [[connectors]]
    name = "notes"
    connector = "files"
    root = "~/notes"
    import_from = ["~/valet-attachments"]   # optional: where `import_file` may copy from

Paths are relative to `root`; nothing outside it can be reached (`..` and symlinks out of it
are refused), except that `import_file` copies a file in from the folders `import_from` names
(e.g. the mail toolset's `attachments_dir`, so an e-mail attachment can be saved, byte for
byte). Reading and searching are allowed, writing, moving and importing ask (`update`),
deleting asks (`delete`). A move or an import never replaces an existing file unless asked.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import shutil
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
_MAX_FOUND = 500


class FilesSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path
    """The folder the toolset works in."""
    import_from: tuple[Path, ...] = ()
    """Folders outside `root` that `import_file` may copy files from (e.g. the mail toolset's
    `attachments_dir`); nothing else outside `root` is ever read."""


class ListFiles(BaseModel):
    folder: str = Field(default="", description="Folder relative to the root ('' = the root).")


class SearchFiles(BaseModel):
    name: str = Field(
        min_length=1, description="Part of a name, or a pattern with * and ? (case ignored)."
    )
    folder: str = Field(default="", description="Where to search ('' = the root).")


class ReadFile(BaseModel):
    path: str = Field(description="File path relative to the root.")


class WriteFile(BaseModel):
    path: str = Field(description="File path relative to the root (created if missing).")
    text: str = Field(description="The file's whole new content.")


class MoveFile(BaseModel):
    source: str = Field(description="File or folder to move, relative to the root.")
    destination: str = Field(description="New path relative to the root.")
    overwrite: bool = Field(default=False, description="Replace what is at the destination.")


class ImportFile(BaseModel):
    source: str = Field(
        description="Absolute path of a file valet saved outside this folder (e.g. an e-mail "
        "attachment's saved_to)."
    )
    destination: str = Field(description="New path relative to the root.")
    overwrite: bool = Field(default=False, description="Replace what is at the destination.")


class DeleteFile(BaseModel):
    path: str = Field(description="File path relative to the root.")


class FilesConnector:
    name: ClassVar[str] = "files"
    description: ClassVar[str] = (
        "A folder on this machine: list, search, read, write, move and delete files."
    )
    auth: ClassVar[AuthMethod] = "none"
    scopes: ClassVar[tuple[str, ...]] = ("files.read", "files.write")
    settings: ClassVar[type[BaseModel]] = FilesSettings

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        if not isinstance(settings, FilesSettings):
            raise ConnectorError(f"toolset {name!r}: expected files settings")
        root = settings.root.expanduser()
        if not root.is_dir():
            raise ConnectorError(f"toolset {name!r}: {root} is not a folder")
        sources = tuple(folder.expanduser().resolve() for folder in settings.import_from)
        return _open(name, root.resolve(), sources)


FILES = FilesConnector()


@asynccontextmanager
async def _open(name: str, folder: Path, sources: tuple[Path, ...]) -> AsyncGenerator[Toolset]:
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

    def search_files(args: SearchFiles) -> list[str]:
        where = inside(args.folder)
        if not where.is_dir():
            raise ToolFailure(f"no folder {args.folder!r}")
        pattern = args.name.lower()
        if not any(ch in pattern for ch in "*?["):
            pattern = f"*{pattern}*"
        found: list[str] = []
        for path in sorted(where.rglob("*")):
            matches = fnmatch.fnmatch(path.name.lower(), pattern)
            if matches and path.resolve().is_relative_to(folder):
                found.append(str(path.relative_to(folder)) + ("/" if path.is_dir() else ""))
                if len(found) >= _MAX_FOUND:
                    break
        return found

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

    def move_file(args: MoveFile) -> str:
        source, target = inside(args.source), inside(args.destination)
        if source == folder or target == folder:
            raise ToolFailure(f"the {name} folder itself cannot be moved, nor replaced")
        if not source.exists():
            raise ToolFailure(f"no file or folder {args.source!r}")
        if target.exists() and not (args.overwrite and target.is_file()):
            why = "ask with overwrite=true to replace it" if target.is_file() else "a folder"
            raise ToolFailure(f"{args.destination!r} already exists ({why}); nothing was moved")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        return f"moved {args.source} to {args.destination}"

    def import_file(args: ImportFile) -> str:
        source = Path(args.source).expanduser().resolve()
        if not any(source.is_relative_to(allowed) for allowed in sources):
            where = ", ".join(str(s) for s in sources) or "nowhere (no import_from folders)"
            raise ToolFailure(f"{args.source!r} is not in a folder {name} may import from: {where}")
        if not source.is_file():
            raise ToolFailure(f"no file {args.source!r}")
        target = inside(args.destination)
        if target == folder or (target.exists() and not (args.overwrite and target.is_file())):
            why = "ask with overwrite=true to replace it" if target.is_file() else "a folder"
            raise ToolFailure(f"{args.destination!r} already exists ({why}); nothing was copied")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return f"copied {source.name} ({target.stat().st_size} bytes) to {args.destination}"

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
            "search_files",
            "Find files and folders by name.",
            SearchFiles,
            Effect.READ,
            _thread(search_files),
            read,
        ),
        Operation(
            "read_file", "Read a text file.", ReadFile, Effect.READ, _thread(read_file), read
        ),
        Operation(
            "write_file",
            "Write a text file.",
            WriteFile,
            Effect.UPDATE,
            _thread(write_file),
            write,
            idempotent=True,  # the same text written twice is the same file
        ),
        Operation(
            "move_file",
            "Move or rename a file or folder.",
            MoveFile,
            Effect.UPDATE,
            _thread(move_file),
            write,
        ),
        Operation(
            "import_file",
            "Copy a file valet saved elsewhere (an e-mail attachment) into the folder.",
            ImportFile,
            Effect.UPDATE,
            _thread(import_file),
            write,
        ),
        Operation(
            "delete_file",
            "Delete a file.",
            DeleteFile,
            Effect.DELETE,
            _thread(delete_file),
            write,
            consequential_args=("path",),
        ),
    )
    yield Toolset(name, f"the folder {folder}", "none", operations, connector="files")


def _thread(body: Callable[[Any], object]) -> Run:
    """Run a blocking file operation in a worker thread."""

    async def run(args: Any) -> object:
        return await asyncio.to_thread(body, args)

    return run
