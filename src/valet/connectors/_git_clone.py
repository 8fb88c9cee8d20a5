"""valet's own copy of a remote repository: a bare clone under valet's home, read and committed
to with git's plumbing, never checked out.

Without a work tree nothing in the repository is ever written to the disk as a file, so a path
in it cannot reach outside (symlinks and `..` mean nothing to an index entry), and no hook or
filter of the repository runs.

Each task commits on its own branches, `refs/valet/tasks/<task>/<branch>`, which start from the
remote's (`refs/remotes/origin/<branch>`). A task therefore never publishes another task's
commits (say, one whose push the person declined), and a resumed task finds its own again.
Fetching moves a task's branches onto what others pushed meanwhile: fast-forwarded when the
task made no commits, else its commits are replayed on top (a three-way merge per commit, never
losing the other side's changes); on a conflict they stay as they were and the task is told.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from valet.connectors._git_cli import Git, GitFailed, complaint, remote_failure
from valet.gateway import ToolFailure

ORIGIN = "refs/remotes/origin/"
TASKS = "refs/valet/tasks/"
MARK = "valet.clone"
"""A config key set in every clone valet makes: a folder without it is not valet's to use."""

ACTED_FOR = "valet-action "
"""How a task branch's log names the journaled action that set it."""

_TASK_PART = re.compile(r"[^A-Za-z0-9_-]")


def _branch_of(ref: str) -> str:
    """The branch a task ref (`refs/valet/tasks/<task>/<branch>`) is for."""
    return ref.removeprefix(TASKS).partition("/")[2]


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a tree, as `git ls-tree --long` lists it."""

    mode: str
    kind: str
    object: str
    size: int | None
    path: str


@dataclass(frozen=True, slots=True)
class Identity:
    name: str
    email: str

    def env(self, author: Identity | None = None, date: str | None = None) -> dict[str, str]:
        """git's author and committer variables: `author` (default: this identity) wrote it,
        this identity commits it."""
        who = author or self
        env = {
            "GIT_AUTHOR_NAME": who.name,
            "GIT_AUTHOR_EMAIL": who.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }
        if date is not None:
            env["GIT_AUTHOR_DATE"] = date
        return env


class Clone:
    """The local bare clone of `url` in `folder`, made and fetched on first use."""

    def __init__(
        self, folder: Path, url: str, git: Git, *, branch: str | None, login: str | None
    ) -> None:
        self.folder = folder
        self.url = url
        self.git = git
        self.branch = branch
        self.login = login
        self._ready = False
        self._lock = asyncio.Lock()

    # -- setting up and fetching -----------------------------------------------------------

    async def ready(self, task: str) -> None:
        """Make the clone if needed and fetch once per opened toolset (later: `fetch`)."""
        async with self._lock:
            if self._ready:
                return
            await self._make()
            await self._fetch()
            self._ready = True
            await self.sync(task)

    async def _make(self) -> None:
        folder = self.folder
        if (folder / "HEAD").is_file():
            marked = await self.git.run("config", "--get", MARK, ok=(0, 1))
            if marked.text.strip() != "true":
                raise ToolFailure(
                    f"{folder} is a git repository valet did not make; set `clone_dir` to an "
                    "empty folder (valet keeps its own copy there)"
                )
        else:
            if folder.exists() and any(folder.iterdir()):
                raise ToolFailure(
                    f"{folder} is not empty and not valet's copy of {self.url}; set `clone_dir` "
                    "to an empty folder"
                )
            folder.mkdir(parents=True, exist_ok=True)
            await self.git.run("init", "--bare", "--quiet")
            await self.git.run("config", MARK, "true")
            # keep a log of where the remote's branches were, for `merge-base --fork-point`
            await self.git.run("config", "core.logAllRefUpdates", "true")
        await self.git.run("config", "remote.origin.url", self.url)
        await self.git.run("config", "remote.origin.fetch", f"+refs/heads/*:{ORIGIN}*")

    async def _fetch(self) -> None:
        try:
            await self.git.run("fetch", "--prune", "--quiet", "origin")
            if self.branch is None:
                said = await self.git.run("ls-remote", "--symref", "origin", "HEAD")
                found = re.search(r"^ref: refs/heads/(\S+)\tHEAD$", said.text, re.M)
                self.branch = found.group(1) if found else None
        except GitFailed as failed:
            raise remote_failure(failed, self.url, self.login) from failed

    async def fetch(self, task: str) -> dict[str, object]:
        """Fetch the remote now, move the task's branches onto it, say where things stand."""
        async with self._lock:
            if not self._ready:
                await self._make()
            await self._fetch()
            self._ready = True
        yours = await self.sync(task)
        remote = await self.refs(ORIGIN)
        shown = dict(sorted(remote.items())[:200])
        report: dict[str, object] = {
            "remote": self.url,
            "default_branch": self.default_branch,
            "branches": shown,
            "yours": yours,
        }
        if len(remote) > len(shown):
            report["more_branches"] = len(remote) - len(shown)
        return report

    @property
    def default_branch(self) -> str:
        """The toolset's branch: the configured one, else the remote's default (else `main`)."""
        return self.branch or "main"

    # -- refs ------------------------------------------------------------------------------

    @staticmethod
    def task_ref(task: str, branch: str) -> str:
        """Where task `task` keeps its commits on `branch`."""
        part = _TASK_PART.sub("_", task)[:80] or "untitled"
        return f"{TASKS}{part}/{branch}"

    async def refs(self, prefix: str) -> dict[str, str]:
        """Every ref under `prefix`, by its name after the prefix, to its commit."""
        listed = await self.git.run(
            "for-each-ref", "--format=%(objectname) %(refname)", "--", prefix
        )
        found: dict[str, str] = {}
        for line in listed.text.splitlines():
            sha, _, name = line.partition(" ")
            if name.startswith(prefix) and name != f"{ORIGIN}HEAD":
                found[name[len(prefix) :]] = sha
        return found

    async def sha(self, ref: str) -> str | None:
        """The commit `ref` names, or None."""
        said = await self.git.run(
            "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", ok=(0, 1)
        )
        return said.text.strip() or None

    async def resolve(self, task: str, ref: str | None) -> str:
        """The commit a ref given by the model names: the task's own branch first, then the
        remote's branch, a tag, or any commit git can name."""
        name = ref or self.default_branch
        base = re.split(r"[~^]", name, maxsplit=1)[0]
        suffix = name[len(base) :]
        if base == "HEAD":
            base = self.default_branch
        candidates = (self.task_ref(task, base), f"{ORIGIN}{base}", f"refs/tags/{base}", base)
        for candidate in candidates:
            if base and (found := await self.sha(candidate + suffix)):
                return found
        raise ToolFailure(f"there is no branch, tag or commit {name!r} in {self.url}")

    async def update(self, ref: str, new: str, old: str | None, action: str | None = None) -> None:
        """Point `ref` at `new` if it still points at `old` (None: if it does not exist).

        `action`: the journaled action this is done for, noted in the ref's log (`acted_for`
        finds it again after a crash)."""
        noted = ["--create-reflog", "-m", f"{ACTED_FOR}{action}"] if action else []
        try:
            await self.git.run("update-ref", *noted, ref, new, old or "")
        except GitFailed as failed:
            raise ToolFailure(
                f"cannot set the branch ({complaint(failed.stderr)}); nothing was changed"
            ) from failed

    # -- finding what an interrupted action did ---------------------------------------------

    @property
    def made(self) -> bool:
        """The clone exists on the disk (nothing was ever done in it otherwise)."""
        return (self.folder / "HEAD").is_file()

    async def with_trailer(self, key: str, value: str, recent: int) -> tuple[str, str] | None:
        """Among the `recent` newest commits of every task's branches, the one whose `key`
        trailer is `value` (as git parses trailers): the branch it is on, and its id."""
        listed = await self.git.run(
            "log",
            "-z",
            "--source",
            f"--max-count={recent}",
            f"--format=%H%x1f%S%x1f%(trailers:key={key},valueonly,separator=%x1f)",
            f"--glob={TASKS}*",
        )
        for record in listed.text.split("\0"):
            sha, _, rest = record.strip().partition("\x1f")
            ref, _, values = rest.partition("\x1f")
            if value in (v.strip() for v in values.split("\x1f")):
                return _branch_of(ref), sha
        return None

    async def acted_for(self, action: str, refs: Sequence[str]) -> tuple[str, str] | None:
        """The first of the task branches `refs` that `update` set for `action` (its log's
        newest entries): the branch, and the commit it was set to."""
        for ref in refs:
            logged = await self.git.run(
                "reflog", "show", "-n", "50", "--format=%H%x1f%gs", ref, "--", ok=(0, 128)
            )
            for line in logged.text.splitlines():
                sha, _, reason = line.partition("\x1f")
                if reason == f"{ACTED_FOR}{action}":
                    return _branch_of(ref), sha
        return None

    async def task_branches(self, branch: str | None = None, recent: int = 50) -> list[str]:
        """The refs of every task's branch `branch` (None: the `recent` last committed to)."""
        listed = await self.git.run(
            "for-each-ref",
            "--sort=-committerdate",
            *([] if branch else [f"--count={recent}"]),
            "--format=%(refname)",
            "--",
            TASKS,
        )
        refs = listed.text.splitlines()
        return [r for r in refs if branch is None or _branch_of(r) == branch]

    # -- reading ---------------------------------------------------------------------------

    async def entries(
        self, commit: str, path: str, *, recursive: bool = False, paths: Sequence[str] = ()
    ) -> list[Entry]:
        """The tree entries at `path` in `commit` ('' = the root; `path/` = a folder's), or
        the entries for exactly `paths`."""
        args = ["ls-tree", "-z", "--long", *(["-r"] if recursive else []), commit]
        wanted = [*([path] if path else []), *paths]
        listed = await self.git.run(*args, *(["--", *wanted] if wanted else []))
        entries: list[Entry] = []
        for record in listed.out.split(b"\0"):
            if record:
                head, _, name = record.decode("utf-8", "replace").partition("\t")
                mode, kind, sha, size = head.split()
                entries.append(Entry(mode, kind, sha, int(size) if size.isdigit() else None, name))
        return entries

    async def tree_of(self, commit: str) -> str:
        return (await self.git.run("rev-parse", "--verify", f"{commit}^{{tree}}")).text.strip()

    async def ahead(self, base: str, head: str) -> int:
        """How many commits `head` has that `base` does not."""
        counted = await self.git.run("rev-list", "--count", f"{base}..{head}")
        return int(counted.text.strip() or 0)

    # -- writing ---------------------------------------------------------------------------

    async def write_tree(self, parent: str | None, files: Sequence[tuple[str, str, bytes]]) -> str:
        """The tree of `parent` with `files` (mode, path, content) written in it."""
        index = self.folder / f"valet-index-{uuid.uuid4().hex}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            if parent is not None:
                await self.git.run("read-tree", parent, env=env)
            records: list[bytes] = []
            for mode, path, content in files:
                blob = await self.git.run("hash-object", "-w", "--stdin", input=content)
                records.append(f"{mode} {blob.text.strip()}\t{path}\0".encode())
            try:
                await self.git.run(
                    "update-index", "-z", "--index-info", input=b"".join(records), env=env
                )
                return (await self.git.run("write-tree", env=env)).text.strip()
            except GitFailed as failed:
                raise ToolFailure(f"cannot write these files: {failed.stderr.strip()}") from failed
        finally:
            index.unlink(missing_ok=True)

    async def commit_tree(
        self,
        tree: str,
        parent: str | None,
        message: str,
        who: Identity,
        author: Identity | None = None,
        date: str | None = None,
    ) -> str:
        parents = ["-p", parent] if parent else []
        made = await self.git.run(
            "commit-tree",
            tree,
            *parents,
            "-F",
            "-",
            input=message.encode(),
            env=who.env(author, date),
        )
        return made.text.strip()

    async def trailed(self, message: str, trailers: Sequence[tuple[str, str]]) -> str:
        """`message` with git trailers added (git's own rules for an existing trailer block)."""
        text = message.strip() + "\n"
        if not trailers:
            return text
        args = [arg for key, value in trailers for arg in ("--trailer", f"{key}: {value}")]
        done = await self.git.run(
            "interpret-trailers", "--if-exists", "addIfDifferent", *args, input=text.encode()
        )
        return done.text

    # -- keeping a task's branches on top of the remote's ------------------------------------

    async def sync(self, task: str) -> list[dict[str, object]]:
        """Move each of the task's branches onto the remote's (see the module's docstring)."""
        prefix = self.task_ref(task, "")
        remote = await self.refs(ORIGIN)
        report: list[dict[str, object]] = []
        for branch, mine in sorted((await self.refs(prefix)).items()):
            theirs = remote.get(branch)
            shown: dict[str, object] = {"branch": branch, "commit": mine}
            report.append(shown)
            if theirs is None:
                shown["status"] = "only in valet's copy: push it to create it on the remote"
            elif theirs == mine:
                shown["status"] = "same as the remote's"
            elif await self._is_ancestor(mine, theirs):
                await self.update(prefix + branch, theirs, mine)
                shown.update(commit=theirs, status="moved to the remote's newest commit")
            elif await self._is_ancestor(theirs, mine):
                shown["status"] = f"{await self.ahead(theirs, mine)} commit(s) not pushed yet"
            else:
                shown.update(await self._replay(branch, prefix + branch, mine, theirs))
        return report

    async def _is_ancestor(self, older: str, newer: str) -> bool:
        said = await self.git.run("merge-base", "--is-ancestor", older, newer, ok=(0, 1))
        return said.code == 0

    async def _replay(self, branch: str, ref: str, mine: str, theirs: str) -> dict[str, object]:
        # Where the task's branch left the remote's, even if the remote's was rewritten since
        # (its reflog says where it was): only the commits after that point are the task's.
        forked = await self.git.run(
            "merge-base", "--fork-point", f"{ORIGIN}{branch}", mine, ok=(0, 1)
        )
        since = forked.text.strip() or theirs
        listed = await self.git.run("rev-list", "--reverse", "--parents", f"{since}..{mine}")
        commits = [line.split() for line in listed.text.splitlines()]
        if any(len(c) != 2 for c in commits):
            return {"status": "diverged from the remote's, with merges valet cannot replay"}
        onto = theirs
        for commit, parent in commits:
            # A throwaway commit with `onto`'s files whose parent is `parent`, so that git takes
            # `parent` as the merge base: the merge then applies exactly this commit's changes
            # onto `onto` (a cherry-pick; `merge-tree --merge-base` needs git 2.40).
            probe = await self.commit_tree(
                await self.tree_of(onto), parent, "probe\n", Identity("valet", "valet@invalid")
            )
            try:
                merged = await self.git.run(
                    "merge-tree", "--write-tree", "--name-only", "-z", probe, commit, ok=(0, 1)
                )
            except GitFailed as failed:  # 129: git before 2.38 has no --write-tree
                if failed.code != 129:
                    raise
                raise ToolFailure(
                    "moving your commits after the remote's needs git 2.38 or newer on this "
                    "machine; nothing was changed"
                ) from failed
            first = merged.out.partition(b"\0\0")[0]  # the tree, then conflicted paths
            tree, *conflicted = first.decode("utf-8", "replace").split("\0")
            if merged.code == 1:
                paths = sorted(set(conflicted))
                return {
                    "status": (
                        f"conflicts with the remote's changes in {', '.join(paths)}; your "
                        f"{len(commits)} commit(s) stay unpushed as they were. Read the remote's "
                        f"version (ref origin/{branch}), then commit your change again on a new "
                        "branch made from it (create_branch), or push your branch under a new "
                        "name for the person to merge."
                    ),
                    "conflicts": paths,
                }
            if tree == await self.tree_of(onto):
                continue  # the remote already has this change
            author, committer, date, message = await self._authorship(commit)
            onto = await self.commit_tree(tree, onto, message, committer, author, date)
        await self.update(ref, onto, mine)
        return {
            "commit": onto,
            "status": (
                f"your {len(commits)} unpushed commit(s) now come after the remote's newest "
                f"({await self.ahead(theirs, onto)} to push)"
            ),
        }

    async def _authorship(self, commit: str) -> tuple[Identity, Identity, str, str]:
        """Who wrote and who committed `commit`, when it was written, and its message."""
        shown = await self.git.run(
            "show", "-s", "--date=raw", "--format=%an%x00%ae%x00%cn%x00%ce%x00%ad%x00%B", commit
        )
        author, email, committer, committer_email, date, message = shown.text.split("\0", 5)
        return Identity(author, email), Identity(committer, committer_email), date, message
