"""Throughput with 1, 2 and 3 `valet worker` processes on one Postgres.

For each worker count, a fresh database: `valet serve --web-only` (it queues, runs nothing) and
N workers (each runs as many tasks at once as the server's `--max-tasks`, its own Chromium
shared by its tasks). `--tasks` scripted browser tasks on the demo shop (open it, search, open a
product, answer) are submitted at once through the REST API; reported per worker count: tasks
per minute (all tasks, from the first submission to the last end) and the 95th percentile of
the queue wait (a task's start minus its creation), both from the server's own timestamps.
All counts run in the same process, one after the other, on the same machine.

Usage: .venv/bin/python bench/workers.py [--tasks 24] [--max-tasks 2]
The last line is machine-readable: workers=1,2,3 tasks_per_min=… queue_wait_p95_s=…
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from statistics import quantiles
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' servers

from tests._postgres import fresh_database, running_postgres
from tests.test_durable import FINAL, Server, _wait

from valet.sites import SiteServer

SCRIPT: list[Any] = [
    {"type": {"role": "searchbox", "name": "Search products", "text": "USB-C cable",
              "submit": True}},
    {"click": {"role": "link", "name": "USB-C Cable 1 m (Basic)"}},
    {"done": "found it"},
]  # fmt: skip


def _worker(home: Path, script: Path, database: str, n: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VALET_HOME": str(home), "VALET_DATABASE_URL": database}
    log = (home / f"worker-{n}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "valet", "worker", "--model", f"scripted:{script}"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def started() -> bool:
        if process.poll() is not None:
            raise SystemExit(f"valet worker exited: {(home / f'worker-{n}.log').read_text()}")
        return "valet worker " in (home / f"worker-{n}.log").read_text(errors="replace")

    _wait(started, "a worker to start", 60)
    return process


def _at(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def measure(
    postgres: str, sites: SiteServer, workers: int, tasks: int, per: int
) -> tuple[float, float]:
    """(tasks per minute, p95 queue wait in seconds) with `workers` workers."""
    home = Path(tempfile.mkdtemp(prefix=f"valet-bench-w{workers}-"))
    script = home / "script.yaml"
    script.write_text(yaml.safe_dump(SCRIPT), encoding="utf-8")
    server = Server(
        home, script, fresh_database(postgres), extra=["--web-only", "--max-tasks", str(per)]
    )
    processes: list[subprocess.Popen[bytes]] = []
    try:
        server.start()
        processes = [_worker(home, script, server.database_url or "", n) for n in range(workers)]
        ids = []
        for n in range(tasks):
            made = server.post(
                "/api/tasks",
                {"task": f"find the basic USB-C cable ({n})", "start_url": sites.url_for("/shop")},
            )
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])

        def ended() -> list[dict[str, Any]] | None:
            found = [server.get(f"/api/tasks/{i}").json() for i in ids]
            return found if all(t["status"] in FINAL for t in found) else None

        done: list[dict[str, Any]] = _wait(ended, "the tasks to end", 900)
        bad = [t for t in done if t["status"] != "succeeded"]
        if bad:
            raise SystemExit(f"{len(bad)} task(s) did not succeed: {bad[0]}")
        first = min(_at(t["created_at"]) for t in done)
        last = max(_at(t["finished_at"]) for t in done)
        waits = sorted(_at(t["started_at"]) - _at(t["created_at"]) for t in done)
        p95 = quantiles(waits, n=20)[-1]
        return tasks / (last - first) * 60, p95
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=24)
    parser.add_argument("--max-tasks", type=int, default=2, help="tasks per worker at once")
    args = parser.parse_args()
    counts = (1, 2, 3)
    rates: list[float] = []
    waits: list[float] = []
    with running_postgres() as postgres, SiteServer() as sites:
        for workers in counts:
            rate, wait = measure(postgres, sites, workers, args.tasks, args.max_tasks)
            rates.append(rate)
            waits.append(wait)
            print(f"workers={workers} tasks={args.tasks} tasks_per_min={rate:.1f} "
                  f"queue_wait_p95_s={wait:.1f}", flush=True)  # fmt: skip
    print(
        f"workers={','.join(map(str, counts))} tasks={args.tasks} "
        f"tasks_per_min={','.join(f'{r:.1f}' for r in rates)} "
        f"queue_wait_p95_s={','.join(f'{w:.1f}' for w in waits)} "
        f"speedup_3v1={rates[-1] / rates[0]:.2f}"
    )


if __name__ == "__main__":
    main()
