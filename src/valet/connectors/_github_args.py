"""The GitHub connector's operation arguments: what the model fills in, checked before anything
is sent (a repository is `owner/name`; a path has no `..` part)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

_REPO = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$"


class Repo(BaseModel):
    repo: str = Field(
        pattern=_REPO, description="The repository, as owner/name.", examples=["octocat/hello"]
    )

    @field_validator("repo")
    @classmethod
    def _not_dots(cls, value: str) -> str:
        if value.split("/")[1] in (".", ".."):
            raise ValueError("not a repository name")
        return value

    def parts(self) -> tuple[str, str]:
        owner, name = self.repo.split("/")
        return owner, name


class Page(BaseModel):
    per_page: int = Field(default=30, ge=1, le=100, description="Results per page.")
    page: int = Field(default=1, ge=1, le=1000, description="Which page (from 1).")


class ListRepos(Page):
    sort: Literal["updated", "created", "pushed", "full_name"] = "updated"


class _InRepo(Repo):
    path: str = Field(
        min_length=1,
        max_length=1000,
        pattern=r"^[^/]",
        description="Path of the file in the repository (e.g. docs/guide.md); '.' for the root.",
        examples=["docs/guide.md"],
    )

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        if any(part in ("", "..") for part in value.split("/")) and value != ".":
            raise ValueError("the path has an empty or '..' part")
        return value


class FilePath(_InRepo):
    ref: str | None = Field(default=None, description="Branch, tag or commit (default branch).")


class ListIssues(Repo, Page):
    state: Literal["open", "closed", "all"] = "open"
    labels: list[str] = Field(default_factory=list[str], description="Only with all these.")


class Numbered(Repo):
    number: int = Field(ge=1, description="The issue or pull request number.")


class ListPulls(Repo, Page):
    state: Literal["open", "closed", "all"] = "open"


class CreateIssue(Repo):
    title: str = Field(min_length=1, max_length=256)
    body: str = Field(default="", max_length=60_000)
    labels: list[str] = Field(default_factory=list[str])


class Comment(Numbered):
    body: str = Field(min_length=1, max_length=60_000, description="Markdown text.")


class WriteFile(_InRepo):
    text: str = Field(max_length=1_000_000, description="The file's whole new content.")
    message: str = Field(min_length=1, max_length=5_000, description="The commit message.")
    branch: str | None = Field(default=None, description="Branch to commit to (default branch).")
    sha: str | None = Field(
        default=None,
        pattern=r"^[0-9a-f]{40}$",
        description="The sha of the version you read (get_file); refuses to overwrite a newer one.",
    )


class CreateReview(Numbered):
    event: Literal["APPROVE", "REQUEST_CHANGES", "COMMENT"]
    body: str = Field(default="", max_length=60_000)

    @model_validator(mode="after")
    def _needs_body(self) -> CreateReview:
        if self.event != "APPROVE" and not self.body.strip():
            raise ValueError(f"a {self.event} review needs a body")
        return self


class CloseIssue(Numbered):
    reason: Literal["completed", "not_planned"] = "completed"
