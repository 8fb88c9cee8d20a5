"""How many tasks one account and one person run at once (`[people] tasks_at_once` and
`tasks_at_once_per_person`), through `valet serve`.

With a limit of one per account and room for three in the process, Alice's organization's
second task stays queued while her first waits for her answer, but Bob (a person outside any
organization: another account) is not held up by her; once her first task ends, her second
starts. The limit is DBOS's, kept with the queue: one partition per account.

With one per person and two per organization, Alice's second task waits for her first while
Carol, in the same organization, is not held up by her; Dave then waits for the organization's
two places; the order they were asked in is kept as places free up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests.test_durable import Server, _wait
from tests.test_people import ALICE, BOB, _browser, _pending_request, _valet

from valet.errors import ConfigError
from valet.server._settings import tasks_per_account, tasks_per_person


@pytest.fixture
def limited(home: Path, tmp_path: Path) -> Iterator[Server]:
    server = _serve(home, tmp_path, "tasks_at_once = 1\n")
    _valet(home, "users", "add", BOB[0], "--password-stdin", stdin=BOB[1] + "\n")
    try:
        server.start()
        yield server
    finally:
        server.stop()


CAROL = ("carol@example.com", "carol's long password")
DAVE = ("dave@example.com", "dave's long password")


def _serve(home: Path, tmp_path: Path, config: str, *members: tuple[str, str]) -> Server:
    """`valet serve` with room for four tasks, `config`, and an organization (Acme) owned by
    Alice with `members`; every task asks a question, then ends."""
    (home / "config.toml").write_text("[people]\nenabled = true\n" + config)
    script = tmp_path / "script.yaml"
    script.write_text(
        '- ask_person: {question: "Which colour do you want?"}\n'
        "- done: {answer: ok, success: true}\n"
    )
    _valet(home, "users", "add", ALICE[0], "--password-stdin", stdin=ALICE[1] + "\n")
    _valet(home, "org", "create", "Acme", "--owner", ALICE[0])
    for email, password in members:
        _valet(
            home, "users", "add", email, "--org", "Acme", "--password-stdin", stdin=password + "\n"
        )
    return Server(home, script, extra=["--max-tasks", "4"])


def _still(check: Callable[[], bool], seconds: float) -> None:
    """`check` holds now and for `seconds` (what a limit holds back does not start)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert check()
        time.sleep(0.1)


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


@pytest.fixture
def per_person(home: Path, tmp_path: Path) -> Iterator[Server]:
    config = "tasks_at_once = 2\ntasks_at_once_per_person = 1\n"
    server = _serve(home, tmp_path, config, CAROL, DAVE)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(240)
def test_one_persons_tasks_wait_for_each_other_within_the_organizations_limit(
    per_person: Server,
) -> None:
    with (
        _browser(per_person, *ALICE) as alice,
        _browser(per_person, *CAROL) as carol,
        _browser(per_person, *DAVE) as dave,
    ):
        first = alice.post("/api/tasks", json={"task": "alice's first errand"}).json()["id"]
        asked_alice = _pending_request(alice, first)
        second = alice.post("/api/tasks", json={"task": "alice's second errand"}).json()["id"]
        hers = carol.post("/api/tasks", json={"task": "carol's errand"}).json()["id"]
        asked_carol = _pending_request(carol, hers)  # the same organization, her own place
        his = dave.post("/api/tasks", json={"task": "dave's errand"}).json()["id"]
        # Her one place is taken by her first, the organization's two by hers and Carol's.
        _still(lambda: _status(alice, second) == _status(dave, his) == "queued", 3.0)
        answered = alice.post(f"/api/requests/{asked_alice['id']}/answer", json={"text": "red"})
        assert answered.status_code == 200, answered.text
        _wait(lambda: _status(alice, first) == "succeeded", "her first task to end", 60)
        _pending_request(dave, his)  # he asked before her second was let in: his turn first
        _still(lambda: _status(alice, second) == "queued", 2.0)
        answered = carol.post(f"/api/requests/{asked_carol['id']}/answer", json={"text": "blue"})
        assert answered.status_code == 200, answered.text
        _pending_request(alice, second)  # Carol's place in the organization is hers now
        assert _status(carol, hers) == "succeeded"


@contextmanager
def _hers_waiting(home: Path, tmp_path: Path) -> Iterator[tuple[Server, str, str]]:
    """`valet serve` with one task at once per person, Alice's first task asking her, her
    second waiting for its place: (the server, the first's id, the second's)."""
    server = _serve(home, tmp_path, "tasks_at_once_per_person = 1\n")
    try:
        server.start()
        with _browser(server, *ALICE) as alice:
            first = alice.post("/api/tasks", json={"task": "alice's first errand"}).json()["id"]
            _pending_request(alice, first)
            second = alice.post("/api/tasks", json={"task": "alice's second errand"}).json()["id"]
            _still(lambda: _status(alice, second) == "queued", 2.0)
        yield server, first, second
    finally:
        server.stop()


@pytest.mark.timeout(240)
def test_a_task_waiting_for_its_persons_place_keeps_waiting_across_a_kill(
    home: Path, tmp_path: Path
) -> None:
    with _hers_waiting(home, tmp_path) as (server, first, second):
        server.kill()  # her first waits for her, her second for its place
        server.start()
        with _browser(server, *ALICE) as alice:
            asked = _pending_request(alice, first)
            _still(lambda: _status(alice, second) == "queued", 2.0)
            answered = alice.post(f"/api/requests/{asked['id']}/answer", json={"text": "red"})
            assert answered.status_code == 200, answered.text
            _wait(lambda: _status(alice, first) == "succeeded", "her first task to end", 60)
            asked = _pending_request(alice, second)
            answered = alice.post(f"/api/requests/{asked['id']}/answer", json={"text": "blue"})
            assert answered.status_code == 200, answered.text
            _wait(lambda: _status(alice, second) == "succeeded", "her second task to end", 60)


def test_the_limits_are_whole_numbers_or_absent() -> None:
    assert tasks_per_person({}) is None and tasks_per_account({"people": {}}) is None
    both = {"people": {"tasks_at_once": 4, "tasks_at_once_per_person": 1}}
    assert (tasks_per_account(both), tasks_per_person(both)) == (4, 1)
    for bad in (0, -1, "2", True, 1.5):
        with pytest.raises(ConfigError, match=r"\[people\] tasks_at_once_per_person must be"):
            tasks_per_person({"people": {"tasks_at_once_per_person": bad}})
    with pytest.raises(ConfigError, match="must be a table"):
        tasks_per_person({"people": "yes"})


@pytest.mark.timeout(240)
def test_a_task_cancelled_while_waiting_for_its_persons_place_never_runs(
    home: Path, tmp_path: Path
) -> None:
    with (
        _hers_waiting(home, tmp_path) as (server, first, second),
        _browser(server, *ALICE) as alice,
    ):
        asked = _pending_request(alice, first)
        third = alice.post("/api/tasks", json={"task": "alice's third errand"}).json()["id"]
        cancelled = alice.post(f"/api/tasks/{second}/cancel")
        assert cancelled.status_code == 202, cancelled.text
        assert _status(alice, second) == "cancelled"
        answered = alice.post(f"/api/requests/{asked['id']}/answer", json={"text": "red"})
        assert answered.status_code == 200, answered.text
        _pending_request(alice, third)  # her place went to the third, not the cancelled one
        _still(lambda: _status(alice, second) == "cancelled", 1.0)
        assert alice.get(f"/api/tasks/{second}").json()["timeline"] == []  # it never ran
