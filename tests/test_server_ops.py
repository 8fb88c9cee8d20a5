"""What an operator watches: `/healthz` and `/readyz` answer without the token, `/metrics`
needs it and counts what the server did (tasks by state, steps by phase, browser contexts)."""

from __future__ import annotations

import re
from pathlib import Path

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
