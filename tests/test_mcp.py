"""MCP servers as toolsets, through the gateway: the reference git and time servers on a real
repository, a flaky server that crashes, hangs or writes invalid JSON, and streamable HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from tests._repo import git, git_state

from valet.audit import AuditLog
from valet.connectors import ConnectorError, Toolset, ToolsetConfig, open_toolsets
from valet.effects import Effect
from valet.gateway import Approval, Gateway, ScriptedApprover, TaskContext

BIN = Path(sys.executable).parent
GIT_SERVER = str(BIN / "mcp-server-git")
TIME_SERVER = str(BIN / "mcp-server-time")

REQUEST = "look after my repository: commit, push and update what needs it"
"""What the tests' task asks: the actions it takes are ones the person asked for."""


FLAKY = """
import json, os, sys

# A hand-written stdio MCP server (newline-delimited JSON-RPC), so that it can misbehave.
NO_ARGS = {"type": "object", "properties": {}}
TOOLS = [
    {
        "name": "echo",
        "description": "Echo the text.",
        "inputSchema": {
            "type": "object",
            "properties": {"text": {"type": "string"}},
            "required": ["text"],
        },
        "annotations": {"readOnlyHint": True},
    },
    {"name": "crash", "description": "Exit in the middle of the call.", "inputSchema": NO_ARGS},
    {"name": "garbage", "description": "Answer with invalid JSON.", "inputSchema": NO_ARGS},
    {"name": "hang", "description": "Never answer.", "inputSchema": NO_ARGS},
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
        info = {"name": "flaky", "version": "1"}
        version = params["protocolVersion"]
        result = {"protocolVersion": version, "capabilities": {"tools": {}}, "serverInfo": info}
        send({"id": rid, "result": result})
    elif method == "tools/list":
        send({"id": rid, "result": {"tools": TOOLS}})
    elif method == "tools/call" and params["name"] == "echo":
        text = params["arguments"]["text"]
        send({"id": rid, "result": {"content": [{"type": "text", "text": text}]}})
    elif method == "tools/call" and params["name"] == "crash":
        print("flaky: giving up", file=sys.stderr, flush=True)
        os._exit(3)
    elif method == "tools/call" and params["name"] == "garbage":
        sys.stdout.write("this is {not json\\n")
        sys.stdout.flush()
    elif method == "tools/call" and params["name"] == "hang":
        pass
    else:
        send({"id": rid, "error": {"code": -32601, "message": f"no method {method}"}})
"""

HTTP_SERVER = '''
import os, sys, threading
from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("web")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def echo(text: str) -> str:
    """Echo the text."""
    with open(os.environ["CALLS"], "a") as f:
        f.write("echo\\n")
    return text


@server.tool()
def touch() -> str:
    """Not annotated: asked."""
    with open(os.environ["CALLS"], "a") as f:
        f.write("touch\\n")
    return "touched"


server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[1]))
'''


@pytest.fixture
def flaky(tmp_path: Path) -> Path:
    script = tmp_path / "flaky_server.py"
    script.write_text(FLAKY)
    return script


@asynccontextmanager
async def opened(*configs: ToolsetConfig) -> AsyncIterator[list[Toolset]]:
    async with AsyncExitStack() as stack:
        yield await open_toolsets(configs, stack)


def git_config(repo: Path, **settings: Any) -> ToolsetConfig:
    return ToolsetConfig.mcp("git", command=[GIT_SERVER, "--repository", str(repo)], **settings)


def effects(toolset: Toolset) -> dict[str, Effect]:
    return {op.name: op.effect for op in toolset.operations}


def gateway_for(toolsets: list[Toolset], audit: AuditLog | None, approver: ScriptedApprover):
    tools = [tool for toolset in toolsets for tool in toolset.tools()]
    task = TaskContext(task_id="mcp-test", request=REQUEST)
    return Gateway(tools, audit=audit, approver=approver, task=task)


async def test_git_server_tools_get_effects_from_their_annotations(repo: Path) -> None:
    async with opened(git_config(repo)) as (toolset,):
        found = effects(toolset)
        assert toolset.connector == "mcp" and toolset.auth == "local"
        assert "mcp-git" in toolset.description
    for read in ("git_status", "git_log", "git_diff", "git_show", "git_branch"):
        assert found[read] is Effect.READ, read
    for write in ("git_commit", "git_add", "git_create_branch", "git_checkout"):
        assert found[write] is Effect.UPDATE, write
    assert found["git_reset"] is Effect.DELETE
    sources = {op.name: op.effect_source for op in toolset.operations}
    assert sources["git_status"] == "annotation readOnlyHint"
    assert sources["git_reset"] == "annotation destructiveHint"


async def test_git_reads_run_and_writes_are_asked_then_declined(
    repo: Path, audit: AuditLog
) -> None:
    before = git_state(repo)
    approver = ScriptedApprover()  # declines every ask
    async with opened(git_config(repo)) as toolsets:
        gateway = gateway_for(toolsets, audit, approver)
        status = await gateway.call("git_status", {"repo_path": str(repo)})
        log = await gateway.call("git_log", {"repo_path": str(repo)})
        add = await gateway.call("git_add", {"repo_path": str(repo), "files": ["notes.txt"]})
        commit = await gateway.call("git_commit", {"repo_path": str(repo), "message": "sneaky"})
        branch = await gateway.call(
            "git_create_branch", {"repo_path": str(repo), "branch_name": "sneaky"}
        )

    assert status.ok and status.decision.verdict == "allow"
    assert "notes.txt" in str(status.value)
    assert status.source is not None and str(status.source) == "untrusted:git_status#1"
    assert log.ok and "first commit" in str(log.value)
    # The file to stage comes from git_status's output, not from the person: refused unasked
    # (an MCP write's unknown string arguments count). The others are asked, and declined.
    assert not add.ok and add.decision.rule_id == "provenance.files", add.decision
    assert "git_status#1" in add.decision.reason
    for refused in (commit, branch):
        assert not refused.ok
        assert refused.decision.verdict == "ask"
        assert refused.message.startswith("declined by script")
    asked = [(r.tool, r.effect) for r in approver.requests]
    assert asked == [("git_commit", "update"), ("git_create_branch", "update")]
    assert approver.requests[0].args == {"repo_path": str(repo), "message": "sneaky"}
    assert git_state(repo) == before  # nothing staged, committed or branched
    records = [(r.tool, r.verdict, r.outcome) for r in audit.records(task_id="mcp-test")]
    assert records == [
        ("git_status", "allow", "executed"),
        ("git_log", "allow", "executed"),
        ("git_add", "deny", "denied"),
        ("git_commit", "ask", "declined"),
        ("git_create_branch", "ask", "declined"),
    ]


async def test_approved_git_writes_change_the_repository(repo: Path, audit: AuditLog) -> None:
    approver = ScriptedApprover.of([Approval.approved("person:alice")] * 2)
    async with opened(git_config(repo)) as toolsets:
        gateway = gateway_for(toolsets, audit, approver)
        add = await gateway.call("git_add", {"repo_path": str(repo), "files": ["notes.txt"]})
        commit = await gateway.call("git_commit", {"repo_path": str(repo), "message": "Add notes"})
    assert add.ok and commit.ok, (add.message, commit.message)
    assert add.approver == "person:alice"
    assert git(repo, "log", "-1", "--format=%s") == "Add notes"
    assert git(repo, "show", "--name-only", "--format=", "HEAD") == "notes.txt"
    outcomes = [(r.tool, r.approver, r.outcome) for r in audit.records()]
    assert outcomes == [
        ("git_add", "person:alice", "executed"),
        ("git_commit", "person:alice", "executed"),
    ]


async def test_the_persons_mapping_wins_and_untrusted_annotations_are_ignored(
    repo: Path,
) -> None:
    mapped = git_config(repo, effects={"git_log": "unknown", "git_add": "read"})
    async with opened(mapped) as (toolset,):
        found = effects(toolset)
        approver = ScriptedApprover()
        gateway = gateway_for([toolset], None, approver)
        log = await gateway.call("git_log", {"repo_path": str(repo)})
    assert found["git_log"] is Effect.UNKNOWN and found["git_add"] is Effect.READ
    assert found["git_status"] is Effect.READ
    assert not log.ok and log.decision.verdict == "ask"  # unknown is never allowed silently

    distrust = ToolsetConfig.mcp(
        "git", command=[GIT_SERVER, "--repository", str(repo)], trust_annotations=False
    )
    async with opened(distrust) as (toolset,):
        assert set(effects(toolset).values()) == {Effect.UNKNOWN}
        assert {op.effect_source for op in toolset.operations} == {"annotations not trusted"}


async def test_time_server_is_read_only() -> None:
    async with opened(ToolsetConfig.mcp("time", command=[TIME_SERVER])) as (toolset,):
        gateway = gateway_for([toolset], None, ScriptedApprover())
        now = await gateway.call("time_get_current_time", {"timezone": "Europe/Paris"})
        bad = await gateway.call("time_get_current_time", {})
    assert effects(toolset) == {"get_current_time": Effect.READ, "convert_time": Effect.READ}
    assert [tool.name for tool in toolset.tools()] == [
        "time_get_current_time",
        "time_convert_time",
    ]
    assert now.ok and now.decision.verdict == "allow"
    assert '"timezone": "Europe/Paris"' in str(now.value)
    assert not bad.ok and bad.decision.rule_id == "gateway.invalid_args"
    assert "timezone" in bad.message


async def test_a_server_that_crashes_mid_call_gives_a_clear_error(
    flaky: Path, tmp_path: Path
) -> None:
    config = ToolsetConfig.mcp("flaky", command=[sys.executable, str(flaky)], timeout=30)
    started = time.monotonic()
    async with opened(config) as (toolset,):
        assert effects(toolset) == {
            "echo": Effect.READ,
            "crash": Effect.UNKNOWN,
            "garbage": Effect.UNKNOWN,
            "hang": Effect.UNKNOWN,
        }
        gateway = gateway_for([toolset], None, ScriptedApprover.of([Approval.approved()]))
        echo = await gateway.call("flaky_echo", {"text": "hi"})
        crash = await gateway.call("flaky_crash")
        after = await gateway.call("flaky_echo", {"text": "again"})
    assert time.monotonic() - started < 20  # far below the 30 s call timeout
    assert echo.ok and echo.value == "hi"
    assert not crash.ok and crash.decision.verdict == "ask"
    assert "the MCP server 'flaky' (flaky) stopped (it crashed or exited)" in crash.message
    assert "flaky: giving up" in crash.message  # its last error output, for the person
    assert not after.ok and "unavailable for the rest of this task" in after.message


async def test_a_server_that_writes_invalid_json_fails_the_call_at_once(flaky: Path) -> None:
    config = ToolsetConfig.mcp("flaky", command=[sys.executable, str(flaky)], timeout=60)
    approver = ScriptedApprover.of([Approval.approved()])
    async with opened(config) as (toolset,):
        gateway = gateway_for([toolset], None, approver)
        started = time.monotonic()
        garbage = await gateway.call("flaky_garbage")
        elapsed = time.monotonic() - started
        after = await gateway.call("flaky_echo", {"text": "again"})
    assert elapsed < 15  # not the 60 s timeout
    assert not garbage.ok
    assert "sent invalid JSON" in garbage.message
    assert not after.ok and "sent invalid JSON" in after.message


async def test_a_server_that_hangs_times_out(flaky: Path) -> None:
    config = ToolsetConfig.mcp("flaky", command=[sys.executable, str(flaky)], timeout=1)
    approver = ScriptedApprover.of([Approval.approved()])
    async with opened(config) as (toolset,):
        gateway = gateway_for([toolset], None, approver)
        hang = await gateway.call("flaky_hang")
        echo = await gateway.call("flaky_echo", {"text": "still here"})
    assert not hang.ok
    assert hang.message == "the MCP server 'flaky' (flaky) did not answer hang within 1 s"
    assert echo.ok and echo.value == "still here"  # a slow call does not break the server


async def test_a_server_that_does_not_start_is_a_clear_error(tmp_path: Path) -> None:
    missing = ToolsetConfig.mcp("nope", command=[str(tmp_path / "no-such-server")])
    with pytest.raises(ConnectorError, match=r"MCP server 'nope' .* could not be started"):
        async with opened(missing):
            pass
    dying = tmp_path / "dying.py"
    dying.write_text("import sys\nprint('bad configuration: no repo', file=sys.stderr)\n")
    config = ToolsetConfig.mcp("dying", command=[sys.executable, str(dying)], startup_timeout=20)
    with pytest.raises(ConnectorError, match="bad configuration: no repo"):
        async with opened(config):
            pass
    with pytest.raises(ConnectorError, match=r"either command .* or url"):
        async with opened(ToolsetConfig.mcp("neither")):
            pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the HTTP MCP server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            try:
                process.wait(timeout=0.05)  # returns at once if the server died
            except subprocess.TimeoutExpired:
                continue
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The SDK's own server over streamable HTTP on a free port: (its URL, its calls log)."""
    port = free_port()
    calls = tmp_path / "calls.txt"
    calls.touch()
    script = tmp_path / "http_server.py"
    script.write_text(HTTP_SERVER)
    process = subprocess.Popen(
        [sys.executable, str(script), str(port)],
        env={"PATH": str(BIN), "CALLS": str(calls)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp", calls
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_a_streamable_http_server_by_url(http_server: tuple[str, Path]) -> None:
    url, calls = http_server
    async with opened(ToolsetConfig.mcp("web", url=url)) as (toolset,):
        gateway = gateway_for([toolset], None, ScriptedApprover())
        echo = await gateway.call("web_echo", {"text": "over http"})
        touch = await gateway.call("web_touch")
    assert effects(toolset) == {"echo": Effect.READ, "touch": Effect.UNKNOWN}
    assert echo.ok and echo.value == "over http"
    assert not touch.ok and touch.decision.verdict == "ask"  # unannotated: asked, declined
    assert calls.read_text().split() == ["echo"]  # the declined call never reached the server
