"""What the GitHub connector marks its writes with, and finding an interrupted write by it.

With attribution on (the default), a comment, issue body or review valet writes ends with a
short note in small print, and, when it is written for a journaled action, an HTML comment
naming the action (`<!-- valet-action: valet.task-42.act-7 -->`, invisible when GitHub renders
it); a commit message gets `Valet-Task` and `Valet-Action` trailers. The action's id is chosen
before the write and is the same after a restart, so a task restarted in the middle of a write
looks it up instead of writing twice:

    found = await MarkLookup(rest, calls, marked=True).comment(args, action_id, committed)

Issues and commits are searched newest first and comments from the end, a bounded number of
pages (`PAGES` × 100): a write valet made just before it stopped is among the newest, with
room for what others wrote while valet was down. Reviews can only be listed oldest first:
when there are more than the bound, the lookup says it cannot tell (the person is asked).
"""

from __future__ import annotations

import re

from githubkit.utils import UNSET
from githubkit_schemas.v2022_11_28.rest import (  # pyright: ignore[reportMissingTypeStubs]
    RestNamespace,
)

from valet.connectors._github_api import Calls
from valet.connectors._github_args import Comment, CreateIssue, CreateReview, WriteFile
from valet.connectors._toolset import DidNotHappen, Happened, Reconciled, Unsure

ACTION_TRAILER = "Valet-Action"
"""The commit trailer naming the journaled action a commit was written for."""

PAGES = 3
"""How many pages of 100 a lookup reads at most (10 for reviews, listed oldest first)."""

_PER_PAGE = 100
_TRAILER_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*: \S")


def with_note(body: str, note: str, action_id: str | None = None) -> str:
    """`body` with `note` under a rule, in small print (GitHub Markdown), then the action's
    mark when it is written for one."""
    text = body.rstrip()
    mark = f"<sub>{note}</sub>"
    noted = f"{text}\n\n---\n{mark}" if text else mark
    return f"{noted}\n{action_mark(action_id)}" if action_id else noted


def action_mark(action_id: str) -> str:
    """The HTML comment that names the action a body was written for (not rendered)."""
    return f"<!-- valet-action: {action_id} -->"


def with_trailer(message: str, key: str, value: str) -> str:
    """`message` with a `key: value` git trailer, joining a trailer block already there."""
    text = message.rstrip()
    paragraphs = text.split("\n\n")
    last = paragraphs[-1].splitlines()
    if len(paragraphs) > 1 and all(_TRAILER_LINE.match(line) for line in last):
        return f"{text}\n{key}: {value}\n"
    return f"{text}\n\n{key}: {value}\n"


def has_trailer(message: str, key: str, value: str) -> bool:
    return f"{key}: {value}" in (line.strip() for line in message.splitlines())


_NOT_SENT = DidNotHappen("valet stopped before it sent the request to GitHub")
_UNMARKED = Unsure(
    "Attribution is off for this toolset, so what valet writes carries no mark to find it by."
)


class MarkLookup:
    """Finds the write of an interrupted action by its mark (`Operation.reconcile` hooks)."""

    def __init__(self, rest: RestNamespace, calls: Calls, *, marked: bool) -> None:
        self.rest = rest
        self.calls = calls
        self.marked = marked
        """Attribution is on: bodies and commits carry the action's mark."""

    async def issue(self, args: CreateIssue, action_id: str, committed: bool) -> Reconciled:
        if not committed:
            return _NOT_SENT
        if not self.marked:
            return _UNMARKED
        owner, repo = args.parts()
        mark = action_mark(action_id)
        for page in range(1, PAGES + 1):
            issues = await self.calls.read(
                f"looking for the issue in {args.repo}",
                self.rest.issues.async_list_for_repo(
                    owner,
                    repo,
                    state="all",
                    sort="created",
                    direction="desc",
                    per_page=_PER_PAGE,
                    page=page,
                ),
            )
            for issue in issues:
                if not issue.pull_request and mark in (issue.body or ""):
                    result = {"number": issue.number, "url": issue.html_url, "state": issue.state}
                    return Happened(result, f"found issue #{issue.number}, which carries its mark")
            if len(issues) < _PER_PAGE:
                break
        return DidNotHappen(f"none of the newest issues of {args.repo} carries its mark")

    async def comment(self, args: Comment, action_id: str, committed: bool) -> Reconciled:
        if not committed:
            return _NOT_SENT
        if not self.marked:
            return _UNMARKED
        owner, repo = args.parts()
        doing = f"looking for the comment on #{args.number} of {args.repo}"
        issue = await self.calls.read(doing, self.rest.issues.async_get(owner, repo, args.number))
        last = max(1, -(-issue.comments // _PER_PAGE))
        mark = action_mark(action_id)
        # from the end, one page further than the count says (it may lag behind)
        for page in range(last + 1, max(0, last + 1 - PAGES), -1):
            comments = await self.calls.read(
                doing,
                self.rest.issues.async_list_comments(
                    owner, repo, args.number, per_page=_PER_PAGE, page=page
                ),
            )
            for made in comments:
                if mark in (made.body or ""):
                    result = {"id": made.id, "url": made.html_url}
                    return Happened(result, f"found comment {made.id}, which carries its mark")
        where = f"#{args.number} of {args.repo}"
        return DidNotHappen(f"none of the newest comments on {where} carries its mark")

    async def review(self, args: CreateReview, action_id: str, committed: bool) -> Reconciled:
        if not committed:
            return _NOT_SENT
        if not self.marked:
            return _UNMARKED
        owner, repo = args.parts()
        mark = action_mark(action_id)
        pages = PAGES * 3 + 1
        for page in range(1, pages + 1):
            reviews = await self.calls.read(
                f"looking for the review of #{args.number} of {args.repo}",
                self.rest.pulls.async_list_reviews(
                    owner, repo, args.number, per_page=_PER_PAGE, page=page
                ),
            )
            for review in reviews:
                if mark in review.body:
                    result = {"id": review.id, "state": review.state, "url": review.html_url}
                    return Happened(result, f"found review {review.id}, which carries its mark")
            if len(reviews) < _PER_PAGE:
                return DidNotHappen(
                    f"no review of pull request #{args.number} of {args.repo} carries its mark"
                )
        return Unsure(
            f"Pull request #{args.number} of {args.repo} has more than {pages * _PER_PAGE} "
            "reviews; valet read the oldest of them and none carries its mark."
        )

    async def file_commit(self, args: WriteFile, action_id: str, committed: bool) -> Reconciled:
        if not committed:
            return _NOT_SENT
        if not self.marked:
            return _UNMARKED
        owner, repo = args.parts()
        for page in range(1, PAGES + 1):
            commits = await self.calls.read(
                f"looking for the commit of {args.repo}/{args.path}",
                self.rest.repos.async_list_commits(
                    owner,
                    repo,
                    sha=args.branch or UNSET,
                    path=args.path,
                    per_page=_PER_PAGE,
                    page=page,
                ),
            )
            for commit in commits:
                if has_trailer(commit.commit.message, ACTION_TRAILER, action_id):
                    result = {"path": args.path, "commit": commit.sha, "url": commit.html_url}
                    how = f"found commit {commit.sha[:12]}, whose {ACTION_TRAILER} trailer names it"
                    return Happened(result, how)
            if len(commits) < _PER_PAGE:
                break
        return DidNotHappen(
            f"none of the newest commits to {args.path} carries its {ACTION_TRAILER} trailer"
        )
