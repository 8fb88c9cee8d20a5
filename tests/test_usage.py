"""Plans, the monthly quota and the ledger (`valet.billing`): each task request charged once in
the transaction that admits it, exact under concurrency on SQLite and on a real PostgreSQL;
overage with a cap; idempotency keys; refunds; the month in the plan's time zone; and the
429 a person gets from `valet serve`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests._postgres import fresh_database, running_postgres
from tests.test_durable import Server, _wait

from valet.billing import Metering, QuotaExceeded, charge, refund, summary
from valet.errors import ConfigError
from valet.sites import SiteServer
from valet.store import TaskStore

NOW = datetime(2026, 12, 15, 12, 0, tzinfo=UTC)


def _metering(**usage: Any) -> Metering:
    return Metering.from_config({"usage": {"plan": "plus", **usage}})


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TaskStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'valet.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres"))
    opened = TaskStore(url)
    try:
        yield opened
    finally:
        opened.close()


def _add(store: TaskStore, metering: Metering, task_id: str, key: str | None = None) -> Any:
    return store.add_task(
        task_id,
        {"task": "t"},
        None,
        10,
        "queued",
        NOW.isoformat(),
        admit=lambda db: charge(db, metering, task_id, NOW, key),
    )


def _at_once(count: int, attempt: Any) -> list[object]:
    """`attempt(i)` in `count` threads released together; what each returned or raised."""
    results: list[object] = [None] * count
    gate = threading.Barrier(count)

    def run(i: int) -> None:
        gate.wait()
        try:
            results[i] = attempt(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def _ledger_sums(store: TaskStore) -> tuple[int, int]:
    with store.engine.connect() as db:
        tasks, credits = db.execute(
            sa.text("SELECT COALESCE(SUM(tasks), 0), COALESCE(SUM(credits), 0) FROM valet_ledger")
        ).one()
    return int(tasks), int(credits)


def test_fifty_requests_at_once_against_five_left_admit_exactly_five(store: TaskStore) -> None:
    metering = _metering()  # 40 a month
    for i in range(35):
        _add(store, metering, f"before-{i}")
    results = _at_once(50, lambda i: _add(store, metering, f"t-{i}"))

    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == {"Charged": 5, "QuotaExceeded": 45}, results
    refused = next(r for r in results if isinstance(r, QuotaExceeded))
    assert "used 40 of 40 agent tasks this month (plus plan)" in str(refused)
    assert "resets on 1 January 2027 at 00:00 (UTC)" in str(refused)
    assert "overage = true" in str(refused)
    with store.engine.connect() as db:
        shown = summary(db, metering, NOW)
        made = db.execute(sa.text("SELECT COUNT(*) FROM valet_tasks")).scalar_one()
    assert (shown["used"], shown["remaining"], made) == (40, 0, 40)  # no task without charge
    assert _ledger_sums(store) == (40, 0)


def test_overage_admits_up_to_its_cap_and_the_ledger_sums_match(store: TaskStore) -> None:
    store_metering = Metering.from_config(
        {
            "usage": {"plan": "plus", "overage": True, "overage_cap": 10},
            "plans": {"plus": {"overage_credits": 2}},
        }
    )
    for i in range(35):
        _add(store, store_metering, f"before-{i}")
    results = _at_once(50, lambda i: _add(store, store_metering, f"t-{i}"))

    charged = Counter(getattr(r, "kind", type(r).__name__) for r in results)
    assert charged == {"quota": 5, "overage": 5, "QuotaExceeded": 40}, results
    refused = next(r for r in results if isinstance(r, QuotaExceeded))
    assert "10 of 10 overage credits" in str(refused) and "overage_cap" in str(refused)
    with store.engine.connect() as db:
        shown = summary(db, store_metering, NOW)
    assert (shown["used"], shown["overage"]["credits_used"]) == (45, 10)
    assert _ledger_sums(store) == (45, 10)


def test_a_key_sent_again_is_charged_once_and_a_cancelled_request_is_refunded(
    store: TaskStore,
) -> None:
    metering = _metering()
    results = _at_once(8, lambda i: _add(store, metering, f"t-{i}", key="retry-1"))
    made = [r for r in results if not getattr(r, "again", True)]
    assert len(made) == 1, results  # one task made, the seven others answered with it
    assert {getattr(r, "task_id", None) for r in results} == {made[0].task_id}  # type: ignore[attr-defined]
    assert _ledger_sums(store) == (1, 0)

    assert store.refund(made[0].task_id, lambda db: refund(db, made[0].task_id, NOW))  # type: ignore[attr-defined]
    assert not store.refund(made[0].task_id, lambda db: refund(db, made[0].task_id, NOW))  # type: ignore[attr-defined]
    with store.engine.connect() as db:
        assert summary(db, metering, NOW)["used"] == 0
    assert _ledger_sums(store) == (0, 0)


def test_the_month_is_the_plan_time_zones() -> None:
    paris = _metering(timezone="Europe/Paris")
    new_year_in_paris = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 00:30 on 1 January there
    assert paris.period(new_year_in_paris) == "2027-01"
    assert _metering().period(new_year_in_paris) == "2026-12"
    assert paris.resets_at(NOW).isoformat() == "2027-01-01T00:00:00+01:00"
    assert _metering(seats=3).quota == 40
    assert Metering.from_config({"usage": {"plan": "team", "seats": 3}}).quota == 120
    assert Metering.from_config({}).quota is None  # no plan: counted, not limited
    with pytest.raises(ConfigError, match="no plan 'gold'"):
        Metering.from_config({"usage": {"plan": "gold"}})
    with pytest.raises(ConfigError, match="unknown time zone"):
        _metering(timezone="Mars/Olympus")
    with pytest.raises(ConfigError, match=r"\[plans.plus\]"):
        Metering.from_config({"plans": {"plus": {"tasks": -1}}})


def test_a_month_rolls_over_with_its_quota(tmp_path: Path) -> None:
    store = TaskStore(f"sqlite:///{tmp_path / 'valet.db'}")
    metering = Metering.from_config({"usage": {"plan": "free", "timezone": "Europe/Paris"}})
    metering = Metering(
        metering.plan.model_copy(update={"tasks": 1}) if metering.plan else None, metering.zone
    )
    december = datetime(2026, 12, 31, 22, 0, tzinfo=UTC)  # 23:00 in Paris
    january = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 00:30 in Paris, a new month

    def add(task_id: str, now: datetime) -> object:
        return store.add_task(
            task_id,
            {},
            None,
            1,
            "queued",
            now.isoformat(),
            admit=lambda db: charge(db, metering, task_id, now),
        )

    add("a", december)
    with pytest.raises(QuotaExceeded, match="resets on 1 January 2027 at 00:00 \\(Europe/Paris\\)"):
        add("b", december)
    add("c", january)  # the same instant's UTC day, but the plan's new month
    with store.engine.connect() as db:
        assert summary(db, metering, january)["used"] == 1
        assert summary(db, metering, december)["used"] == 1
    store.close()


def test_valet_serve_refuses_a_request_beyond_the_quota_with_429(
    home: Path, tmp_path: Path
) -> None:
    (home / "config.toml").write_text(
        '[usage]\nplan = "mine"\ntimezone = "Europe/Paris"\n\n[plans.mine]\ntasks = 2\n'
    )
    script = tmp_path / "script.yaml"
    script.write_text("- done: {answer: ok, success: true}\n")
    server = Server(home, script)
    try:
        server.start()
        headers = {"Authorization": f"Bearer {server.token}", "Idempotency-Key": "k-1"}
        url = f"http://127.0.0.1:{server.port}/api/tasks"
        first = httpx.post(url, json={"task": "one"}, headers=headers, timeout=10)
        again = httpx.post(url, json={"task": "one"}, headers=headers, timeout=10)
        assert first.status_code == 201 and again.json()["id"] == first.json()["id"]
        assert server.post("/api/tasks", {"task": "two"}).status_code == 201
        refused = server.post("/api/tasks", {"task": "three"})
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "quota_exceeded"
        assert "used 2 of 2 agent tasks this month (mine plan)" in refused.json()["detail"]
        usage = server.get("/api/usage").json()
        assert (usage["plan"], usage["quota"], usage["used"], usage["remaining"]) == (
            "mine",
            2,
            2,
            0,
        )
        assert usage["timezone"] == "Europe/Paris" and usage["metered"] is True
        assert len(server.get("/api/tasks").json()["tasks"]) == 2
        # The composer says it, with the details on hover; so does `valet usage`.
        page = server.get("/").text
        assert '<p class="hint tasks-left" id="tasks-left" title="mine plan: 2 of 2 used' in page
        assert ">0 of 2 tasks left this month<" in page
        told = subprocess.run(
            [sys.executable, "-m", "valet", "usage"],
            env={**os.environ, "VALET_HOME": str(home)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert told.startswith("0 of 2 tasks left this month\nmine plan: 2 of 2 used"), told
        assert " at 00:00 (Europe/Paris)" in told  # the first of next month, there
    finally:
        server.stop()


def test_a_task_stops_at_its_budget_with_its_record_intact(
    home: Path, tmp_path: Path, sites: SiteServer
) -> None:
    (home / "config.toml").write_text(
        "[usage]\ntask_budget_usd = 0.05\nperson_budget_usd = 0.12\n\n"
        "[prices.scripted]\ninput = 100\noutput = 100\n"  # $0.0001 a token: ~$0.045 a step
    )
    script = tmp_path / "script.yaml"
    script.write_text("- scroll: down\n- scroll: down\n- scroll: down\n- done: {answer: ok}\n")
    server = Server(home, script)
    try:
        server.start()

        def run_one() -> dict[str, Any]:
            body = {"task": "look around", "start_url": sites.url_for("/shop")}
            made = server.post("/api/tasks", body)
            assert made.status_code == 201, made.text

            def ended() -> dict[str, Any] | None:
                task: dict[str, Any] = server.get(f"/api/tasks/{made.json()['id']}").json()
                return task if task["status"] not in ("queued", "running") else None

            found: dict[str, Any] = _wait(ended, "the task's end", 90)
            return found

        task = run_one()
        task_id = task["id"]
        assert task["status"] == "stopped", task
        assert task["stop_reason"] == "budget"
        assert task["detail"].startswith("reached the task's budget of $0.05"), task
        assert len(task["timeline"]) == 2  # the second step went past the budget: no third
        run = server.get(f"/api/runs/{task_id}").json()
        assert run["end"]["reason"] == "budget" and run["steps"] == 2
        assert run["totals"]["cost_usd"] > 0.05
        usage = server.get("/api/usage").json()
        assert usage["cost_usd"] == pytest.approx(run["totals"]["cost_usd"], rel=1e-3)
        assert usage["budgets_usd"]["task"] == 0.05
        # The month's budget: what the first task spent is gone from it.
        second = run_one()
        assert second["stop_reason"] == "budget" and len(second["timeline"]) == 1
        assert second["detail"].startswith("reached your monthly budget of $0.12"), second
        third = run_one()  # nothing left: it stops before its first step
        assert (third["stop_reason"], third["timeline"]) == ("budget", [])
        assert server.get("/api/usage").json()["cost_usd"] > 0.12
    finally:
        server.stop()


def test_a_plan_names_its_models_and_its_task_budget() -> None:
    metering = Metering.from_config(
        {
            "usage": {"plan": "small", "task_budget_usd": 2.0, "person_budget_usd": 10},
            "plans": {"small": {"tasks": 5, "models": ["ollama:*", "openai:gpt-4o-mini"]}},
            "prices": {
                "ollama": {"input": 0, "output": 0},
                "openai:gpt-4o": {"input": 2.5, "output": 10},
            },
        }
    )
    plan = metering.plan
    assert plan is not None and plan.allows("ollama:qwen3") and plan.allows("openai:gpt-4o-mini")
    assert not plan.allows("openai:gpt-4o") and not plan.allows(None)
    assert metering.budgets.task == 2.0 and metering.budgets.person == 10
    assert metering.price_of("ollama:qwen3") == metering.prices["ollama"]  # the provider's
    assert metering.price_of("openai:gpt-4o") is not None and metering.price_of("x:y") is None
    tighter = Metering.from_config(
        {
            "usage": {"plan": "pro", "task_budget_usd": 2.0},
            "plans": {"pro": {"task_budget_usd": 0.5}},
        }
    )
    assert tighter.budgets.task == 0.5  # the smaller of the plan's and the installation's
    with pytest.raises(ConfigError, match=re.escape('[prices."openai:gpt-4o"]')):
        Metering.from_config({"prices": {"openai:gpt-4o": {"input": -1, "output": 1}}})


def test_at_its_budget_a_task_asks_the_person_to_extend_it_when_so_set(
    home: Path, tmp_path: Path, sites: SiteServer
) -> None:
    (home / "config.toml").write_text(
        '[usage]\ntask_budget_usd = 0.05\nbudget_reached = "ask"\n\n'
        "[prices.scripted]\ninput = 100\noutput = 100\n"  # ~$0.045 a step
    )
    script = tmp_path / "script.yaml"
    script.write_text("- scroll: down\n" * 6 + "- done: {answer: ok}\n")
    server = Server(home, script)
    try:
        server.start()
        body = {"task": "look around", "start_url": sites.url_for("/shop")}
        task_id = server.post("/api/tasks", body).json()["id"]

        def asked() -> dict[str, Any] | None:
            found = server.get(f"/api/requests?task_id={task_id}").json()
            return found[0] if found else None

        first = _wait(asked, "the question about the budget", 60)
        assert first["kind"] == "question" and "reached the task's budget of $0.05" in str(first)
        said = server.post(f"/api/requests/{first['id']}/answer", {"text": "yes"})
        assert said.status_code == 200, said.text
        second = _wait(lambda: (r := asked()) and r["id"] != first["id"] and r, "again", 60)
        assert (
            server.post(f"/api/requests/{second['id']}/answer", {"text": "no"}).status_code == 200
        )

        def ended() -> dict[str, Any] | None:
            task: dict[str, Any] = server.get(f"/api/tasks/{task_id}").json()
            return task if task["status"] not in ("queued", "running", "waiting") else None

        task = _wait(ended, "the task's end", 60)
        assert (task["status"], task["stop_reason"]) == ("stopped", "budget"), task
        assert len(task["timeline"]) == 3  # 2 steps to $0.09, one more past $0.10, then no
    finally:
        server.stop()
