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

import httpx
import pytest
import yaml
from dbos import DBOSClient
from standardwebhooks.webhooks import Webhook
from tests._chromium import chromium
from tests._cli import valet_here
from tests._servers import MailDrop
from tests.test_audit_mail_witness import mailbox, vault  # noqa: F401  (a fixture used below)
from tests.test_durable import _wait, serving
from tests.test_notifications import Receiver, receiver  # noqa: F401  (a fixture used below)
from typer.testing import Result

from valet.runtime._schedules import Schedule, missed_firing
from valet.runtime._when import BadSchedule, parse_when
from valet.server._notify import webhook_secret
from valet.server._serve import new_link
from valet.sites import SiteServer
from valet.vault import Vault

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


def _valet(home: Path, *args: str) -> Result:
    """`valet schedules ARGS`, run in this process against the running server (the `python -m
    valet` entry point itself is run once, in the test below)."""
    return valet_here(home, "schedules", *args, columns=200)


def _valet_process(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`valet schedules ARGS` in its own process, as a person runs it."""
    env = {**os.environ, "VALET_HOME": str(home), "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "valet", "schedules", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def server_schedules(home: Path) -> list[dict[str, Any]]:
    """The schedules, as the running server's API lists them."""
    url = (home / "server-url").read_text().strip().rstrip("/")
    token = (home / "server-token").read_text().strip()
    found: list[dict[str, Any]] = httpx.get(
        f"{url}/api/schedules", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    return found


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
        assert added.exit_code == 0, added.output
        schedule_id = added.stdout.split()[1]
        listed = _valet_process(home, "list")  # once through `python -m valet`
        assert listed.returncode == 0, listed.stderr
        assert schedule_id in listed.stdout and "Asia/Tokyo" in listed.stdout
        assert "look at the shop" in listed.stdout
        paused = _valet(home, "pause", schedule_id)
        assert paused.exit_code == 0 and "paused" in paused.stdout
        bad = _valet(home, "add", "now and then", "x")
        assert bad.exit_code == 2 and "every weekday at 8:00" in bad.stderr
        missing = _valet(home, "add", "hourly", "x", "--workflow", "nope")
        assert missing.exit_code == 2 and "no workflow 'nope'" in missing.stderr
        _workflow(home, "search", sites.url_for("/shop"), [SEARCH, FOUND])
        wrong = _valet(home, "add", "hourly", "x", "--workflow", "search", "-p", "colour=red")
        assert wrong.exit_code == 2 and "has no parameter(s) colour" in wrong.stderr
        replay = _valet(
            home, "add", "hourly", "search", "--workflow", "search", "-p", "search=HDMI"
        )
        assert replay.exit_code == 0, replay.output
        made = [s for s in server_schedules(home) if s["task"].get("workflow") == "search"]
        assert made and made[0]["task"]["params"] == {"search": "HDMI"}
        unknown = _valet(home, "run", "0123456789ab")
        assert unknown.exit_code == 2 and "no schedule" in unknown.stderr
        assert _valet(home, "delete", schedule_id).exit_code == 0
        assert _valet(home, "delete", made[0]["id"]).exit_code == 0
        assert "no schedules" in _valet(home, "list").stdout
    down = _valet(home, "list")
    assert down.exit_code == 2 and "does not answer" in down.stderr


def _workflow(home: Path, name: str, start_url: str, steps: list[Any]) -> None:
    folder = home / "workflows"
    folder.mkdir(exist_ok=True)
    document = {"name": name, "start_url": start_url, "params": {"search": "USB-C"}}
    (folder / f"{name}.yaml").write_text(
        yaml.safe_dump(document | {"steps": steps}), encoding="utf-8"
    )


SEARCH = {"type": {"role": "searchbox", "name": "Search products", "text": "{{search}}"}}
FOUND = {"done": {"answer": "searched the shop", "success": True}}
GONE = {"expect": {"element": {"role": "link", "name": "A link this shop never had"}}}
"""A page that changed since the workflow was saved: the link its next step needs is gone."""


def _fire(home: Path, schedule_id: str, when: datetime) -> None:
    client = DBOSClient(system_database_url=f"sqlite:///{home / 'workflows.db'}")
    try:
        window = (when - timedelta(minutes=1), when + timedelta(minutes=1))
        assert len(client.backfill_schedule(f"valet-{schedule_id}", *window)) == 1
    finally:
        client.destroy()


def _ended(server: Any, task_id: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        found = server.get(f"/api/tasks/{task_id}")
        if found.status_code != 200:
            return None
        task: dict[str, Any] = found.json()
        return task if task["status"] in ("succeeded", "failed", "stopped") else None

    result: dict[str, Any] = _wait(ended, f"task {task_id} to end", 90)
    return result


@pytest.mark.timeout(300)
def test_a_scheduled_workflow_replays_without_a_model_and_notifies(
    home: Path,
    sites: SiteServer,
    dovecot: Any,
    smtp: tuple[MailDrop, int],
    vault: Vault,  # noqa: F811
    receiver: Receiver,  # noqa: F811
) -> None:
    drop, port = smtp
    box = mailbox("mine", dovecot, vault, port)
    lines = ["[notifications]", 'email = "mine"', f'webhook = "{receiver.url}"', "", *box.toml()]
    (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    shop = sites.url_for("/shop")
    _workflow(home, "search", shop, [SEARCH, FOUND])
    _workflow(home, "changed", shop, [SEARCH, GONE, FOUND])
    yesterday = datetime.now(PARIS).date() - timedelta(days=1)
    eight = datetime(yesterday.year, yesterday.month, yesterday.day, 8, tzinfo=PARIS)
    # The server's model says "done" at once: if it were asked, the step count would show it.
    with serving(home, [{"done": {"answer": "the model answered", "success": True}}]) as server:

        def schedule(workflow: str, **fields: Any) -> str:
            task = {"task": f"run {workflow}", "workflow": workflow} | fields
            made = server.post(
                "/api/schedules",
                {"when": "every day at 8:00", "timezone": "Europe/Paris", "task": task},
            )
            assert made.status_code == 201, made.text
            return str(made.json()["id"])

        replayed = schedule("search", params={"search": "HDMI"})
        task = _fired_task(server, home, replayed, eight)
        assert task["status"] == "succeeded" and task["answer"] == "searched the shop"
        assert task["repaired"] is False and task["model"] == "workflow:search"
        texts = [s["action_text"] for s in task["timeline"]]
        assert len(texts) == 2 and texts[0].startswith("type") and "HDMI" in texts[0], texts

        stopped = _fired_task(server, home, schedule("changed", on_mismatch="stop"), eight)
        assert stopped["status"] == "failed", stopped
        assert "A link this shop never had" in (stopped["answer"] or stopped["detail"] or "")

        repaired = _fired_task(server, home, schedule("changed"), eight)
        assert repaired["status"] == "succeeded" and repaired["answer"] == "the model answered"
        assert repaired["repaired"] is True
        saved = server.post(f"/api/runs/{repaired['run_id']}/workflow", {"name": "changed"})
        assert saved.status_code == 201, saved.text

        _wait(lambda: len(receiver.received) >= 3, "three webhooks", 30)
    by_task = {
        Webhook(webhook_secret(home)).verify(body, headers)["data"]["task_id"]
        for headers, body in receiver.received
    }
    assert task["id"] in by_task
    mailed = [r.message for r in drop.received if r.message["X-Valet-Task"] == task["id"]]
    assert len(mailed) == 1 and mailed[0]["X-Valet-Notification"] == "succeeded"


def _fired_task(server: Any, home: Path, schedule_id: str, when: datetime) -> dict[str, Any]:
    before = {t["id"] for t in _tasks(server)}
    _fire(home, schedule_id, when)
    made: list[dict[str, Any]] = _wait(
        lambda: [t for t in _tasks(server) if t["id"] not in before] or None,
        "the firing's task",
        60,
    )
    return _ended(server, made[0]["id"])


@pytest.mark.timeout(240)
async def test_the_web_app_adds_runs_pauses_and_deletes_a_schedule(
    tmp_path: Path, sites: SiteServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with serving(home, SCRIPT) as server:
        link = new_link(home, f"http://127.0.0.1:{server.port}")
        async with chromium() as browser:
            context = await browser.new_context(timezone_id="Europe/Paris")
            page = await context.new_page()
            await page.goto(link)
            await page.get_by_role("link", name="Schedules").click()
            await page.wait_for_url("**/schedules")
            timezone = page.get_by_label("Timezone")
            assert await timezone.input_value() == "Europe/Paris"  # the browser's own
            await page.get_by_label("What to do").fill("look at the shop")
            await page.get_by_label("When").fill("whenever")
            await page.get_by_role("button", name="Add").click()
            assert "every weekday at 8:00" in await page.get_by_role("alert").inner_text()
            assert await page.get_by_label("What to do").input_value() == "look at the shop"
            await page.get_by_label("When").fill("every weekday at 8:00")
            await page.get_by_label("Start page").fill(sites.url_for("/shop"))
            await page.get_by_role("button", name="Add").click()
            await page.get_by_text("Schedule added.").wait_for()
            row = page.locator(".schedule")
            assert "every weekday at 8:00 (Europe/Paris)" in await row.inner_text()
            await row.get_by_role("button", name="Run now").click()
            await page.get_by_text("It runs now").wait_for()
            _succeeded(server, 1)
            await row.get_by_role("button", name="Pause").click()
            await page.get_by_text("Paused:").wait_for()
            assert "paused" in await row.inner_text()
            assert [s["paused"] for s in server.get("/api/schedules").json()] == [True]
            await row.get_by_role("button", name="Resume").click()
            await page.get_by_text("Resumed.").wait_for()
            await row.get_by_role("button", name="Delete").click()
            await page.get_by_text("No schedules yet.").wait_for()
