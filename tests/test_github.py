"""The GitHub connector, contract-tested against GitHub's published OpenAPI description.

GitHub has no server to install, so the tests run a local HTTP server on 127.0.0.1 that holds
the connector to GitHub's own description of its REST API (npm `@octokit/openapi`, installed by
`make github-spec`), read once per session with openapi-core:

- every request the connector sends is validated against the spec (path, method, query
  parameters, body); a request that does not conform fails the test;
- every answer the server gives is a response fixture validated against the spec's response
  schema for that operation and status. The fixtures start from the spec's own examples (some
  of which do not match GitHub's own schemas: those are fixed here, visibly). Error statuses an
  operation does not list (GitHub sends 401, 403 and 429 from any endpoint) are validated
  against the spec's `basic-error` schema, which is what GitHub sends for them.

Every call goes through the gateway: reads run, writes ask the person.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from jsonschema import Draft4Validator
from openapi_core import Config, OpenAPI
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.testing import MockRequest, MockResponse
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from valet.audit import AuditLog
from valet.connectors import (
    DidNotHappen,
    Happened,
    Reconciled,
    Toolset,
    ToolsetConfig,
    Unsure,
    open_toolsets,
    registered_connectors,
)
from valet.connectors._github import GITHUB, TRAILER, with_note, with_trailer
from valet.gateway import (
    Approval,
    Gateway,
    RunningAction,
    ScriptedApprover,
    TaskContext,
    performing,
)
from valet.vault import KEY_ENV, Credential, Vault

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / ".cache/octokit/node_modules/@octokit/openapi/generated/api.github.com.json"
GITHUB_URL = "https://api.github.com"
TOKEN = "ghp_" + "t0kenForTests" * 3
TASK = "task-42"

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


# ---------------------------------------------------------------- the spec, loaded once


class Contract:
    """GitHub's OpenAPI description: request and response validation, and its examples."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.api = OpenAPI.from_dict(raw, config=Config(spec_validator_cls=None))
        self.finder = APICallPathFinder(self.api.spec)
        error = raw["components"]["schemas"]["basic-error"]
        self.basic_error = Draft4Validator(_nullable(error))

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]]:
        found = self.finder.find(method.lower(), GITHUB_URL + path)
        template = found.path.parts[-1]
        op = self.raw["paths"][template][method.lower()]
        return op["operationId"], op

    def request_problems(
        self, method: str, path: str, query: Any, headers: dict[str, str], body: bytes
    ) -> list[str]:
        request = MockRequest(
            GITHUB_URL,
            method,
            path,
            args=query,
            headers=headers,
            data=body or None,
            content_type=headers.get("Content-Type", "application/json").split(";")[0],
        )
        return [_explain(e) for e in self.api.iter_request_errors(request)]

    def response_problems(self, method: str, path: str, status: int, body: object) -> list[str]:
        _, op = self.operation(method, path)
        if str(status) not in op["responses"] and status >= 400:
            errors = self.basic_error.iter_errors(body)
            return [f"{status} is not basic-error: {e.message}" for e in errors]
        request = MockRequest(GITHUB_URL, method, path)
        data = b"" if body is None else json.dumps(body).encode()
        response = MockResponse(data, status_code=status, content_type="application/json")
        return [_explain(e) for e in self.api.iter_response_errors(request, response)]

    def example(self, operation_id: str, status: int, name: str | None = None) -> Any:
        """A deep copy of the spec's example for an operation's answer (`$ref`s resolved)."""
        for ops in self.raw["paths"].values():
            for op in ops.values():
                if isinstance(op, dict) and op.get("operationId") == operation_id:
                    content = self._resolve(op["responses"][str(status)])["content"]
                    examples = content["application/json"]["examples"]
                    chosen = examples[name] if name else next(iter(examples.values()))
                    value = self._resolve(chosen)["value"]
                    if isinstance(value, dict) and "$ref" in value:  # a components/examples entry
                        value = self._resolve(value)["value"]
                    return copy.deepcopy(value)
        raise KeyError(operation_id)

    def _resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.raw
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            node = target
        return node


def _nullable(schema: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` as JSON Schema (for plain jsonschema validation)."""
    if isinstance(schema, dict):
        out = {k: _nullable(v) for k, v in schema.items() if k != "nullable"}
        if schema.get("nullable") and isinstance(schema.get("type"), str):
            out["type"] = [schema["type"], "null"]
        return out
    if isinstance(schema, list):
        return [_nullable(item) for item in schema]
    return schema


def _explain(error: Exception) -> str:
    cause = error.__cause__
    details = [str(e.message) for e in getattr(cause, "schema_errors", ()) or ()]
    return f"{error!r}: {cause!r}" + (f" {details}" if details else "")


@pytest.fixture(scope="session")
def contract() -> Contract:
    if not SPEC.is_file():
        pytest.fail(
            f"GitHub's OpenAPI description is missing ({SPEC.relative_to(ROOT)}): run "
            "`make github-spec` (npm install of @octokit/openapi)"
        )
    return Contract(json.loads(SPEC.read_bytes()))


# ---------------------------------------------------------------- the contract server


@dataclass
class Seen:
    method: str
    path: str
    operation: str
    body: Any


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict[str, str])


class ContractServer:
    """A local HTTP server that speaks GitHub's REST API as its spec describes it."""

    def __init__(self, contract: Contract, answers: dict[str, Answer]) -> None:
        self.contract = contract
        self.answers = answers
        self.queued: dict[str, list[Answer]] = {}
        self.seen: list[Seen] = []
        self.problems: list[str] = []
        self.token = TOKEN
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ContractServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def answer(self, operation: str, status: int, body: Any, **headers: str) -> None:
        """Answer the next call of `operation` with this (validated) response."""
        self.queued.setdefault(operation, []).append(Answer(status, body, headers))

    def accepts(self, authorization: str | None) -> bool:
        """Whether GitHub takes a request with this `Authorization` header (GitHub answers 401
        otherwise)."""
        return authorization == f"Bearer {self.token}"

    @property
    def writes(self) -> list[Seen]:
        return [s for s in self.seen if s.method in WRITES]

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or request.path)
        path = _multi_segment(raw.split("?")[0])
        body = request.get_data()
        method = request.method
        try:
            operation, _ = self.contract.operation(method, path)
        except Exception as exc:
            self.problems.append(f"{method} {path}: not in GitHub's API ({exc!r})")
            return self._send(environ, start_response, Answer(404, {"message": "Not Found"}))
        headers = {k: v for k, v in request.headers.items()}
        problems = self.contract.request_problems(
            method, path, request.args, headers, body if method in WRITES else b""
        )
        parsed = json.loads(body) if body else None
        self.seen.append(Seen(method, unquote(path), operation, parsed))
        if problems:
            self.problems.extend(f"{method} {path}: {p}" for p in problems)
            return self._send(
                environ, start_response, Answer(400, {"message": "; ".join(problems)})
            )
        if not self.accepts(request.headers.get("Authorization")):
            answer = Answer(401, {"message": "Bad credentials", "documentation_url": DOCS})
        elif self.queued.get(operation):
            answer = self.queued[operation].pop(0)
        elif operation in self.answers:
            answer = self.answers[operation]
        else:
            self.problems.append(f"{method} {path}: no fixture for {operation}")
            answer = Answer(404, {"message": "Not Found"})
        for problem in self.contract.response_problems(method, path, answer.status, answer.body):
            self.problems.append(f"fixture for {operation} {answer.status}: {problem}")
        return self._send(environ, start_response, answer)

    @staticmethod
    def _send(environ: dict[str, Any], start_response: Any, answer: Answer) -> Any:
        data = b"" if answer.body is None else json.dumps(answer.body).encode()
        response = Response(data, status=answer.status, content_type="application/json")
        for key, value in answer.headers.items():
            response.headers[key.replace("_", "-")] = value
        return response(environ, start_response)


DOCS = "https://docs.github.com/rest"


def _multi_segment(path: str) -> str:
    """The spec marks the contents `path` parameter `x-multi-segment`: its slashes belong to
    the parameter, so they are escaped before the spec's path templates are matched."""
    found = re.match(r"^(/repos/[^/]+/[^/]+/contents/)(.+)$", path)
    if found is None:
        return path
    return found.group(1) + quote(unquote(found.group(2)), safe="")


# ---------------------------------------------------------------- fixtures from the spec


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def default_answers(contract: Contract) -> dict[str, Answer]:
    """One validated answer per operation the connector uses, from the spec's examples."""
    repos = contract.example("repos/list-for-authenticated-user", 200)
    repos[0].update(full_name="octo/hello", name="hello", description="Hello world")
    readme = contract.example("repos/get-content", 200, "response-if-content-is-a-file")
    readme.update(path="docs/guide.md", name="guide.md", content=b64("# Guide\n\nHi.\n"))
    readme["size"] = len("# Guide\n\nHi.\n")
    issue = contract.example("issues/get", 200)
    issue.update(number=7, title="Crash on start", body="It crashes.", state="open")
    issues = contract.example("issues/list-for-repo", 200)
    issues[0].update(number=7, title="Crash on start")
    comments = contract.example("issues/list-comments", 200)
    comments[0].update(body="Same here.")
    pulls = contract.example("pulls/list", 200)
    pull = contract.example("pulls/get", 200)
    for team in [*pulls[0]["requested_teams"], *pull["requested_teams"]]:
        team.setdefault("type", "organization")  # the example lacks this required field
    for label in [*pulls[0]["labels"], *pull["labels"]]:
        # githubkit's models follow a newer description of the API, where labels say who
        # archived them; the spec allows the extra field, so the fixture satisfies both
        label.setdefault("archived_by", None)
    pulls[0].update(number=1347, title="Amazing new feature")
    pull.update(number=1347, title="Amazing new feature")
    files = contract.example("pulls/list-files", 200)
    created = contract.example("issues/create", 201)
    created.update(number=8, title="Docs are out of date")
    comment = contract.example("issues/create-comment", 201)
    written = contract.example("repos/create-or-update-file-contents", 201)
    review = contract.example("pulls/create-review", 200)
    closed = contract.example("issues/update", 200)
    closed.update(number=7, state="closed", state_reason="completed")
    reviews = contract.example("pulls/list-reviews", 200)
    commits = contract.example("repos/list-commits", 200)
    return {
        "repos/list-for-authenticated-user": Answer(200, repos),
        "repos/get-content": Answer(200, readme),
        "issues/list-for-repo": Answer(200, issues),
        "issues/get": Answer(200, issue),
        "issues/list-comments": Answer(200, comments),
        "pulls/list": Answer(200, pulls),
        "pulls/get": Answer(200, pull),
        "pulls/list-files": Answer(200, files),
        "issues/create": Answer(201, created),
        "issues/create-comment": Answer(201, comment),
        "repos/create-or-update-file-contents": Answer(201, written),
        "pulls/create-review": Answer(200, review),
        "issues/update": Answer(200, closed),
        "pulls/list-reviews": Answer(200, reviews),
        "repos/list-commits": Answer(200, commits),
    }


@pytest.fixture(scope="session")
def answers(contract: Contract) -> dict[str, Answer]:
    return default_answers(contract)


@pytest.fixture
def server(contract: Contract, answers: dict[str, Answer]) -> Iterator[ContractServer]:
    with ContractServer(contract, copy.deepcopy(answers)) as running:
        yield running
    assert running.problems == [], "the connector or a fixture broke GitHub's API contract"


@pytest.fixture
def vault_home(home: Path, monkeypatch: pytest.MonkeyPatch, server: ContractServer) -> Path:
    """A vault holding the token, bound to the contract server's host and port."""
    from cryptography.fernet import Fernet

    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    vault = Vault.open(home, create=True)
    host = server.url.removeprefix("http://")
    vault.add(Credential(name="github", domains=(host,), password=TOKEN))
    vault.save()
    return home


def config(server: ContractServer, **settings: Any) -> ToolsetConfig:
    values = {"base_url": server.url, "task_id": TASK, **settings}
    return ToolsetConfig(name="gh", connector="github", settings=values)


async def gateway_for(
    stack: AsyncExitStack, cfg: ToolsetConfig, audit: AuditLog, approver: ScriptedApprover
) -> Gateway:
    (toolset,) = await open_toolsets([cfg], stack)
    return Gateway(toolset.tools(), audit=audit, approver=approver)


def approving(count: int) -> ScriptedApprover:
    return ScriptedApprover.of([Approval.approved("person:alice") for _ in range(count)])


# ---------------------------------------------------------------- tests


def test_github_registers_through_the_entry_point_with_declared_effects() -> None:
    assert registered_connectors()["github"] is GITHUB
    assert GITHUB.auth == "api_key"
    assert {"contents:write", "issues:write", "pull_requests:write"} <= set(GITHUB.scopes)


async def test_operations_and_effects(server: ContractServer, vault_home: Path) -> None:
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config(server)], stack)
    effects = {op.name: op.effect.value for op in toolset.operations}
    assert effects == {
        "list_repos": "read",
        "get_file": "read",
        "list_issues": "read",
        "get_issue": "read",
        "list_pulls": "read",
        "get_pull": "read",
        "create_issue": "create",
        "comment": "publish",
        "create_or_update_file": "update",
        "create_review": "publish",
        "close_issue": "update",
    }
    assert [t.name for t in toolset.tools()][:2] == ["gh_list_repos", "gh_get_file"]
    assert server.seen == []  # opening the toolset sends nothing


async def test_reads_run_without_asking_and_match_the_spec(
    server: ContractServer, vault_home: Path, audit: AuditLog
) -> None:
    approver = ScriptedApprover.of([])
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approver)
        repos = await gw.call("gh_list_repos", {"per_page": 5})
        guide = await gw.call("gh_get_file", {"repo": "octo/hello", "path": "docs/guide.md"})
        issues = await gw.call("gh_list_issues", {"repo": "octo/hello", "labels": ["bug"]})
        issue = await gw.call("gh_get_issue", {"repo": "octo/hello", "number": 7})
        pulls = await gw.call("gh_list_pulls", {"repo": "octo/hello", "state": "all"})
        pull = await gw.call("gh_get_pull", {"repo": "octo/hello", "number": 1347})
    assert approver.requests == []
    assert repos.ok and isinstance(repos.value, list)
    assert repos.value[0]["repo"] == "octo/hello"
    assert guide.ok and guide.value["text"] == "# Guide\n\nHi.\n"
    assert issues.ok and issues.value[0]["title"] == "Crash on start"
    assert issue.ok and issue.value["body"] == "It crashes."
    assert issue.value["comments"][0]["body"] == "Same here."
    assert pulls.ok and pulls.value[0]["number"] == 1347
    assert pull.ok and pull.value["files"][0]["file"] == "file1.txt"
    assert str(guide.source).startswith("untrusted:gh_get_file")
    assert [(s.method, s.path) for s in server.seen] == [
        ("GET", "/user/repos"),
        ("GET", "/repos/octo/hello/contents/docs/guide.md"),
        ("GET", "/repos/octo/hello/issues"),
        ("GET", "/repos/octo/hello/issues/7"),
        ("GET", "/repos/octo/hello/issues/7/comments"),
        ("GET", "/repos/octo/hello/pulls"),
        ("GET", "/repos/octo/hello/pulls/1347"),
        ("GET", "/repos/octo/hello/pulls/1347/files"),
    ]


async def test_writes_ask_and_carry_valets_mark(
    server: ContractServer, vault_home: Path, audit: AuditLog
) -> None:
    approver = approving(5)
    server.answer("repos/get-content", 404, {"message": "Not Found", "documentation_url": DOCS})
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approver)
        opened = await gw.call(
            "gh_create_issue", {"repo": "octo/hello", "title": "Docs", "body": "Outdated."}
        )
        said = await gw.call("gh_comment", {"repo": "octo/hello", "number": 7, "body": "On it."})
        wrote = await gw.call(
            "gh_create_or_update_file",
            {
                "repo": "octo/hello",
                "path": "docs/new guide.md",
                "text": "New.\n",
                "message": "Add the new guide",
                "branch": "docs",
            },
        )
        reviewed = await gw.call(
            "gh_create_review", {"repo": "octo/hello", "number": 1347, "event": "APPROVE"}
        )
        closed = await gw.call("gh_close_issue", {"repo": "octo/hello", "number": 7})
    assert [r.ok for r in (opened, said, wrote, reviewed, closed)] == [True] * 5, [
        r.message for r in (opened, said, wrote, reviewed, closed)
    ]
    assert [(r.tool, r.effect) for r in approver.requests] == [
        ("gh_create_issue", "create"),
        ("gh_comment", "publish"),
        ("gh_create_or_update_file", "update"),
        ("gh_create_review", "publish"),
        ("gh_close_issue", "update"),
    ]
    assert opened.value == {"number": 8, "url": opened.value["url"], "state": "open"}
    note = f"<sub>Written by valet, an AI agent, for task {TASK}.</sub>"
    bodies = {s.operation: s.body for s in server.writes}
    assert bodies["issues/create"]["body"] == f"Outdated.\n\n---\n{note}"
    assert bodies["issues/create-comment"] == {"body": f"On it.\n\n---\n{note}"}
    assert bodies["pulls/create-review"] == {"event": "APPROVE", "body": note}
    assert bodies["issues/update"] == {"state": "closed", "state_reason": "completed"}
    put = bodies["repos/create-or-update-file-contents"]
    assert put["message"] == f"Add the new guide\n\n{TRAILER}: {TASK}\n"
    assert base64.b64decode(put["content"]).decode() == "New.\n"
    assert put["branch"] == "docs" and "sha" not in put  # a new file
    assert [s.path for s in server.writes][2] == "/repos/octo/hello/contents/docs/new guide.md"


async def test_the_mark_names_the_task_the_call_runs_for(
    server: ContractServer, vault_home: Path
) -> None:
    values = {"base_url": server.url}  # no task_id: the runtime never sets one
    cfg = ToolsetConfig(name="gh", connector="github", settings=values)
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([cfg], stack)
        for task in ("run-1", "run-2"):  # one toolset, two tasks: each call its own task's id
            gw = Gateway(toolset.tools(), approver=approving(1), task=TaskContext(task_id=task))
            said = await gw.call("gh_comment", {"repo": "octo/hello", "number": 7, "body": "Hi"})
            assert said.ok, said.message
    bodies = [s.body["body"] for s in server.writes if s.operation == "issues/create-comment"]
    assert [b.rsplit("for task ", 1)[1] for b in bodies] == ["run-1.</sub>", "run-2.</sub>"]


async def test_updating_a_file_sends_its_sha_and_a_retry_writes_nothing(
    server: ContractServer, vault_home: Path, audit: AuditLog, answers: dict[str, Answer]
) -> None:
    current = answers["repos/get-content"].body
    updated = server.contract.example("repos/create-or-update-file-contents", 200)
    server.answer("repos/create-or-update-file-contents", 200, updated)
    new_text = "# Guide\n\nHello.\n"
    now = {**current, "content": b64(new_text), "size": len(new_text), "sha": "a" * 40}
    server.answer("repos/get-content", 200, current)
    server.answer("repos/get-content", 200, now)  # the retry finds it already written
    args = {
        "repo": "octo/hello",
        "path": "docs/guide.md",
        "text": new_text,
        "message": "Greet better\n\nSigned-off-by: Alice <alice@example.com>",
    }
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approving(2))
        first = await gw.call("gh_create_or_update_file", args)
        again = await gw.call("gh_create_or_update_file", args)
    assert first.ok and first.value["created"] is False
    assert again.ok and again.value == {"path": "docs/guide.md", "sha": "a" * 40, "unchanged": True}
    (put,) = server.writes
    assert put.body["sha"] == current["sha"]
    assert put.body["message"] == (
        f"Greet better\n\nSigned-off-by: Alice <alice@example.com>\n{TRAILER}: {TASK}\n"
    )


async def test_a_stale_sha_is_refused_before_writing(
    server: ContractServer, vault_home: Path, audit: AuditLog
) -> None:
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approving(1))
        result = await gw.call(
            "gh_create_or_update_file",
            {
                "repo": "octo/hello",
                "path": "docs/guide.md",
                "text": "x",
                "message": "m",
                "sha": "b" * 40,
            },
        )
    assert not result.ok and "changed since you read it" in result.message
    assert server.writes == []


async def test_attribution_can_be_turned_off(
    server: ContractServer, vault_home: Path, audit: AuditLog
) -> None:
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server, attribution=False), audit, approving(1))
        said = await gw.call("gh_comment", {"repo": "octo/hello", "number": 7, "body": "Thanks!"})
    assert said.ok
    assert server.writes[0].body == {"body": "Thanks!"}


async def test_declined_writes_never_reach_github(
    server: ContractServer, vault_home: Path, audit: AuditLog
) -> None:
    approver = ScriptedApprover.of([Approval.declined() for _ in range(5)])
    calls = [
        ("gh_create_issue", {"repo": "octo/hello", "title": "Spam"}),
        ("gh_comment", {"repo": "octo/hello", "number": 7, "body": "Spam"}),
        (
            "gh_create_or_update_file",
            {"repo": "octo/hello", "path": "a.txt", "text": "x", "message": "m"},
        ),
        ("gh_create_review", {"repo": "octo/hello", "number": 1, "event": "APPROVE"}),
        ("gh_close_issue", {"repo": "octo/hello", "number": 7}),
    ]
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approver)
        results = [await gw.call(name, args) for name, args in calls]
    assert [r.ok for r in results] == [False] * 5
    assert all("declined" in r.message for r in results)
    assert len(approver.requests) == 5
    assert server.seen == []  # not even the read before a file write


async def test_a_bad_token_is_a_clear_error(
    server: ContractServer, vault_home: Path, audit: AuditLog
) -> None:
    server.token = "ghp_the_real_one"
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approving(1))
        listed = await gw.call("gh_list_repos", {})
        said = await gw.call("gh_comment", {"repo": "octo/hello", "number": 7, "body": "Hi"})
    for result in (listed, said):
        assert not result.ok
        assert "refused the token (401: Bad credentials)" in result.message
        assert "the vault credential 'github'" in result.message
        assert "nothing was done" in result.message
    assert TOKEN not in listed.message


async def test_a_token_source_is_renewed_once_after_a_401(
    server: ContractServer, audit: AuditLog
) -> None:
    class Rotating:
        label = "the OAuth session"

        def __init__(self) -> None:
            self.asked: list[bool] = []

        async def token(self, *, renew: bool = False) -> str:
            self.asked.append(renew)
            return TOKEN if renew else "gho_expired"

    source = Rotating()
    connector = type(GITHUB)(tokens=lambda _settings: source)
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config(server)], stack, {"github": connector})
        gw = Gateway(toolset.tools(), audit=audit)
        listed = await gw.call("gh_list_repos", {})
    assert listed.ok
    assert source.asked == [False, True]
    assert [s.path for s in server.seen] == ["/user/repos", "/user/repos"]


async def test_missing_or_misbound_credentials_are_clear_errors(
    server: ContractServer, vault_home: Path, audit: AuditLog
) -> None:
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server, credential="work"), audit, approving(0))
        missing = await gw.call("gh_list_repos", {})
    vault = Vault.open(vault_home)
    vault.add(Credential(name="work", domains=("api.github.com",), password=TOKEN), replace=True)
    vault.save()
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server, credential="work"), audit, approving(0))
        elsewhere = await gw.call("gh_list_repos", {})
    assert not missing.ok and "no credential 'work'" in missing.message
    assert "valet vault add work" in missing.message
    assert not elsewhere.ok and "is not bound to 127.0.0.1" in elsewhere.message
    assert server.seen == []  # the token was never sent to a host it is not bound to


async def test_not_found_is_a_clear_error(
    server: ContractServer, vault_home: Path, audit: AuditLog
) -> None:
    server.answer("issues/get", 404, {"message": "Not Found", "documentation_url": DOCS})
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approving(0))
        result = await gw.call("gh_get_issue", {"repo": "octo/hello", "number": 999})
    assert not result.ok
    assert "reading issue #999 of octo/hello: not found (404: Not Found)" in result.message
    assert "private repositories" in result.message


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (403, {"retry_after": "42"}, "Try again in 42 s"),
        (429, {"retry_after": "7"}, "Try again in 7 s"),
        (403, {"x_ratelimit_remaining": "0", "x_ratelimit_reset": "9999999999"}, "Try again in"),
    ],
)
async def test_rate_limits_are_clear_errors_and_not_retried(
    server: ContractServer,
    vault_home: Path,
    audit: AuditLog,
    status: int,
    headers: dict[str, str],
    wait: str,
) -> None:
    limited = {"message": "API rate limit exceeded", "documentation_url": DOCS}
    server.answer("issues/create-comment", status, limited, **headers)
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approving(1))
        result = await gw.call("gh_comment", {"repo": "octo/hello", "number": 7, "body": "Hi"})
    assert not result.ok
    assert f"rate limit is reached ({status}: API rate limit exceeded)" in result.message
    assert "nothing was done" in result.message and wait in result.message
    assert len(server.writes) == 1  # not retried


async def test_a_server_error_on_a_write_says_to_look_before_retrying(
    server: ContractServer, vault_home: Path, audit: AuditLog
) -> None:
    server.answer("issues/create", 503, {"message": "Service unavailable", "code": "503"})
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approving(1))
        result = await gw.call("gh_create_issue", {"repo": "octo/hello", "title": "Bug"})
    assert not result.ok and "GitHub failed (503: Service unavailable)" in result.message
    assert "look (list or get it) before trying again" in result.message
    assert len(server.writes) == 1  # not retried: no duplicate issue


async def test_server_down_is_a_clear_error(vault_home: Path, audit: AuditLog) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    vault = Vault.open(vault_home)
    down = f"127.0.0.1:{port}"
    vault.add(Credential(name="down", domains=(down,), password=TOKEN))
    vault.save()
    cfg = ToolsetConfig(
        name="gh", connector="github", settings={"base_url": f"http://{down}", "credential": "down"}
    )
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, cfg, audit, approving(1))
        listed = await gw.call("gh_list_repos", {})
        opened = await gw.call("gh_create_issue", {"repo": "octo/hello", "title": "Bug"})
    for result in (listed, opened):
        assert not result.ok
        assert f"cannot reach GitHub at http://{down} (connection refused)" in result.message
        assert "nothing was sent" in result.message


async def test_an_answer_that_breaks_the_api_description_is_a_clear_error(
    server: ContractServer, vault_home: Path, audit: AuditLog, contract: Contract
) -> None:
    broken = contract.example("issues/get", 200)
    del broken["title"]
    server.answer("issues/get", 200, broken)
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approving(0))
        result = await gw.call("gh_get_issue", {"repo": "octo/hello", "number": 7})
    assert not result.ok
    assert "GitHub's answer (200) is not what its API describes (title: Field required)" in (
        result.message
    )
    # the contract server noticed too: this fixture is invalid on purpose
    assert any("'title' is a required property" in p for p in server.problems)
    server.problems.clear()


async def test_bad_arguments_never_reach_github(
    server: ContractServer, vault_home: Path, audit: AuditLog
) -> None:
    async with AsyncExitStack() as stack:
        gw = await gateway_for(stack, config(server), audit, approving(0))
        escape = await gw.call("gh_get_file", {"repo": "octo/hello", "path": "../../user"})
        owner = await gw.call("gh_list_issues", {"repo": "../admin"})
        review = await gw.call(
            "gh_create_review", {"repo": "octo/hello", "number": 1, "event": "REQUEST_CHANGES"}
        )
    assert [r.ok for r in (escape, owner, review)] == [False, False, False]
    assert "'..'" in escape.message
    assert "needs a body" in review.message
    assert server.seen == []


def test_attribution_helpers() -> None:
    assert with_trailer("Fix it", "Valet-Task", "t1") == "Fix it\n\nValet-Task: t1\n"
    assert with_trailer("Fix\n\nBody text.\n", "Valet-Task", "t1") == (
        "Fix\n\nBody text.\n\nValet-Task: t1\n"
    )
    assert with_trailer("Fix\n\nCo-authored-by: A <a@x>", "Valet-Task", "t1") == (
        "Fix\n\nCo-authored-by: A <a@x>\nValet-Task: t1\n"
    )
    assert with_note("", "by valet") == "<sub>by valet</sub>"
    assert with_note("Hi\n", "by valet") == "Hi\n\n---\n<sub>by valet</sub>"


# ---------------------------------------------------------------- after a crash

ACTION = "valet.task-42.act-7"
MARK = f"<!-- valet-action: {ACTION} -->"
INTERRUPTED = {
    "create_issue": {"repo": "octo/hello", "title": "Docs", "body": "Outdated."},
    "comment": {"repo": "octo/hello", "number": 7, "body": "On it."},
    "create_or_update_file": {
        "repo": "octo/hello",
        "path": "docs/new.md",
        "text": "New.\n",
        "message": "Add the new guide",
        "branch": "docs",
    },
    "create_review": {"repo": "octo/hello", "number": 1347, "event": "APPROVE"},
}


async def reconcile(
    toolset: Toolset, name: str, args: dict[str, Any], *, committed: bool = True
) -> Reconciled:
    """What a restarted task learns from the operation's lookup hook."""
    (op,) = [o for o in toolset.operations if o.name == name]
    assert op.reconcile is not None
    return await op.reconcile(op.args.model_validate(args), ACTION, committed)


async def test_an_interrupted_write_is_found_by_the_mark_naming_its_action(
    server: ContractServer, vault_home: Path, audit: AuditLog, contract: Contract
) -> None:
    committed: list[str] = []
    server.answer("repos/get-content", 404, {"message": "Not Found", "documentation_url": DOCS})
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config(server)], stack)
        gw = Gateway(toolset.tools(), audit=audit, approver=approving(4))
        with performing(RunningAction(ACTION, lambda: committed.append(ACTION))):
            done = [await gw.call(f"gh_{name}", args) for name, args in INTERRUPTED.items()]
        assert [r.ok for r in done] == [True] * 4, [r.message for r in done]
        assert committed == [ACTION] * 4  # each marked its point of no return before sending
        sent = {s.operation: s.body for s in server.writes}
        note = f"<sub>Written by valet, an AI agent, for task {TASK}.</sub>"
        assert sent["issues/create"]["body"] == f"Outdated.\n\n---\n{note}\n{MARK}"
        assert sent["issues/create-comment"] == {"body": f"On it.\n\n---\n{note}\n{MARK}"}
        assert sent["pulls/create-review"]["body"] == f"{note}\n{MARK}"
        message = sent["repos/create-or-update-file-contents"]["message"]
        assert message == f"Add the new guide\n\n{TRAILER}: {TASK}\nValet-Action: {ACTION}\n"

        # valet restarts: GitHub now lists what it wrote (the spec's examples, with those bodies)
        server.seen.clear()
        issue = contract.example("issues/list-for-repo", 200)[0]
        del issue["pull_request"]
        issue.update(number=8, body=sent["issues/create"]["body"])
        pull = contract.example("issues/list-for-repo", 200)[0]  # a pull request is skipped
        pull.update(number=9, body=sent["issues/create"]["body"])
        server.answer("issues/list-for-repo", 200, [pull, issue])
        server.answer("issues/get", 200, {**contract.example("issues/get", 200), "comments": 1})
        comments = contract.example("issues/list-comments", 200)
        comments.append({**comments[0], "id": 42, "body": sent["issues/create-comment"]["body"]})
        server.answer("issues/list-comments", 200, [])  # page 2: the count was right
        server.answer("issues/list-comments", 200, comments)
        reviews = contract.example("pulls/list-reviews", 200)
        reviews.insert(0, {**reviews[0], "id": 79, "body": "Nice."})
        reviews[1]["body"] = sent["pulls/create-review"]["body"]
        server.answer("pulls/list-reviews", 200, reviews)
        commits = contract.example("repos/list-commits", 200)
        commits[0]["commit"]["message"] = message
        server.answer("repos/list-commits", 200, commits)
        found = {name: await reconcile(toolset, name, args) for name, args in INTERRUPTED.items()}
    assert found["create_issue"] == Happened(
        {"number": 8, "url": issue["html_url"], "state": "open"},
        "found issue #8, which carries its mark",
    )
    assert found["comment"] == Happened(
        {"id": 42, "url": comments[0]["html_url"]}, "found comment 42, which carries its mark"
    )
    assert found["create_review"] == Happened(
        {"id": 80, "state": "APPROVED", "url": reviews[1]["html_url"]},
        "found review 80, which carries its mark",
    )
    sha = commits[0]["sha"]
    assert found["create_or_update_file"] == Happened(
        {"path": "docs/new.md", "commit": sha, "url": commits[0]["html_url"]},
        f"found commit {sha[:12]}, whose Valet-Action trailer names it",
    )
    assert [(s.method, s.path) for s in server.seen] == [
        ("GET", "/repos/octo/hello/issues"),
        ("GET", "/repos/octo/hello/issues/7"),
        ("GET", "/repos/octo/hello/issues/7/comments"),
        ("GET", "/repos/octo/hello/issues/7/comments"),
        ("GET", "/repos/octo/hello/commits"),
        ("GET", "/repos/octo/hello/pulls/1347/reviews"),
    ]


async def test_a_write_that_never_reached_github_is_not_found(
    server: ContractServer, vault_home: Path
) -> None:
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config(server)], stack)
        # stopped before sending: nothing to look up
        before = {
            n: await reconcile(toolset, n, a, committed=False) for n, a in INTERRUPTED.items()
        }
        assert server.seen == []
        # sent, but GitHub holds nothing with its mark (the spec's examples carry none)
        looked = {n: await reconcile(toolset, n, a) for n, a in INTERRUPTED.items()}
    assert set(before.values()) == {
        DidNotHappen("valet stopped before it sent the request to GitHub")
    }
    assert looked == {
        "create_issue": DidNotHappen("none of the newest issues of octo/hello carries its mark"),
        "comment": DidNotHappen("none of the newest comments on #7 of octo/hello carries its mark"),
        "create_or_update_file": DidNotHappen(
            "none of the newest commits to docs/new.md carries its Valet-Action trailer"
        ),
        "create_review": DidNotHappen(
            "no review of pull request #1347 of octo/hello carries its mark"
        ),
    }
    assert server.writes == []


async def test_without_attribution_an_interrupted_write_cannot_be_found(
    server: ContractServer, vault_home: Path
) -> None:
    async with AsyncExitStack() as stack:
        (toolset,) = await open_toolsets([config(server, attribution=False)], stack)
        found = {n: await reconcile(toolset, n, a) for n, a in INTERRUPTED.items()}
    assert all(isinstance(f, Unsure) and "Attribution is off" in f.what for f in found.values())
    assert server.seen == []
    (close,) = [o for o in toolset.operations if o.name == "close_issue"]
    assert close.idempotent and close.reconcile is None  # closing again changes nothing
