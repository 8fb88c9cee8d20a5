"""The git connector's operation arguments: what the model fills in, checked before git runs.

Everything the model writes reaches git only as a checked value, never as an option: a ref may
not start with `-` nor use git's `:` (path) or `..` (range) syntax, and a path stays inside the
repository (relative, no `..`, `.` or empty part, nothing in `.git`, no control characters).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_REF = re.compile(r"[A-Za-z0-9._/~^+-]{1,200}")
_BRANCH = re.compile(r"[A-Za-z0-9._/+-]{1,100}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\\]")


def _ref(value: str) -> str:
    if value.startswith("-"):
        raise ValueError("a ref cannot start with '-'")
    if not _REF.fullmatch(value) or ".." in value:
        raise ValueError(
            "give a branch, tag or commit (letters, digits and . _ / - + ~ ^; no '..' or ':')"
        )
    return value


def _branch(value: str) -> str:
    if value.startswith("-"):
        raise ValueError("a branch name cannot start with '-'")
    bad = (
        not _BRANCH.fullmatch(value)
        or ".." in value
        or "//" in value
        or value.startswith(("/", "."))
        or value.endswith(("/", ".", ".lock"))
        or "/." in value
        or value == "HEAD"
    )
    if bad:
        raise ValueError("not a valid branch name (letters, digits and . _ / - +)")
    return value


def repo_path(value: str) -> str:
    """A file's path inside the repository, or a ValueError saying why it is refused."""
    if _CONTROL.search(value):
        raise ValueError("a path cannot hold control characters or '\\'")
    if value.startswith("/"):
        raise ValueError("give a path relative to the repository's root, not an absolute one")
    parts = value.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError("the path has an empty, '.' or '..' part (it must stay in the repository)")
    if any(part.lower() == ".git" for part in parts):
        raise ValueError("nothing inside .git can be read or written")
    return value


def _folder(value: str) -> str:
    return repo_path(value.strip("/")) if value.strip("/") else ""


Ref = Annotated[str, AfterValidator(_ref)]
BranchName = Annotated[str, AfterValidator(_branch)]
RepoPath = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(repo_path)]
Folder = Annotated[str, Field(max_length=1000), AfterValidator(_folder)]

_REF_HELP = "A branch, tag or commit (default: the toolset's branch)."


class Arguments(BaseModel):
    """Unknown arguments are refused, not ignored (there is no `force` to slip in)."""

    model_config = ConfigDict(extra="forbid")


class Fetch(Arguments):
    pass


class Log(Arguments):
    ref: Ref | None = Field(default=None, description=_REF_HELP, examples=["main"])
    path: RepoPath | None = Field(
        default=None, description="Only commits that changed this file or folder."
    )
    max_count: int = Field(default=20, ge=1, le=200, description="How many commits, newest first.")


class ListFiles(Arguments):
    folder: Folder = Field(default="", description="Folder in the repository ('' = the root).")
    ref: Ref | None = Field(default=None, description=_REF_HELP, examples=["main"])
    recursive: bool = Field(default=False, description="Also list what is in sub-folders.")


class ReadFile(Arguments):
    path: RepoPath = Field(description="File path in the repository.", examples=["README.md"])
    ref: Ref | None = Field(default=None, description=_REF_HELP, examples=["main"])


class Diff(Arguments):
    base: Ref = Field(description="The older branch, tag or commit.", examples=["origin/main"])
    head: Ref | None = Field(
        default=None,
        description="The newer one (default: the toolset's branch).",
        examples=["main"],
    )
    path: RepoPath | None = Field(default=None, description="Only this file or folder.")


class FileChange(Arguments):
    path: RepoPath = Field(description="File path in the repository.", examples=["docs/notes.md"])
    text: str = Field(max_length=1_000_000, description="The file's whole new content.")


class Commit(Arguments):
    message: str = Field(
        min_length=1, max_length=5_000, description="The commit message.", examples=["Fix typo"]
    )
    files: list[FileChange] = Field(
        min_length=1, max_length=100, description="The files to write (created if missing)."
    )
    branch: BranchName | None = Field(
        default=None, description="Branch to commit to (default: the toolset's branch).",
        examples=["main"],
    )  # fmt: skip


class Push(Arguments):
    branch: BranchName | None = Field(
        default=None,
        description="Branch to publish to the remote (default: the toolset's branch). valet "
        "never force-pushes.",
        examples=["main"],
    )


class CreateBranch(Arguments):
    name: BranchName = Field(description="The new branch's name.", examples=["valet/fix-typo"])
    start: Ref | None = Field(
        default=None, description="Where it starts (default: the toolset's branch).",
        examples=["main"],
    )  # fmt: skip
