"""The `files` connector: a folder on this machine as a toolset (list, search, read, write, move,
import, delete; save a file from the task's workspace, copy one into it).

    [[connectors]]
    name = "notes"
    connector = "files"
    root = "~/notes"
    import_from = ["~/valet-attachments"]   # optional: where `import_file` may copy from
    # max_transfer = 100_000_000            # bytes a workspace copy moves at most

Paths are relative to `root`; nothing outside it can be reached (`..` and symlinks out of it
are refused), except that `import_file` copies a file in from the folders `import_from` names
(e.g. the mail toolset's `attachments_dir`, so an e-mail attachment can be saved, byte for
byte). `save_from_workspace` copies a file the task made in its workspace (a spreadsheet, a
chart, slides) into the folder, byte for byte; `copy_to_workspace` copies a file of the folder
into the workspace, for the sandboxed shell to work on. Reading, searching and copying into the
workspace (which changes nothing of the person's) are allowed; writing, moving, importing and
saving from the workspace ask (`update`), deleting asks (`delete`). A move, an import or a copy
never replaces an existing file unless asked.
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
from valet.workspace import put_in_workspace, workspace_file

_MAX_READ = 200_000
_MAX_FOUND = 500


class FilesSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    root: Path
    """The folder the toolset works in."""
    import_from: tuple[Path, ...] = ()
    """Folders outside `root` that `import_file` may copy files from (e.g. the mail toolset's
    `attachments_dir`); nothing else outside `root` is ever read."""
    max_transfer: int = Field(default=100_000_000, gt=0)
    """Bytes one file copied between the folder and the task's workspace may have, at most."""


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


class SaveFromWorkspace(BaseModel):
    source: str = Field(
        description="A file in the task's workspace, relative to it (what the shell sees as "
        "/workspace/<source>)."
    )
    destination: str = Field(description="New file path relative to the root.")
    overwrite: bool = Field(default=False, description="Replace what is at the destination.")


class CopyToWorkspace(BaseModel):
    source: str = Field(description="File path relative to the root.")
    destination: str = Field(
        default="",
        description="Where to put it in the task's workspace, relative to it ('' = the "
        "source's file name, at the top of the workspace).",
    )
    overwrite: bool = Field(default=False, description="Replace what is in the workspace.")


def too_big(what: str, cap: int, size: int | None = None) -> ToolFailure:
    """The failure for a file over the transfer cap (`max_transfer`); `size` when known."""
    measured = f" is {size:,} bytes," if size is not None else " is"
    return ToolFailure(
        f"{what!r}{measured} more than the {cap:,} bytes valet copies between a folder and the "
        "workspace (max_transfer); nothing was copied"
    )


class FilesConnector:
    name: ClassVar[str] = "files"
    description: ClassVar[str] = (
        "A folder on this machine: list, search, read, write, move and delete files; copy "
        "files to and from the task's workspace."
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
        return _open(name, root.resolve(), sources, settings.max_transfer)


FILES = FilesConnector()


@asynccontextmanager
async def _open(
    name: str, folder: Path, sources: tuple[Path, ...], cap: int
) -> AsyncGenerator[Toolset]:
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

    def save_from_workspace(args: SaveFromWorkspace) -> str:
        source, target = workspace_file(args.source), inside(args.destination)
        size = source.stat().st_size
        if size > cap:
            raise too_big(args.source, cap, size)
        if target == folder or target.is_dir():
            raise ToolFailure(f"{args.destination!r} is a folder; give a file path; nothing saved")
        target.parent.mkdir(parents=True, exist_ok=True)
        try:  # "x": made only if missing, even if a file appeared since the check above
            with source.open("rb") as src, target.open("wb" if args.overwrite else "xb") as dst:
                shutil.copyfileobj(src, dst)
        except FileExistsError:
            raise ToolFailure(
                f"{args.destination!r} already exists (ask with overwrite=true to replace it); "
                "nothing was saved"
            ) from None
        return f"saved {args.source} ({size:,} bytes) from the workspace to {args.destination}"

    def copy_to_workspace(args: CopyToWorkspace) -> str:
        source = inside(args.source)
        if not source.is_file():
            raise ToolFailure(f"no file {args.source!r} in the {name} folder")
        size = source.stat().st_size
        if size > cap:
            raise too_big(args.source, cap, size)
        destination = args.destination or source.name
        put_in_workspace(destination, source.read_bytes(), overwrite=args.overwrite)
        return f"copied {args.source} ({size:,} bytes) to the workspace as {destination}"

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
            "save_from_workspace",
            "Copy a file the task made in its workspace into the folder (any file: a "
            "spreadsheet, slides, an image).",
            SaveFromWorkspace,
            Effect.UPDATE,
            _thread(save_from_workspace),
            write,
            consequential_args=("destination",),
        ),
        Operation(
            "copy_to_workspace",
            "Copy a file of the folder into the task's workspace, for the shell to work on.",
            CopyToWorkspace,
            Effect.READ,  # changes nothing of the person's: writes only the task's own folder
            _thread(copy_to_workspace),
            read,
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
