"""Schedules through `valet serve` (durable, as people run it): made from a phrase in the
person's timezone, fired by DBOS's scheduler with the time injected (a backfill of a past
window: nothing waits for 8:00), each firing one task however often it is fired, run now,
paused, resumed, deleted. Plus the phrases and the missed-run policy on their own."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dbos import DBOSClient
from tests.test_durable import _wait, serving

from valet.runtime._schedules import Schedule, missed_firing
from valet.runtime._when import BadSchedule, parse_when
from valet.sites import SiteServer

SCRIPT: list[Any] = [{"done": {"answer": "the shop is open", "success": True}}]
PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "cron"),
    [
        ("every weekday at 8:00", "0 8 * * 1-5"),
        ("Every day at 7:30 pm", "30 19 * * *"),
        ("every monday and thursday at 17:30", "30 17 * * 1,4"),
        ("weekly on friday at noon", "0 12 * * 5"),
        ("every month on the 1st at 9", "0 9 1 * *"),
        ("every 15 minutes", "*/15 * * * *"),
        ("hourly", "0 * * * *"),
        ("0 8 * * 1-5", "0 8 * * 1-5"),
    ],
)
def test_phrases_become_cron(text: str, cron: str) -> None:
    assert parse_when(text).cron == cron


@pytest.mark.parametrize("text", ["every day", "tomorrow", "every 0 minutes", "at 25:00", ""])
def test_what_is_not_understood_is_refused_with_the_forms_that_are(text: str) -> None:
    with pytest.raises(BadSchedule, match="every weekday at 8:00"):
        parse_when(text)


def _schedule(last: str | None, created: str, missed: str = "once") -> Schedule:
    return Schedule(
        id="0123456789ab",
        when="every day at 8:00",
        cron="0 8 * * *",
        timezone="Europe/Paris",
        missed=missed,  # type: ignore[arg-type]
        request={"task": "x"},
        paused=False,
        created_at=created,
        last_run_at=last,
        next_run_at=None,
    )


def test_a_firing_missed_while_down_is_found_in_the_persons_timezone() -> None:
    now = datetime(2026, 12, 5, 9, 0, tzinfo=PARIS)  # 8:00 Paris was an hour ago
    ran_yesterday = datetime(2026, 12, 4, 8, 0, tzinfo=PARIS).isoformat()
    due = missed_firing(_schedule(ran_yesterday, "2026-12-01T00:00:00+00:00"), now)
    assert due == datetime(2026, 12, 5, 8, 0, tzinfo=PARIS)
    ran_today = datetime(2026, 12, 5, 8, 0, tzinfo=PARIS).isoformat()
    assert missed_firing(_schedule(ran_today, "2026-12-01T00:00:00+00:00"), now) is None
    made_after = datetime(2026, 12, 5, 8, 30, tzinfo=PARIS).isoformat()
    assert missed_firing(_schedule(None, made_after), now) is None  # nothing due since


def _tasks(server: Any) -> list[dict[str, Any]]:
    listing: dict[str, Any] = server.get("/api/tasks").json()
    return listing["tasks"]


def _succeeded(server: Any, count: int) -> list[dict[str, Any]]:
    def done() -> list[dict[str, Any]] | None:
        tasks = _tasks(server)
        ended = [t for t in tasks if t["status"] == "succeeded"]
        return tasks if len(ended) == count and len(tasks) == count else None

    found: list[dict[str, Any]] = _wait(done, f"{count} scheduled task(s) to succeed", 90)
    return found


@pytest.mark.timeout(240)
def test_a_schedule_fires_once_per_time_runs_now_pauses_and_is_deleted(
    tmp_path: Path, sites: SiteServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    task = {"task": "look at the shop", "start_url": sites.url_for("/shop")}
    with serving(home, SCRIPT) as server:
        bad = server.post("/api/schedules", {"when": "sometimes", "task": task})
        assert bad.status_code == 400 and "every weekday at 8:00" in bad.json()["detail"]
        bad_zone = server.post(
            "/api/schedules", {"when": "hourly", "timezone": "Mars/Olympus", "task": task}
        )
        assert bad_zone.status_code == 400 and "IANA" in bad_zone.json()["detail"]

        made = server.post(
            "/api/schedules",
            {"when": "every day at 8:00", "timezone": "Europe/Paris", "task": task},
        )
        assert made.status_code == 201, made.text
        schedule = made.json()
        assert schedule["cron"] == "0 8 * * *" and schedule["paused"] is False
        upcoming = datetime.fromisoformat(schedule["next_run_at"]).astimezone(PARIS)
        assert (upcoming.hour, upcoming.minute) == (8, 0)
        assert [s["id"] for s in server.get("/api/schedules").json()] == [schedule["id"]]

        # Yesterday's 8:00 in Paris, fired now through DBOS's own scheduler path.
        yesterday = datetime.now(PARIS).date() - timedelta(days=1)
        eight = datetime(yesterday.year, yesterday.month, yesterday.day, 8, tzinfo=PARIS)
        window = (eight - timedelta(minutes=1), eight + timedelta(minutes=1))
        client = DBOSClient(system_database_url=f"sqlite:///{home / 'workflows.db'}")
        try:
            fired = client.backfill_schedule(f"valet-{schedule['id']}", *window)
            assert len(fired) == 1
            first = _succeeded(server, 1)[0]
            assert first["id"].startswith("sch-")
            again = client.backfill_schedule(f"valet-{schedule['id']}", *window)
            assert [h.workflow_id for h in again] == [h.workflow_id for h in fired]
        finally:
            client.destroy()

        ran = server.post(f"/api/schedules/{schedule['id']}/run", {})
        assert ran.status_code == 202, ran.text
        tasks = _succeeded(server, 2)  # the firing again made nothing; run-now made one
        assert all(t["id"].startswith("sch-") for t in tasks)

        paused = server.post(f"/api/schedules/{schedule['id']}/pause", {}).json()
        assert paused["paused"] is True and paused["next_run_at"] is None
        resumed = server.post(f"/api/schedules/{schedule['id']}/resume", {}).json()
        assert resumed["paused"] is False and resumed["next_run_at"] is not None
        gone = server.delete(f"/api/schedules/{schedule['id']}")
        assert gone.status_code == 204
        assert server.get(f"/api/schedules/{schedule['id']}").status_code == 404
        assert server.get("/api/schedules").json() == []
        assert len(_tasks(server)) == 2  # its tasks stay


def _valet(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VALET_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "valet", "schedules", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.timeout(180)
def test_the_command_line_manages_schedules_through_the_server(
    tmp_path: Path, sites: SiteServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with serving(home, SCRIPT):
        added = _valet(
            home, "add", "every weekday at 8:00", "look at the shop", "--timezone", "Asia/Tokyo"
        )
        assert added.returncode == 0, added.stderr
        schedule_id = added.stdout.split()[1]
        listed = _valet(home, "list")
        assert schedule_id in listed.stdout and "Asia/Tokyo" in listed.stdout
        assert "look at the shop" in listed.stdout
        paused = _valet(home, "pause", schedule_id)
        assert paused.returncode == 0 and "paused" in paused.stdout
        bad = _valet(home, "add", "now and then", "x")
        assert bad.returncode == 2 and "every weekday at 8:00" in bad.stderr
        unknown = _valet(home, "run", "0123456789ab")
        assert unknown.returncode == 2 and "no schedule" in unknown.stderr
        assert _valet(home, "delete", schedule_id).returncode == 0
        assert "no schedules" in _valet(home, "list").stdout
    down = _valet(home, "list")
    assert down.returncode == 2 and "does not answer" in down.stderr
