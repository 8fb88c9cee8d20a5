"""Each person's own connector accounts and vault (multi-person mode), through `valet serve`.

The installation configures a calendar toolset that signs in with `account = "cal"` and a
folder toolset of its own. Alice and Bob each connect their own `cal` account on the Sources
API (their Radicale user and password go to their own vault, under a key derived from the
installation's); the operator's `cal` account is another Radicale user. A task of Alice's adds
an event to her calendar only; a task of Bob's before he connected has no calendar at all (and
never the installation's folder); after, his lands in his. Neither sees the other's account,
nothing falls back to the installation's, and an organization rule `allow_connectors` takes the
toolset away from members' tasks, as `allow_models` takes a model away."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import caldav
import httpx
import pytest
import yaml
from cryptography.fernet import Fernet, InvalidToken
from tests._servers import CAL_PASSWORD, Radicale
from tests.test_durable import Server, _steps, _wait
from tests.test_e2e_connectors import events_of
from tests.test_people import ALICE, BOB, _browser, _pending_request, _valet

from valet.connectors import Accounts
from valet.store import People
from valet.vault import Vault, load_vault_key

EVENT = {"summary": "Dentist", "start": "2026-12-15", "end": "2026-12-16"}


@dataclass
class Served:
    server: Server
    users: dict[str, str]
    """Radicale users: the operator's, Alice's and Bob's."""
    calendars: dict[str, caldav.Calendar]


@pytest.fixture
def served(
    home: Path, tmp_path: Path, radicale: Radicale, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    monkeypatch.delenv("VALET_VAULT_KEY", raising=False)  # the key valet makes itself
    users = {who: radicale.add_user() for who in ("operator", "alice", "bob")}
    calendars = {
        who: radicale.client(user).principal().make_calendar(name="Bills", cal_id="bills")
        for who, user in users.items()
    }
    folder = tmp_path / "operator-files"
    folder.mkdir()
    (folder / "salaries.txt").write_text("the operator's own file\n")
    calendar = {
        "name": "cal",
        "connector": "calendar",
        "url": radicale.url,
        "account": "cal",
        "timezone": "UTC",
        "calendar": "Bills",
    }
    lines = ["[people]", "enabled = true", "[[connectors]]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in calendar.items()]
    lines += ["[[connectors]]", 'name = "notes"', 'connector = "files"', f'root = "{folder}"']
    lines += ["[grants]", 'cal = ["create"]', 'notes = ["read"]']
    (home / "config.toml").write_text("\n".join(lines) + "\n")
    where = f"127.0.0.1:{radicale.port}"
    operator = users["operator"]
    _valet(home, "vault", "add", "cal", "--domain", where, "--username", operator,
           "--password-stdin", stdin=CAL_PASSWORD + "\n")  # fmt: skip
    _valet(home, "connectors", "add", "cal", "--credential", "cal")
    _valet(home, "users", "add", ALICE[0], "--password-stdin", stdin=ALICE[1] + "\n")
    _valet(home, "org", "create", "Acme", "--owner", ALICE[0])
    _valet(home, "users", "add", BOB[0], "--org", "Acme", "--password-stdin", stdin=BOB[1] + "\n")
    script = tmp_path / "script.yaml"
    script.write_text(
        yaml.safe_dump(
            [
                {"raw": {"tool": "cal_create_event", "args": EVENT}},
                {"raw": {"tool": "notes_read_file", "args": {"path": "salaries.txt"}}},
                {"done": "done"},
            ]
        )
    )
    server = Server(home, script)
    try:
        server.start()
        yield Served(server, users, calendars)
    finally:
        server.stop()


def _connect(client: httpx.Client, user: str, port: int) -> None:
    body = {
        "auth": "password",
        "name": "cal",
        "connector": "calendar",
        "secret": CAL_PASSWORD,
        "username": user,
        "domains": [f"127.0.0.1:{port}"],
    }
    made = client.post("/api/sources", json=body)
    assert made.status_code == 201, made.text


def _run(server: Server, client: httpx.Client, words: str, approve: bool) -> list[dict[str, Any]]:
    """A task of the client's person; its calendar write approved by them when `approve`."""
    made = client.post("/api/tasks", json={"task": words})
    assert made.status_code == 201, made.text
    task_id = made.json()["id"]
    if approve:
        asked = _pending_request(client, task_id)
        assert asked["tool"] == "cal_create_event", asked
        done = client.post(f"/api/requests/{asked['id']}/approve", json={})
        assert done.status_code == 200, done.text

    def ended() -> dict[str, Any] | None:
        task: dict[str, Any] = client.get(f"/api/tasks/{task_id}").json()
        return task if task["status"] in ("succeeded", "failed", "cancelled") else None

    final = _wait(ended, "the task to end", 120)
    assert final["status"] == "succeeded", final
    return _steps(server.home, final)


def _kinds(steps: list[dict[str, Any]]) -> list[str | None]:
    """Each step's action; None for a call the task had no such tool for (refused)."""
    return [None if s["action"] is None else s["action"]["kind"] for s in steps]


def _summaries(calendar: caldav.Calendar) -> list[str]:
    return [str(event["SUMMARY"]) for event in events_of(calendar)]


@pytest.mark.timeout(400)
def test_each_person_acts_with_their_own_accounts_only(
    served: Served, home: Path, radicale: Radicale
) -> None:
    server, users, calendars = served.server, served.users, served.calendars
    with _browser(server, *ALICE) as alice, _browser(server, *BOB) as bob:
        _connect(alice, users["alice"], radicale.port)
        mine = alice.get("/api/sources?operations=false").json()
        assert [a["name"] for a in mine["accounts"]] == ["cal"]
        assert [t["name"] for t in mine["toolsets"]] == ["cal"]  # never the operator's folder
        theirs = bob.get("/api/sources?operations=false").json()
        assert theirs["accounts"] == [] and users["alice"] not in json.dumps(theirs)
        assert bob.post("/api/sources/cal/test").status_code == 404  # he has none
        assert alice.post("/api/sources/cal/test").json()["ok"] is True
        assert CAL_PASSWORD not in alice.get("/sources").text

        # Alice's task writes to her calendar, with her account.
        steps = _run(server, alice, "add my dentist appointment", approve=True)
        assert _kinds(steps) == ["cal_create_event", None, "done"]  # no folder: not hers
        assert steps[0]["ok"]
        assert _summaries(calendars["alice"]) == ["Dentist"]
        assert _summaries(calendars["operator"]) == [] and _summaries(calendars["bob"]) == []

        # Bob has no account: his task has no calendar (and no fallback to the operator's).
        steps = _run(server, bob, "add my dentist appointment", approve=False)
        assert _kinds(steps) == [None, None, "done"]
        assert _summaries(calendars["operator"]) == [] and _summaries(calendars["bob"]) == []

        _connect(bob, users["bob"], radicale.port)
        _run(server, bob, "add my dentist appointment", approve=True)
        assert _summaries(calendars["bob"]) == ["Dentist"]
        assert _summaries(calendars["alice"]) == ["Dentist"]  # still only hers
        assert _summaries(calendars["operator"]) == []

        # The organization keeps members to the mail toolset: the calendar is not opened.
        only_mail = {"rules": [{"kind": "allow_connectors", "connectors": ["mail"]}]}
        assert alice.put("/api/org/rules", json=only_mail).status_code == 200
        steps = _run(server, bob, "add my dentist appointment", approve=False)
        assert _kinds(steps) == [None, None, "done"]
        assert _summaries(calendars["bob"]) == ["Dentist"]

        # The organization allows only local models: a member's task on another is refused.
        local_only = {"rules": [{"kind": "allow_models", "models": ["ollama:*"]}]}
        assert alice.put("/api/org/rules", json=local_only).status_code == 200
        refused = bob.post("/api/tasks", json={"task": "add my dentist appointment"})
        assert refused.status_code == 400, refused.text
        assert "(set by your organization): choose one of ollama:*" in refused.json()["detail"]

        assert bob.delete("/api/sources/cal").status_code == 200
        assert [a["name"] for a in alice.get("/api/sources").json()["accounts"]] == ["cal"]

    # Each space holds its person's account and vault; the secret is never in clear, and the
    # installation's key does not open a person's vault (theirs is derived from it).
    people = People(f"sqlite:///{home / 'valet.db'}")
    alice_id = people.find(ALICE[0]).id
    people.close()
    space = home / "people" / alice_id
    account = Accounts.load(space).get("cal")
    assert account is not None and account.credential_owned
    credential = Vault.open(space).get(account.credential or "")
    assert credential is not None and credential.username == users["alice"]
    assert Accounts.load(home).get("cal") is not None  # the operator's, untouched
    sealed = json.loads((space / "vault.json").read_text())["data"].encode()
    with pytest.raises(InvalidToken):
        Fernet(load_vault_key(home).key).decrypt(sealed)
    assert not [
        p for p in home.rglob("*") if p.is_file() and CAL_PASSWORD.encode() in p.read_bytes()
    ]
    with sqlite3.connect(home / "audit.db") as db:
        made = db.execute(
            "SELECT on_behalf_of, tool FROM records WHERE tool LIKE 'connectors.%' ORDER BY seq"
        ).fetchall()
    assert made == [
        ("person", "connectors.add"),  # the operator's, from the CLI
        (ALICE[0], "connectors.add"),
        (BOB[0], "connectors.add"),
        (BOB[0], "connectors.remove"),
    ]


def test_a_persons_task_gets_their_accounts_toolsets_the_shared_and_the_per_task_ones(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from valet.connectors import Account, ToolsetConfig, people_toolsets

    configs = [
        ToolsetConfig(name="cal", connector="calendar", settings={"account": "cal"}),
        ToolsetConfig(name="mail", connector="mail", settings={"account": "mail"}),
        ToolsetConfig(name="notes", connector="files", settings={"root": "/srv/notes"}),
        ToolsetConfig(name="wiki", connector="mcp", settings={"url": "http://w/"}, shared=True),
        ToolsetConfig(name="workspace", connector="workspace"),
    ]
    mine = Accounts(tmp_path / "connectors.toml")
    mine.add(Account(name="cal", connector="calendar", auth="password", credential="cal",
                     created=datetime.now(UTC)))  # fmt: skip
    given = [c.name for c in people_toolsets(configs, mine)]
    assert given == ["cal", "wiki", "workspace"]  # never the operator's folder, nor a mail
