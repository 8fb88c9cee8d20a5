"""What an operator watches: health and readiness probes and Prometheus metrics.

- `GET /healthz` (no token): the process answers. For a liveness probe.
- `GET /readyz` (no token): 200 once the server can take tasks (its databases open, the
  durable runtime started), else 503 with why. For a load balancer or a readiness probe.
- `GET /metrics` (the token, as for the API: `Authorization: Bearer …`): Prometheus text.
  Tasks by state, time tasks waited in the queue, step time by phase (observe, model, act),
  model tokens and cost, browsers and browser contexts open.

The registry belongs to one server (no process-global metrics): two apps in one process (the
tests) count apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from valet.agent import StepRecord

if TYPE_CHECKING:
    from valet.server._tasks import TaskManager

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATES = ("queued", "running", "waiting", "succeeded", "failed", "stopped", "cancelled")
_STEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_WAIT_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)


class ServerMetrics:
    """The server's Prometheus metrics. The task manager reports steps and starts to it; the
    rest (tasks by state, browsers) is read from the manager when scraped."""

    def __init__(self, manager: TaskManager) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.queue_wait = Histogram(
            "valet_task_queue_wait_seconds",
            "Time from a task's creation to its start.",
            buckets=_WAIT_BUCKETS,
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "valet_step_seconds",
            "Time of one agent step by phase: observe the page, the model's turn, the action.",
            ["phase"],
            buckets=_STEP_BUCKETS,
            registry=self.registry,
        )
        self.steps = Counter("valet_steps", "Agent steps taken.", registry=self.registry)
        self.tokens = Counter(
            "valet_model_tokens",
            "Model tokens used, by direction (input, output).",
            ["direction"],
            registry=self.registry,
        )
        self.cost = Counter(
            "valet_model_cost_usd",
            "Model cost in US dollars, where the model's price is known.",
            registry=self.registry,
        )
        self.registry.register(_Live(manager))

    def step(self, record: StepRecord) -> None:
        self.steps.inc()
        for phase, ms in record.timings_ms.items():
            self.step_seconds.labels(phase).observe(ms / 1000)
        self.tokens.labels("input").inc(record.input_tokens)
        self.tokens.labels("output").inc(record.output_tokens)
        if record.cost_usd:
            self.cost.inc(record.cost_usd)

    def started(self, created_at: str, started_at: str) -> None:
        waited = datetime.fromisoformat(started_at) - datetime.fromisoformat(created_at)
        self.queue_wait.observe(max(waited.total_seconds(), 0.0))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Live(Collector):
    """Gauges read from the manager at each scrape."""

    def __init__(self, manager: TaskManager) -> None:
        self._manager = manager

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily("valet_tasks", "Tasks by state.", labels=["state"])
        counts = self._manager.count_by_status()
        for state in STATES:
            tasks.add_metric([state], counts.get(state, 0))
        yield tasks
        pool = self._manager.browsers
        yield _gauge("valet_browsers", "Shared browsers connected.", pool and pool.browsers)
        yield _gauge(
            "valet_browser_contexts",
            "Browser contexts open in the shared browsers (one per running browser task).",
            pool and pool.contexts,
        )


def _gauge(name: str, text: str, value: int | None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, value=float(value or 0))


router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    manager: TaskManager = request.app.state.tasks
    problem = await manager.readiness()
    if problem is not None:
        return JSONResponse({"status": "not ready", "reason": problem}, status_code=503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    manager: TaskManager = request.app.state.tasks
    render: Callable[[], bytes] = manager.metrics.render
    return Response(render(), media_type=CONTENT_TYPE)
