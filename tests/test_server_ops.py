"""What an operator watches: `/healthz` and `/readyz` answer without the token, `/metrics`
needs it and counts what the server did (tasks by state, steps by phase, browser contexts)."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from tests.test_durable import _wait, serving
from tests.test_server_harness import running_server

from valet.sites import SiteServer


def _value(metrics: str, name: str) -> float:
    """The value of the sample `name` (with its labels, as Prometheus writes them)."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", metrics, re.MULTILINE)
    assert found is not None, f"{name} is not in the metrics:\n{metrics}"
    return float(found.group(1))


async def test_probes_answer_without_the_token_and_metrics_need_it(home: Path) -> None:
    async with running_server(home) as srv, srv.anonymous() as anonymous:
        health = await anonymous.get("/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
        ready = await anonymous.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        assert (await anonymous.get("/metrics")).status_code == 401
        assert (await anonymous.get("/api/tasks")).status_code == 401  # nothing else opened


async def test_metrics_count_tasks_steps_and_browser_contexts(
    home: Path, sites: SiteServer
) -> None:
    async with running_server(home) as srv:
        before = (await srv.client.get("/metrics")).text
        assert _value(before, 'valet_tasks{state="succeeded"}') == 0
        assert _value(before, "valet_browser_contexts") == 0
        task = await srv.create("quick", sites)
        await srv.final_events(task["id"])
        scraped = await srv.client.get("/metrics")
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        metrics = scraped.text
        assert _value(metrics, 'valet_tasks{state="succeeded"}') == 1
        assert _value(metrics, 'valet_tasks{state="running"}') == 0
        assert _value(metrics, "valet_steps_total") == 2
        for phase in ("observe", "model", "act"):
            assert _value(metrics, f'valet_step_seconds_count{{phase="{phase}"}}') == 2
        assert _value(metrics, "valet_task_queue_wait_seconds_count") == 1
        # The task ran in a context of the server's shared Chromium, closed when it ended.
        assert _value(metrics, "valet_browsers") == 1
        assert _value(metrics, "valet_browser_contexts") == 0


async def test_not_ready_while_shutting_down(home: Path) -> None:
    async with running_server(home) as srv, srv.anonymous() as anonymous:
        await srv.manager.shutdown()
        ready = await anonymous.get("/readyz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "not ready", "reason": "shutting down"}


class _Collector:
    """An OTLP/HTTP trace receiver on 127.0.0.1: keeps every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        collector.spans.extend(scope.spans)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _attributes(span: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for attribute in span.attributes:
        value = attribute.value
        found[attribute.key] = getattr(value, value.WhichOneof("value") or "string_value")
    return found


@pytest.mark.timeout(180)
def test_traces_go_to_the_otlp_collector_without_the_prompts(
    tmp_path: Path, sites: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    collector = _Collector()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")
    home = tmp_path / "home"
    home.mkdir()
    script = [{"done": {"answer": "the shop is open", "success": True}}]
    try:
        with serving(home, script) as server:
            made = server.post(
                "/api/tasks", {"task": "look at the shop", "start_url": sites.url_for("/shop")}
            ).json()

            def traced() -> list[Any] | None:
                names = {span.name for span in collector.spans}
                return collector.spans if "valet task" in names and len(names) > 1 else None

            spans = _wait(traced, "the task's spans", 60)
    finally:
        collector.server.shutdown()
    task = next(s for s in spans if s.name == "valet task")
    assert _attributes(task)["valet.task.id"] == made["id"]
    model_calls = [s for s in spans if _attributes(s).get("gen_ai.operation.name") == "chat"]
    assert model_calls, [s.name for s in spans]
    assert all(call.trace_id == task.trace_id for call in model_calls)  # inside the task's span
    everything = " ".join(str(_attributes(s)) for s in spans)
    assert "look at the shop" not in everything  # the prompt stays out by default
