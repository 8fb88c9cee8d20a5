"""The `git` connector: a remote git repository (over `git://`, `http(s)://` or `file://`) as a
toolset: fetch, log, list and read files, diff, commit, create branches and push.

    [[connectors]]
    name = "repo"                      # tools: repo_log, repo_commit, repo_push…
    connector = "git"
    url = "https://git.example/ann/notes.git"
    author_name = "Ann Example"        # commits are the person's, made by valet
    author_email = "ann@example.com"
    # branch = "main"                  # default: the remote's default branch
    # credential = "forge"             # http(s) login: a vault credential bound to the host
    # clone_dir = "~/.valet/git/notes" # default: under valet's home
    # attribution = true               # Valet-Task and Co-authored-by trailers on commits

valet keeps its own bare clone (made and fetched on the first call of a task); the person's
own checkouts are never touched. Reads run; a commit asks (`update`) and stays in valet's copy
until a push, which asks again (`publish`). A push is never forced: when the remote moved on,
the push is refused and the model is told to fetch (which puts its commits after the remote's)
and push again. Commits carry `Valet-Task: <task>` and `Co-authored-by: valet <…>` trailers
(`attribution = false` leaves them out, `co_author = ""` leaves out the second).

After a crash in the middle of a commit or of making a branch, valet's copy is looked up (no
network): a commit by its `Valet-Action: <action>` trailer (without attribution: by the note
valet's copy keeps of its branches' updates), a new branch by that note. A push simply runs
again (pushing what the remote has already is a no-op).

Name the toolset something else than `git` when the `mcp-server-git` MCP server is attached as
`git` too: toolset names (and so tool names) must differ.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import uuid
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from valet.connectors._dav_login import Login, vault_login
from valet.connectors._errors import ConnectorError
from valet.connectors._git_args import (
    BranchName,
    Commit,
    CreateBranch,
    Diff,
    Fetch,
    ListFiles,
    Log,
    Push,
    ReadFile,
)
from valet.connectors._git_cli import Git, GitFailed, remote_failure
from valet.connectors._git_clone import ORIGIN, Clone, Entry, Identity
from valet.connectors._toolset import (
    AuthMethod,
    DidNotHappen,
    Happened,
    Operation,
    Reconciled,
    Toolset,
)
from valet.effects import Effect
from valet.gateway import ToolFailure, current_task, running_action
from valet.settings import valet_home
from valet.vault._credential import NAME_PATTERN

TRAILER = "Valet-Task"
"""The commit trailer that marks valet's commits: `Valet-Task: <task id>`."""
ACTION_TRAILER = "Valet-Action"
"""The commit trailer naming the journaled action a commit was made for."""

_RECENT = 200
"""How many of the newest commits in valet's copy a lookup after a crash reads."""

_FILE_MODES = {"100644", "100755"}
_MAX_LISTED = 2_000


class GitSettings(BaseModel):
    """One remote repository as a toolset (`[[connectors]]` with `connector = "git"`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(pattern=r"^(git|https?|file)://")
    """The remote repository (`git://`, `http(s)://`, `file://`); no login in it."""
    author_name: str = Field(min_length=1, max_length=200, pattern=r"^[^<>\n]+$")
    """Who the commits are by: the person valet works for."""
    author_email: str = Field(max_length=200, pattern=r"^[^<>\s@]+@[^<>\s@]+$")
    """Their e-mail address, as on their other commits (forges link commits by it)."""
    branch: BranchName | None = None
    """The branch the toolset works on by default; None: the remote's default branch."""
    clone_dir: Path | None = None
    """Where valet keeps its clone; None: `<valet home>/git/<toolset>-<hash of url>`."""
    credential: str | None = Field(default=None, pattern=NAME_PATTERN)
    """For `http(s)://`: the vault credential to log in with (a token as its password), which
    must be bound to the server's host."""
    attribution: bool = True
    """Mark valet's commits with `Valet-Task: <task>` and `Valet-Action: <action>` trailers
    (and `co_author`)."""
    co_author: str = Field(
        default="valet <valet@agent.invalid>", max_length=200, pattern=r"^$|^[^<>\n]+ <[^<>\s]+>$"
    )
    """A `Co-authored-by` trailer on valet's commits ('' for none). The `.invalid` address
    cannot belong to anybody's forge account."""
    timeout: float = Field(default=120.0, gt=0)
    """Seconds one git command may take (a fetch of a big repository needs more)."""
    max_read: int = Field(default=200_000, gt=0)
    """Bytes `read_file` returns at most (the rest is cut, and it says so)."""
    max_diff: int = Field(default=200_000, gt=0)
    """Bytes of patch `diff` returns at most."""

    @field_validator("url")
    @classmethod
    def _no_login_in_url(cls, value: str) -> str:
        if "@" in urlsplit(value).netloc:
            raise ValueError("put the login in the vault and name it in `credential`, not the URL")
        return value

    def folder(self, toolset: str) -> Path:
        if self.clone_dir is not None:
            return self.clone_dir.expanduser()
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:12]
        return valet_home() / "git" / f"{toolset}-{digest}"


class GitConnector:
    name: ClassVar[str] = "git"
    description: ClassVar[str] = (
        "A remote git repository: fetch, log, read files, diff, commit, create branches, push."
    )
    auth: ClassVar[AuthMethod] = "basic"
    scopes: ClassVar[tuple[str, ...]] = ("git.read", "git.write", "git.push")
    settings: ClassVar[type[BaseModel]] = GitSettings

    def open(self, name: str, settings: BaseModel) -> AbstractAsyncContextManager[Toolset]:
        if not isinstance(settings, GitSettings):
            raise ConnectorError(f"toolset {name!r}: expected git settings")
        scheme = urlsplit(settings.url).scheme
        if settings.credential is not None and scheme not in ("http", "https"):
            raise ConnectorError(f"toolset {name!r}: a credential is only used with http(s) URLs")
        executable = shutil.which("git")
        if executable is None:
            raise ConnectorError(f"toolset {name!r}: git is not installed on this machine")
        login = vault_login(name, settings.credential, settings.url)
        return _open(name, settings, login, executable)


GIT = GitConnector()


@asynccontextmanager
async def _open(
    name: str, settings: GitSettings, login: Login | None, executable: str
) -> AsyncGenerator[Toolset]:
    config: list[tuple[str, str]] = []
    if login is not None:
        pair = base64.b64encode(f"{login.username}:{login.password}".encode()).decode()
        config += [
            ("http.extraHeader", f"Authorization: Basic {pair}"),
            ("http.followRedirects", "false"),  # the login goes to this server only
        ]
    scheme = urlsplit(settings.url).scheme
    git = Git(
        settings.folder(name),
        timeout=settings.timeout,
        protocol="http:https" if scheme in ("http", "https") else scheme,
        config=config,
        executable=executable,
    )
    clone = Clone(
        settings.folder(name),
        settings.url,
        git,
        branch=settings.branch,
        login=None if login is None else login.credential,
    )
    repo = _Repository(name, clone, settings)
    yield Toolset(name, f"the git repository {settings.url}", "basic", repo.operations(), "git")


class _Repository:
    """The operations of one opened toolset."""

    def __init__(self, name: str, clone: Clone, settings: GitSettings) -> None:
        self.name = name
        self.clone = clone
        self.settings = settings
        self.who = Identity(settings.author_name, settings.author_email)
        self.untitled = uuid.uuid4().hex[:12]

    def operations(self) -> tuple[Operation, ...]:
        read, write, push = ("git.read",), ("git.write",), ("git.push",)
        return (
            Operation(
                "fetch",
                "Fetch what others pushed; your unpushed commits move after it. Lists branches.",
                Fetch, Effect.READ, self.fetch, read,
            ),
            Operation("log", "List commits, newest first.", Log, Effect.READ, self.log, read),
            Operation(
                "list_files", "List a folder at a branch, tag or commit.", ListFiles,
                Effect.READ, self.list_files, read,
            ),
            Operation(
                "read_file", "Read a text file at a branch, tag or commit.", ReadFile,
                Effect.READ, self.read_file, read,
            ),
            Operation(
                "diff", "Show the changes between two branches, tags or commits.", Diff,
                Effect.READ, self.diff, read,
            ),
            Operation(
                "commit", "Write files and commit them (in valet's copy until pushed).", Commit,
                Effect.UPDATE, self.commit, write,
                reconcile=self.reconcile_commit,
            ),
            Operation(
                "create_branch", "Make a new branch (in valet's copy until pushed).",
                CreateBranch, Effect.CREATE, self.create_branch, write,
                consequential_args=("name", "start"), reconcile=self.reconcile_branch,
            ),
            Operation(
                "push", "Publish a branch's commits to the remote (never forced).", Push,
                Effect.PUBLISH, self.push, push,
                idempotent=True,  # pushing commits the remote has is a no-op; never forced
            ),
        )  # fmt: skip

    @property
    def task(self) -> str:
        """The task this call runs for: its commits, branches and trailers belong to it."""
        running = current_task()
        return running.task_id if running is not None and running.task_id else self.untitled

    async def _ready(self) -> str:
        task = self.task
        await self.clone.ready(task)
        return task

    # -- reads -----------------------------------------------------------------------------

    async def fetch(self, args: Fetch) -> dict[str, object]:
        return await self.clone.fetch(self.task)

    async def log(self, args: Log) -> list[dict[str, object]]:
        task = await self._ready()
        commit = await self.clone.resolve(task, args.ref)
        paths = ["--", args.path] if args.path else []
        listed = await self.clone.git.run(
            "log",
            "-z",
            f"--max-count={args.max_count}",
            "--format=%H%x1f%an <%ae>%x1f%aI%x1f%B",
            commit,
            *paths,
        )
        found: list[dict[str, object]] = []
        for record in listed.text.split("\0"):
            if record.strip():
                sha, author, date, message = record.split("\x1f", 3)
                subject, _, body = message.strip().partition("\n")
                entry: dict[str, object] = {"commit": sha, "author": author, "date": date}
                entry["subject"] = subject
                if body.strip():
                    entry["body"] = body.strip()
                found.append(entry)
        return found

    async def list_files(self, args: ListFiles) -> dict[str, object]:
        task = await self._ready()
        commit = await self.clone.resolve(task, args.ref)
        folder = args.folder
        if folder and not await self._is_folder(commit, folder):
            at = args.ref or self.clone.default_branch
            raise ToolFailure(f"there is no folder {folder!r} at {at}")
        entries = await self.clone.entries(
            commit, f"{folder}/" if folder else "", recursive=args.recursive
        )
        shown = [_listed(e) for e in entries[:_MAX_LISTED]]
        result: dict[str, object] = {"commit": commit, "folder": folder, "entries": shown}
        if len(entries) > _MAX_LISTED:
            result["truncated"] = f"only the first {_MAX_LISTED} of {len(entries)} are shown"
        return result

    async def _is_folder(self, commit: str, folder: str) -> bool:
        found = await self.clone.entries(commit, folder)
        return any(e.path == folder and e.kind == "tree" for e in found)

    async def read_file(self, args: ReadFile) -> dict[str, object]:
        task = await self._ready()
        commit = await self.clone.resolve(task, args.ref)
        entry = await self._file(commit, args.path, args.ref)
        result: dict[str, object] = {"path": args.path, "commit": commit}
        if entry.mode == "120000":
            link = await self.clone.git.run("cat-file", "blob", entry.object)
            return {**result, "symlink_to": link.text}
        cap = self.settings.max_read
        read = await self.clone.git.run("cat-file", "blob", entry.object, limit=cap)
        if b"\0" in read.out[:8192]:
            return {**result, "binary": f"a binary file ({entry.size} bytes); not shown"}
        result["text"] = read.out.decode("utf-8", "replace")
        if read.cut:
            result["truncated"] = f"only the first {cap} bytes of {entry.size} are shown"
        return result

    async def _file(self, commit: str, path: str, ref: str | None) -> Entry:
        at = ref or self.clone.default_branch
        found = [e for e in await self.clone.entries(commit, path) if e.path == path]
        if not found:
            raise ToolFailure(f"there is no file {path!r} at {at}")
        entry = found[0]
        if entry.kind == "tree":
            raise ToolFailure(f"{path!r} is a folder at {at}: list it with list_files")
        if entry.kind != "blob":
            raise ToolFailure(f"{path!r} is a submodule (another repository) at {at}")
        return entry

    async def diff(self, args: Diff) -> dict[str, object]:
        task = await self._ready()
        base = await self.clone.resolve(task, args.base)
        head = await self.clone.resolve(task, args.head)
        paths = ["--", args.path] if args.path else []
        plain = ("--no-color", "--no-ext-diff", "--no-textconv", "--no-renames")
        counted = await self.clone.git.run("diff", *plain, "--numstat", "-z", base, head, *paths)
        files: list[dict[str, object]] = []
        for record in counted.text.split("\0"):
            if record:
                added, removed, path = record.split("\t", 2)
                changed: dict[str, object] = {"path": path}
                if added == "-":
                    changed["binary"] = True
                else:
                    changed.update(added=int(added), removed=int(removed))
                files.append(changed)
        cap = self.settings.max_diff
        patch = await self.clone.git.run("diff", *plain, base, head, *paths, limit=cap)
        result: dict[str, object] = {"base": base, "head": head, "files": files}
        result["patch"] = patch.text
        if patch.cut:
            result["truncated"] = f"only the first {cap} bytes of the patch are shown"
        return result

    # -- writes ----------------------------------------------------------------------------

    async def commit(self, args: Commit) -> dict[str, object]:
        task = await self._ready()
        clone = self.clone
        branch = args.branch or clone.default_branch
        paths = [f.path for f in args.files]
        if len(set(paths)) != len(paths):
            raise ToolFailure("a file is given twice; give each file once with its whole content")
        for path in paths:
            if any(other.startswith(f"{path}/") for other in paths):
                raise ToolFailure(f"{path!r} cannot be both a file and a folder")
        ref = clone.task_ref(task, branch)
        mine = await clone.sha(ref)
        parent = mine or await clone.sha(f"{ORIGIN}{branch}")
        if parent is None and await clone.refs(ORIGIN):
            raise ToolFailure(
                f"there is no branch {branch!r}: make it first with create_branch, or commit to "
                f"{clone.default_branch!r}"
            )
        changes = [
            (await self._mode(parent, f.path), f.path, f.text.encode("utf-8")) for f in args.files
        ]
        tree = await clone.write_tree(parent, changes)
        if parent is not None and tree == await clone.tree_of(parent):
            return {"branch": branch, "commit": parent, "unchanged": "the files already say this"}
        message = await clone.trailed(args.message, self._trailers(task))
        made = await clone.commit_tree(tree, parent, message, self.who)
        action = running_action()
        if action is not None:
            action.commit()  # on the branch from here on; before, an unreachable object
        await clone.update(ref, made, mine, action.id if action is not None else None)
        return {
            "branch": branch,
            "commit": made,
            "files": paths,
            "pushed": False,
            "next": "push the branch to publish it",
        }

    async def _mode(self, parent: str | None, path: str) -> str:
        """The file mode to write `path` with: its own when it is a file already. Refuses a
        path that is a folder, a link or a submodule, or that would go under a file."""
        if parent is None:
            return "100644"
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
        found = {e.path: e for e in await self.clone.entries(parent, "", paths=[*prefixes, path])}
        for prefix in prefixes:
            if prefix in found and found[prefix].kind != "tree":
                raise ToolFailure(f"{prefix!r} is a file, not a folder; nothing was committed")
        entry = found.get(path)
        if entry is None:
            return "100644"
        if entry.kind == "tree":
            raise ToolFailure(f"{path!r} is a folder; nothing was committed")
        if entry.mode not in _FILE_MODES:
            what = "a symbolic link" if entry.mode == "120000" else "a submodule"
            raise ToolFailure(f"{path!r} is {what}, not a file; nothing was committed")
        return entry.mode

    def _trailers(self, task: str) -> list[tuple[str, str]]:
        if not self.settings.attribution:
            return []
        trailers = [(TRAILER, task)]
        action = running_action()
        if action is not None:
            trailers.append((ACTION_TRAILER, action.id))
        if self.settings.co_author:
            trailers.append(("Co-authored-by", self.settings.co_author))
        return trailers

    async def create_branch(self, args: CreateBranch) -> dict[str, object]:
        task = await self._ready()
        clone = self.clone
        try:
            await clone.git.run("check-ref-format", "--branch", args.name)
        except GitFailed as failed:
            raise ToolFailure(f"{args.name!r} is not a valid branch name") from failed
        if await clone.sha(f"{ORIGIN}{args.name}") is not None:
            raise ToolFailure(f"the remote has a branch {args.name!r} already: commit to it")
        ref = clone.task_ref(task, args.name)
        start = await clone.resolve(task, args.start)
        made = await clone.sha(ref)
        if made is not None and made != start:
            raise ToolFailure(f"you made a branch {args.name!r} already")
        if made is None:  # made at `start` already: making it again changes nothing
            action = running_action()
            if action is not None:
                action.commit()
            await clone.update(ref, start, None, action.id if action is not None else None)
        return {
            "branch": args.name,
            "commit": start,
            "next": "commit to it, then push it to create it on the remote",
        }

    # -- after a crash (`Operation.reconcile`): valet's copy only, no network -----------------

    async def reconcile_commit(self, args: Commit, action_id: str, committed: bool) -> Reconciled:
        """Whether an interrupted commit was made: its `Valet-Action` trailer on the newest
        commits of valet's copy (without attribution: the note of its branch's update)."""
        clone = self.clone
        if not committed or not clone.made:
            return DidNotHappen("valet stopped before the commit was put on its branch")
        if self.settings.attribution:
            found = await clone.with_trailer(ACTION_TRAILER, action_id, _RECENT)
            how = f"its {ACTION_TRAILER} trailer"
        else:
            found = await clone.acted_for(action_id, await clone.task_branches(args.branch))
            how = "the note valet's copy keeps of its branches' updates"
        if found is None:
            return DidNotHappen(f"no commit in valet's copy is named by {how}")
        branch, commit = found
        files = [f.path for f in args.files]
        result: dict[str, object] = {"branch": branch, "commit": commit, "files": files}
        result["next"] = "push the branch to publish it, if it is not pushed yet"
        return Happened(result, f"found commit {commit[:12]} on {branch!r} by {how}")

    async def reconcile_branch(
        self, args: CreateBranch, action_id: str, committed: bool
    ) -> Reconciled:
        """Whether an interrupted create_branch made the branch: the note valet's copy keeps
        of its branches' updates names the action."""
        clone = self.clone
        if not committed or not clone.made:
            return DidNotHappen("valet stopped before the branch was made")
        found = await clone.acted_for(action_id, await clone.task_branches(args.name))
        if found is None:
            return DidNotHappen(f"valet's copy has no branch {args.name!r} made by this action")
        branch, commit = found
        result = {"branch": branch, "commit": commit}
        result["next"] = "commit to it, then push it to create it on the remote"
        return Happened(result, f"valet's copy has the branch {branch!r} it made, at {commit[:12]}")

    async def push(self, args: Push) -> dict[str, object]:
        task = await self._ready()
        clone = self.clone
        branch = args.branch or clone.default_branch
        ref = clone.task_ref(task, branch)
        mine = await clone.sha(ref)
        theirs = await clone.sha(f"{ORIGIN}{branch}")
        if mine is None:
            why = "no branch" if theirs is None else "no commits of yours on the branch"
            raise ToolFailure(f"nothing to push: {why} {branch!r}")
        if mine == theirs:
            return {"branch": branch, "commit": mine, "unchanged": "the remote has it already"}
        count = await clone.ahead(theirs, mine) if theirs else None
        try:
            pushed = await clone.git.run(
                "push", "--porcelain", "--no-verify", "origin", f"{ref}:refs/heads/{branch}",
                ok=(0, 1),
            )  # fmt: skip
        except GitFailed as failed:
            raise remote_failure(failed, clone.url, clone.login) from failed
        line = next((x for x in pushed.text.splitlines() if f":refs/heads/{branch}\t" in x), "")
        if not line.startswith("!"):
            if pushed.code != 0 or not line:
                failed = GitFailed("push", pushed.code, pushed.err)
                raise remote_failure(failed, clone.url, clone.login)
            result: dict[str, object] = {"branch": branch, "commit": mine, "pushed": True}
            if count is not None:
                result["commits"] = count
            else:
                result["created"] = "a new branch on the remote"
            return result
        reason = line.rsplit("\t", 1)[-1]
        if "fetch first" in reason or "non-fast-forward" in reason:
            raise ToolFailure(
                f"the remote's {branch!r} has commits valet's copy does not (someone else "
                f"pushed); nothing was pushed and nothing was forced. Call {self.name}_fetch "
                "(your commits then come after theirs), check the result, and push again."
            )
        raise ToolFailure(f"the remote refused the push of {branch!r}: {reason}")


def _listed(entry: Entry) -> dict[str, object]:
    if entry.kind == "tree":
        return {"path": entry.path + "/"}
    shown: dict[str, object] = {"path": entry.path, "size": entry.size}
    if entry.mode == "100755":
        shown["executable"] = True
    elif entry.mode == "120000":
        shown["symlink"] = True
    elif entry.kind == "commit":
        shown["submodule"] = True
    return shown
