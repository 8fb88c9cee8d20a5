"""Durable tasks: `valet serve` killed with SIGKILL mid-task resumes each task after a restart.

The server runs in a subprocess (its own process group, with its Chromium); the demo sites run
in this process, so the test reads the shop's real state (carts) to prove nothing ran twice.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import sqlalchemy as sa
import yaml
from cryptography.fernet import Fernet

from valet.sites import SiteServer
from valet.sites.state import DEMO_EMAIL, DEMO_PASSWORD, SiteState
from valet.vault import KEY_ENV as VAULT_KEY_ENV
from valet.vault import Credential, Vault

CHEAPEST = "USB-C Cable 1 m (Basic)"
CART_TASK: list[Any] = [
    {
        "type": {
            "role": "searchbox",
            "name": "Search products",
            "text": "USB-C cable",
            "submit": True,
        }
    },
    {"select": {"role": "combobox", "name": "Sort by", "option": "Price: low to high"}},
    {"click": {"role": "button", "name": "Apply filters"}},
    {"click": {"role": "link", "name": CHEAPEST}},
    {"type": {"role": "spinbutton", "name": "Quantity", "text": "2"}},
    {"click": {"role": "button", "name": "Add to cart"}},
    {"goto": "/shop/cart"},
    {"expect": {"text": CHEAPEST}},
    {"done": {"answer": "two cables in the cart", "success": True}},
]


SERVE = [sys.executable, "-m", "valet", "serve"]
FINAL = {"succeeded", "failed", "stopped", "cancelled"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(check: Any, what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _client() -> httpx.Client:
    """A client kept open for a server's requests (a new one per request costs ~25 ms, its TLS
    setup, in every poll); like one-off requests it keeps no cookies."""
    return httpx.Client(timeout=10, cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])))


class Server:
    """`valet serve` in a subprocess on a fixed home and port."""

    def __init__(
        self,
        home: Path,
        script: Path,
        database_url: str | None = None,
        extra: list[str] | None = None,
    ) -> None:
        self.home = home
        self.script = script
        self.database_url = database_url
        self.extra = extra or []
        """More `valet serve` options."""
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = home / "serve.log"
        self._client = _client()

    def start(self) -> None:
        env = {**os.environ, "VALET_HOME": str(self.home)}
        env.pop("VALET_DATABASE_URL", None)
        if self.database_url is not None:
            env["VALET_DATABASE_URL"] = self.database_url
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    *SERVE,
                    "--port",
                    str(self.port),
                    "--model",
                    f"scripted:{self.script}",
                    *self.extra,
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait(self._up, "the server to listen", 60)

    def _up(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"valet serve exited: {self.log.read_text()[-2000:]}")
        try:
            return self.get("/api/tasks").status_code == 200
        except (httpx.TransportError, FileNotFoundError):
            return False

    @property
    def token(self) -> str:
        return (self.home / "server-token").read_text().strip()

    def get(self, path: str) -> httpx.Response:
        return self._client.get(self._url(path), headers=self._auth())

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return self._client.post(self._url(path), json=body, headers=self._auth())

    def delete(self, path: str) -> httpx.Response:
        return self._client.delete(self._url(path), headers=self._auth())

    def _url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def kill(self) -> None:
        """SIGKILL the server and everything it started (its Chromium too)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self._client.close()  # no connection to the killed process is reused after a restart
        self._client = _client()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill()


@contextmanager
def serving(home: Path, script: list[Any]) -> Iterator[Server]:
    path = home / "script.yaml"
    path.write_text(yaml.safe_dump(script), encoding="utf-8")
    server = Server(home, path)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def _turn(server: Server, task_id: str, turn: int, database_url: str | None = None) -> None:
    """Wait until the task's workflow recorded model turn `turn` (see `_chose`); fail at once,
    saying how the task ended, if it ended before that, and with its status on a timeout."""

    def reached() -> bool:
        if _chose(server.home, task_id, turn, database_url):
            return True
        task = server.get(f"/api/tasks/{task_id}").json()
        if task["status"] in FINAL:
            raise AssertionError(f"the task ended before the model's turn {turn}: {task}")
        return False

    try:
        _wait(reached, f"the model's turn {turn}")
    except AssertionError as failed:
        task = server.get(f"/api/tasks/{task_id}").json()
        asked = server.get(f"/api/requests?task_id={task_id}").json()
        last = task.get("timeline", [])[-2:]
        raise AssertionError(
            f"{failed} (the task is {task.get('status')}, waiting for "
            f"{task.get('waiting_for')!r}; asked: {asked}; last steps: {last})"
        ) from None


def _final(server: Server, task_id: str, what: str) -> dict[str, Any]:
    """The task's state once it ended (waits up to two minutes)."""

    def ended() -> dict[str, Any] | None:
        task: dict[str, Any] = server.get(f"/api/tasks/{task_id}").json()
        return task if task["status"] in FINAL else None

    try:
        return _wait(ended, what, 120)
    except AssertionError as timed_out:  # say where it stands: status, what it waits for
        task = server.get(f"/api/tasks/{task_id}").json()
        asks = server.get(f"/api/requests?task_id={task_id}").json()
        steps = [(s["action"]["kind"], s["url"]) for s in _steps(server.home, task)]
        try:
            handovers = _header(server.home, task_id).get("handovers")
        except (AssertionError, OSError, ValueError) as missing:
            handovers = str(missing)
        log = server.log.read_text(errors="replace")[-3000:] if server.log.is_file() else ""
        raise AssertionError(
            f"{timed_out}: {task['status']}, waiting for {asks}; steps {steps}; "
            f"handovers {handovers}; server log:\n{log}"
        ) from None


def _steps(home: Path, task: dict[str, Any]) -> list[dict[str, Any]]:
    runs = home / "runs"
    for folder in runs.iterdir() if runs.is_dir() else []:
        if not (folder / "run.json").is_file():
            continue  # a run being created
        header = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        if header["settings"].get("server_task") == task["id"]:
            lines = (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines()
            return [json.loads(line) for line in lines if line.strip()]
    return []


def _header(home: Path, task_id: str) -> dict[str, Any]:
    for folder in (home / "runs").iterdir():
        header = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        if header["settings"].get("server_task") == task_id:
            return cast(dict[str, Any], header)
    raise AssertionError(f"no run record for task {task_id}")


def _chose(home: Path, task_id: str, turn: int, database_url: str | None = None) -> bool:
    """Whether the task's workflow has recorded model turn `turn` (0-based): its action is
    then what runs next."""
    url = database_url or f"sqlite:///{home / 'workflows.db'}"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    table = "operation_outputs" if database_url is None else "dbos.operation_outputs"
    try:
        with engine.connect() as db:
            found = db.execute(
                sa.text(f"SELECT 1 FROM {table} WHERE workflow_uuid = :id AND function_name = :n"),
                {"id": task_id, "n": f"model-{turn}"},
            ).first()
    except sa.exc.OperationalError:
        return False  # not created yet
    finally:
        engine.dispose()
    return found is not None


def _sessions(sites: SiteServer) -> dict[str, dict[str, int]]:
    state = cast(SiteState, sites.app.state.site)
    return {sid: dict(session.cart) for sid, session in state.sessions.items()}


SLOW = {"wait_for": {"text": "a text this page never shows", "timeout": 4}}
"""A slow action: killing the server while it runs stops the task at a known place."""

RESTARTED = "valet was restarted before this action ran"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("after", [1, 4, 6])
def test_a_task_killed_mid_run_finishes_after_a_restart_without_repeating_a_step(
    tmp_path: Path, sites: SiteServer, after: int
) -> None:
    """Killed in the search results, on the product page, or with the cables in the cart."""
    home = tmp_path / "home"
    home.mkdir()
    before = set(_sessions(sites))
    script = [*CART_TASK[:after], SLOW, *CART_TASK[after:]]
    with serving(home, script) as server:
        created = server.post(
            "/api/tasks",
            {
                "task": "put two cheapest USB-C cables in the cart",
                "start_url": sites.url_for("/shop"),
            },
        )
        assert created.status_code == 201, created.text
        task = created.json()
        _turn(server, task["id"], after)
        server.kill()  # while the slow action runs
        server.start()
        final = _final(server, task["id"], "the task to end after the restart")
    assert final["status"] == "succeeded", final
    steps = _steps(home, task)
    indices = [step["index"] for step in steps]
    assert indices == list(range(1, len(steps) + 1)), indices  # each step recorded once
    # Every model turn once (`expect` is not a turn), plus the one the restart interrupted:
    # that action was not run on the reopened page, and the model chose it again.
    assert len(steps) == len(script) - 1 + 1
    interrupted = [s for s in steps if s["result"].startswith(RESTARTED)]
    assert [s["index"] for s in interrupted] == [after + 1], [s["result"] for s in steps]
    assert steps[after + 1]["action"] == steps[after]["action"]  # chosen again, then run
    header = _header(home, task["id"])
    assert header["restarts"] == 1 and header["status"] == "succeeded"
    # "Add to cart" ran once, in the browser session restored after the restart: two cables.
    carts = [cart for sid, cart in _sessions(sites).items() if sid not in before and cart]
    assert [sum(cart.values()) for cart in carts] == [2], carts


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["approval", "question"])
def test_a_task_waiting_for_the_person_survives_a_restart_and_goes_on_when_answered(
    tmp_path: Path, sites: SiteServer, kind: str
) -> None:
    """The request itself survives: after the restart the person finds it with the same id
    (a page left open still works), answers it once, and the task goes on."""
    home = tmp_path / "home"
    home.mkdir()
    state = cast(SiteState, sites.app.state.site)
    deleted_before = len(state.hostile("delete_all"))
    ask: dict[str, Any] = (
        {"click": {"role": "button", "name": "Delete all"}}
        if kind == "approval"
        else {"ask_person": {"question": "Delete the saved cards too?"}}
    )
    script: list[Any] = [
        ask,
        {"done": {"answer": "went on after the person answered", "success": True}},
    ]
    with serving(home, script) as server:
        created = server.post(
            "/api/tasks",
            {"task": "delete all saved data", "start_url": sites.url_for("/hostile/settings")},
        )
        assert created.status_code == 201, created.text
        task_id = created.json()["id"]
        asked = _wait(lambda: server.get(f"/api/requests?task_id={task_id}").json(), "the ask")
        assert [r["kind"] for r in asked] == [kind], asked
        server.kill()
        assert len(state.hostile("delete_all")) == deleted_before  # nothing done yet
        server.start()
        # Listed again at once, before the resumed task even asks.
        again = server.get(f"/api/requests?task_id={task_id}").json()
        assert [r["id"] for r in again] == [asked[0]["id"]], again
        answer = "approve" if kind == "approval" else "answer"
        answered = server.post(f"/api/requests/{asked[0]['id']}/{answer}", {"text": "yes"})
        assert answered.status_code == 200, answered.text
        final = _final(server, task_id, "the task to end")
        assert server.get(f"/api/requests?task_id={task_id}").json() == []
    assert final["status"] == "succeeded", final
    done = 1 if kind == "approval" else 0
    assert len(state.hostile("delete_all")) == deleted_before + done  # once, after approval
    if kind == "question":
        steps = _steps(home, {"id": task_id})
        assert [s["result"] for s in steps][-2:] == ["the person answered: yes", "done"]


def _the_one_request(server: Server, task_id: str, kind: str) -> dict[str, Any]:
    def asked() -> dict[str, Any] | None:
        found = server.get(f"/api/requests?task_id={task_id}").json()
        return found[0] if len(found) == 1 and found[0]["kind"] == kind else None

    return cast(dict[str, Any], _wait(asked, f"a {kind} request", 120))


@contextmanager
def _killed_deleting_all(
    home: Path, sites: SiteServer, script: list[Any], reached: Any
) -> Iterator[tuple[Server, str]]:
    """A served task clicks "Delete all" (approved); valet is killed once `reached()` holds
    (the site is slow before or after it acts, see `SiteState.slow_request_s` and
    `slow_response_s`) and started again; the block gets the server and the task."""
    state = cast(SiteState, sites.app.state.site)
    try:
        with serving(home, script) as server:
            created = server.post(
                "/api/tasks",
                {"task": "delete all saved data", "start_url": sites.url_for("/hostile/settings")},
            )
            task_id = created.json()["id"]
            asked = _the_one_request(server, task_id, "approval")
            server.post(f"/api/requests/{asked['id']}/approve", {})
            _wait(reached, "the click to reach the site")
            server.kill()
            state.slow_request_s = state.slow_response_s = 0.0
            server.start()
            yield server, task_id
    finally:
        state.slow_request_s = state.slow_response_s = 0.0


@pytest.mark.timeout(300)
def test_a_crash_in_the_middle_of_a_consequential_action_never_does_it_twice(
    tmp_path: Path, sites: SiteServer
) -> None:
    """The server dies after the site acted on the click but before the page answered: after
    the restart valet does not click again. It cannot tell from the reopened page whether the
    click counted, so it asks the person, saying what was interrupted; they check and say it
    did, and the model is told so."""
    home = tmp_path / "home"
    home.mkdir()
    state = cast(SiteState, sites.app.state.site)
    deleted_before = len(state.hostile("delete_all"))
    script: list[Any] = [
        {"click": {"role": "button", "name": "Delete all"}},
        {"expect": {"prompt": "the person checked and confirmed it took effect"}},
        {"done": {"answer": "it was done once", "success": True}},
    ]
    state.slow_response_s = 30.0
    acted = lambda: len(state.hostile("delete_all")) > deleted_before  # noqa: E731
    with _killed_deleting_all(home, sites, script, acted) as (server, task_id):
        question = _the_one_request(server, task_id, "question")
        assert 'click button "Delete all" on ' in question["summary"], question
        assert "restarted while it was doing this" in question["summary"], question
        server.post(f"/api/requests/{question['id']}/answer", {"text": "yes"})
        final = _final(server, task_id, "the task to end")
    assert final["status"] == "succeeded", final
    assert len(state.hostile("delete_all")) == deleted_before + 1  # once, never twice
    steps = _steps(home, {"id": task_id})
    assert "the person checked and confirmed it took effect" in steps[0]["result"]


@pytest.mark.timeout(300)
def test_an_approved_click_a_crash_stopped_before_it_counted_is_done_again_not_lost(
    tmp_path: Path, sites: SiteServer
) -> None:
    """The server dies after the click left the browser but before the site acted on it (the
    site never acts: the browser went away). The person checks and says it did not happen:
    the model chooses again on the reopened page, the click is asked again, and done once."""
    home = tmp_path / "home"
    home.mkdir()
    state = cast(SiteState, sites.app.state.site)
    deleted_before = len(state.hostile("delete_all"))
    held_before = state.held_requests
    script: list[Any] = [
        {"click": {"role": "button", "name": "Delete all"}},
        {"done": {"answer": "deleted once", "success": True}},
    ]
    state.slow_request_s = 30.0
    held = lambda: state.held_requests > held_before  # noqa: E731
    with _killed_deleting_all(home, sites, script, held) as (server, task_id):
        question = _the_one_request(server, task_id, "question")
        assert len(state.hostile("delete_all")) == deleted_before  # it never counted
        server.post(f"/api/requests/{question['id']}/answer", {"text": "no"})
        again = _the_one_request(server, task_id, "approval")
        server.post(f"/api/requests/{again['id']}/approve", {})
        final = _final(server, task_id, "the task to end")
    assert final["status"] == "succeeded", final
    assert len(state.hostile("delete_all")) == deleted_before + 1  # done again, once
    steps = _steps(home, {"id": task_id})
    assert "the person checked: it did NOT take effect" in steps[0]["result"], steps[0]
    assert steps[1]["action"] == steps[0]["action"]  # chosen again on the reopened page


@pytest.mark.timeout(300)
def test_an_interrupted_action_nobody_confirms_never_ends_as_a_plain_success(
    tmp_path: Path, sites: SiteServer
) -> None:
    """The person answers neither yes nor no: the model is told it is unknown, and the task
    cannot end "succeeded" without saying so."""
    home = tmp_path / "home"
    home.mkdir()
    state = cast(SiteState, sites.app.state.site)
    script: list[Any] = [
        {"click": {"role": "button", "name": "Delete all"}},
        {"expect": {"prompt": "whether it took effect is unknown"}},
        {"done": {"answer": "all deleted", "success": True}},
    ]
    state.slow_response_s = 30.0
    deleted_before = len(state.hostile("delete_all"))
    acted = lambda: len(state.hostile("delete_all")) > deleted_before  # noqa: E731
    with _killed_deleting_all(home, sites, script, acted) as (server, task_id):
        question = _the_one_request(server, task_id, "question")
        server.post(f"/api/requests/{question['id']}/answer", {"text": "I don't know"})
        final = _final(server, task_id, "the task to end")
    assert final["status"] == "failed", final
    assert "could not confirm whether this took effect" in final["answer"], final
    assert 'button "Delete all"' in final["answer"], final


@pytest.mark.timeout(300)
def test_a_lost_browser_state_is_told_to_the_model_not_hidden(
    tmp_path: Path, sites: SiteServer
) -> None:
    """The task's saved page and cookies are gone when valet restarts (deleted, a disk
    replaced): the model is told exactly that, not that the page was reopened."""
    home = tmp_path / "home"
    home.mkdir()
    script: list[Any] = [SLOW, {"done": {"answer": "went on", "success": True}}]
    with serving(home, script) as server:
        created = server.post(
            "/api/tasks", {"task": "wait a little", "start_url": sites.url_for("/shop")}
        )
        task_id = created.json()["id"]
        _turn(server, task_id, 0)
        server.kill()
        state = home / "tasks" / task_id
        for name in ("page.json", "storage.json"):
            (state / name).unlink()
        server.start()
        final = _final(server, task_id, "the task to end")
    assert final["status"] == "succeeded", final
    told = _steps(home, final)[0]["result"]
    assert "could not restore the task's browser: where the task was" in told, told
    assert "its cookies and storage" in told, told


@pytest.mark.timeout(300)
def test_what_was_typed_into_a_form_is_put_back_after_a_restart(
    tmp_path: Path, sites: SiteServer
) -> None:
    """The page is reopened from its address after a restart: what the agent had typed into
    its form is put back, so the resumed task goes on with the form as it left it."""
    home = tmp_path / "home"
    home.mkdir()
    script: list[Any] = [
        {"type": {"role": "textbox", "name": "Order number", "text": "VL-104233"}},
        {"type": {"role": "textbox", "name": "Message", "text": "Where is my parcel?"}},
        SLOW,
        {
            "expect": {"text": 'textbox "Order number" ="VL-104233"'},
            "done": {"answer": "the form kept its values", "success": True},
        },
    ]
    with serving(home, script) as server:
        created = server.post(
            "/api/tasks",
            {"task": "ask about my parcel", "start_url": sites.url_for("/hostile/contact")},
        )
        task_id = created.json()["id"]
        _turn(server, task_id, 2)  # the slow wait
        server.kill()
        server.start()
        final = _final(server, task_id, "the task to end")
    assert final["status"] == "succeeded", final
    assert _header(home, task_id)["restarts"] == 1


@pytest.mark.timeout(300)
def test_a_vault_login_typed_before_a_restart_is_put_back_without_storing_the_secret(
    tmp_path: Path, sites: SiteServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after the vault filled the login form: the saved page keeps the placeholders,
    never the values, and the reopened form is filled again from the vault, so the sign-in
    that follows works."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv(VAULT_KEY_ENV, Fernet.generate_key().decode())  # the server inherits it
    vault = Vault.open(home, create=True)
    host = sites.url.split("//", 1)[1].rstrip("/")
    vault.add(Credential(name="shop", domains=(host,), username=DEMO_EMAIL, password=DEMO_PASSWORD))
    vault.save()
    script: list[Any] = [
        {"type": {"role": "textbox", "name": "Email", "text": "{{vault:shop.username}}"}},
        {"type": {"role": "textbox", "name": "Password", "text": "{{vault:shop.password}}"}},
        SLOW,
        {"click": {"role": "button", "name": "Sign in"}},
        {"expect": {"text": "Welcome back"}, "done": {"answer": "signed in", "success": True}},
    ]
    with serving(home, script) as server:
        created = server.post(
            "/api/tasks", {"task": "sign in", "start_url": sites.url_for("/account/login")}
        )
        task_id = created.json()["id"]
        _turn(server, task_id, 2)  # the slow wait
        server.kill()
        saved = (home / "tasks" / task_id / "page.json").read_text(encoding="utf-8")
        assert "{{vault:shop.password}}" in saved and "{{vault:shop.username}}" in saved
        assert DEMO_PASSWORD not in saved and DEMO_EMAIL not in saved
        server.start()
        asked = _the_one_request(server, task_id, "approval")  # "Sign in": unknown, asked
        server.post(f"/api/requests/{asked['id']}/approve", {})
        final = _final(server, task_id, "the task to end")
    assert final["status"] == "succeeded", final


@pytest.mark.timeout(300)
def test_a_click_with_a_declared_check_is_looked_up_not_asked_about(
    tmp_path: Path, sites: SiteServer
) -> None:
    """The model (or a workflow) declared where to look if the click is interrupted: after the
    restart valet opens that page, finds the text, and tells the model it took effect; the
    person is not asked and nothing is done twice."""
    home = tmp_path / "home"
    home.mkdir()
    state = cast(SiteState, sites.app.state.site)
    deleted_before = len(state.hostile("delete_all"))
    check = {"url": "/hostile/settings", "text": "No saved data"}
    script: list[Any] = [
        {"click": {"role": "button", "name": "Delete all", "check": check}},
        {"expect": {"prompt": "shows 'No saved data'"}},
        {"done": {"answer": "it was done once", "success": True}},
    ]
    state.slow_response_s = 30.0
    acted = lambda: len(state.hostile("delete_all")) > deleted_before  # noqa: E731
    with _killed_deleting_all(home, sites, script, acted) as (server, task_id):
        final = _final(server, task_id, "the task to end")
        questions = server.get(f"/api/requests?task_id={task_id}").json()
    assert final["status"] == "succeeded", final
    assert questions == []
    assert len(state.hostile("delete_all")) == deleted_before + 1  # once, never twice
    steps = _steps(home, {"id": task_id})
    assert "it had taken effect" in steps[0]["result"], steps[0]
