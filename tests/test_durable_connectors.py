"""Every connector kind in a served durable task: `valet serve` (a subprocess, DBOS checkpoints,
as people run it) runs a task whose scripted model reads once and writes once through one
connector, each against its real server on 127.0.0.1: the calendar (Radicale), the local files
folder, WebDAV (WsgiDAV), GitHub (the local server held to GitHub's OpenAPI description), git (a
`git daemon`), Matrix (Synapse) and the npm filesystem MCP server. (Mail and a plain MCP server:
tests/test_durable_toolsets.py.)

The person's standing `[grants]` allow each write; a write that is asked is approved through
the REST API. A write the request states, with values the person named, runs unasked once (the
gateway's `intent.stated.*`), so those tests approve nothing for it. Each test reads the write
back from the server with its own client, not valet's, and finds it there once, marked with the
task's id where the connector marks what it writes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography.fernet import Fernet
from tests._servers import CAL_PASSWORD, DAV_PASSWORD, DAV_USER, Radicale, WsgiDav
from tests._synapse import Synapse
from tests.test_calendar import ics
from tests.test_durable import Server, _final, _steps
from tests.test_durable_toolsets import _approve, _create
from tests.test_e2e_connectors import events_of
from tests.test_git import ANN, Daemon, daemon, make_remote  # noqa: F401  (a fixture)
from tests.test_github import TOKEN, ContractServer, answers, contract, server  # noqa: F401
from tests.test_matrix import synapse  # noqa: F401  (one Synapse for this module)
from tests.test_mcp_filesystem import SERVER as FS_SERVER

from valet.audit import KEY_ENV
from valet.connectors._git import TRAILER
from valet.connectors._matrix import TASK_KEY
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault

ASKED = '["{}"]'
"""A grant that allows one effect, each use still asked (`[grants]` value)."""


@dataclass
class Served:
    """A served task once it ended: the server's view of it and its run record's steps."""

    task: dict[str, Any]
    steps: list[dict[str, Any]]

    @property
    def id(self) -> str:
        return str(self.task["id"])

    @property
    def kinds(self) -> list[str]:
        return [step["action"]["kind"] for step in self.steps]


@dataclass
class Valet:
    """A valet home for `valet serve`: its vault, its `config.toml`, and a task served in it."""

    home: Path

    def credential(self, credential: Credential) -> None:
        vault = Vault.open(self.home, create=True)
        vault.add(credential)
        vault.save()

    def serve(
        self,
        task: str,
        script: list[Any],
        *,
        grants: Mapping[str, str],
        approve: Sequence[str] = (),
        connectors: Sequence[Mapping[str, Any]] = (),
        mcp: Sequence[Mapping[str, Any]] = (),
    ) -> Served:
        """Write the config (`[[connectors]]`, `[[mcp]]`, `[grants]`) and the model's script,
        start `valet serve`, create the task, approve `approve` (in order) through the API and
        wait for the task to end."""
        lines: list[str] = []
        for header, tables in (("[[connectors]]", connectors), ("[[mcp]]", mcp)):
            for table in tables:
                lines += [header, *(f"{key} = {json.dumps(v)}" for key, v in table.items())]
        lines += ["[grants]", *(f"{name} = {value}" for name, value in grants.items())]
        (self.home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        path = self.home / "script.yaml"
        path.write_text(yaml.safe_dump(script), encoding="utf-8")
        serving = Server(self.home, path)
        serving.start()
        try:
            task_id = _create(serving, task)
            for tool in approve:
                _approve(serving, task_id, tool)
            final = _final(serving, task_id, "the task to end")
        finally:
            serving.stop()
        served = Served(final, _steps(self.home, final))
        assert final["status"] == "succeeded", (final, served.steps)
        assert all(step["ok"] for step in served.steps), served.steps
        return served


@pytest.fixture
def valet(home: Path, monkeypatch: pytest.MonkeyPatch) -> Valet:
    """A fresh home; the vault key is in the environment, which `valet serve` inherits."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())
    return Valet(home)


# ---------------------------------------------------------------- calendar (Radicale)


@pytest.mark.timeout(300)
def test_calendar_finds_an_event_and_adds_one(valet: Valet, radicale: Radicale) -> None:
    user = radicale.add_user()
    bills = radicale.client(user).principal().make_calendar(name="Bills", cal_id="bills")
    bills.save_event(ics("rent", ":20261201T090000Z", ":20261201T093000Z", "Pay the rent"))
    valet.credential(
        Credential(
            name="cal",
            domains=(f"127.0.0.1:{radicale.port}",),
            username=user,
            password=CAL_PASSWORD,
        )
    )
    calendar = {
        "name": "cal",
        "connector": "calendar",
        "url": radicale.url,
        "credential": "cal",
        "timezone": "UTC",
        "calendar": "Bills",
    }
    event = {"summary": "Pay the water bill", "start": "2026-12-15", "end": "2026-12-16"}
    script: list[Any] = [
        {
            "raw": {
                "tool": "cal_search_events",
                "args": {"start": "2026-12-01T00:00:00Z", "end": "2026-12-31T00:00:00Z"},
            }
        },
        {"expect": {"prompt": "Pay the rent"}, "raw": {"tool": "cal_create_event", "args": event}},
        {"done": "added the water bill"},
    ]
    served = valet.serve(
        "add the water bill to my calendar",
        script,
        connectors=[calendar],
        grants={"cal": ASKED.format("create")},
        approve=["cal_create_event"],
    )
    assert served.kinds == ["cal_search_events", "cal_create_event", "done"]
    added = [e for e in events_of(bills) if str(e["SUMMARY"]) == "Pay the water bill"]
    assert len(added) == 1, added  # once, read with a direct CalDAV client
    assert str(added[0]["X-VALET-TASK"]) == served.id
    assert len(events_of(bills)) == 2


# ---------------------------------------------------------------- files (a local folder)


@pytest.mark.timeout(300)
def test_files_reads_a_note_and_writes_a_plan(valet: Valet, tmp_path: Path) -> None:
    """The grant pre-approves updates: the write runs without asking the person."""
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "notes.txt").write_text("call the bank on Monday\n")
    script: list[Any] = [
        {"raw": {"tool": "files_read_file", "args": {"path": "notes.txt"}}},
        {
            "expect": {"prompt": "call the bank on Monday"},
            "raw": {
                "tool": "files_write_file",
                "args": {"path": "plans/week.txt", "text": "Monday: call the bank\n"},
            },
        },
        {"done": "planned the week"},
    ]
    served = valet.serve(
        "plan my week from my notes",
        script,
        connectors=[{"name": "files", "connector": "files", "root": str(folder)}],
        grants={"files": '{ effects = ["update"], approved = ["update"] }'},
    )
    assert served.kinds == ["files_read_file", "files_write_file", "done"]
    assert (folder / "plans" / "week.txt").read_text() == "Monday: call the bank\n"
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "notes.txt",
        "plans/week.txt",
    ]


# ---------------------------------------------------------------- WebDAV (WsgiDAV)


@pytest.mark.timeout(300)
def test_webdav_reads_a_file_and_writes_one(valet: Valet, wsgidav: WsgiDav) -> None:
    name = f"t{uuid.uuid4().hex[:8]}"
    root = wsgidav.root / name
    root.mkdir()
    (root / "todo.txt").write_text("buy milk\n")
    valet.credential(
        Credential(
            name="dav",
            domains=(f"127.0.0.1:{wsgidav.port}",),
            username=DAV_USER,
            password=DAV_PASSWORD,
        )
    )
    cloud = {
        "name": "cloud",
        "connector": "webdav",
        "url": f"{wsgidav.url}{name}/",
        "credential": "dav",
    }
    script: list[Any] = [
        {"raw": {"tool": "cloud_read", "args": {"path": "todo.txt"}}},
        {
            "expect": {"prompt": "buy milk"},
            "raw": {
                "tool": "cloud_write",
                "args": {"path": "shopping/list.txt", "text": "milk\nbread\n"},
            },
        },
        {"done": "wrote the shopping list"},
    ]
    served = valet.serve(
        "write my shopping list from my todo",
        script,
        connectors=[cloud],
        grants={"cloud": ASKED.format("update")},
        approve=["cloud_write"],
    )
    assert served.kinds == ["cloud_read", "cloud_write", "done"]
    direct = httpx.get(
        f"{wsgidav.url}{name}/shopping/list.txt", auth=(DAV_USER, DAV_PASSWORD), timeout=10
    )
    assert direct.status_code == 200 and direct.text == "milk\nbread\n"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "shopping/list.txt",
        "todo.txt",
    ]


# ---------------------------------------------------------------- GitHub (the contract server)


@pytest.mark.timeout(300)
def test_github_reads_an_issue_and_comments_once(valet: Valet, server: ContractServer) -> None:  # noqa: F811
    valet.credential(
        Credential(name="github", domains=(server.url.removeprefix("http://"),), password=TOKEN)
    )
    gh = {"name": "gh", "connector": "github", "base_url": server.url}
    comment = {"repo": "octo/hello", "number": 7, "body": "Fixed in 1.2, please try it."}
    script: list[Any] = [
        {"raw": {"tool": "gh_get_issue", "args": {"repo": "octo/hello", "number": 7}}},
        {"expect": {"prompt": "It crashes."}, "raw": {"tool": "gh_comment", "args": comment}},
        {"done": "answered the issue"},
    ]
    served = valet.serve(
        "answer issue 7 of octo/hello",
        script,
        connectors=[gh],
        grants={"gh": ASKED.format("publish")},  # the comment is stated: run unasked
    )
    assert served.kinds == ["gh_get_issue", "gh_comment", "done"]
    (posted,) = server.writes  # one write reached the server, the comment, once
    assert (posted.method, posted.operation) == ("POST", "issues/create-comment")
    assert posted.path == "/repos/octo/hello/issues/7/comments"
    body = posted.body["body"]
    assert body.startswith("Fixed in 1.2, please try it.") and f"task {served.id}." in body


# ---------------------------------------------------------------- git (git daemon)


@pytest.mark.timeout(300)
def test_git_reads_a_file_commits_and_pushes_once(
    valet: Valet,
    daemon: Daemon,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The write is a commit (in valet's copy) and its push to the server, each asked."""
    remote = make_remote(daemon.base, tmp_path)
    before = remote.tip()
    repo = {"name": "repo", "connector": "git", "url": daemon.url(remote.name), **ANN}
    change = {"path": "docs/guide.md", "text": "Guide, third edition\nline two\n"}
    script: list[Any] = [
        {"raw": {"tool": "repo_read_file", "args": {"path": "docs/guide.md"}}},
        {
            "expect": {"prompt": "Guide, second edition"},
            "raw": {"tool": "repo_commit", "args": {"message": "Third edition", "files": [change]}},
        },
        {"raw": {"tool": "repo_push", "args": {}}},
        {"expect": {"prompt": '"commits": 1'}, "done": "published the third edition"},
    ]
    served = valet.serve(
        "update the guide to its third edition, commit it and publish it",
        script,
        connectors=[repo],
        grants={"repo": '["update", "publish"]'},
        approve=["repo_commit", "repo_push"],
    )
    assert served.kinds == ["repo_read_file", "repo_commit", "repo_push", "done"]
    # read with git itself from the server's bare repository: one new commit, marked
    (new,) = remote.log(f"{before}..main")
    assert new.endswith("Ann Example <ann@example.com> | Third edition")
    assert f"{TRAILER}: {served.id}" in remote.message()
    assert remote.show("main:docs/guide.md") == change["text"]


# ---------------------------------------------------------------- Matrix (Synapse)


@pytest.mark.timeout(300)
def test_matrix_reads_a_room_and_posts_once(valet: Valet, synapse: Synapse) -> None:  # noqa: F811
    ann, bob = synapse.register("ann"), synapse.register("bob")
    room_id, alias = synapse.create_room(bob, f"Family {ann.localpart}")
    synapse.join(ann, room_id)
    synapse.say(bob, room_id, {"msgtype": "m.text", "body": "Who brings dessert on Sunday?"})
    valet.credential(
        Credential(name="matrix", domains=(f"127.0.0.1:{synapse.port}",), password=ann.token)
    )
    chat = {
        "name": "chat",
        "connector": "matrix",
        "homeserver": synapse.url,
        "credential": "matrix",
    }
    script: list[Any] = [
        {"raw": {"tool": "chat_read_messages", "args": {"room": alias}}},
        {
            "expect": {"prompt": "Who brings dessert on Sunday?"},
            "raw": {"tool": "chat_post_message", "args": {"room": alias, "text": "I will."}},
        },
        {"expect": {"prompt": '"posted": true'}, "done": "answered the family"},
    ]
    served = valet.serve(
        "answer the family room",
        script,
        connectors=[chat],
        grants={"chat": ASKED.format("send")},
        approve=["chat_post_message"],
    )
    assert served.kinds == ["chat_read_messages", "chat_post_message", "done"]
    # what Bob's client receives: Ann's one message, marked with the task
    (posted,) = [m for m in synapse.messages(bob, room_id) if m["sender"] == ann.user_id]
    assert posted["content"]["body"].startswith("I will.")
    assert posted["content"][TASK_KEY] == served.id


# ---------------------------------------------------------------- the npm filesystem MCP server


@pytest.mark.timeout(300)
def test_the_filesystem_mcp_server_reads_and_writes_once(valet: Valet, tmp_path: Path) -> None:
    """Its write_file overwrites, so the gateway reads it as destructive (`delete`)."""
    if not FS_SERVER.is_file():
        pytest.fail(f"the filesystem MCP server is not installed ({FS_SERVER}): run `make test`")
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "todo.txt").write_text("buy milk\n")
    todo = str(folder / "todo.txt")
    script: list[Any] = [
        {"raw": {"tool": "fs_read_text_file", "args": {"path": todo}}},
        {
            "expect": {"prompt": "buy milk"},
            "raw": {
                "tool": "fs_write_file",
                "args": {"path": todo, "content": "buy milk\nbuy bread\n"},
            },
        },
        {"done": "added bread"},
    ]
    served = valet.serve(
        "add bread to my todo, overwriting the file (erase the old version)",
        script,
        mcp=[{"name": "fs", "command": ["node", str(FS_SERVER), str(folder)]}],
        grants={"fs": ASKED.format("delete")},
        approve=["fs_write_file"],
    )
    assert served.kinds == ["fs_read_text_file", "fs_write_file", "done"]
    assert (folder / "todo.txt").read_text() == "buy milk\nbuy bread\n"
    assert [p.name for p in folder.iterdir()] == ["todo.txt"]
