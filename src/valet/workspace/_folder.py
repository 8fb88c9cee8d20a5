"""Where a task's workspace is, and a path in it, for the workspace toolset and for the
connectors that move files in and out of it (a files folder, WebDAV)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from valet.gateway import ToolFailure, current_run_folder
from valet.settings import valet_home

T = TypeVar("T")

HIDDEN = ".valet"
"""valet's own records in a workspace (the commands' log): never listed, read or served."""


def workspace_of(task_id: str) -> Path:
    """Where a task's workspace is: kept with its run record."""
    return valet_home() / "runs" / task_id / "workspace"


def current_workspace() -> Path:
    """Inside a tool's body: the running task's workspace."""
    return current_run_folder() / "workspace"


def in_workspace(relative: str, root: Path | None = None) -> Path:
    """`relative` in the running task's workspace (or `root`), also when named as the shell
    sees it (`/workspace/x.csv`); a `ToolFailure` for a path that leaves it or reaches
    valet's own records."""
    base = (root or current_workspace()).resolve()
    inside = relative.removeprefix("/workspace/").lstrip("/")  # the shell's name for it too
    path = (base / inside).resolve()
    if path == base or not path.is_relative_to(base) or HIDDEN in path.relative_to(base).parts:
        raise ToolFailure(f"{relative!r} is not a file path inside the workspace")
    return path


def put_in_workspace(relative: str, content: bytes, *, overwrite: bool = False) -> Path:
    """Write `content` as file `relative` of the running task's workspace (made if missing);
    commands may then use it as their own. Refused (`ToolFailure`) if the file exists and
    `overwrite` is false. Blocking: call it in a thread."""
    path, _ = write_in_workspace(relative, lambda at: at.write_bytes(content), overwrite=overwrite)
    return path


def write_in_workspace(
    relative: str, write: Callable[[Path], T], *, overwrite: bool = True
) -> tuple[Path, T]:
    """Have `write` make file `relative` of the running task's workspace (the workspace and
    the file's folders made if missing; the file then the sandbox user's): the path and what
    `write` returned. Refused (`ToolFailure`) outside the workspace, onto a folder, pipe or
    device, or onto an existing file unless `overwrite`. Blocking: call it in a thread."""
    from valet.workspace._sandbox import Sandbox

    sandbox = Sandbox(current_workspace())
    path = in_workspace(relative, sandbox.workspace)
    if path.exists() and not overwrite:
        raise ToolFailure(f"{relative!r} is already in the workspace (overwrite to replace it)")
    check_writable(relative, path)
    sandbox.prepare()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # a file where a folder of the path goes
        raise ToolFailure(
            f"{relative!r} cannot be made: a file of the workspace is in its way"
        ) from None
    made = write(path)
    sandbox.own(path)
    return path, made


def check_writable(relative: str, path: Path) -> None:
    """A `ToolFailure` unless `path` (`relative` in the workspace) is missing or a plain file:
    not a folder, nor a named pipe or device a command made (writing to it would block)."""
    if path.is_dir():
        raise ToolFailure(f"{relative!r} is a folder of the workspace")
    if path.exists() and not path.is_file():
        raise ToolFailure(f"{relative!r} is not a plain file (a command made it a pipe or device)")


def workspace_file(relative: str) -> Path:
    """An existing file of the running task's workspace (`ToolFailure` if there is none)."""
    path = in_workspace(relative)
    if not path.is_file():
        raise ToolFailure(f"there is no file {relative!r} in the workspace")
    return path
