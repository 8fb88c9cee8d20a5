"""People and organizations (multi-person mode): argon2id passwords, personal API tokens kept
as digests, invitations, roles; and through `valet serve` with `[people] enabled = true`: two
people sign in, each sees only their own tasks, requests and usage, and every route of the
OpenAPI document and every websocket of the app, called by one person on the other's objects,
answers 403 or 404 (the list is generated from the app, not picked by hand)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from tests._cli import valet_here
from tests.test_durable import Server, _wait
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from valet.server import ServerSettings, create_app
from valet.server._principal import PERSON_ROUTES
from valet.store import People, PeopleError, TaskStore

ALICE = ("alice@example.com", "alice's long password")
BOB = ("bob@example.com", "bob's long password")


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def people(tmp_path: Path) -> Iterator[tuple[People, Clock]]:
    clock = Clock()
    store = People(f"sqlite:///{tmp_path / 'valet.db'}", clock)
    try:
        yield store, clock
    finally:
        store.close()


def test_passwords_are_argon2id_and_nothing_tells_why_a_sign_in_failed(
    people: tuple[People, Clock], tmp_path: Path
) -> None:
    store, _ = people
    alice = store.add_person(" Alice@Example.COM ", "Alice", ALICE[1])
    assert alice.email == "alice@example.com" and alice.handle == "alice"
    with sqlite3.connect(tmp_path / "valet.db") as db:
        (kept,) = db.execute("SELECT password FROM valet_people").fetchone()
    assert kept.startswith("$argon2id$") and ALICE[1] not in kept
    assert store.authenticate("ALICE@example.com", ALICE[1]) == alice
    assert store.authenticate(ALICE[0], "wrong password!") is None
    assert store.authenticate("nobody@example.com", ALICE[1]) is None
    assert store.authenticate("not an address", ALICE[1]) is None
    with pytest.raises(PeopleError, match="already has an account"):
        store.add_person(ALICE[0], password="another password")
    with pytest.raises(PeopleError, match="at least 10 characters"):
        store.add_person("short@example.com", password="short")
    with pytest.raises(PeopleError, match="not an e-mail address"):
        store.add_person("alice", password=ALICE[1])
    store.set_disabled(ALICE[0], True)
    assert store.authenticate(ALICE[0], ALICE[1]) is None
    store.set_disabled(ALICE[0], False)
    store.set_password(ALICE[0], "a new long password")
    assert store.authenticate(ALICE[0], ALICE[1]) is None
    assert store.authenticate(ALICE[0], "a new long password") == alice


def test_api_tokens_are_kept_as_digests_expire_and_are_revoked(
    people: tuple[People, Clock], tmp_path: Path
) -> None:
    store, clock = people
    alice = store.add_person(*ALICE)
    bob = store.add_person(*BOB)
    made, secret = store.new_token(alice.id, "ci", "read", timedelta(days=1))
    assert secret.startswith("valet_pat_") and made.scopes == ("read",)
    with sqlite3.connect(tmp_path / "valet.db") as db:
        rows = db.execute("SELECT * FROM valet_api_tokens").fetchall()
    assert secret not in json.dumps(rows)
    found = store.check_token(secret)
    assert found is not None and found.person == alice.id
    assert found.allows("read") and not found.allows("write")
    assert store.check_token(secret + "x") is None and store.check_token("nonsense") is None
    assert not store.revoke_token(bob.id, made.id)  # not Bob's to revoke
    clock.now += timedelta(days=2)
    assert store.check_token(secret) is None  # expired
    writer, write_secret = store.new_token(alice.id, "bot", ("write",))
    assert store.check_token(write_secret) is not None
    assert writer.allows("read") and writer.allows("write") and not writer.allows("admin")
    store.set_disabled(ALICE[0], True)
    assert store.check_token(write_secret) is None  # a disabled person's tokens stop
    store.set_disabled(ALICE[0], False)
    assert store.revoke_token(alice.id, writer.id)
    assert store.check_token(write_secret) is None
    with pytest.raises(PeopleError, match="no scope 'root'"):
        store.new_token(alice.id, "x", "root")


def test_an_invitation_is_spent_once_and_an_organization_keeps_an_owner(
    people: tuple[People, Clock],
) -> None:
    store, clock = people
    acme = store.create_org("Acme", "Europe/Paris")
    alice = store.add_person(*ALICE)
    store.add_member(acme.id, alice.id, "owner")
    with pytest.raises(PeopleError, match="already an organization named 'Acme'"):
        store.create_org("Acme")
    invite = store.invite(acme.id, "Carol@Example.com", "admin", alice.id)
    found = store.invitation(invite)
    assert found is not None and found[1] == "carol@example.com" and found[2] == "admin"
    joined = store.accept(invite, "Carol", "carol's long password")
    assert (joined.org.name, joined.person.email, joined.role) == (
        "Acme",
        "carol@example.com",
        "admin",
    )
    assert joined.admin
    with pytest.raises(PeopleError, match="used or has expired"):
        store.accept(invite, "Carol", "carol's long password")
    late = store.invite(acme.id, "dan@example.com", "member", alice.id)
    clock.now += timedelta(days=8)
    assert store.invitation(late) is None
    with pytest.raises(PeopleError, match="used or has expired"):
        store.accept(late, "Dan", "dan's long password")
    with pytest.raises(PeopleError, match="at least one owner"):
        store.remove_member(acme.id, alice.id)
    with pytest.raises(PeopleError, match="at least one owner"):
        store.add_member(acme.id, alice.id, "member")
    store.add_member(acme.id, joined.person.id, "owner")
    store.add_member(acme.id, alice.id, "member")  # another owner now: allowed
    assert {m.person.email: m.role for m in store.members("Acme")} == {
        "alice@example.com": "member",
        "carol@example.com": "owner",
    }


def test_a_task_database_of_an_older_valet_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "valet.db"
    with sqlite3.connect(path) as db:  # valet_tasks as the version before owners made it
        db.execute(
            "CREATE TABLE valet_tasks (id VARCHAR(32) PRIMARY KEY, request TEXT NOT NULL, "
            "model_name VARCHAR(200), max_steps INTEGER NOT NULL, status VARCHAR(20) NOT NULL, "
            "created_at VARCHAR(40) NOT NULL, started_at VARCHAR(40), finished_at VARCHAR(40), "
            "run_id VARCHAR(64), answer TEXT, detail TEXT, error TEXT)"
        )
        db.execute(
            "INSERT INTO valet_tasks (id, request, max_steps, status, created_at) "
            "VALUES ('old', '{\"task\": \"t\"}', 5, 'succeeded', '2026-11-01T00:00:00+00:00')"
        )
    store = TaskStore(f"sqlite:///{path}")
    try:
        (old,) = store.tasks()
        assert old.id == "old" and old.owner is None
        store.add_task("new", {"task": "t"}, None, 5, "queued", "2026-12-01", owner="p1")
        assert {t.id: t.owner for t in store.tasks()} == {"old": None, "new": "p1"}
    finally:
        store.close()


# through `valet serve` ---------------------------------------------------------------------


def _valet(home: Path, *args: str, stdin: str = "") -> str:
    """`valet ARGS` run in this process, with this process's environment."""
    done = valet_here(home, *args, input=stdin, clear=())
    assert done.exit_code == 0, done.output
    return done.stdout


@contextmanager
def _browser(server: Server, email: str, password: str) -> Iterator[httpx.Client]:
    """A person's browser: signed in through the sign-in form, sending its Origin."""
    base = f"http://127.0.0.1:{server.port}"
    with httpx.Client(base_url=base, headers={"Origin": base}, timeout=15) as client:
        signed = client.post("/signin", data={"email": email, "password": password, "next": "/"})
        assert signed.status_code == 303 and signed.headers["location"] == "/", signed.text
        yield client


@pytest.fixture
def multi(home: Path, tmp_path: Path) -> Iterator[Server]:
    (home / "config.toml").write_text("[people]\nenabled = true\n")
    script = tmp_path / "script.yaml"
    script.write_text(
        "- goto: https://casino.example/\n"  # blocked by the organization: refused at once
        '- ask_person: {question: "Which colour do you want?"}\n'
        "- done: {answer: ok, success: true}\n"
    )
    _valet(home, "users", "add", ALICE[0], "--password-stdin", stdin=ALICE[1] + "\n")
    _valet(home, "org", "create", "Acme", "--owner", ALICE[0], "--timezone", "Europe/Paris")
    _valet(home, "users", "add", BOB[0], "--org", "Acme", "--password-stdin", stdin=BOB[1] + "\n")
    assert "alice@example.com" in _valet(home, "users", "list")
    people = People(f"sqlite:///{home / 'valet.db'}")  # what an admin set earlier
    acme = people.org("Acme")
    denied = {"rules": [{"kind": "deny_sites", "sites": ["casino.example"]}]}
    people.set_rules("org:" + acme.id, denied, "x")
    people.close()
    server = Server(home, script)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _pending_request(client: httpx.Client, task_id: str) -> dict[str, Any]:
    def asked() -> dict[str, Any] | None:
        found = client.get("/api/requests", params={"task_id": task_id}).json()
        return found[0] if found else None

    found: dict[str, Any] = _wait(asked, "the task's question", 60)
    return found


def test_people_sign_in_and_each_sees_only_their_own(multi: Server) -> None:
    base = f"http://127.0.0.1:{multi.port}"
    # Not signed in: the pages send to the sign-in form, the API says 401.
    anonymous = httpx.get(f"{base}/", timeout=10)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/signin?next=%2F"
    assert 'action="/signin"' in httpx.get(f"{base}/signin", timeout=10).text
    assert httpx.get(f"{base}/api/tasks", timeout=10).status_code == 401
    wrong = httpx.post(
        f"{base}/signin",
        data={"email": ALICE[0], "password": "not her password"},
        headers={"Origin": base},
        timeout=10,
    )
    assert wrong.status_code == 401 and "do not match an account" in wrong.text
    assert "set-cookie" not in wrong.headers
    forged = httpx.post(
        f"{base}/signin",
        data={"email": ALICE[0], "password": ALICE[1]},
        headers={"Origin": "https://evil.example"},
        timeout=10,
    )
    assert forged.status_code == 403  # a login form posted from another site
    guessed = {"email": "carol@example.com", "password": "a guess"}  # she has no account
    for _ in range(10):  # after ten misses the address waits, account or not
        httpx.post(f"{base}/signin", data=guessed, timeout=10)
    held = httpx.post(f"{base}/signin", data=guessed, timeout=10)
    assert held.status_code == 429 and "Too many failed sign-ins" in held.text

    with _browser(multi, *ALICE) as alice, _browser(multi, *BOB) as bob:
        assert alice.get("/api/me").json()["role"] == "owner"
        assert bob.get("/api/me").json() | {"id": None} == {
            "install": False,
            "id": None,
            "email": BOB[0],
            "name": "bob",
            "organization": "Acme",
            "role": "member",
            "scopes": None,
        }
        made = alice.post("/api/tasks", json={"task": "alice's errand"})
        assert made.status_code == 201, made.text
        task_id = made.json()["id"]
        request = _pending_request(alice, task_id)
        own = bob.post("/api/tasks", json={"task": "bob's errand"}).json()["id"]

        assert [t["id"] for t in bob.get("/api/tasks").json()["tasks"]] == [own]
        assert task_id not in bob.get("/").text and "alice&#39;s errand" not in bob.get("/").text
        assert bob.get(f"/api/tasks/{task_id}").status_code == 404
        assert bob.get(f"/api/requests/{request['id']}").status_code == 404
        assert all(r["task_id"] == own for r in bob.get("/api/requests").json())
        assert (
            bob.post(f"/api/requests/{request['id']}/answer", json={"text": "red"}).status_code
            == 404
        )
        assert bob.get("/api/sources").json()["accounts"] == []  # his own (none yet)
        # The organization: its rules shown to members, changed by admins only (audited).
        rules = bob.get("/api/org/rules").json()["rules"]
        assert rules == [{"kind": "deny_sites", "sites": ["casino.example"]}]
        stricter = {"rules": [*rules, {"kind": "forbid_effect", "effect": "purchase"}]}
        assert bob.put("/api/org/rules", json=stricter).status_code == 403
        assert bob.get("/api/org").json()["members"] is None
        assert bob.get("/api/org/usage").status_code == 403
        assert alice.put("/api/org/rules", json={"rules": [{"kind": "nope"}]}).status_code == 422
        assert alice.put("/api/org/rules", json=stricter).status_code == 200
        assert len(bob.get("/api/org/rules").json()["rules"]) == 2
        assert {m["email"] for m in alice.get("/api/org").json()["members"]} == {ALICE[0], BOB[0]}
        changed = multi.get("/api/audit").json()["records"][0]
        assert (changed["tool"], changed["who"], changed["args"]["admin"]) == (
            "org.rules",
            f"{ALICE[0]} (admin)",
            True,
        )
        # The organization's quota is pooled: both see its two task requests.
        assert bob.get("/api/usage").json()["used"] == alice.get("/api/usage").json()["used"] == 2
        assert bob.get("/api/usage").json()["timezone"] == "Europe/Paris"  # Acme's month
        assert multi.get("/api/usage").json()["timezone"] == "UTC"  # the installation's
        by_person = alice.get("/api/org/usage").json()["by_person"]
        assert {p["email"]: p["tasks"] for p in by_person} == {ALICE[0]: 1, BOB[0]: 1}
        # The installation's operator (its token) sees everyone's.
        assert {task_id, own} <= {t["id"] for t in multi.get("/api/tasks").json()["tasks"]}

        # Schedules are each person's; a firing is a task request of its person's.
        daily = {"when": "every day at 7:30", "task": {"task": "alice's daily errand"}}
        schedule = alice.post("/api/schedules", json=daily)
        assert schedule.status_code == 201, schedule.text
        schedule_id = schedule.json()["id"]
        assert bob.get("/api/schedules").json() == []
        assert bob.get(f"/api/schedules/{schedule_id}").status_code == 404
        assert bob.post(f"/api/schedules/{schedule_id}/run").status_code == 404
        assert "alice&#39;s daily errand" not in bob.get("/schedules").text
        assert alice.post(f"/api/schedules/{schedule_id}/run").status_code == 202

        def fired() -> list[str]:
            mine = alice.get("/api/tasks").json()["tasks"]
            return [t["id"] for t in mine if t["task"] == "alice's daily errand"]

        (fired_id,) = _wait(fired, "the schedule's task", 30)
        assert bob.get(f"/api/tasks/{fired_id}").status_code == 404
        assert alice.get("/api/usage").json()["used"] == 3  # the firing counts, for Acme
        # A saved workflow is the installation's: a person cannot replay one.
        replay = bob.post("/api/tasks", json={"task": "x", "workflow": "anything"})
        assert replay.status_code == 400 and "installation's" in replay.text
        # An admin invites from the web app; the link works once.
        invited = alice.post("/api/org/invitations", json={"email": "dan@example.com"})
        assert invited.status_code == 201, invited.text
        refused = bob.post("/api/org/invitations", json={"email": "eve@example.com"})
        assert refused.status_code == 403
        link = invited.json()["link"]
        assert link.startswith(f"http://127.0.0.1:{multi.port}/join?invite=")
        with httpx.Client(base_url=link.split("/join")[0], timeout=15) as dan:
            assert "You are invited to <strong>Acme</strong>" in dan.get(link).text
            form = {
                "invite": link.split("invite=")[1],
                "name": "Dan",
                "password": "dan's password!",
            }
            joined = dan.post("/join", data=form)
            assert joined.status_code == 303, joined.text
            assert dan.get("/api/me").json()["role"] == "member"
            assert dan.post("/join", data=form).status_code == 404  # spent
        # Each person's own rules: theirs alone, audited as theirs.
        mine = {"rules": [{"kind": "max_amount", "limit": "50", "currency": "EUR"}]}
        assert bob.put("/api/me/rules", json=mine).status_code == 200
        assert bob.get("/api/me/rules").json()["rules"][0]["limit"] == "50"
        assert alice.get("/api/me/rules").json() == {"rules": []}
        assert multi.get("/api/me/rules").status_code == 404  # the installation: rules.toml
        assert {r["tool"] for r in bob.get("/api/audit").json()["records"]} >= {"rules"}
        # A personal API token: read-only, then revoked.
        token = alice.post("/api/tokens", json={"name": "ci", "scopes": ["read"], "days": 30})
        assert token.status_code == 201, token.text
        secret = token.json()["token"]
        as_token = {"Authorization": f"Bearer {secret}"}
        listed = httpx.get(f"{base}/api/tasks", headers=as_token, timeout=10).json()["tasks"]
        assert {t["id"] for t in listed} == {task_id, fired_id}
        refused = httpx.post(f"{base}/api/tasks", json={"task": "x"}, headers=as_token, timeout=10)
        assert refused.status_code == 403 and refused.json()["error"] == "insufficient_scope"
        assert "token" not in json.dumps(alice.get("/api/tokens").json()[0]).replace('"', " ")
        assert bob.delete(f"/api/tokens/{token.json()['id']}").status_code == 404
        assert alice.delete(f"/api/tokens/{token.json()['id']}").status_code == 204
        assert httpx.get(f"{base}/api/tasks", headers=as_token, timeout=10).status_code == 401
        # Her answer lets her task finish; the audit log says the agent acted for her.
        answered = alice.post(f"/api/requests/{request['id']}/answer", json={"text": "red"})
        assert answered.status_code == 200, answered.text
        _wait(lambda: alice.get(f"/api/tasks/{task_id}").json()["status"] == "succeeded", "end")
        steps = alice.get(f"/api/tasks/{task_id}").json()["timeline"]
        assert "casino.example (set by your organization)" in steps[0]["result"], steps[0]
        records = multi.get(f"/api/audit?task={task_id}").json()["records"][::-1]
        assert [(r["who"], r["on_behalf_of"], r["tool"], r["verdict"]) for r in records] == [
            (f"agent for {ALICE[0]}", ALICE[0], "goto", "deny"),
            (ALICE[0], ALICE[0], "answer", "allow"),
        ]
        assert records[0]["rule_id"] == "org.deny_sites#1"
        assert records[0]["reason"] == "you blocked casino.example (set by your organization)"
        # Bob reads his own records only; Alice, the owner, her organization's.
        assert bob.get(f"/api/audit?task={task_id}").json()["records"] == []
        assert {r["on_behalf_of"] for r in bob.get("/api/audit").json()["records"]} == {BOB[0]}
        assert {r["on_behalf_of"] for r in alice.get("/api/audit").json()["records"]} == {
            ALICE[0],
            BOB[0],
        }
        # Signing out ends the session.
        signed_out = alice.post("/ui/sign-out")
        assert signed_out.status_code == 200 and 'href="/signin">Sign in' in signed_out.text
        assert alice.get("/api/tasks").status_code == 401


def _filled(path: str, objects: dict[str, str]) -> str:
    for name, value in objects.items():
        path = path.replace("{" + name + "}", value)
    return path.replace("{", "").replace("}", "")  # any other parameter: its name


def test_every_route_and_websocket_keeps_one_persons_objects_from_another(
    multi: Server, home: Path
) -> None:
    with _browser(multi, *ALICE) as alice, _browser(multi, *BOB) as bob:
        task_id = alice.post("/api/tasks", json={"task": "alice's errand"}).json()["id"]
        request_id = _pending_request(alice, task_id)["id"]
        secret = alice.post("/api/tokens", json={"name": "ci", "scopes": ["write"]}).json()
        account = {
            "auth": "password",
            "name": "work",
            "connector": "calendar",
            "secret": "alice's app password",
            "username": "alice-login@cal.example",
            "domains": ["cal.example"],
        }
        assert alice.post("/api/sources", json=account).status_code == 201
        daily = {"when": "every day at 7:30", "task": {"task": "alice's errand"}}
        schedule_id = alice.post("/api/schedules", json=daily).json()["id"]
        objects = {
            "schedule_id": schedule_id,
            "task_id": task_id,
            "run_id": task_id,
            "request_id": request_id,
            "token_id": secret["id"],
            "name": "work",
        }
        # What Bob must never read: her ids (a refusal may repeat the id he sent), her
        # task's words, her question, her token, her address.
        ids = (task_id, request_id, schedule_id)
        hers = (secret["token"], ALICE[0], "alice's errand", "Which colour")
        hers += ("alice's app password", "alice-login@cal.example")  # her account
        document = multi.get("/api/openapi.json").json()
        operations = [
            (template, method.upper(), "requestBody" in operation)
            for template, found in document["paths"].items()
            for method, operation in found.items()
        ]
        # The web app's pages and forms are not in the document: take them from the app.
        app = create_app(ServerSettings(home=home, token="t" * 16, people=True))
        routes = list(iter_route_contexts(app.routes))
        operations += [
            (str(r.path), method, method == "POST")
            for r in routes
            if isinstance(r.original_route, APIRoute)
            and r.path not in document["paths"]
            and r.path != "/ui/sign-out"  # it would end Bob's session (it has no object)
            for method in sorted(r.original_route.methods)
        ]
        called: list[str] = []
        for template, method, has_body in operations:
            answer = bob.request(method, _filled(template, objects), json={} if has_body else None)
            label = f"{method} {template}: {answer.status_code}"
            called.append(label)
            assert answer.status_code < 500, label
            if template.startswith("/ui/sources/{name}"):  # his own list, saying it is not his
                assert "no connector account named" in answer.text, label
            elif any("{" + name + "}" in template for name in objects):
                assert answer.status_code in (403, 404), label
            assert not any(h in answer.text for h in hers), label
            if answer.status_code < 400:
                assert not any(i in answer.text for i in ids), label
        assert bob.get("/api/me").json()["email"] == BOB[0]  # signed in all along
        assert len(called) > 60  # the document and the pages, sources and schedules too
        assert any(c.startswith("GET /api/sources") for c in called)
        assert any(c.startswith("GET /tasks/{task_id}: 404") for c in called)
        sockets = [str(r.path) for r in routes if isinstance(r.original_route, APIWebSocketRoute)]
        assert set(PERSON_ROUTES) <= {r.path for r in routes}  # no name there is a typo
        assert "/api/tasks/{task_id}/live" in sockets and "/ui/stream" in sockets
        cookies = "; ".join(f"{k}={v}" for k, v in bob.cookies.items())
        asyncio.run(_sockets_refuse(multi.port, sockets, objects, cookies, hers + ids))


async def _sockets_refuse(
    port: int, sockets: list[str], objects: dict[str, str], cookie: str, hers: tuple[str, ...]
) -> None:
    for template in sockets:
        url = f"ws://127.0.0.1:{port}{_filled(template, objects)}"
        origin = f"http://127.0.0.1:{port}"
        received: list[str] = []
        try:
            async with connect(
                url,
                additional_headers={"Cookie": cookie},
                origin=origin,  # pyright: ignore[reportArgumentType]
                open_timeout=10,
            ) as socket:
                with pytest.raises((ConnectionClosed, TimeoutError)):
                    while True:
                        received.append(str(await asyncio.wait_for(socket.recv(), 3)))
                if "{" in template:  # an object of Alice's: refused at once
                    assert socket.close_code in (4403, 4404), (template, socket.close_code)
        except InvalidStatus as exc:
            assert exc.response.status_code in (403, 404), template
        assert not any(h in m for m in received for h in hers), template


def test_too_many_failed_sign_ins_make_that_client_wait_and_then_everyone(
    people: tuple[People, Clock],
) -> None:
    store, clock = people
    store.add_person(*ALICE)
    for _ in range(9):
        store.failed(" Alice@Example.com")
        clock.now += timedelta(seconds=30)
    assert store.locked(ALICE[0]) is None
    store.failed(ALICE[0])
    wait = store.locked(ALICE[0])
    assert wait is not None and timedelta(minutes=10) < wait <= timedelta(minutes=15)
    assert store.locked("bob@example.com") is None  # another address is not held up
    assert store.locked(ALICE[0], "203.0.113.9") is None  # Alice herself, from elsewhere
    clock.now += timedelta(minutes=15)
    assert store.locked(ALICE[0]) is None  # the oldest failures fell out of the window
    clock.now += timedelta(minutes=15)  # all of them
    for number in range(99):  # guessing spread over many clients holds the address for all
        store.failed(ALICE[0], f"198.51.100.{number}")
    assert store.locked(ALICE[0], "203.0.113.9") is None
    store.failed(ALICE[0], "198.51.100.200")
    assert store.locked(ALICE[0], "203.0.113.9") is not None
