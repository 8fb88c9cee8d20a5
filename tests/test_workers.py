"""Many workers on one Postgres: `valet serve` and three `valet worker` processes share the task
queue; tasks that mail (a consequential action the person approves in the web server) run on
whichever worker dequeues them; one worker is killed with SIGKILL in the middle of the work and
another takes its tasks over. Every task ends, each mail leaves exactly once (counted on the
SMTP server by the task id valet marks each mail with), and the server shows what the workers
did; a task a worker runs is taken over through the web server's live view. Real PostgreSQL
(started for the tests), Dovecot, an SMTP server, Chromium."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests._postgres import fresh_database
from tests.test_durable import (
    CART_TASK,
    FINAL,
    SLOW,
    Server,
    _final,
    _header,
    _sessions,
    _steps,
    _turn,
    _wait,
)
from tests.test_durable_postgres import postgres_url
from tests.test_durable_takeover import SCRIPT as TAKEOVER_SCRIPT
from tests.test_durable_takeover import _take_over_and_sign_in
from tests.test_durable_toolsets import ORDER_MAIL, Mailbox, drop, mailbox

from valet.audit import KEY_ENV as AUDIT_KEY_ENV
from valet.sites import SiteServer
from valet.vault import KEY_ENV as VAULT_KEY_ENV

__all__ = ["drop", "mailbox", "postgres_url"]  # fixtures used here

WORKER = [sys.executable, "-m", "valet", "worker"]
TASKS = 30
NOT_RUN = "valet was restarted before this action ran, so it was not run"
"""How a step a kill left unrun begins (runtime._checkpoints.RESTARTED and RESTARTED_LOST)."""


class Worker:
    def __init__(self, home: Path, script: Path, database_url: str, number: int) -> None:
        self.log = home / f"worker-{number}.log"
        self.address = ""
        """Where it serves its tasks' live views (and its health)."""
        env = {**os.environ, "VALET_HOME": str(home), "VALET_DATABASE_URL": database_url}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*WORKER, "--model", f"scripted:{script}"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.number = number
        self.executor = ""

    def started(self) -> Worker:
        """Waits until it said it is up (workers started together start side by side)."""
        self.executor = _wait(self._executor, f"worker {self.number} to start", 60)
        return self

    def _executor(self) -> str | None:
        if self.process.poll() is not None:
            raise AssertionError(f"valet worker exited: {self.log.read_text()[-2000:]}")
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("valet worker "):
                self.address = line.rsplit(" at ", 1)[1].strip()
                return line.split()[2]
        return None

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()


def _running_on(database_url: str, executor: str) -> int:
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as db:
            query = sa.text(
                "SELECT count(*) FROM dbos.workflow_status "
                "WHERE status = 'PENDING' AND executor_id = :e"
            )
            return int(db.execute(query, {"e": executor}).scalar_one())
    finally:
        engine.dispose()


def _machine(home: Path, number: int) -> Path:
    """A valet home as on another machine: what the operator copies there from `home`."""
    there = home.parent / f"machine-{number}"
    there.mkdir()
    for name in ("config.toml", "vault.json", "server-token"):
        if (home / name).exists():
            shutil.copy2(home / name, there / name)
    return there


def _places(database_url: str) -> dict[tuple[str, str], int]:
    """How many tasks' places among their person's (admission workflows) are in which state."""
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as db:
            found = db.execute(
                sa.text(
                    "SELECT status, queue_name, count(*) FROM dbos.workflow_status "
                    "WHERE workflow_uuid LIKE 'admit:%' GROUP BY 1, 2"
                )
            ).all()
    finally:
        engine.dispose()
    return {(str(status), str(queue)): int(n) for status, queue, n in found}


def _approve_all(server: Server, mailbox: Mailbox) -> int:
    approved = 0
    for request in server.get("/api/requests").json():
        if request["state"] != "pending":
            continue
        if request["kind"] == "question" and "whether it arrived" in str(request):
            # Killed after the mail server took the mail but before its Sent copy was kept:
            # valet cannot tell and asks; the person checks with the recipient (the server).
            task = request["task_id"]
            arrived = any(str(r.message["X-Valet-Task"]) == task for r in mailbox.drop.received)
            said = {"text": "yes" if arrived else "no"}
            answer = server.post(f"/api/requests/{request['id']}/answer", said)
            assert answer.status_code in (200, 409), answer.text
            continue
        assert request["kind"] == "approval" and request["tool"] == "mail_send", request
        answer = server.post(f"/api/requests/{request['id']}/approve", {})
        assert answer.status_code in (200, 409), answer.text  # 409: answered meanwhile
        approved += answer.status_code == 200
    return approved


def _make_tasks(server: Server, count: int) -> list[str]:
    ids = []
    for n in range(count):
        made = server.post("/api/tasks", {"task": f"mail the shop about order 1042 ({n})"})
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    return ids


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("config", "machines", "count"),
    [
        ("", False, TASKS),
        ('[people]\ntasks_at_once_per_person = 8\n[audit]\nstore = "database"\n', True, TASKS // 2),
    ],
    ids=["one-home", "machines-admitted"],
)
def test_three_workers_share_the_queue_and_a_killed_one_is_taken_over(
    mailbox: Mailbox,
    postgres_url: str,
    config: str,
    machines: bool,
    count: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`machines-admitted`: each worker has a valet home of its own, as on another machine
    (what the operator copies there: config.toml, vault.json, server-token; the vault key in
    the environment), so a task it takes over was begun elsewhere: its action journal is read
    from the database (a send under way is reconciled, not sent again), and its run record is
    begun afresh there. And with a limit per person (here one that holds nothing back), each
    task first takes its place among its person's, in a workflow of its own that a kill may
    leave unfinished too (and that is resumed on the queue it waited on). The audit log is the
    database's (`[audit] store = "database"`, one audit key on every machine): the web server
    shows every worker's sends, in one chain that verifies."""
    database = fresh_database(postgres_url)
    if machines:
        key = Ed25519PrivateKey.generate().private_bytes_raw().hex()
        monkeypatch.setenv(AUDIT_KEY_ENV, key)
        monkeypatch.setenv("VALET_DATABASE_URL", database)  # config.toml's store names it
    with (mailbox.home / "config.toml").open("a") as written:
        written.write(config)
    mailbox.drop.keep_sent = True  # the Sent copy lets a retried send check it had left
    mailbox.drop.hold_data = 0.3  # a mail takes a moment to leave: a kill can land mid-send
    script = mailbox.home / "script.yaml"
    steps: list[Any] = [
        {"raw": {"tool": "mail_send", "args": ORDER_MAIL}},
        {"done": "mailed once"},  # the send's outcome is checked on the task's timeline
    ]
    script.write_text(yaml.safe_dump(steps), encoding="utf-8")
    server = Server(mailbox.home, script, database)
    workers: list[Worker] = []
    try:
        server.start()
        homes = [_machine(mailbox.home, n) if machines else mailbox.home for n in range(3)]
        workers = [Worker(homes[n], script, database, n) for n in range(3)]
        for worker in workers:
            worker.started()
        victim = workers[0]
        killed_holding = 0
        deadline = time.monotonic() + 480
        statuses: dict[str, str] = {}
        ids: list[str] = []
        # The tasks are made while the loop below approves: the first ones run meanwhile.
        with ThreadPoolExecutor(1) as maker:
            making = maker.submit(_make_tasks, server, count)
            while time.monotonic() < deadline:
                _approve_all(server, mailbox)
                if not killed_holding and mailbox.drop.received:
                    held = _running_on(database, victim.executor)
                    if held:  # mid-task: it holds tasks, mail is leaving
                        victim.kill()
                        killed_holding = held
                if making.done():
                    ids = making.result()
                    listed = server.get("/api/tasks").json()["tasks"]  # all tasks at once
                    statuses = {t["id"]: t["status"] for t in listed if t["id"] in ids}
                    assert len(statuses) == count, set(ids) - set(statuses)
                    if all(s in FINAL for s in statuses.values()):
                        break
                time.sleep(0.3)
        assert killed_holding, "the worker to kill never held a task"
        assert Counter(statuses.values()) == {"succeeded": count}, statuses
        # Each task mailed exactly once, none lost, none twice (valet marks each mail).
        sent = Counter(str(r.message["X-Valet-Task"]) for r in mailbox.drop.received)
        assert sent == dict.fromkeys(ids, 1), sent
        # The killed worker's tasks were taken over by the others; every worker took some.
        assert _running_on(database, victim.executor) == 0
        took_over = [w.log.read_text(errors="replace") for w in workers[1:]] + [
            server.log.read_text(errors="replace")
        ]
        assert any(f"of ended process(es) {victim.executor}" in text for text in took_over), (
            "no process said it took the killed worker's tasks over"
        )
        survivors = {w.executor for w in workers[1:]}
        engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as db:
            ran = db.execute(
                sa.text("SELECT executor_id, count(*) FROM dbos.workflow_status GROUP BY 1")
            ).all()
        engine.dispose()
        by_executor = {str(e): int(n) for e, n in ran}
        # Each task took its place among its person's (and only then was queued), or did not;
        # a place ends with its task (a moment later: it learns of the end by polling).
        admitted = {("SUCCESS", "valet-admissions"): count} if config else {}
        _wait(lambda: _places(database) == admitted, "the places to end with their tasks", 10)
        assert all(by_executor.get(e, 0) > 0 for e in survivors), by_executor
        # The server showed the workers' steps live (mirrored), not only their end.
        task = server.get(f"/api/tasks/{ids[-1]}").json()
        assert task["status"] == "succeeded" and task["answer"] == "mailed once", task
        # Each task's model was told the mail went out (sent, found in Sent after a kill, or
        # confirmed by the person): a failed or unknown send is a step that is not ok. A kill
        # before the send began leaves a step that certainly did not run (the model chose
        # again): the only send step allowed not to be ok.
        if machines:  # every machine's actions are in the one log the web server reads
            shown = server.get("/api/audit?limit=500")
            assert shown.status_code == 200, shown.text
            audit = shown.json()
            assert audit["intact"] is True, audit["summary"]
            # Each task's send is there: as done, or, for a send a kill interrupted, as the
            # resuming machine reconciled it (found in Sent, or asked about).
            kinds = ("mail_send", "journal.reconcile")
            sends = Counter(r["task_id"] for r in audit["records"] if r["tool"] in kinds)
            assert set(sends) == set(ids), sends
            assert not any((w.log.parent / "audit.db").exists() for w in workers)
        for task_id in ids:
            timeline = server.get(f"/api/tasks/{task_id}").json()["timeline"]
            sends = [s for s in timeline if s["action_text"].startswith("mail_send")]
            assert sends and sends[-1]["ok"], timeline
            for step in sends[:-1]:
                assert step["result"].startswith(NOT_RUN), step
    finally:
        for worker in workers:
            worker.stop()
        server.stop()


@pytest.mark.timeout(300)
def test_a_task_a_worker_runs_is_taken_over_through_the_web_server(
    tmp_path: Path, sites: SiteServer, postgres_url: str
) -> None:
    """The worker has the browser; the person uses the web server's live view and takeover
    (`valet serve --web-only` runs no task), which forwards them to the worker."""
    home = tmp_path / "home"
    home.mkdir()
    database = fresh_database(postgres_url)
    script = home / "script.yaml"
    script.write_text(yaml.safe_dump(TAKEOVER_SCRIPT), encoding="utf-8")
    server = Server(home, script, database, extra=["--web-only"])
    worker: Worker | None = None
    try:
        server.start()
        worker = Worker(home, script, database, 0).started()
        probe = httpx.get(f"{worker.address}/readyz", timeout=10)  # for its supervisor
        assert probe.status_code == 200, probe.text
        metrics = httpx.get(f"{worker.address}/metrics", timeout=10)
        assert metrics.status_code == 401  # the token is needed
        made = server.post(
            "/api/tasks", {"task": "sign in to the shop", "start_url": sites.url_for("/shop")}
        )
        assert made.status_code == 201, made.text
        task_id = made.json()["id"]

        def takeover_asked() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = server.get(f"/api/requests?task_id={task_id}").json()
            return found if [r["kind"] for r in found] == ["takeover"] else None

        _wait(takeover_asked, "the login stop's takeover request (run by the worker)")
        assert _running_on(database, worker.executor) == 1  # the worker has it, not the server
        status, lease = asyncio.run(
            _take_over_and_sign_in(server, task_id, sites, tmp_path / "persons-browser")
        )
        assert status == 200 and lease["holder"] == "Ada", lease
        final = _final(server, task_id, "the task to end after the hand back")
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
    assert final["status"] == "succeeded", final
    header = _header(home, task_id)
    [handover] = header["handovers"]
    assert handover["by"] == "person:Ada" and handover["url_after"].endswith("/account"), header


@pytest.mark.timeout(300)
def test_a_browser_task_a_killed_worker_began_goes_on_where_it_was_on_another_machine(
    tmp_path: Path, sites: SiteServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers, each in a home of its own (two machines, one vault key); the one running
    the task is killed with two cables in its cart. The other resumes it with the cookies and
    page the first had saved in the database (sealed): the cart is still there, and "Add to
    cart" ran once."""
    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())  # each machine's
    home = tmp_path / "home"
    home.mkdir()
    database = fresh_database(postgres_url)
    script = home / "script.yaml"
    script.write_text(yaml.safe_dump([*CART_TASK[:6], SLOW, *CART_TASK[6:]]), encoding="utf-8")
    before = set(_sessions(sites))
    server = Server(home, script, database, extra=["--web-only"])
    workers: list[Worker] = []
    try:
        server.start()
        workers = [Worker(_machine(home, n), script, database, n) for n in range(2)]
        for worker in workers:
            worker.started()
        made = server.post(
            "/api/tasks",
            {
                "task": "put two cheapest USB-C cables in the cart",
                "start_url": sites.url_for("/shop"),
            },
        )
        assert made.status_code == 201, made.text
        task = made.json()
        _turn(server, task["id"], 6, database)  # the cables are in the cart; the slow step runs
        [victim] = [w for w in workers if _running_on(database, w.executor)]
        victim.kill()
        final = _final(server, task["id"], "the task to end on the other worker")
        server.kill()  # the web server forgets what it was sent; it has no run record of it
        server.start()
        shown = server.get(f"/api/tasks/{task['id']}").json()["timeline"]
    finally:
        for worker in workers:
            worker.stop()
        server.stop()
    assert final["status"] == "succeeded", final
    [survivor] = [w for w in workers if w is not victim]
    header = _header(survivor.log.parent, task["id"])
    assert header["continued"] is True and header["status"] == "succeeded", header
    recorded = _steps(survivor.log.parent, task)
    assert (
        [s["index"] for s in shown]
        == [s["index"] for s in recorded]
        == list(range(1, len(recorded) + 1))
    )  # the database kept every step for the web server, each once
    assert not (home / "runs").exists()
    carts = [cart for sid, cart in _sessions(sites).items() if sid not in before and cart]
    assert [sum(cart.values()) for cart in carts] == [2], carts  # the same signed-in session
    engine = sa.create_engine(database.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as db:
        kept = db.execute(sa.text("SELECT count(*) FROM valet_task_state")).scalar_one()
    engine.dispose()
    assert kept == 0  # the task ended: what it kept to resume is gone
