"""The `github` connector: repositories, files, issues, pull requests, comments and reviews
through GitHub's REST API (githubkit), with a token from the vault or an OAuth account.

    [[connectors]]
    name = "github"
    connector = "github"
    credential = "github"                 # vault credential whose password is the token
    # account = "github"                  # or: a connector account (valet connectors add)
    # base_url = "https://ghe.example/api/v3"   # GitHub Enterprise Server
    # attribution = true                  # mark what valet writes (on by default)

The token is the password of a vault credential bound to the API's host (`api.github.com`);
valet never sends it elsewhere. With `account`, an OAuth account sends its access token
(refreshed when it expires), an app-password account its vault credential. Reads run;
creating issues, commenting, reviewing, writing files and closing issues ask the person (their
effects: create, publish, update).

What valet writes carries its mark, so that GitHub's history tells it from the person: commit
messages get a `Valet-Task: <task>` trailer; comments, issue bodies and reviews get a short
note. Turn it off with `attribution = false`, or reword the note with `note = "..."`. The mark
also names the action (`Valet-Action` trailer, an HTML comment GitHub does not show): a task
restarted in the middle of a write finds it by that (`_github_marks.py`) instead of writing
twice; without attribution the person is asked.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

from githubkit import GitHub
from githubkit.response import Response
from githubkit.utils import UNSET
from githubkit_schemas.v2022_11_28.models import (  # pyright: ignore[reportMissingTypeStubs]
    ContentFile,
    Issue,
    PullRequest,
    PullRequestSimple,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from valet.connectors._account_credentials import (
    OAuthCredentials,
    PasswordCredentials,
    account_credentials,
)
from valet.connectors._errors import ConnectorError
from valet.connectors._github_api import Calls, TokenSource, TokenStrategy, VaultToken, client
from valet.connectors._github_args import (
    CloseIssue,
    Comment,
    CreateIssue,
    CreateReview,
    FilePath,
    ListIssues,
    ListPulls,
    ListRepos,
    Numbered,
    WriteFile,
)
from valet.connectors._github_marks import (
    ACTION_TRAILER,
    MarkLookup,
    with_note,
    with_trailer,
)
from valet.connectors._toolset import AuthMethod, Operation, Reconcile, Run, Toolset
from valet.effects import Effect
from valet.gateway import ToolFailure, current_task, running_action
from valet.vault._credential import NAME_PATTERN

API_VERSION = "2022-11-28"
"""The REST API version valet speaks: the one GitHub's published OpenAPI description (npm
`@octokit/openapi`, which the tests hold the connector to) documents."""

TRAILER = "Valet-Task"
"""The commit trailer that marks valet's commits: `Valet-Task: <task id>`."""

_MAX_BODY = 20_000

T = TypeVar("T")

READ_SCOPES = ("metadata:read", "contents:read", "issues:read", "pull_requests:read")
"""GitHub's fine-grained permissions the read operations need (a classic token: `repo`)."""


class GitHubSettings(BaseModel):
    """One GitHub account as a toolset (`[[connectors]]` with `connector = "github"`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = "https://api.github.com"
    """The REST API's root: GitHub's, or a GitHub Enterprise Server's
    (`https://HOST/api/v3`)."""
    credential: str = Field(default="github", pattern=NAME_PATTERN)
    """The vault credential whose password is the token; it must be bound to the API's host."""
    account: str | None = Field(default=None, pattern=NAME_PATTERN)
    """A connector account (`valet connectors add`) to use instead of `credential`: an OAuth
    account's access token, or an app-password account's vault credential."""
    task_id: str = Field(default="", max_length=100)
    """The task id to mark with for calls made outside a task; inside one (every call of a
    valet run) it is the task's id. Without either, valet makes an id per opened toolset so
    that one task's marks still belong together."""
    attribution: bool = True
    """Mark what valet writes: `Valet-Task` and `Valet-Action` trailers on commits, a note
    (and the action's id, not shown) under comments, issue bodies and reviews."""
    note: str = Field(default="Written by valet, an AI agent, for task {task}.", max_length=500)
    """The note under comments, issues and reviews; `{task}` becomes the task id."""
    timeout: float = Field(default=30.0, gt=0)
    """Seconds one request may take."""
    max_file_chars: int = Field(default=200_000, gt=0)
    """Longest file text `get_file` returns (the rest is cut, and it says so)."""

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"base_url must be http:// or https://, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_sign_in(self) -> GitHubSettings:
        if self.account is not None and "credential" in self.model_fields_set:
            raise ValueError("give either `account` or `credential`, not both")
        return self


TokenSources = Callable[[GitHubSettings], TokenSource]


class GitHubConnector:
    """The `github` connector. `tokens` makes the token source for a toolset's settings
    (default: the settings' account, else its vault credential)."""

    name: ClassVar[str] = "github"
    description: ClassVar[str] = (
        "GitHub: repositories, files, issues, pull requests, comments and reviews."
    )
    auth: ClassVar[AuthMethod] = "api_key"
    scopes: ClassVar[tuple[str, ...]] = (
        *READ_SCOPES,
        "contents:write",
        "issues:write",
        "pull_requests:write",
    )
    settings: ClassVar[type[BaseModel]] = GitHubSettings

    def __init__(self, tokens: TokenSources | None = None) -> None:
        self.tokens = tokens

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        if not isinstance(settings, GitHubSettings):
            raise ConnectorError(f"toolset {name!r}: expected GitHub settings")
        tokens = self.tokens(settings) if self.tokens else _token_source(name, settings)
        return _open(name, settings, tokens)


def _token_source(toolset: str, settings: GitHubSettings) -> TokenSource:
    if settings.account is None:
        return VaultToken(settings.credential, settings.base_url)
    match account_credentials(toolset, settings.account):
        case OAuthCredentials(tokens=tokens):
            return tokens
        case PasswordCredentials() as password:
            return VaultToken(password.credential, settings.base_url, on_use=password.used)


GITHUB = GitHubConnector()


@asynccontextmanager
async def _open(
    name: str, settings: GitHubSettings, tokens: TokenSource
) -> AsyncGenerator[Toolset]:
    async with client(settings.base_url, tokens, settings.timeout) as gh:
        api = _Api(gh, Calls(settings.base_url, tokens), settings)
        yield Toolset(
            name,
            f"GitHub at {settings.base_url} ({tokens.label})",
            "api_key",
            api.operations(),
            connector="github",
        )


class _Api:
    """The operations of one opened toolset."""

    def __init__(self, gh: GitHub[TokenStrategy], calls: Calls, settings: GitHubSettings):
        self.rest = gh.rest(API_VERSION)
        self.calls = calls
        self.settings = settings
        self.lookup = MarkLookup(self.rest, calls, marked=settings.attribution)
        self._own_id = settings.task_id or uuid.uuid4().hex[:12]

    @property
    def task(self) -> str:
        """The id of the task the call runs for (the run's id, as in the audit log)."""
        running = current_task()
        return running.task_id if running is not None and running.task_id else self._own_id

    def operations(self) -> tuple[Operation, ...]:
        def op(
            name: str,
            doc: str,
            args: type[BaseModel],
            effect: Effect,
            run: Run,
            *scopes: str,
            acts_on: tuple[str, ...] = (),
            reconcile: Reconcile | None = None,
            idempotent: bool = False,
        ) -> Operation:
            return Operation(
                name,
                doc,
                args,
                effect,
                run,
                scopes,
                consequential_args=acts_on,
                reconcile=reconcile,
                idempotent=idempotent,
            )

        return (
            op(
                "list_repos",
                "List your repositories.",
                ListRepos,
                Effect.READ,
                self.list_repos,
                "metadata:read",
            ),
            op(
                "get_file",
                "Read a file (or list a folder) in a repository.",
                FilePath,
                Effect.READ,
                self.get_file,
                "contents:read",
            ),
            op(
                "list_issues",
                "List a repository's issues.",
                ListIssues,
                Effect.READ,
                self.list_issues,
                "issues:read",
            ),
            op(
                "get_issue",
                "Read an issue and its comments.",
                Numbered,
                Effect.READ,
                self.get_issue,
                "issues:read",
            ),
            op(
                "list_pulls",
                "List a repository's pull requests.",
                ListPulls,
                Effect.READ,
                self.list_pulls,
                "pull_requests:read",
            ),
            op(
                "get_pull",
                "Read a pull request and its changed files.",
                Numbered,
                Effect.READ,
                self.get_pull,
                "pull_requests:read",
            ),
            op(
                "create_issue",
                "Open an issue.",
                CreateIssue,
                Effect.CREATE,
                self.create_issue,
                "issues:write",
                acts_on=("repo",),
                reconcile=self.lookup.issue,
            ),
            op(
                "comment",
                "Comment on an issue or pull request.",
                Comment,
                Effect.PUBLISH,
                self.comment,
                "issues:write",
                acts_on=("repo", "number"),
                reconcile=self.lookup.comment,
            ),
            op(
                "create_or_update_file",
                "Commit a file's new content to a branch.",
                WriteFile,
                Effect.UPDATE,
                self.create_or_update_file,
                "contents:write",
                acts_on=("repo", "path", "branch"),
                reconcile=self.lookup.file_commit,
            ),
            op(
                "create_review",
                "Review a pull request (approve, request changes, comment).",
                CreateReview,
                Effect.PUBLISH,
                self.create_review,
                "pull_requests:write",
                acts_on=("repo", "number"),
                reconcile=self.lookup.review,
            ),
            op(
                "close_issue",
                "Close an issue.",
                CloseIssue,
                Effect.UPDATE,
                self.close_issue,
                "issues:write",
                acts_on=("repo", "number"),
                # closing a closed issue leaves it closed, with the same reason
                idempotent=True,
            ),
        )

    # reads

    async def list_repos(self, args: ListRepos) -> list[dict[str, object]]:
        repos = await self.calls.read(
            "listing your repositories",
            self.rest.repos.async_list_for_authenticated_user(
                sort=args.sort, per_page=args.per_page, page=args.page
            ),
        )
        return [
            {
                "repo": r.full_name,
                "private": r.private,
                "description": r.description,
                "default_branch": r.default_branch,
                "open_issues": r.open_issues_count,
                "archived": r.archived,
                "url": r.html_url,
            }
            for r in repos
        ]

    async def get_file(self, args: FilePath) -> dict[str, object]:
        owner, repo = args.parts()
        path = "" if args.path == "." else args.path
        found = await self.calls.read(
            f"reading {args.repo}/{args.path}",
            self.rest.repos.async_get_content(owner, repo, quote(path), ref=_given(args.ref)),
        )
        if isinstance(found, list):
            entries = [{"name": e.name, "type": e.type, "size": e.size} for e in found]
            return {"path": args.path, "type": "dir", "entries": entries}
        if not isinstance(found, ContentFile):
            return {"path": args.path, "type": found.type, "sha": found.sha}
        text = _text_of(found, args.path)
        cut = text[: self.settings.max_file_chars]
        return {
            "path": found.path,
            "type": "file",
            "sha": found.sha,
            "size": found.size,
            "text": cut,
            "truncated": len(cut) < len(text),
        }

    async def list_issues(self, args: ListIssues) -> list[dict[str, object]]:
        owner, repo = args.parts()
        issues = await self.calls.read(
            f"listing issues of {args.repo}",
            self.rest.issues.async_list_for_repo(
                owner,
                repo,
                state=args.state,
                labels=",".join(args.labels) if args.labels else _given(None),
                per_page=args.per_page,
                page=args.page,
            ),
        )
        return [_issue(i, body=False) for i in issues]

    async def get_issue(self, args: Numbered) -> dict[str, object]:
        owner, repo = args.parts()
        doing = f"reading issue #{args.number} of {args.repo}"
        issue = await self.calls.read(doing, self.rest.issues.async_get(owner, repo, args.number))
        comments = await self.calls.read(
            doing,
            self.rest.issues.async_list_comments(owner, repo, args.number, per_page=100),
        )
        shown = [
            {
                "id": c.id,
                "author": c.user.login if c.user else None,
                "created_at": c.created_at.isoformat(),
                "body": _cut(c.body or ""),
            }
            for c in comments
        ]
        return {**_issue(issue, body=True), "comments": shown}

    async def list_pulls(self, args: ListPulls) -> list[dict[str, object]]:
        owner, repo = args.parts()
        pulls = await self.calls.read(
            f"listing pull requests of {args.repo}",
            self.rest.pulls.async_list(
                owner, repo, state=args.state, per_page=args.per_page, page=args.page
            ),
        )
        return [_pull(p) for p in pulls]

    async def get_pull(self, args: Numbered) -> dict[str, object]:
        owner, repo = args.parts()
        doing = f"reading pull request #{args.number} of {args.repo}"
        pull = await self.calls.read(doing, self.rest.pulls.async_get(owner, repo, args.number))
        files = await self.calls.read(
            doing, self.rest.pulls.async_list_files(owner, repo, args.number, per_page=100)
        )
        return {
            **_pull(pull),
            "body": _cut(pull.body or ""),
            "merged": pull.merged,
            "mergeable": pull.mergeable,
            "comments": pull.comments,
            "additions": pull.additions,
            "deletions": pull.deletions,
            "changed_files": pull.changed_files,
            "files": [
                {
                    "file": f.filename,
                    "status": f.status,
                    "additions": f.additions,
                    "deletions": f.deletions,
                }
                for f in files
            ],
        }

    # writes

    async def create_issue(self, args: CreateIssue) -> dict[str, object]:
        owner, repo = args.parts()
        issue = await self._write(
            f"opening an issue in {args.repo}",
            self.rest.issues.async_create(
                owner,
                repo,
                title=args.title,
                body=self._noted(args.body),
                labels=_given(list(args.labels) or None),
            ),
        )
        return {"number": issue.number, "url": issue.html_url, "state": issue.state}

    async def comment(self, args: Comment) -> dict[str, object]:
        owner, repo = args.parts()
        made = await self._write(
            f"commenting on #{args.number} of {args.repo}",
            self.rest.issues.async_create_comment(
                owner, repo, args.number, body=self._noted(args.body)
            ),
        )
        return {"id": made.id, "url": made.html_url}

    async def create_or_update_file(self, args: WriteFile) -> dict[str, object]:
        owner, repo = args.parts()
        doing = f"writing {args.repo}/{args.path}"
        current = await self._current(args, owner, repo)
        if current is not None and args.sha is not None and current.sha != args.sha:
            raise ToolFailure(
                f"{doing}: the file changed since you read it (it is now {current.sha}, you "
                f"read {args.sha}); nothing was written. Read it again first."
            )
        if current is not None and _text_or_none(current) == args.text:
            return {"path": args.path, "sha": current.sha, "unchanged": True}
        written = await self._write(
            doing,
            self.rest.repos.async_create_or_update_file_contents(
                owner,
                repo,
                quote(args.path),
                message=self._trailed(args.message),
                content=base64.b64encode(args.text.encode("utf-8")).decode("ascii"),
                sha=current.sha if current is not None else _given(None),
                branch=_given(args.branch),
            ),
        )
        commit = written.commit
        return {
            "path": args.path,
            "created": current is None,
            "commit": commit.sha or None,
            "url": commit.html_url or None,
            "sha": written.content.sha if written.content else None,
        }

    async def _current(self, args: WriteFile, owner: str, repo: str) -> ContentFile | None:
        """The file as it is on the branch now, or None when it does not exist yet."""
        doing = f"writing {args.repo}/{args.path}"
        response = await self.calls.read_or_none(
            doing,
            self.rest.repos.async_get_content(
                owner, repo, quote(args.path), ref=_given(args.branch)
            ),
        )
        if response is None:
            return None
        if not isinstance(response, ContentFile):
            kind = "a folder" if isinstance(response, list) else f"a {response.type}"
            raise ToolFailure(f"{doing}: {args.path} is {kind}, not a file; nothing was written")
        return response

    async def create_review(self, args: CreateReview) -> dict[str, object]:
        owner, repo = args.parts()
        review = await self._write(
            f"reviewing pull request #{args.number} of {args.repo}",
            self.rest.pulls.async_create_review(
                owner, repo, args.number, event=args.event, body=self._noted(args.body)
            ),
        )
        return {"id": review.id, "state": review.state, "url": review.html_url}

    async def close_issue(self, args: CloseIssue) -> dict[str, object]:
        owner, repo = args.parts()
        issue = await self._write(
            f"closing #{args.number} of {args.repo}",
            self.rest.issues.async_update(
                owner, repo, args.number, state="closed", state_reason=args.reason
            ),
        )
        return {"number": issue.number, "state": issue.state, "url": issue.html_url}

    async def _write(self, doing: str, call: Awaitable[Response[T]]) -> T:
        """Send a write: past this, an interrupted action is looked up by its mark."""
        action = running_action()
        if action is not None:
            action.commit()
        return await self.calls.write(doing, call)

    # attribution

    def _noted(self, body: str) -> str:
        if not self.settings.attribution:
            return body
        note = self.settings.note.replace("{task}", self.task)
        action = running_action()
        return with_note(body, note, action.id if action is not None else None)

    def _trailed(self, message: str) -> str:
        if not self.settings.attribution:
            return message
        trailed = with_trailer(message, TRAILER, self.task)
        action = running_action()
        return with_trailer(trailed, ACTION_TRAILER, action.id) if action is not None else trailed


def _given(value: object) -> Any:
    """githubkit's UNSET for an argument the model did not give."""
    return UNSET if value is None else value


def _text_of(found: ContentFile, path: str) -> str:
    text = _text_or_none(found)
    if text is not None:
        return text
    if found.encoding != "base64" or not found.content:
        raise ToolFailure(
            f"{path} is {found.size} bytes, too large to read through GitHub's contents API"
        )
    raise ToolFailure(f"{path} is a binary file ({found.size} bytes), not text")


def _text_or_none(found: ContentFile) -> str | None:
    if found.encoding != "base64" or (not found.content and found.size > 0):
        return None
    try:
        return base64.b64decode(found.content, validate=False).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _cut(text: str) -> str:
    return text if len(text) <= _MAX_BODY else text[:_MAX_BODY] + "\n[… cut]"


def _issue(issue: Issue, *, body: bool) -> dict[str, object]:
    labels = [label if isinstance(label, str) else label.name or "" for label in issue.labels]
    shown: dict[str, object] = {
        "number": issue.number,
        "title": issue.title,
        "state": issue.state,
        "author": issue.user.login if issue.user else None,
        "labels": labels,
        "comments": issue.comments,
        "pull_request": bool(issue.pull_request),
        "created_at": issue.created_at.isoformat(),
        "url": issue.html_url,
    }
    if body:
        shown["body"] = _cut(issue.body or "")
    return shown


def _pull(pull: PullRequest | PullRequestSimple) -> dict[str, object]:
    return {
        "number": pull.number,
        "title": pull.title,
        "state": pull.state,
        "draft": bool(pull.draft),
        "author": pull.user.login if pull.user else None,
        "head": pull.head.ref,
        "base": pull.base.ref,
        "merged_at": pull.merged_at.isoformat() if pull.merged_at else None,
        "url": pull.html_url,
    }
