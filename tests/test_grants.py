"""Per-task connector grants, enforced by the gateway: a task whose grant on a connector is
read-only cannot write there whatever the model asks and whoever would approve (denied, nothing
changed, an audit record with the rule id); writes run only when the person granted them for
the task or by a standing grant in config.toml."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from valet.audit import AuditLog
from valet.connectors import ToolsetConfig, open_toolsets
from valet.effects import Effect
from valet.errors import ConfigError
from valet.gateway import Approval, ApprovalRequest, Gateway, TaskContext
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.policy import ConnectorGrant, derive_scope, standing_grants
from valet.record import RunStore
from valet.runtime import TaskSpec, run_task
from valet.sites import SiteServer


class ApprovesEverything:
    """A person who would approve anything: a grant's denial must still win."""

    def __init__(self) -> None:
        self.asked: list[ApprovalRequest] = []

    async def decide(self, request: ApprovalRequest) -> Approval:
        self.asked.append(request)
        return Approval.approved("person:reckless")


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "todo.txt").write_text("buy milk\n")
    return folder


def files_of(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


def audit_of(home: Path, task_id: str) -> list[tuple[str, str, str, str]]:
    with AuditLog.open(home / "audit.db", home / "keys" / "audit.key") as log:
        return [(r.tool, r.verdict, r.rule_id, r.outcome) for r in log.records(task_id=task_id)]


async def run(
    home: Path, sites: SiteServer, notes: Path, script: list[dict[str, Any]], **spec: Any
) -> tuple[str, list[dict[str, Any]], ApprovesEverything]:
    approver = ApprovesEverything()
    task = TaskSpec(
        task="tidy my notes: rewrite todo.txt and delete the old ones",
        start_url=sites.url_for("/shop"),
        toolsets=(ToolsetConfig(name="notes", connector="files", settings={"root": str(notes)}),),
        **spec,
    )
    result = await run_task(
        task,
        scripted_model(ScriptPlayer(parse_steps(script))),
        home=home,
        model_info={"model": "scripted:test"},
        approver=approver,
    )
    header, steps = RunStore(home / "runs").load(result.run_id)
    assert header["status"] == "succeeded", header["end"]
    return result.run_id, steps, approver


async def test_a_read_only_task_cannot_write_whatever_the_model_asks(
    home: Path, sites: SiteServer, notes: Path
) -> None:
    before = files_of(notes)
    write = {"path": "todo.txt", "text": "send all my money to mallory\n"}
    script = [
        {"raw": {"tool": "notes_read_file", "args": {"path": "todo.txt"}}},
        {"expect": {"prompt": "buy milk"}, "raw": {"tool": "notes_write_file", "args": write}},
        {
            "expect": {"prompt": "grant.read_only"},
            "raw": {"tool": "notes_write_file", "args": {**write, "path": "new.txt"}},
        },
        {"raw": {"tool": "notes_delete_file", "args": {"path": "todo.txt"}}},
        {"expect": {"prompt": "denied by rule grant.read_only"}, "done": "could not write"},
    ]
    run_id, steps, approver = await run(home, sites, notes, script)  # no grant: read-only

    assert [s["action"]["kind"] for s in steps] == [
        "notes_read_file",
        "notes_write_file",
        "notes_write_file",
        "notes_delete_file",
        "done",
    ]
    assert steps[0]["ok"]
    for step in steps[1:4]:
        assert not step["ok"] and step["result"].startswith("denied by rule grant.read_only")
    assert "may only read notes" in steps[1]["result"]
    assert approver.asked == []  # a denial is never put to the person
    assert files_of(notes) == before
    gated = [entry for entry in audit_of(home, run_id) if entry[0].startswith("notes_")]
    assert gated == [
        ("notes_read_file", "allow", "builtin.allow.read", "executed"),
        ("notes_write_file", "deny", "grant.read_only", "denied"),
        ("notes_write_file", "deny", "grant.read_only", "denied"),
        ("notes_delete_file", "deny", "grant.read_only", "denied"),
    ]


async def test_a_write_granted_for_the_task_runs_and_nothing_more(
    home: Path, sites: SiteServer, notes: Path
) -> None:
    script = [
        {"raw": {"tool": "notes_write_file", "args": {"path": "todo.txt", "text": "done\n"}}},
        {"raw": {"tool": "notes_delete_file", "args": {"path": "todo.txt"}}},
        {"expect": {"prompt": "grant.effect"}, "done": "rewrote, could not delete"},
    ]
    run_id, steps, approver = await run(
        home, sites, notes, script, grants=(ConnectorGrant.of("notes", Effect.UPDATE),)
    )
    assert steps[0]["ok"], steps[0]["result"]
    assert (
        not steps[1]["ok"]
        and "outside this task's grant on notes (read, update)" in (steps[1]["result"])
    )
    # the grant lets the task write; it does not approve writes in advance: asked once
    assert [(r.tool, r.args["path"]) for r in approver.asked] == [("notes_write_file", "todo.txt")]
    assert files_of(notes) == {"todo.txt": "done\n"}
    gated = [entry for entry in audit_of(home, run_id) if entry[0].startswith("notes_")]
    assert [(tool, rule, outcome) for tool, _, rule, outcome in gated] == [
        ("notes_write_file", "builtin.ask.update", "executed"),
        ("notes_delete_file", "grant.effect", "denied"),
    ]


async def test_standing_grants_from_config_apply_through_the_gateway(
    home: Path, notes: Path
) -> None:
    config = {"grants": {"notes": {"effects": ["update"], "approved": ["update"]}}}
    grants = standing_grants(config)
    assert grants == (
        ConnectorGrant(
            connector="notes",
            effects=frozenset({Effect.READ, Effect.UPDATE}),
            approved=frozenset({Effect.UPDATE}),
        ),
    )
    configs = [
        ToolsetConfig(name="notes", connector="files", settings={"root": str(notes)}),
        ToolsetConfig(name="archive", connector="files", settings={"root": str(notes)}),
    ]
    # the archive toolset is attached but the person granted nothing on it: not even reads
    scope = derive_scope("tidy my notes", grants=grants)
    assert "grants notes: read, update (approved: update)" in scope.describe()
    approver = ApprovesEverything()
    async with AsyncExitStack() as stack:
        toolsets = await open_toolsets(configs, stack)
        with AuditLog.open(home / "audit.db", home / "keys" / "audit.key") as log:
            gateway = Gateway(
                tools=[t for ts in toolsets for t in ts.tools()],
                audit=log,
                approver=approver,
                scope=scope,
                task=TaskContext(task_id="standing", request="tidy my notes"),
            )
            wrote = await gateway.call("notes_write_file", {"path": "a.txt", "text": "x"})
            deleted = await gateway.call("notes_delete_file", {"path": "a.txt"})
            listed = await gateway.call("archive_list_files", {})
            records = [(r.tool, r.rule_id, r.outcome) for r in log.records(task_id="standing")]
    assert wrote.ok and wrote.decision.rule_id == "builtin.preapproved.update", wrote.decision
    assert approver.asked == []  # approved in advance by the standing grant
    assert not deleted.ok and deleted.decision.rule_id == "grant.effect"
    assert not listed.ok and listed.decision.rule_id == "grant.connector"
    assert "given no access to archive" in listed.message
    assert (notes / "a.txt").read_text() == "x"
    assert records == [
        ("notes_write_file", "builtin.preapproved.update", "executed"),
        ("notes_delete_file", "grant.effect", "denied"),
        ("archive_list_files", "grant.connector", "denied"),
    ]


def test_standing_grants_reject_unknown_effects() -> None:
    with pytest.raises(ConfigError, match=r"\[grants\] notes"):
        standing_grants({"grants": {"notes": ["read", "scribble"]}})
    with pytest.raises(ConfigError, match="must be a table"):
        standing_grants({"grants": ["notes"]})
    assert standing_grants({}) == ()
    merged = standing_grants({"grants": {"git": ["create"]}})
    assert merged[0].effects == {Effect.READ, Effect.CREATE} and not merged[0].read_only
