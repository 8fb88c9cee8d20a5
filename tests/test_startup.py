"""`valet serve` starts honestly: its databases are opened and checked before the sign-in link is
printed. A damaged file is named with what was kept and how to recover, and the server exits
with code 3 and no traceback; unfinished workflows whose tasks the task database lost are
named, not silently dropped; an answer that cannot be saved is refused (503) and stays
pending, so the task goes on waiting for it rather than forever for an answer it lost."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.test_durable import SERVE, Server, _final, _free_port, _wait
from tests.test_server_approvals import next_request
from tests.test_server_harness import running_server
from tests.test_server_live import Pacing, status_is

from valet.sites import SiteServer
from valet.store import TaskStore

ASK = [
    {"ask_person": {"question": "Which colour?"}},
    {"done": {"answer": "blue it is", "success": True}},
]


@pytest.fixture(scope="module")
def waiting_home(tmp_path_factory: pytest.TempPathFactory, sites: SiteServer) -> Iterator[Path]:
    """A home whose server was killed while a task waited for the person: real valet.db,
    workflows.db and audit.db files, one unfinished workflow (its id in `task-id`)."""
    home = tmp_path_factory.mktemp("waiting") / "home"
    home.mkdir()
    (home / "script.yaml").write_text(yaml.safe_dump(ASK), encoding="utf-8")
    server = Server(home, home / "script.yaml")
    try:
        server.start()
        created = server.post("/api/tasks", {"task": "pick a colour", "start_url": sites.url})
        task_id = created.json()["id"]
        _wait(lambda: server.get(f"/api/requests?task_id={task_id}").json(), "the question")
    finally:
        server.stop()
    (home / "task-id").write_text(task_id)
    if not (home / "audit.db").exists():  # a real SQLite file either way
        with sqlite3.connect(home / "audit.db") as db:
            db.execute("CREATE TABLE records (seq INTEGER PRIMARY KEY, body TEXT)")
    yield home


def _copy(waiting_home: Path, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(waiting_home, home)
    (home / "serve.log").unlink(missing_ok=True)
    return home


def _serve(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`valet serve` on `home`, expected to exit at once."""
    env = {**os.environ, "VALET_HOME": str(home)}
    env.pop("VALET_DATABASE_URL", None)
    model = f"scripted:{home / 'script.yaml'}"
    command = [*SERVE, "--port", str(_free_port()), "--model", model, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def _garbage(path: Path, keep_header: bool) -> None:
    """Random bytes over a real SQLite file at rest (its write-ahead log folded in, as after a
    clean stop, so no intact copy of a page hides the damage): all of it, or all but its
    first page."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    start = 4096 if keep_header and size > 4096 else 0
    with path.open("r+b") as file:
        file.seek(start)
        file.write(os.urandom(max(size - start, 4096)))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("name", "what", "keep_header"),
    [
        ("workflows.db", "the workflow database", False),
        ("workflows.db", "the workflow database", True),
        ("valet.db", "the task database", False),
        ("audit.db", "the audit log", False),
    ],
)
def test_a_damaged_database_is_named_and_the_server_does_not_start(
    waiting_home: Path, tmp_path: Path, name: str, what: str, keep_header: bool
) -> None:
    home = _copy(waiting_home, tmp_path)
    path = home / name
    _garbage(path, keep_header)
    damaged = path.read_bytes()
    done = _serve(home)
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert f"{what} {path} is damaged" in done.stderr, output
    assert "the file is kept as it is" in done.stderr
    assert f"move it aside (mv {path} {path}.damaged)" in done.stderr
    assert "Traceback" not in output and "open this link" not in output, output
    assert path.read_bytes() == damaged  # kept as it was


@pytest.mark.timeout(180)
def test_a_damaged_workflow_database_moved_aside_starts_and_fails_the_unfinished_task(
    waiting_home: Path, tmp_path: Path
) -> None:
    """What the message promises: finished tasks stay, the unfinished one is marked failed."""
    home = _copy(waiting_home, tmp_path)
    task_id = (home / "task-id").read_text()
    _garbage(home / "workflows.db", keep_header=False)
    assert _serve(home).returncode == 3
    (home / "workflows.db").rename(home / "workflows.db.damaged")
    server = Server(home, home / "script.yaml")
    try:
        server.start()
        task = _final(server, task_id, "the task to be marked failed")
    finally:
        server.stop()
    assert task["status"] == "failed" and "could not resume" in task["error"], task


@pytest.mark.timeout(180)
@pytest.mark.parametrize("how", ["emptied", "deleted"])
def test_tasks_missing_from_the_task_database_are_named_not_dropped(
    waiting_home: Path, tmp_path: Path, how: str
) -> None:
    home = _copy(waiting_home, tmp_path)
    task_id = (home / "task-id").read_text()
    if how == "emptied":
        (home / "valet.db").write_bytes(b"")
    else:
        (home / "valet.db").unlink()
    done = _serve(home)
    output = done.stdout + done.stderr
    assert done.returncode == 3, output
    assert "1 unfinished task(s) have a workflow but are missing from the task database" in output
    assert task_id in output and "--forget-lost-tasks" in output, output
    assert "Traceback" not in output and "open this link" not in output, output

    # The operator chooses to go on: the lost task's workflow is cancelled, the server starts.
    forgetting = Server(home, home / "script.yaml")
    forgetting.port = _free_port()
    env = {**os.environ, "VALET_HOME": str(home)}
    env.pop("VALET_DATABASE_URL", None)
    model = f"scripted:{home / 'script.yaml'}"
    with (home / "serve.log").open("ab") as log:
        forgetting.process = subprocess.Popen(
            [*SERVE, "--port", str(forgetting.port), "--model", model, "--forget-lost-tasks"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(forgetting._up, "the server to start with --forget-lost-tasks")
        assert forgetting.get("/api/tasks").json()["tasks"] == []
    finally:
        forgetting.stop()
    with sqlite3.connect(home / "workflows.db") as db:
        (status,) = db.execute(
            "SELECT status FROM workflow_status WHERE workflow_uuid = ?", (task_id,)
        ).fetchone()
    assert status == "CANCELLED"
    # And the next start is a plain one: nothing is lost any more.
    again = Server(home, home / "script.yaml")
    try:
        again.start()
        assert again.get("/api/tasks").status_code == 200
    finally:
        again.stop()


QUESTION: dict[str, list[Any]] = {"ask": ASK}


async def test_an_answer_that_cannot_be_saved_is_refused_and_the_request_stays_pending(
    home: Path, sites: SiteServer
) -> None:
    """The store becomes read-only (a real SQLite file opened read-only: every write fails as
    it would on a full disk): the answer gets a 503, the request and the task still wait, and
    the same answer goes through once the store can write again."""
    writable = TaskStore(f"sqlite:///{home / 'valet.db'}")
    read_only = TaskStore(f"sqlite:///file:{home / 'valet.db'}?mode=ro&uri=true")
    async with running_server(home, model_factory=Pacing(scripts=QUESTION).factory) as srv:
        book = srv.manager.desk.book
        book.persist = writable.save_request
        task = await srv.create("ask", sites)
        asked = await next_request(srv, set())
        await srv.events_until(task["id"], status_is("waiting"))

        book.persist = read_only.save_request
        refused = await srv.client.post(
            f"/api/requests/{asked['id']}/answer", json={"text": "blue"}
        )
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert body["error"] == "store_unavailable"
        assert "could not save request" in body["detail"] and "readonly" in body["detail"]
        assert "stays pending" in body["detail"]
        assert (await srv.client.get(f"/api/requests/{asked['id']}")).json()["state"] == "pending"
        assert [r["id"] for r in (await srv.client.get("/api/requests")).json()] == [asked["id"]]
        state = (await srv.client.get(f"/api/tasks/{task['id']}")).json()["status"]
        assert state == "waiting"
        assert writable.requests()[0].record["state"] == "pending"

        book.persist = writable.save_request
        answered = await srv.client.post(
            f"/api/requests/{asked['id']}/answer", json={"text": "blue"}
        )
        assert answered.status_code == 200, answered.text
        events = await srv.final_events(task["id"])
        assert events[-1]["status"] == "succeeded", events[-1]
    assert writable.requests()[0].record["state"] == "answered"
    read_only.close()
    writable.close()
