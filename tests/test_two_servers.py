"""Many servers, one database: on SQLite a second `valet serve` on the same valet home is
refused at start (exit code 4, one line, no traceback, no sign-in link) and a restart right
after a SIGKILL takes over at once; on Postgres several servers (and `valet worker`s,
tests/test_workers.py) share the database. Each process
runs DBOS under its own executor id, and a task is run by whichever process dequeues it: its
definition comes from the database, not from the memory of the process that created it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from dbos import DBOSClient
from tests._postgres import fresh_database
from tests.test_durable import SERVE, Server, _final, _free_port, _wait
from tests.test_durable_postgres import postgres_url  # noqa: F401  (the session fixture)

from valet.sites import SiteServer
from valet.store import TaskStore

ASK = [
    {"ask_person": {"question": "Which colour?"}},
    {"done": {"answer": "blue it is", "success": True}},
]
DONE = [{"done": {"answer": "nothing to do", "success": True}}]


def _script(home: Path, script: list[Any]) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / "script.yaml"
    path.write_text(yaml.safe_dump(script), encoding="utf-8")
    return path


def _second(home: Path, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """`valet serve` on `home`, expected to exit at once."""
    env = {**os.environ, "VALET_HOME": str(home)}
    env.pop("VALET_DATABASE_URL", None)
    if database_url is not None:
        env["VALET_DATABASE_URL"] = database_url
    command = [*SERVE, "--port", str(_free_port()), "--model", f"scripted:{home / 'script.yaml'}"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def _refused(done: subprocess.CompletedProcess[str], what: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 4, output
    assert "another valet server (pid" in output and "is already serving" in output, output
    assert what in output, output
    assert "Traceback" not in output and "open this link" not in output, output
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


@pytest.mark.timeout(180)
def test_a_second_server_on_the_same_home_is_refused_until_the_first_dies(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    first = Server(home, _script(home, DONE))
    second = Server(home, home / "script.yaml")
    try:
        first.start()
        assert first.process is not None
        _refused(_second(home), f"pid {first.process.pid} on ")
        assert first.get("/api/tasks").status_code == 200  # the first one is untouched
        first.kill()
        second.start()  # at once: the kernel released the lock with the killed process
        assert second.get("/api/tasks").status_code == 200
    finally:
        first.stop()
        second.stop()


@pytest.mark.timeout(240)
def test_two_servers_share_one_postgres_database(
    tmp_path: Path,
    sites: SiteServer,
    postgres_url: str,  # noqa: F811
) -> None:
    """On Postgres a second server (same home: another port, say behind a balancer) starts
    beside the first: tasks made on one are queued for both, and each shows them all as they
    end, whichever ran them; the second's `--web-only` is refused on SQLite."""
    home = tmp_path / "home"
    database = fresh_database(postgres_url)
    first = Server(home, _script(home, DONE), database_url=database)
    second = Server(home, home / "script.yaml", database_url=database)
    try:
        first.start()
        second.start()
        ids = []
        for n in range(4):
            made = first.post("/api/tasks", {"task": f"nothing ({n})", "start_url": sites.url})
            assert made.status_code == 201, made.text
            ids.append(made.json()["id"])
        for server in (second, first):
            for task_id in ids:
                final = _final(server, task_id, "the task to end, seen by both servers")
                assert final["status"] == "succeeded", final
    finally:
        first.stop()
        second.stop()
    sqlite_only = tmp_path / "sqlite"
    _script(sqlite_only, DONE)
    env = {**os.environ, "VALET_HOME": str(sqlite_only)}
    env.pop("VALET_DATABASE_URL", None)
    command = [*SERVE, "--port", "0", "--web-only"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "--web-only needs the Postgres" in done.stderr, done.stderr


def _executor(home: Path, task_id: str) -> str | None:
    engine = sa.create_engine(f"sqlite:///{home / 'workflows.db'}")
    try:
        with engine.connect() as db:
            return db.execute(
                sa.text("SELECT executor_id FROM workflow_status WHERE workflow_uuid = :id"),
                {"id": task_id},
            ).scalar()
    finally:
        engine.dispose()


@pytest.mark.timeout(300)
def test_each_process_has_its_own_executor_and_takes_over_a_dead_ones_task(
    tmp_path: Path, sites: SiteServer
) -> None:
    home = tmp_path / "home"
    server = Server(home, _script(home, ASK))
    try:
        server.start()
        assert server.process is not None
        first_pid = server.process.pid
        created = server.post("/api/tasks", {"task": "pick a colour", "start_url": sites.url})
        task_id = created.json()["id"]
        asked = _wait(lambda: server.get(f"/api/requests?task_id={task_id}").json(), "the ask")
        before = _executor(home, task_id)
        assert before is not None and before.startswith("valet-") and f"-{first_pid}-" in before
        server.kill()
        server.start()
        answered = server.post(f"/api/requests/{asked[0]['id']}/answer", {"text": "blue"})
        assert answered.status_code == 200, answered.text
        final = _final(server, task_id, "the task to end after the restart")
        after = _executor(home, task_id)
    finally:
        server.stop()
    assert final["status"] == "succeeded", final
    assert after is not None and after.startswith("valet-") and after != before


@pytest.mark.timeout(300)
def test_a_task_this_process_did_not_create_is_loaded_from_the_database(
    tmp_path: Path, sites: SiteServer
) -> None:
    """What another worker would do: a task row written and its workflow enqueued from
    outside this server process. The server dequeues it and runs it from the stored row."""
    home = tmp_path / "home"
    server = Server(home, _script(home, DONE))
    try:
        server.start()
        made = server.post("/api/tasks", {"task": "a first task", "start_url": sites.url})
        first = _final(server, made.json()["id"], "the first task")
        assert first["status"] == "succeeded", first
        engine = sa.create_engine(f"sqlite:///{home / 'workflows.db'}")
        with engine.connect() as db:
            name, class_name, config_name = db.execute(
                sa.text(
                    "SELECT name, class_name, config_name FROM workflow_status "
                    "WHERE workflow_uuid = :id"
                ),
                {"id": first["id"]},
            ).one()
        engine.dispose()
        store = TaskStore(f"sqlite:///{home / 'valet.db'}")
        task_id = "elsewhere0000000000001"
        request = {"task": "made by another worker", "start_url": sites.url}
        store.add_task(task_id, request, "scripted", 5, "queued", "2030-01-01T00:00:00+00:00")
        store.close()
        client = DBOSClient(system_database_url=f"sqlite:///{home / 'workflows.db'}")
        try:
            client.enqueue(
                {
                    "queue_name": "valet-tasks",
                    "workflow_name": name,
                    "class_name": class_name,
                    "instance_name": config_name,
                    "workflow_id": task_id,
                },
                task_id,
            )
        finally:
            client.destroy()
        # Unknown to this process until it dequeues the workflow and loads the task.
        _wait(lambda: server.get(f"/api/tasks/{task_id}").status_code == 200, "the task")
        final = _final(server, task_id, "the task enqueued from outside")
    finally:
        server.stop()
    assert final["status"] == "succeeded", final
    assert final["task"] == "made by another worker" and final["answer"] == "nothing to do"
