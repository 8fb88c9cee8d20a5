"""Schemathesis against the served OpenAPI document: generated requests never cause a 500.

Cases come from schemathesis' strategies for every operation of `/api/openapi.json`; they are
sent with httpx (schemathesis' own `requests` transport does not work with the urllib3 that
this environment's `urllib3-future` installs over it).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from tests.test_server_harness import TOKEN, running_server
from tests.test_server_live import Pacing

from valet.errors import ConfigError
from valet.server import ModelChoice
from valet.sites import SiteServer

EXAMPLES = 40


def no_model(spec: str | None) -> ModelChoice:
    """Generated tasks are refused (400) instead of each starting a browser."""
    raise ConfigError(f"no model {spec!r} in this test")


def fuzz(base_url: str, document: dict[str, Any]) -> tuple[Counter[str], list[str]]:
    """Every operation with generated cases; (answers per operation and status, problems)."""
    schema = schemathesis.openapi.from_dict(document)
    seen: Counter[str] = Counter()
    problems: list[str] = []
    with httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for result in schema.get_all_operations():
            _fuzz_operation(result.ok(), Probe(client, base_url, seen, problems))
    return seen, problems


@dataclass
class Probe:
    client: httpx.Client
    base_url: str
    seen: Counter[str]
    problems: list[str]

    def send(self, case: Any) -> None:
        label = f"{case.operation.method.upper()} {case.operation.path}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        sent = case.as_transport_kwargs(base_url=self.base_url, headers=headers)
        data = sent.get("data")
        sent_headers = dict(sent.get("headers") or {})
        if cookies := sent.get("cookies"):
            sent_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        response = self.client.request(
            sent["method"],
            sent["url"],
            params=sent.get("params"),
            headers=sent_headers,
            json=sent.get("json"),
            content=data if isinstance(data, bytes | str) else None,
            data=data if isinstance(data, dict) else None,
        )
        self.seen[f"{label} {response.status_code}"] += 1
        if response.status_code >= 500:
            self.problems.append(f"{label}: {response.status_code} {case.as_curl_command()}")
        elif response.status_code >= 400 and set(response.json()) != {"error", "detail"}:
            self.problems.append(f"{label}: error body {response.text[:200]}")


def _fuzz_operation(operation: Any, probe: Probe) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case: Any) -> None:
        probe.send(case)

    check()


async def test_generated_requests_never_cause_a_server_error(
    home: Path, sites: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VALET_VAULT_KEY", Fernet.generate_key().decode())  # sources may connect
    pacing = Pacing()
    async with running_server(home, model_factory=pacing.factory) as srv:
        # One task runs, so the person's routes also meet real state.
        task = await srv.create("asked", sites)
        await srv.events_until(task["id"], lambda e: e["type"] == "step")
        srv.manager._models = no_model  # pyright: ignore[reportPrivateUsage]
        document = (await srv.client.get("/api/openapi.json")).json()
        seen, problems = await asyncio.to_thread(fuzz, srv.url, document)
        assert problems == []
        operations = {key.rsplit(" ", 1)[0] for key in seen}
        for route in (
            "POST /api/requests/{request_id}/edit",
            "POST /api/tasks/{task_id}/takeover",
            "GET /api/requests",
            "GET /api/sources",
            "POST /api/sources",
            "DELETE /api/sources/{name}",
        ):
            assert route in operations, sorted(operations)
        assert sum(seen.values()) >= len(operations) * 5
        assert any(key.endswith(" 422") for key in seen)  # bad input was generated and refused
        await srv.client.post(f"/api/tasks/{task['id']}/cancel")
        await srv.final_events(task["id"])
