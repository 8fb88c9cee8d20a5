"""How many tasks one account runs at once (`[people] tasks_at_once`), through `valet serve`.

With a limit of one per account and room for three in the process, Alice's organization's
second task stays queued while her first waits for her answer, but Bob (a person outside any
organization: another account) is not held up by her; once her first task ends, her second
starts. The limit is DBOS's, kept with the queue: one partition per account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.test_durable import Server, _wait
from tests.test_people import ALICE, BOB, _browser, _pending_request, _valet


@pytest.fixture
def limited(home: Path, tmp_path: Path) -> Iterator[Server]:
    (home / "config.toml").write_text("[people]\nenabled = true\ntasks_at_once = 1\n")
    script = tmp_path / "script.yaml"
    script.write_text(
        '- ask_person: {question: "Which colour do you want?"}\n'
        "- done: {answer: ok, success: true}\n"
    )
    _valet(home, "users", "add", ALICE[0], "--password-stdin", stdin=ALICE[1] + "\n")
    _valet(home, "org", "create", "Acme", "--owner", ALICE[0])
    _valet(home, "users", "add", BOB[0], "--password-stdin", stdin=BOB[1] + "\n")
    server = Server(home, script, extra=["--max-tasks", "3"])
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _status(client: httpx.Client, task_id: str) -> str:
    return str(client.get(f"/api/tasks/{task_id}").json()["status"])


@pytest.mark.timeout(240)
def test_one_accounts_tasks_wait_for_each_other_not_for_another_account(
    limited: Server,
) -> None:
    with _browser(limited, *ALICE) as alice, _browser(limited, *BOB) as bob:
        first = alice.post("/api/tasks", json={"task": "alice's first errand"}).json()["id"]
        asked = _pending_request(alice, first)  # running, waiting for her answer
        second = alice.post("/api/tasks", json={"task": "alice's second errand"}).json()["id"]
        his = bob.post("/api/tasks", json={"task": "bob's errand"}).json()["id"]
        _pending_request(bob, his)  # his account has a slot of its own
        assert _status(alice, first) == "waiting"
        assert _status(alice, second) == "queued"  # her account's one slot is taken
        answered = alice.post(f"/api/requests/{asked['id']}/answer", json={"text": "red"})
        assert answered.status_code == 200, answered.text
        _wait(lambda: _status(alice, first) == "succeeded", "her first task to end", 60)
        _pending_request(alice, second)  # now hers runs, and asks in turn
        assert _status(bob, his) == "waiting"
