"""The git connector against a real `git daemon` on 127.0.0.1 (started once for this module,
pushes enabled), plus `git http-backend` behind a small HTTP server with a login: every
operation through the gateway, reads allowed and writes asked, valet's trailer on the commits
that reach the server, a diverged push refused (nothing forced) then fetched and pushed again,
one task never publishing another's commits, grants, and the error cases: server down, no such
repository, paths and refs that try to leave the repository, a wrong or missing login."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from cryptography.fernet import Fernet

from valet.audit import AuditLog
from valet.connectors import (
    ConnectorError,
    DidNotHappen,
    Happened,
    Reconciled,
    Toolset,
    ToolsetConfig,
    open_toolsets,
)
from valet.connectors._git import GIT, TRAILER
from valet.effects import Effect
from valet.gateway import (
    Approval,
    Gateway,
    RunningAction,
    ScriptedApprover,
    TaskContext,
    performing,
)
from valet.policy import ConnectorGrant, derive_scope
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault

if shutil.which("git") is None:
    pytest.fail("git is not installed (Debian package `git`)", pytrace=False)

PERSON = {
    "GIT_AUTHOR_NAME": "Pat Person",
    "GIT_AUTHOR_EMAIL": "pat@example.org",
    "GIT_COMMITTER_NAME": "Pat Person",
    "GIT_COMMITTER_EMAIL": "pat@example.org",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
ANN = {"author_name": "Ann Example", "author_email": "ann@example.com"}
TASK = "task-42"

REQUEST = "tidy the notes repository, then commit and push the changes"
"""What the tests' task asks: the actions it takes are ones the person asked for."""


def git(*args: str, cwd: Path | None = None) -> str:
    """The person's own git, outside valet."""
    env = {"PATH": os.environ["PATH"], "LC_ALL": "C", **PERSON}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if process is not None and process.poll() is not None:
                pytest.fail(f"the server exited ({process.returncode})")
            if time.monotonic() > deadline:
                pytest.fail(f"nothing listens on port {port} after 10 s")


class Daemon:
    """`git daemon` sharing every repository under `base`, pushes enabled."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                "git",
                "daemon",
                "--export-all",
                "--enable=receive-pack",
                "--reuseaddr",
                f"--base-path={base}",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                str(base),
            ],
            env={"PATH": os.environ["PATH"], **PERSON},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.process)

    def url(self, name: str) -> str:
        return f"git://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    server = Daemon(tmp_path_factory.mktemp("git-daemon"))
    yield server
    server.stop()


@dataclass
class Remote:
    """A bare repository on the server, and the person's own clone of it."""

    bare: Path
    work: Path
    name: str

    def person_commits(self, path: str, text: str, message: str) -> str:
        """The person changes a file and pushes it (straight to the bare repository)."""
        file = self.work / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
        git("add", "--", path, cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", "main", cwd=self.work)
        return self.tip()

    def tip(self, branch: str = "main") -> str:
        return git("--git-dir", str(self.bare), "rev-parse", branch).strip()

    def show(self, spec: str) -> str:
        return git("--git-dir", str(self.bare), "show", spec)

    def log(self, *args: str) -> list[str]:
        out = git("--git-dir", str(self.bare), "log", "--format=%H %an <%ae> | %s", *args)
        return out.splitlines()

    def message(self, ref: str = "main") -> str:
        return git("--git-dir", str(self.bare), "log", "-1", "--format=%B", ref)


def make_remote(base: Path, scratch: Path) -> Remote:
    """A bare repository with two commits by the person: a README, a guide, a script, a picture."""
    name = f"r{uuid.uuid4().hex[:8]}.git"
    bare = base / name
    git("init", "-q", "--bare", "--initial-branch=main", str(bare))
    work = scratch / name.removesuffix(".git")
    git("clone", "-q", str(bare), str(work))
    git("checkout", "-q", "-b", "main", cwd=work)
    (work / "README.md").write_text("# Notes\n")
    (work / "docs").mkdir()
    (work / "docs" / "guide.md").write_text("Guide\nline two\n")
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "Start the notes", cwd=work)
    (work / "docs" / "guide.md").write_text("Guide, second edition\nline two\n")
    (work / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (work / "run.sh").chmod(0o755)
    (work / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + bytes(range(256)))
    git("add", ".", cwd=work)
    git("commit", "-q", "-m", "Second edition of the guide", "-m", "With a script.", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    return Remote(bare, work, name)


@pytest.fixture
def remote(daemon: Daemon, tmp_path: Path) -> Remote:
    return make_remote(daemon.base, tmp_path)


def config(url: str, **settings: Any) -> ToolsetConfig:
    return ToolsetConfig(name="repo", connector="git", settings={"url": url, **ANN, **settings})


@asynccontextmanager
async def toolset_of(url: str, **settings: Any) -> AsyncIterator[Toolset]:
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config(url, **settings)], stack, {"git": GIT})
        yield toolset


def gateway(toolset: Toolset, approver: ScriptedApprover, **kwargs: Any) -> Gateway:
    task = kwargs.pop("task", TaskContext(task_id=TASK, request=REQUEST))
    return Gateway(toolset.tools(), approver=approver, task=task, **kwargs)


def approving(count: int) -> ScriptedApprover:
    return ScriptedApprover.of([Approval.approved("person:ann") for _ in range(count)])


def asked(approver: ScriptedApprover) -> list[tuple[str, str]]:
    return [(r.tool, r.effect) for r in approver.requests]


# ---------------------------------------------------------------- operations


async def test_operations_effects_and_nothing_done_on_open(daemon: Daemon, home: Path) -> None:
    async with toolset_of(daemon.url("anything.git")) as toolset:
        effects = {op.name: op.effect for op in toolset.operations}
    assert effects == {
        "fetch": Effect.READ,
        "log": Effect.READ,
        "list_files": Effect.READ,
        "read_file": Effect.READ,
        "diff": Effect.READ,
        "commit": Effect.UPDATE,
        "create_branch": Effect.CREATE,
        "push": Effect.PUBLISH,
    }
    assert [t.name for t in toolset.tools()][:2] == ["repo_fetch", "repo_log"]
    assert toolset.scopes == ("git.read", "git.write", "git.push")
    assert not (home / "git").exists()  # the clone is made on first use


async def test_reads_run_without_asking_and_are_untrusted(
    remote: Remote, daemon: Daemon, home: Path, audit: AuditLog
) -> None:
    approver = ScriptedApprover()
    async with toolset_of(daemon.url(remote.name), max_read=20) as toolset:
        gw = gateway(toolset, approver, audit=audit)
        log = await gw.call("repo_log", {})
        root = await gw.call("repo_list_files", {})
        docs = await gw.call("repo_list_files", {"folder": "docs"})
        everything = await gw.call("repo_list_files", {"recursive": True, "ref": "main~1"})
        guide = await gw.call("repo_read_file", {"path": "docs/guide.md", "ref": "main~1"})
        cut = await gw.call("repo_read_file", {"path": "docs/guide.md"})
        picture = await gw.call("repo_read_file", {"path": "picture.png"})
        diff = await gw.call("repo_diff", {"base": "main~1", "head": "main"})
        fetched = await gw.call("repo_fetch", {})
        missing = await gw.call("repo_read_file", {"path": "nope.md"})
        folder = await gw.call("repo_read_file", {"path": "docs"})
        no_ref = await gw.call("repo_log", {"ref": "no-such-branch"})
    assert approver.requests == []
    assert {r.verdict for r in audit.records()} == {"allow"}
    assert log.ok and [c["subject"] for c in log.value] == [  # type: ignore[union-attr]
        "Second edition of the guide",
        "Start the notes",
    ]
    assert log.value[0]["author"] == "Pat Person <pat@example.org>"  # type: ignore[index]
    assert log.value[0]["body"] == "With a script."  # type: ignore[index]
    assert log.value[0]["commit"] == remote.tip()  # type: ignore[index]
    assert root.ok and root.value["entries"] == [  # type: ignore[index]
        {"path": "README.md", "size": 8},
        {"path": "docs/"},
        {"path": "picture.png", "size": 266},
        {"path": "run.sh", "size": 18, "executable": True},
    ]
    assert docs.value["entries"] == [{"path": "docs/guide.md", "size": 31}]  # type: ignore[index]
    assert [e["path"] for e in everything.value["entries"]] == [  # type: ignore[index]
        "README.md",
        "docs/guide.md",
    ]
    assert guide.ok and guide.value["text"] == "Guide\nline two\n"  # type: ignore[index]
    assert cut.value["text"] == "Guide, second editio"  # type: ignore[index]
    assert cut.value["truncated"] == "only the first 20 bytes of 31 are shown"  # type: ignore[index]
    assert "binary file (266 bytes)" in picture.value["binary"]  # type: ignore[index]
    assert diff.ok and diff.value["files"] == [  # type: ignore[index]
        {"path": "docs/guide.md", "added": 1, "removed": 1},
        {"path": "picture.png", "binary": True},
        {"path": "run.sh", "added": 2, "removed": 0},
    ]
    assert "+Guide, second edition" in diff.value["patch"]  # type: ignore[index]
    assert fetched.ok and fetched.value["default_branch"] == "main"  # type: ignore[index]
    assert fetched.value["branches"] == {"main": remote.tip()}  # type: ignore[index]
    assert not missing.ok and "there is no file 'nope.md' at main" in missing.message
    assert not folder.ok and "is a folder" in folder.message
    assert not no_ref.ok and "no branch, tag or commit 'no-such-branch'" in no_ref.message
    for read in (log, guide, diff, fetched):
        assert read.source is not None and read.source.untrusted
    assert str(guide.source).startswith("untrusted:repo_read_file")
    clones = list((home / "git").iterdir())
    assert len(clones) == 1 and clones[0].name.startswith("repo-")


async def test_commit_and_push_ask_and_carry_valets_trailer(
    remote: Remote, daemon: Daemon, home: Path, audit: AuditLog
) -> None:
    before = remote.tip()
    approver = approving(4)
    files = [
        {"path": "docs/guide.md", "text": "Guide, third edition\nline two\n"},
        {"path": "notes/new.md", "text": "New.\n"},
        {"path": "run.sh", "text": "#!/bin/sh\necho hello\n"},
    ]
    async with toolset_of(daemon.url(remote.name)) as toolset:
        gw = gateway(toolset, approver, audit=audit)
        committed = await gw.call("repo_commit", {"message": "Third edition", "files": files})
        assert remote.tip() == before  # a commit stays in valet's copy
        seen = await gw.call("repo_read_file", {"path": "notes/new.md"})
        again = await gw.call("repo_commit", {"message": "Again", "files": files[1:2]})
        pushed = await gw.call("repo_push", {})
        repeat = await gw.call("repo_push", {"branch": "main"})
    assert committed.ok, committed.message
    assert asked(approver) == [
        ("repo_commit", "update"),
        ("repo_commit", "update"),
        ("repo_push", "publish"),
        ("repo_push", "publish"),
    ]
    assert again.ok and again.value["unchanged"]  # type: ignore[index]
    assert seen.ok and seen.value["text"] == "New.\n"  # type: ignore[index]
    assert pushed.ok and pushed.value["commits"] == 1, pushed.message  # type: ignore[index]
    assert repeat.ok and repeat.value["unchanged"]  # type: ignore[index]
    tip = remote.tip()
    assert tip == committed.value["commit"] == pushed.value["commit"]  # type: ignore[index]
    assert remote.message() == (
        f"Third edition\n\n{TRAILER}: {TASK}\nCo-authored-by: valet <valet@agent.invalid>\n\n"
    )
    assert remote.log("-1") == [f"{tip} Ann Example <ann@example.com> | Third edition"]
    assert git("--git-dir", str(remote.bare), "rev-parse", "main~1").strip() == before
    assert remote.show("main:notes/new.md") == "New.\n"
    assert remote.show("main:docs/guide.md") == "Guide, third edition\nline two\n"
    mode = git("--git-dir", str(remote.bare), "ls-tree", "main", "run.sh").split()[0]
    assert mode == "100755"  # an executable stays executable
    assert [(r.tool, r.rule_id, r.outcome) for r in audit.records() if r.tool != "repo_read_file"][
        :1
    ] == [("repo_commit", "builtin.ask.update", "executed")]


async def test_attribution_can_be_turned_off_or_reworded(
    remote: Remote, daemon: Daemon, home: Path
) -> None:
    change = {"message": "Plain\n\nSigned-off-by: Ann <ann@example.com>"}
    async with toolset_of(daemon.url(remote.name), attribution=False) as toolset:
        gw = gateway(toolset, approving(2))
        await gw.call("repo_commit", {**change, "files": [{"path": "a.md", "text": "a\n"}]})
        assert (await gw.call("repo_push", {})).ok
    assert remote.message() == "Plain\n\nSigned-off-by: Ann <ann@example.com>\n\n"
    async with toolset_of(daemon.url(remote.name), co_author="") as toolset:
        gw = gateway(toolset, approving(2))
        await gw.call("repo_commit", {**change, "files": [{"path": "b.md", "text": "b\n"}]})
        assert (await gw.call("repo_push", {})).ok
    assert remote.message() == (
        f"Plain\n\nSigned-off-by: Ann <ann@example.com>\n{TRAILER}: {TASK}\n\n"
    )


async def test_a_diverged_push_is_refused_unforced_then_fetched_and_pushed(
    remote: Remote, daemon: Daemon, home: Path
) -> None:
    approver = approving(4)
    async with toolset_of(daemon.url(remote.name)) as toolset:
        gw = gateway(toolset, approver)
        mine = await gw.call(
            "repo_commit", {"message": "Add todo", "files": [{"path": "todo.md", "text": "x\n"}]}
        )
        theirs = remote.person_commits("README.md", "# Notes, by Pat\n", "Pat's title")
        refused = await gw.call("repo_push", {})
        assert remote.tip() == theirs  # nothing forced: the person's commit is still the tip
        fetched = await gw.call("repo_fetch", {})
        pushed = await gw.call("repo_push", {})
    assert mine.ok
    assert not refused.ok
    assert "someone else pushed" in refused.message and "nothing was forced" in refused.message
    assert "Call repo_fetch" in refused.message
    assert fetched.ok, fetched.message
    (yours,) = fetched.value["yours"]  # type: ignore[index]
    assert yours["branch"] == "main" and "now come after the remote's" in yours["status"]
    assert pushed.ok, pushed.message
    subjects = [line.split(" | ")[1] for line in remote.log()]
    assert subjects == ["Add todo", "Pat's title", "Second edition of the guide", "Start the notes"]
    assert remote.show("main:README.md") == "# Notes, by Pat\n"
    assert remote.show("main:todo.md") == "x\n"
    assert f"{TRAILER}: {TASK}" in remote.message()  # the replayed commit keeps its trailer
    assert asked(approver) == [
        ("repo_commit", "update"),
        ("repo_push", "publish"),
        ("repo_push", "publish"),
    ]


async def test_a_conflict_with_the_remote_is_reported_and_nothing_is_lost(
    remote: Remote, daemon: Daemon, home: Path
) -> None:
    change = {"path": "docs/guide.md", "text": "Guide by valet\nline two\n"}
    async with toolset_of(daemon.url(remote.name)) as toolset:
        gw = gateway(toolset, approving(3))
        mine = await gw.call("repo_commit", {"message": "Retitle", "files": [change]})
        theirs = remote.person_commits("docs/guide.md", "Guide by Pat\nline two\n", "Pat's")
        fetched = await gw.call("repo_fetch", {})
        refused = await gw.call("repo_push", {})
        still = await gw.call("repo_read_file", {"path": "docs/guide.md"})
        remotes = await gw.call("repo_read_file", {"path": "docs/guide.md", "ref": "origin/main"})
    (yours,) = fetched.value["yours"]  # type: ignore[index]
    assert yours["conflicts"] == ["docs/guide.md"]
    assert yours["commit"] == mine.value["commit"]  # type: ignore[index]
    assert not refused.ok and "nothing was forced" in refused.message
    assert remote.tip() == theirs
    assert still.value["text"] == "Guide by valet\nline two\n"  # type: ignore[index]
    assert remotes.value["text"] == "Guide by Pat\nline two\n"  # type: ignore[index]


async def test_commits_others_rewrote_away_are_not_brought_back(
    remote: Remote, daemon: Daemon, home: Path
) -> None:
    start = remote.tip()
    dropped = remote.person_commits("oops.md", "password=hunter2\n", "Oops")
    async with toolset_of(daemon.url(remote.name)) as toolset:
        gw = gateway(toolset, approving(2))
        await gw.call(
            "repo_commit", {"message": "Add todo", "files": [{"path": "todo.md", "text": "x\n"}]}
        )
        git("reset", "-q", "--hard", start, cwd=remote.work)  # the person rewrites main
        git("commit", "-q", "--allow-empty", "-m", "Clean up", cwd=remote.work)
        git("push", "-q", "--force", "origin", "main", cwd=remote.work)
        rewritten = remote.tip()
        fetched = await gw.call("repo_fetch", {})
        pushed = await gw.call("repo_push", {})
    assert fetched.ok and pushed.ok, (fetched.message, pushed.message)
    history = git("--git-dir", str(remote.bare), "rev-list", "main").split()
    assert rewritten in history and dropped not in history
    assert [line.split(" | ")[1] for line in remote.log("-3")] == [
        "Add todo",
        "Clean up",
        "Second edition of the guide",
    ]
    assert "oops.md" not in git("--git-dir", str(remote.bare), "ls-tree", "--name-only", "main")


async def test_an_empty_repository_gets_its_first_commit(daemon: Daemon, home: Path) -> None:
    bare = daemon.base / f"empty{uuid.uuid4().hex[:8]}.git"
    git("init", "-q", "--bare", "--initial-branch=main", str(bare))
    async with toolset_of(daemon.url(bare.name)) as toolset:
        gw = gateway(toolset, approving(2))
        listed = await gw.call("repo_fetch", {})
        first = await gw.call(
            "repo_commit", {"message": "Start", "files": [{"path": "a.md", "text": "a\n"}]}
        )
        pushed = await gw.call("repo_push", {})
    assert listed.ok and listed.value["branches"] == {}  # type: ignore[index]
    assert first.ok and pushed.ok, (first.message, pushed.message)
    assert git("--git-dir", str(bare), "show", "main:a.md") == "a\n"


async def test_a_task_never_publishes_another_tasks_commits(
    remote: Remote, daemon: Daemon, home: Path
) -> None:
    url = daemon.url(remote.name)
    async with toolset_of(url) as toolset:  # the person approves the commit, not the push
        first = gateway(toolset, ScriptedApprover.of([Approval.approved()]))
        wrote = await first.call(
            "repo_commit", {"message": "Secret", "files": [{"path": "secret.md", "text": "s\n"}]}
        )
        declined = await first.call("repo_push", {})
    assert wrote.ok and not declined.ok
    later = TaskContext(task_id="task-43", request="add a todo, commit and push it")
    async with toolset_of(url) as toolset:  # the same clone folder, another task
        second = gateway(toolset, approving(2), task=later)
        listed = await second.call("repo_list_files", {})
        await second.call(
            "repo_commit", {"message": "Todo", "files": [{"path": "todo.md", "text": "t\n"}]}
        )
        pushed = await second.call("repo_push", {})
    assert "secret.md" not in [e["path"] for e in listed.value["entries"]]  # type: ignore[index]
    assert pushed.ok and pushed.value["commits"] == 1  # type: ignore[index]
    assert "secret.md" not in git("--git-dir", str(remote.bare), "ls-tree", "--name-only", "main")
    assert f"{TRAILER}: task-43" in remote.message()


async def test_a_new_branch_is_created_then_published(
    remote: Remote, daemon: Daemon, home: Path
) -> None:
    approver = approving(10)
    async with toolset_of(daemon.url(remote.name)) as toolset:
        gw = gateway(toolset, approver)
        made = await gw.call("repo_create_branch", {"name": "valet/typo", "start": "main~1"})
        twice = await gw.call("repo_create_branch", {"name": "valet/typo"})
        taken = await gw.call("repo_create_branch", {"name": "main"})
        bad = await gw.call("repo_create_branch", {"name": "a..b"})
        nowhere = await gw.call(
            "repo_commit",
            {"message": "x", "branch": "nope", "files": [{"path": "x", "text": "x"}]},
        )
        committed = await gw.call(
            "repo_commit",
            {"message": "Fix", "branch": "valet/typo", "files": [{"path": "f.md", "text": "f"}]},
        )
        pushed = await gw.call("repo_push", {"branch": "valet/typo"})
    start = git("--git-dir", str(remote.bare), "rev-parse", "main~1").strip()
    assert made.ok and made.value["commit"] == start  # type: ignore[index]
    assert not twice.ok and "already" in twice.message
    assert not taken.ok and "the remote has a branch 'main' already" in taken.message
    assert not bad.ok and "not a valid branch name" in bad.message
    assert not nowhere.ok and "there is no branch 'nope'" in nowhere.message
    assert committed.ok and pushed.ok, (committed.message, pushed.message)
    assert pushed.value["created"] == "a new branch on the remote"  # type: ignore[index]
    assert remote.tip("valet/typo") == committed.value["commit"]  # type: ignore[index]
    assert asked(approver) == [
        *[("repo_create_branch", "create")] * 3,
        *[("repo_commit", "update")] * 2,
        ("repo_push", "publish"),
    ]


# ---------------------------------------------------------------- after a crash

ACTION = "valet.task-42.act-3"


async def reconcile(
    toolset: Toolset, name: str, args: dict[str, Any], action: str = ACTION, committed: bool = True
) -> Reconciled:
    """What a restarted task learns from the operation's lookup hook."""
    (op,) = [o for o in toolset.operations if o.name == name]
    assert op.reconcile is not None
    return await op.reconcile(op.args.model_validate(args), action, committed)


async def test_an_interrupted_commit_is_found_by_its_trailer_after_a_restart(
    remote: Remote, daemon: Daemon, home: Path
) -> None:
    url = daemon.url(remote.name)
    change = {"message": "Add a todo", "files": [{"path": "todo.md", "text": "t\n"}]}
    async with toolset_of(url) as toolset:
        untouched = await reconcile(toolset, "commit", change)  # no copy made yet
        marked: list[str] = []
        with performing(RunningAction(ACTION, lambda: marked.append(ACTION))):
            made = await gateway(toolset, approving(1)).call("repo_commit", change)
    assert made.ok, made.message
    assert marked == [ACTION]
    commit = made.value["commit"]  # type: ignore[index]
    async with toolset_of(url) as toolset:  # valet restarted: the same copy, nothing fetched
        found = await reconcile(toolset, "commit", change)
        other = await reconcile(toolset, "commit", change, action="valet.task-42.act-30")
        before = await reconcile(toolset, "commit", change, committed=False)
        pushed = await gateway(toolset, approving(1)).call("repo_push", {})
    assert untouched == DidNotHappen("valet stopped before the commit was put on its branch")
    assert found == Happened(
        {
            "branch": "main",
            "commit": commit,
            "files": ["todo.md"],
            "next": "push the branch to publish it, if it is not pushed yet",
        },
        f"found commit {commit[:12]} on 'main' by its Valet-Action trailer",
    )
    assert other == DidNotHappen("no commit in valet's copy is named by its Valet-Action trailer")
    assert before == untouched
    assert pushed.ok and remote.tip() == commit
    assert remote.message() == (
        f"Add a todo\n\n{TRAILER}: {TASK}\nValet-Action: {ACTION}\n"
        "Co-authored-by: valet <valet@agent.invalid>\n\n"
    )


async def test_without_attribution_a_commit_is_found_by_its_branchs_log(
    remote: Remote, daemon: Daemon, home: Path
) -> None:
    url = daemon.url(remote.name)
    change = {"message": "Plain", "files": [{"path": "a.md", "text": "a\n"}]}
    async with toolset_of(url, attribution=False) as toolset:
        with performing(RunningAction(ACTION, lambda: None)):
            made = await gateway(toolset, approving(1)).call("repo_commit", change)
    assert made.ok, made.message
    async with toolset_of(url, attribution=False) as toolset:
        found = await reconcile(toolset, "commit", change)
        other = await reconcile(toolset, "commit", change, action="valet.task-42.act-4")
    assert isinstance(found, Happened)
    assert found.result == {
        "branch": "main",
        "commit": made.value["commit"],  # type: ignore[index]
        "files": ["a.md"],
        "next": "push the branch to publish it, if it is not pushed yet",
    }
    assert "the note valet's copy keeps" in found.how
    assert isinstance(other, DidNotHappen)
    async with toolset_of(url, attribution=False) as toolset:
        assert (await gateway(toolset, approving(1)).call("repo_push", {})).ok
    assert remote.message() == "Plain\n\n"  # no mark on what reaches the remote


async def test_an_interrupted_new_branch_is_found_and_making_it_again_changes_nothing(
    remote: Remote, daemon: Daemon, home: Path
) -> None:
    url = daemon.url(remote.name)
    branch = {"name": "valet/typo", "start": "main~1"}
    async with toolset_of(url) as toolset:
        with performing(RunningAction(ACTION, lambda: None)):
            made = await gateway(toolset, approving(1)).call("repo_create_branch", branch)
    assert made.ok, made.message
    start = git("--git-dir", str(remote.bare), "rev-parse", "main~1").strip()
    async with toolset_of(url) as toolset:
        found = await reconcile(toolset, "create_branch", branch)
        other = await reconcile(toolset, "create_branch", branch, action="valet.task-42.act-9")
        elsewhere = await reconcile(toolset, "create_branch", {"name": "valet/other"})
        gw = gateway(toolset, approving(2))
        again = await gw.call("repo_create_branch", branch)
        moved = await gw.call("repo_create_branch", {"name": "valet/typo"})
    assert found == Happened(
        {
            "branch": "valet/typo",
            "commit": start,
            "next": "commit to it, then push it to create it on the remote",
        },
        f"valet's copy has the branch 'valet/typo' it made, at {start[:12]}",
    )
    assert other == DidNotHappen("valet's copy has no branch 'valet/typo' made by this action")
    assert isinstance(elsewhere, DidNotHappen)
    assert again.ok and again.value == made.value
    assert not moved.ok and "already" in moved.message  # another start: not the same branch


# ---------------------------------------------------------------- refusals and failures


async def test_paths_and_refs_that_leave_the_repository_are_refused(
    remote: Remote, daemon: Daemon, home: Path
) -> None:
    before = remote.tip()
    approver = approving(20)
    reads = [
        {"path": "../outside.txt"},
        {"path": "/etc/passwd"},
        {"path": "docs/../../x"},
        {"path": ".git/config"},
        {"path": "docs/.GIT/x"},
        {"path": "a\\..\\b"},
        {"path": "README.md", "ref": "--output=pwned"},
        {"path": "README.md", "ref": "main:docs"},
        {"path": "README.md", "ref": "main..main"},
    ]
    writes = [
        ".git/hooks/post-update",
        "../escape.txt",
        "/tmp/escape.txt",
        "docs//x",
        "./x",
        "x\nother",
    ]
    async with toolset_of(daemon.url(remote.name)) as toolset:
        gw = gateway(toolset, approver)
        read_results = [await gw.call("repo_read_file", args) for args in reads]
        write_results = [
            await gw.call("repo_commit", {"message": "x", "files": [{"path": p, "text": "x"}]})
            for p in writes
        ]
        forced = await gw.call("repo_push", {"force": True})
        dashed = await gw.call("repo_diff", {"base": "-p", "head": "main"})
        into_folder = await gw.call(
            "repo_commit", {"message": "x", "files": [{"path": "docs", "text": "x"}]}
        )
        under_file = await gw.call(
            "repo_commit", {"message": "x", "files": [{"path": "README.md/x", "text": "x"}]}
        )
    for result in [*read_results, *write_results, forced, dashed]:
        assert not result.ok and result.message.startswith("invalid arguments"), result.message
    assert "'-'" in read_results[6].message and "'-'" in dashed.message
    assert "force: Extra inputs are not permitted" in forced.message
    assert not into_folder.ok and "is a folder" in into_folder.message
    assert not under_file.ok and "'README.md' is a file, not a folder" in under_file.message
    assert [r.tool for r in approver.requests] == ["repo_commit"] * 2  # the valid ones
    assert remote.tip() == before


async def test_server_down_is_a_clear_error(home: Path) -> None:
    async with toolset_of(f"git://127.0.0.1:{free_port()}/notes.git") as toolset:
        result = await gateway(toolset, ScriptedApprover()).call("repo_log", {})
    assert not result.ok
    assert result.message.startswith("cannot reach the git server at git://127.0.0.1:")
    assert "is it running?" in result.message


async def test_a_server_that_never_answers_is_stopped_after_the_timeout(home: Path) -> None:
    with socket.socket() as silent:  # accepts connections, never says anything
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        async with toolset_of(f"git://127.0.0.1:{port}/notes.git", timeout=0.5) as toolset:
            result = await gateway(toolset, ScriptedApprover()).call("repo_fetch", {})
    assert not result.ok
    assert result.message == "git fetch did not finish within 0.5 s and was stopped"


async def test_a_missing_repository_is_a_clear_error(daemon: Daemon, home: Path) -> None:
    async with toolset_of(daemon.url("no-such-repo.git")) as toolset:
        result = await gateway(toolset, ScriptedApprover()).call("repo_fetch", {})
    assert not result.ok
    assert result.message.startswith(f"there is no git repository at {daemon.url('')}")


async def test_grants_limit_what_a_task_may_do(remote: Remote, daemon: Daemon, home: Path) -> None:
    before = remote.tip()
    change = {"message": "x", "files": [{"path": "x.md", "text": "x"}]}
    grants: list[tuple[ConnectorGrant, ...]] = [
        (ConnectorGrant.of("repo"),),
        (ConnectorGrant.of("repo", Effect.UPDATE),),
    ]
    outcomes: list[list[tuple[bool, str]]] = []
    everyone = approving(10)
    for grant in grants:
        scope = derive_scope("tidy the notes", grants=grant)
        async with toolset_of(daemon.url(remote.name)) as toolset:
            gw = gateway(toolset, everyone, scope=scope)
            results = [
                await gw.call("repo_log", {}),
                await gw.call("repo_commit", change),
                await gw.call("repo_push", {}),
            ]
        outcomes.append([(r.ok, r.decision.rule_id) for r in results])
    assert outcomes[0] == [
        (True, "builtin.allow.read"),
        (False, "grant.read_only"),
        (False, "grant.read_only"),
    ]
    assert outcomes[1][1:] == [(True, "builtin.ask.update"), (False, "grant.effect")]
    assert asked(everyone) == [("repo_commit", "update")]  # a denial is never put to the person
    assert remote.tip() == before


async def test_settings_are_checked_when_opened(daemon: Daemon, home: Path, tmp_path: Path) -> None:
    bad: Iterable[dict[str, Any]] = [
        {"url": "https://ann:secret@git.example/notes.git"},
        {"url": "ssh://git.example/notes.git"},
        {"url": daemon.url("x.git"), "credential": "forge"},
        {"url": daemon.url("x.git"), "author_email": "not an address"},
    ]
    for settings in bad:
        with pytest.raises(ConnectorError):
            async with toolset_of(**settings):
                pass
    theirs = tmp_path / "my-checkout"
    theirs.mkdir()
    (theirs / "keep.txt").write_text("mine\n")
    async with toolset_of(daemon.url("x.git"), clone_dir=str(theirs)) as toolset:
        result = await gateway(toolset, ScriptedApprover()).call("repo_log", {})
    assert not result.ok and "is not empty and not valet's copy" in result.message
    assert [p.name for p in theirs.iterdir()] == ["keep.txt"]


# ---------------------------------------------------------------- over HTTP, with a login

USER, PASSWORD = "ann", "correct horse"


class HttpBackend:
    """`git http-backend` (smart HTTP) behind a small WSGI server asking for a Basic login."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.logins: list[str] = []

        def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
            given = environ.get("HTTP_AUTHORIZATION", "")
            self.logins.append(given)
            if given != expected:
                start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="git"')])
                return [b""]
            size = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(size) if size else b""
            cgi = {
                "PATH": os.environ["PATH"],
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "REMOTE_USER": USER,
                "REMOTE_ADDR": "127.0.0.1",
                **PERSON,
            }
            for key in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE"):
                cgi[key] = environ.get(key, "")
            for key in ("HTTP_CONTENT_ENCODING", "HTTP_GIT_PROTOCOL"):
                if key in environ:
                    cgi[key] = environ[key]
            done = subprocess.run(
                ["git", "http-backend"], input=body, env=cgi, capture_output=True, check=False
            )
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            headers = [tuple(line.split(": ", 1)) for line in head.decode().split("\r\n")]
            status = next((v for k, v in headers if k == "Status"), "200 OK")
            start_response(status, [(k, v) for k, v in headers if k != "Status"])
            return [payload]

        class Quiet(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server: WSGIServer = make_server("127.0.0.1", self.port, app, handler_class=Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        wait_for_port(self.port)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture(scope="module")
def http_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpBackend]:
    server = HttpBackend(tmp_path_factory.mktemp("git-http"))
    yield server
    server.stop()


@pytest.fixture
def vault_home(home: Path, monkeypatch: pytest.MonkeyPatch, http_backend: HttpBackend) -> Path:
    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())
    vault = Vault.open(home, create=True)
    host = f"127.0.0.1:{http_backend.port}"
    vault.add(Credential(name="forge", domains=(host,), username=USER, password=PASSWORD))
    vault.add(Credential(name="wrong", domains=(host,), username=USER, password="nope"))
    vault.add(Credential(name="elsewhere", domains=("git.example",), username=USER, password="x"))
    vault.save()
    return home


async def test_over_http_with_a_vault_login(
    http_backend: HttpBackend, vault_home: Path, tmp_path: Path
) -> None:
    remote = make_remote(http_backend.root, tmp_path)
    url = http_backend.url(remote.name)
    async with toolset_of(url, credential="forge") as toolset:
        gw = gateway(toolset, approving(2))
        read = await gw.call("repo_read_file", {"path": "README.md"})
        await gw.call("repo_commit", {"message": "Hi", "files": [{"path": "hi.md", "text": "hi"}]})
        pushed = await gw.call("repo_push", {})
    assert read.ok and read.value["text"] == "# Notes\n", read.message  # type: ignore[index]
    assert pushed.ok, pushed.message
    assert remote.show("main:hi.md") == "hi"
    assert f"{TRAILER}: {TASK}" in remote.message()
    config_text = "".join(p.read_text() for p in (vault_home / "git").glob("*/config"))
    assert PASSWORD not in config_text and "Authorization" not in config_text

    async with toolset_of(url, credential="wrong") as toolset:
        wrong = await gateway(toolset, ScriptedApprover()).call("repo_fetch", {})
    async with toolset_of(url) as toolset:
        none = await gateway(toolset, ScriptedApprover()).call("repo_fetch", {})
    assert not wrong.ok and "refused the login of vault credential 'wrong'" in wrong.message
    assert not none.ok and "wants a login" in none.message
    with pytest.raises(ConnectorError, match=r"not to http://127\.0\.0\.1"):
        async with toolset_of(url, credential="elsewhere"):
            pass
