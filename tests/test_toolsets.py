"""Toolsets through the gateway: the registry, the files connector, config.toml and the CLI, a
scripted run that calls an MCP tool, and the enumeration test: every registered toolset (entry
points, the browser, configured MCP servers) reaches the world only through the gateway."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
from pydantic import BaseModel
from tests._repo import git_state
from typer.testing import CliRunner

from valet.audit import AuditLog
from valet.browser import BrowserSession, BrowserSettings
from valet.cli import app
from valet.connectors import (
    ENTRY_POINT_GROUP,
    Toolset,
    ToolsetAction,
    ToolsetConfig,
    ToolsetToolbox,
    configured_toolsets,
    open_toolsets,
    registered_connectors,
)
from valet.effects import Effect
from valet.errors import ConfigError
from valet.gateway import (
    Approval,
    ApprovalRequest,
    GatedToolbox,
    Gateway,
    ScriptedApprover,
    TaskContext,
)
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.policy import ConnectorGrant, ForbidEffect, NavigationSettings, Policy, RuleSet
from valet.record import RunStore
from valet.runtime import TaskSpec, run_task
from valet.settings import load_config
from valet.sites import SiteServer
from valet.tools import BROWSER_ACTIONS, BrowserToolbox, Done

BIN = Path(sys.executable).parent
GIT_SERVER = str(BIN / "mcp-server-git")
TIME_SERVER = str(BIN / "mcp-server-time")

RECORDER = """
import json, os, sys

# A hand-written stdio MCP server that writes down every tool call it receives.
NO_ARGS = {"type": "object", "properties": {"what": {"type": "string"}}, "required": ["what"]}
TOOLS = [
    {"name": "lookup", "inputSchema": NO_ARGS, "annotations": {"readOnlyHint": True}},
    {"name": "purge", "inputSchema": NO_ARGS, "annotations": {"destructiveHint": True}},
    {
        "name": "post",
        "inputSchema": NO_ARGS,
        "annotations": {"readOnlyHint": False, "destructiveHint": False, "openWorldHint": True},
    },
    {"name": "mystery", "inputSchema": NO_ARGS},
]


def send(message):
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", **message}) + "\\n")
    sys.stdout.flush()


for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message:
        continue
    method, params, rid = message.get("method"), message.get("params") or {}, message["id"]
    if method == "initialize":
        info = {"name": "recorder", "version": "1"}
        version = params["protocolVersion"]
        result = {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": info}
        send({"id": rid, "result": result})
    elif method == "tools/list":
        send({"id": rid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        with open(os.environ["CALLS"], "a") as f:
            f.write(params["name"] + "\\n")
        send({"id": rid, "result": {"content": [{"type": "text", "text": "done"}]}})
    else:
        send({"id": rid, "error": {"code": -32601, "message": f"no method {method}"}})
"""


def calls_of(log: Path) -> list[str]:
    """The tool calls the recording MCP server received."""
    return log.read_text().split()


def folder_state(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    (folder / "letters").mkdir(parents=True)
    (folder / "todo.txt").write_text("buy milk\n")
    (folder / "letters" / "bank.txt").write_text("Dear bank,\n")
    return folder


@pytest.fixture
def recorder(tmp_path: Path, home: Path) -> Path:
    """A recording MCP server configured in config.toml; returns its calls log."""
    script = tmp_path / "recorder.py"
    script.write_text(RECORDER)
    calls = tmp_path / "calls.txt"
    calls.touch()
    (home / "config.toml").write_text(
        "[[mcp]]\n"
        'name = "rec"\n'
        f"command = [{json.dumps(sys.executable)}, {json.dumps(str(script))}]\n"
        f"env = {{ CALLS = {json.dumps(str(calls))} }}\n"
    )
    return calls


def test_builtin_connectors_register_through_the_entry_point() -> None:
    names = {point.name for point in entry_points(group=ENTRY_POINT_GROUP)}
    assert {"files", "mcp"} <= names
    registry = registered_connectors()
    assert set(registry) == names
    assert registry["files"].auth == "none"
    assert registry["files"].scopes == ("files.read", "files.write")
    assert registry["mcp"].auth == "local"


async def test_files_connector_reads_freely_and_asks_before_writing(
    files: Path, audit: AuditLog
) -> None:
    config = ToolsetConfig(name="notes", connector="files", settings={"root": str(files)})
    before = folder_state(files)
    approver = ScriptedApprover.of([Approval.declined(), Approval.declined()])
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config], stack)
        # the letter's path is worked out, not said: a stated delete of a path the person
        # typed would run once unasked; this one is asked
        request = "rewrite todo.txt, delete my letter to the bank and write new/plan.txt"
        task = TaskContext(task_id="files-test", request=request)
        gateway = Gateway(toolset.tools(), audit=audit, approver=approver, task=task)
        listed = await gateway.call("notes_list_files", {})
        read = await gateway.call("notes_read_file", {"path": "todo.txt"})
        escape = await gateway.call("notes_read_file", {"path": "../../etc/passwd"})
        write = await gateway.call("notes_write_file", {"path": "todo.txt", "text": "nothing"})
        delete = await gateway.call("notes_delete_file", {"path": "letters/bank.txt"})
        unchanged = folder_state(files)
        approver.answers.append(Approval.approved("person:alice"))
        written = await gateway.call("notes_write_file", {"path": "new/plan.txt", "text": "go"})
    assert toolset.scopes == ("files.read", "files.write")
    assert listed.ok and listed.value == ["letters/", "todo.txt"]
    assert read.ok and read.value == "buy milk\n"
    assert str(read.source) == "untrusted:notes_read_file#2"
    assert not escape.ok and "outside the notes folder" in escape.message
    assert [(r.tool, r.effect) for r in approver.requests[:2]] == [
        ("notes_write_file", "update"),
        ("notes_delete_file", "delete"),
    ]
    assert not write.ok and not delete.ok and unchanged == before
    assert written.ok and (files / "new" / "plan.txt").read_text() == "go"
    verdicts = [(r.tool, r.verdict, r.outcome) for r in audit.records()]
    assert verdicts[2:] == [
        ("notes_read_file", "allow", "failed"),
        ("notes_write_file", "ask", "declined"),
        ("notes_delete_file", "ask", "declined"),
        ("notes_write_file", "ask", "executed"),
    ]


def test_config_toml_names_toolsets(home: Path) -> None:
    (home / "config.toml").write_text(
        '[[mcp]]\nname = "git"\ncommand = ["mcp-server-git"]\neffects = { git_add = "read" }\n'
        '[[connectors]]\nname = "notes"\nconnector = "files"\nroot = "~/notes"\n'
    )
    assert configured_toolsets(load_config(home)) == [
        ToolsetConfig.mcp("git", command=["mcp-server-git"], effects={"git_add": "read"}),
        ToolsetConfig(name="notes", connector="files", settings={"root": "~/notes"}),
    ]
    (home / "config.toml").write_text('[[mcp]]\nname = "Bad Name"\ncommand = ["x"]\n')
    with pytest.raises(ConfigError, match=r"\[\[mcp\]\] #1: name"):
        configured_toolsets(load_config(home))


def test_cli_lists_connectors_and_configured_servers(home: Path, recorder: Path) -> None:
    with (home / "config.toml").open("a") as config:
        config.write(f'[[mcp]]\nname = "time"\ncommand = [{json.dumps(TIME_SERVER)}]\n')
        config.write('[[mcp]]\nname = "gone"\ncommand = ["/nonexistent/mcp-server"]\n')
    result = CliRunner().invoke(app, ["connectors", "list", "--json"])
    assert result.exit_code == 1, result.output  # `gone` cannot be started
    data = json.loads(result.stdout)
    assert {c["name"] for c in data["connectors"]} >= {"files", "mcp"}
    rec, time_, gone = data["toolsets"]
    assert [(t["tool"], t["effect"], t["valet"]) for t in rec["tools"]] == [
        ("rec_lookup", "read", "runs"),
        ("rec_purge", "delete", "asks you"),
        ("rec_post", "send", "asks you"),
        ("rec_mystery", "unknown", "asks you"),
    ]
    assert time_["tools"][0]["because"] == "annotation readOnlyHint"
    assert "could not be started" in gone["error"]
    assert calls_of(recorder) == []  # listing calls no tool
    shown = CliRunner().invoke(app, ["connectors", "list"])
    assert "rec_purge" in shown.stdout and "annotation destructiveHint" in shown.stdout


async def test_a_scripted_run_calls_an_mcp_tool_as_an_action(
    home: Path, sites: SiteServer, repo: Path
) -> None:
    before = git_state(repo)
    script = [
        {"raw": {"tool": "git_status", "args": {"repo_path": str(repo)}}},
        {
            "expect": {"prompt": "notes.txt"},  # the model read the tool's result
            "raw": {"tool": "git_commit", "args": {"repo_path": str(repo), "message": "sneaky"}},
        },
        {"expect": {"prompt": "declined by script"}, "done": "status read; commit declined"},
    ]
    approver = ScriptedApprover()
    spec = TaskSpec(
        task="check the state of my repository and commit what changed",
        start_url=sites.url_for("/shop"),
        toolsets=(ToolsetConfig.mcp("git", command=[GIT_SERVER, "--repository", str(repo)]),),
        grants=(ConnectorGrant.of("git", "update"),),  # writes may be asked for, not made
    )
    result = await run_task(
        spec,
        scripted_model(ScriptPlayer(parse_steps(script))),
        home=home,
        model_info={"model": "scripted:test"},
        approver=approver,
    )
    header, steps = RunStore(home / "runs").load(result.run_id)
    assert header["status"] == "succeeded", header["end"]
    assert [s["action"]["kind"] for s in steps] == ["git_status", "git_commit", "done"]
    assert steps[0]["ok"] and "untrusted:git_status#1" in steps[0]["result"]
    assert not steps[1]["ok"] and steps[1]["result"].startswith("declined by script")
    assert [(r.tool, r.effect) for r in approver.requests] == [("git_commit", "update")]
    assert git_state(repo) == before
    with AuditLog.open(home / "audit.db", home / "keys" / "audit.key") as log:
        gated = [(r.tool, r.verdict, r.outcome) for r in log.records(task_id=result.run_id)]
    assert ("git_status", "allow", "executed") in gated
    assert ("git_commit", "ask", "declined") in gated


class ApprovesEverything:
    """A person who would approve anything: deny rules must still win."""

    def __init__(self) -> None:
        self.asked: list[ApprovalRequest] = []

    async def decide(self, request: ApprovalRequest) -> Approval:
        self.asked.append(request)
        return Approval.approved("person:reckless")


DENY_EVERYTHING = RuleSet(rules=tuple(ForbidEffect(effect=e) for e in Effect))

# Settings to open each registered connector with in this test. A new connector must be added
# here, or the enumeration test fails: nothing is registered without being proven gated.
ToolsetsFor = Callable[[Path, Path], list[ToolsetConfig]]
OPENERS: dict[str, ToolsetsFor] = {
    "files": lambda files, repo: [
        ToolsetConfig(name="files", connector="files", settings={"root": str(files)})
    ],
    "mcp": lambda files, repo: [
        ToolsetConfig.mcp("git", command=[GIT_SERVER, "--repository", str(repo)]),
        ToolsetConfig.mcp("time", command=[TIME_SERVER]),
    ],
    # Nothing listens on port 9: a call that got past the gateway would fail loudly.
    "calendar": lambda files, repo: [
        ToolsetConfig(name="cal", connector="calendar", settings={"url": "http://127.0.0.1:9/"})
    ],
    "webdav": lambda files, repo: [
        ToolsetConfig(name="dav", connector="webdav", settings={"url": "http://127.0.0.1:9/"})
    ],
    "mail": lambda files, repo: [
        ToolsetConfig(name="mail", connector="mail", settings=MAIL_ON_PORT_9),
    ],
    "github": lambda files, repo: [
        ToolsetConfig(name="gh", connector="github", settings={"base_url": "http://127.0.0.1:9"})
    ],
    "git": lambda files, repo: [
        ToolsetConfig(
            name="repo",
            connector="git",
            settings={
                "url": "git://127.0.0.1:9/notes.git",
                "author_name": "Ann",
                "author_email": "ann@example.com",
            },
        )
    ],
    "research": lambda files, repo: [
        ToolsetConfig(
            name="research",
            connector="research",
            settings={"provider": "searxng", "searxng_url": "http://127.0.0.1:9"},
        )
    ],
    "workspace": lambda files, repo: [
        ToolsetConfig(name="workspace", connector="workspace", settings={"wall_s": 5})
    ],
    "matrix": lambda files, repo: [
        ToolsetConfig(
            name="chat",
            connector="matrix",
            settings={"homeserver": "http://127.0.0.1:9", "credential": "matrix"},
        )
    ],
}
MAIL_ON_PORT_9 = {
    "credential": "mail",  # not in the vault: the mailbox opens, its first call would fail
    "imap_host": "127.0.0.1",
    "imap_port": 9,
    "imap_tls": "none",
    "smtp_host": "127.0.0.1",
    "smtp_port": 9,
    "smtp_tls": "none",
}


def sample(schema: dict[str, Any], defs: dict[str, Any]) -> object:
    """A valid value for a JSON schema (the model's view of an action's arguments)."""
    if "$ref" in schema:
        return sample(defs[str(schema["$ref"]).rsplit("/", 1)[-1]], defs)
    if schema.get("examples"):  # e.g. a time or an e-mail address
        return schema["examples"][0]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"]
            return sample(options[0], defs)
    kind = schema.get("type")
    if kind == "string":
        return "x" * max(1, int(schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(schema.get("items", {}), defs)] * max(1, int(schema.get("minItems", 1)))
    if kind == "object":
        props: dict[str, Any] = schema.get("properties", {})
        return {name: sample(props[name], defs) for name in schema.get("required", [])}
    return "x"


def sample_action(action: type[BaseModel]) -> BaseModel:
    schema = action.model_json_schema()
    return action.model_validate(sample(schema, schema.get("$defs", {})))


async def test_every_registered_toolset_reaches_the_world_only_through_the_gateway(
    home: Path, tmp_path: Path, sites: SiteServer, repo: Path, files: Path, recorder: Path
) -> None:
    registry = registered_connectors()
    unproven = set(registry) - set(OPENERS)
    assert not unproven, f"add the new connectors {unproven} to OPENERS in this test"
    configs = [c for name in registry for c in OPENERS[name](files, repo)]
    configs += configured_toolsets(load_config(home))  # the recording MCP server
    before = (git_state(repo), folder_state(files))
    person = ApprovesEverything()
    with AuditLog.open(tmp_path / "enum.db", tmp_path / "enum.key") as log:
        async with AsyncExitStack() as stack:
            toolsets: list[Toolset] = await open_toolsets(configs, stack)
            session = await BrowserSession.start(BrowserSettings(), tmp_path / "artifacts")
            await stack.enter_async_context(session)
            await session.goto(sites.url_for("/shop/cart"))
            shop = frozenset({urlsplit(sites.url_for("/")).netloc})  # a loopback host
            gateway = Gateway(
                [tool for toolset in toolsets for tool in toolset.tools()],
                rules=Policy(
                    rules=DENY_EVERYTHING, navigation=NavigationSettings(allow_hosts=shop)
                ),
                audit=log,
                approver=person,
                task=TaskContext(task_id="enumeration"),
            )
            browser = GatedToolbox(BrowserToolbox(session), gateway)
            toolbox = ToolsetToolbox(browser, gateway, toolsets)
            page = await toolbox.observe()

            # Every action the model can choose is a browser action behind the GatedToolbox or
            # a toolset action that names a gateway tool: there is no third way out.
            offered = [a for a in toolbox.actions if a is not Done]
            added = [a for a in offered if issubclass(a, ToolsetAction)]
            assert [a for a in offered if a not in added] == [
                a for a in BROWSER_ACTIONS if a is not Done
            ]
            tool_names = {tool.name for tool in gateway.tools}
            assert {a.kind for a in added} == tool_names
            assert tool_names == {ts.tool_name(op) for ts in toolsets for op in ts.operations}
            assert {ts.connector for ts in toolsets} == set(registry)
            assert len(added) >= 4 + 12 + 2 + 4  # files, git, time, recorder

            outcomes = {a.kind: await toolbox.execute(cast(Any, sample_action(a))) for a in offered}
            after = await toolbox.observe()
            denied_calls = calls_of(recorder)
            control = Gateway([tool for toolset in toolsets for tool in toolset.tools()])
            assert (await control.call("rec_lookup", {"what": "x"})).ok

    refused = {kind: o.message for kind, o in outcomes.items() if o.ok}
    assert not refused, f"allowed under a deny-everything policy: {refused}"
    assert all(o.message.startswith("denied by rule ") for o in outcomes.values())
    assert person.asked == []  # deny wins before anyone is asked
    assert after.url == page.url and after.digest == page.digest  # the browser did nothing
    assert (git_state(repo), folder_state(files)) == before
    assert denied_calls == []  # no call reached the configured MCP server…
    assert calls_of(recorder) == ["lookup"]  # …which does see the calls a gateway allows
    with AuditLog.open(tmp_path / "enum.db", tmp_path / "enum.key") as log:
        records = list(log.records(task_id="enumeration"))
    assert sorted(r.tool for r in records) == sorted(outcomes)
    assert {(r.verdict, r.outcome, r.actor) for r in records} == {("deny", "denied", "agent")}
    # the person's rule refuses each; a sample value the cart page shows (a `1`) is refused
    # first, by where it came from (the most specific rule leads)
    by_page = [r for r in records if r.rule_id.startswith("provenance.")]
    assert all("did not point to (page:" in r.reason for r in by_page)
    others = {r.rule_id.split("#")[0] for r in records if r not in by_page}
    assert others == {"person.forbid_effect"}
