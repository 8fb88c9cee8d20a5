"""A takeover survives a reload of the task page, and the agent never goes on past a stop the
person did not clear; however a run ends, its saved browser state goes; valet's home is private.

`valet serve` runs in a subprocess (durable, as people run it) and stops by itself at the demo
shop's login form. The person's side is played through the live-view websocket and the REST API,
as the task page does it: a reload closes the page's websocket and opens a new one that resumes
the same viewer (`?resume=<viewer id>`, which the page keeps in its tab's session storage).
"""

from __future__ import annotations

import asyncio
import contextlib
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from tests.test_durable import Server, _final, _header, _steps, _wait, serving
from tests.test_durable_takeover import PersonsBrowser, _click
from tests.test_server_harness import running_server
from tests.test_server_live import LiveClient, Pacing, lease_is
from websockets.asyncio.client import connect
from websockets.typing import Origin

from valet.browser import BrowserSession, BrowserSettings
from valet.gateway._stop_guard import STILL
from valet.sites import SiteServer
from valet.sites.state import DEMO_EMAIL, DEMO_NAME, DEMO_PASSWORD, SiteState

LOGIN = "the page asks for a password (login form)"
SIGN_IN_SCRIPT: list[Any] = [
    {"click": {"role": "link", "name": "Sign in"}},  # the login form: valet stops here
    {"expect": {"prompt": "The person took over the browser"}},
    {"expect": {"text": f"Welcome back, {DEMO_NAME.split()[0]}!"}},
    {"done": {"answer": "signed in by the person", "success": True}},
]
PUSHY_SCRIPT: list[Any] = [
    {"click": {"role": "link", "name": "Sign in"}},
    # Were the model ever asked on the login form, it would type into it.
    {"type": {"role": "textbox", "name": "Email", "text": DEMO_EMAIL}},
    {"done": {"answer": "went on without the person", "success": True}},
]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _requests(server: Server, task_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = server.get(f"/api/requests?task_id={task_id}").json()
    return found


def _takeover_asked(server: Server, task_id: str, but_not: str = "") -> dict[str, Any]:
    """The task's pending takeover request (another one than `but_not`), once there is one."""

    def asked() -> dict[str, Any] | None:
        for found in _requests(server, task_id):
            if found["kind"] == "takeover" and found["id"] != but_not:
                return found
        return None

    found: dict[str, Any] = _wait(asked, "a takeover request")
    return found


def _start(server: Server, sites: SiteServer) -> str:
    created = server.post(
        "/api/tasks", {"task": "sign in to the shop", "start_url": sites.url_for("/shop")}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@contextlib.asynccontextmanager
async def _person(server: Server) -> AsyncIterator[tuple[httpx.AsyncClient, _Page]]:
    headers = {"Authorization": f"Bearer {server.token}"}
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{server.port}", headers=headers, timeout=30
    ) as api:
        yield api, _Page(server, headers)


class _Page:
    """The task page's live view: one websocket at a time, reopened on a reload."""

    def __init__(self, server: Server, headers: dict[str, str]) -> None:
        self.server = server
        self.headers = headers
        self.viewer: str | None = None
        """What the page keeps in its tab's session storage (the `hello` message's viewer)."""

    @contextlib.asynccontextmanager
    async def live(self, task_id: str) -> AsyncIterator[LiveClient]:
        url = f"ws://127.0.0.1:{self.server.port}/api/tasks/{task_id}/live?name=Ada"
        if self.viewer is not None:
            url += f"&resume={self.viewer}"
        origin = Origin(f"http://127.0.0.1:{self.server.port}")
        async with connect(
            url, additional_headers=self.headers, origin=origin, open_timeout=10
        ) as socket:
            live = LiveClient(socket)
            self.viewer = await live.hello()
            yield live


@pytest.mark.timeout(300)
def test_a_takeover_survives_a_reload_and_the_agent_goes_on_once_signed_in(
    tmp_path: Path, sites: SiteServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    state = cast(SiteState, sites.app.state.site)
    with serving(home, SIGN_IN_SCRIPT) as server:
        task_id = _start(server, sites)
        asked = _takeover_asked(server, task_id)
        assert asked["url"].startswith(sites.url_for("/account/login")), asked

        async def person() -> None:
            async with (
                await BrowserSession.start(BrowserSettings(), tmp_path / "theirs") as session,
                _person(server) as (api, page),
            ):
                theirs = await PersonsBrowser.open(session, sites)
                async with page.live(task_id) as live:
                    viewer = page.viewer
                    taken = await api.post(
                        f"/api/tasks/{task_id}/takeover", json={"viewer": viewer}
                    )
                    assert taken.status_code == 200, taken.text
                    await live.until(lease_is("active", you=True))
                # The page reloads: its websocket closes, the reloaded page's resumes the viewer.
                async with page.live(task_id) as live:
                    assert page.viewer == viewer, "the same viewer again"
                    lease = await live.until(lambda m: m["type"] == "lease")
                    assert lease["you"] and lease["state"] == "active", lease
                    assert lease["holder"] == "Ada", lease
                    held = (await api.get(f"/api/tasks/{task_id}/lease")).json()
                    assert held["viewer"] == viewer and held["state"] == "active", held
                    still = _requests(server, task_id)
                    assert [r["id"] for r in still] == [asked["id"]], "the same takeover"
                    assert (await api.get(f"/api/tasks/{task_id}")).json()["status"] == "waiting"
                    # Signed in on the resumed live view, then handed back.
                    await theirs.until_seen(live, "login")
                    await _click(live, theirs.fields["email"])
                    await live.send({"type": "text", "text": DEMO_EMAIL})
                    await _click(live, theirs.fields["password"])
                    await live.send({"type": "text", "text": DEMO_PASSWORD})
                    for kind in ("down", "up"):
                        enter = {"kind": kind, "key": "Enter", "code": "Enter", "key_code": 13}
                        await live.send({"type": "key"} | enter)
                    await theirs.until_seen(live, "account")
                    assert [m for m in live.messages if m["type"] == "error"] == []
                    back = await api.post(f"/api/tasks/{task_id}/handback", json={"viewer": viewer})
                    assert back.status_code == 200 and back.json()["state"] == "free", back.text

        before = len([s for s in list(state.sessions.values()) if s.user_email == DEMO_EMAIL])
        asyncio.run(person())
        final = _final(server, task_id, "the task to end after the hand back")
        after = len([s for s in list(state.sessions.values()) if s.user_email == DEMO_EMAIL])
        assert after - before == 2, "signed in in the person's browser and in valet's"
    assert final["status"] == "succeeded", final
    steps = _steps(home, {"id": task_id})
    assert [s["action"]["kind"] for s in steps] == ["click", "done"], steps
    assert steps[1]["url"].endswith("/account"), steps[1]
    [handover] = _header(home, task_id)["handovers"]
    assert handover["by"] == "person:Ada", handover
    assert not (home / "tasks" / task_id).exists(), "the ended run's saved state is gone"


@pytest.mark.timeout(300)
def test_a_stop_handed_back_uncleared_stops_again_and_a_cancel_forgets_the_cookies(
    tmp_path: Path, sites: SiteServer
) -> None:
    home = tmp_path / "home"
    (home / "runs").mkdir(parents=True)
    (home / "config.toml").write_text("# an older valet's home, readable by anyone\n")
    for path, mode in ((home, 0o755), (home / "runs", 0o755), (home / "config.toml", 0o644)):
        path.chmod(mode)
    with serving(home, PUSHY_SCRIPT) as server:
        # Put right at the start, before anything else ran.
        assert (_mode(home), _mode(home / "runs"), _mode(home / "config.toml")) == (
            0o700,
            0o700,
            0o600,
        )
        task_id = _start(server, sites)
        first = _takeover_asked(server, task_id)
        assert first["reason"] == LOGIN, first
        saved = home / "tasks" / task_id / "storage.json"
        assert saved.is_file(), "a durable run keeps its cookies while it waits"

        async def hand_back_without_signing_in() -> None:
            async with _person(server) as (api, page), page.live(task_id) as live:
                taken = await api.post(
                    f"/api/tasks/{task_id}/takeover", json={"viewer": page.viewer}
                )
                assert taken.status_code == 200, taken.text
                await live.until(lease_is("active", you=True))
                # "Let the agent go on without me" while someone holds the browser says why not.
                refused = await api.post(f"/api/tasks/{task_id}/handback")
                assert refused.status_code == 409, refused.text
                assert "Ada has the browser" in refused.json()["detail"], refused.text
                back = await api.post(
                    f"/api/tasks/{task_id}/handback", json={"viewer": page.viewer}
                )
                assert back.status_code == 200, back.text

        asyncio.run(hand_back_without_signing_in())
        again = _takeover_asked(server, task_id, but_not=first["id"])
        assert again["reason"] == f"{LOGIN}; {STILL}", again
        assert again["summary"] == "login form", again
        assert again["url"].startswith(sites.url_for("/account/login")), again
        assert server.get(f"/api/tasks/{task_id}").json()["status"] == "waiting"
        answered = server.get(f"/api/requests/{first['id']}").json()
        assert answered["state"] == "handed_back", answered
        steps = _steps(home, {"id": task_id})
        assert [s["action"]["kind"] for s in steps] == ["click"], "the model never acted again"

        # Private files: the home and its folders 0700; databases, keys, state 0600.
        folders = [home, *(p for p in home.rglob("*") if p.is_dir() and "profiles" not in p.parts)]
        assert {str(p): oct(_mode(p)) for p in folders if _mode(p) != 0o700} == {}
        private = [
            home / "valet.db",
            home / "workflows.db",
            home / "audit.db",
            home / "keys" / "audit.key",
            home / "server-token",
            saved,
            saved.with_name("page.json"),
        ]
        journal = saved.with_name("journal.jsonl")  # there once an action was journaled
        private += [journal] if journal.exists() else []
        assert {str(p): oct(_mode(p)) for p in private if _mode(p) != 0o600} == {}

        cancelled = server.post(f"/api/tasks/{task_id}/cancel", {})
        assert cancelled.status_code == 202, cancelled.text
        final = _final(server, task_id, "the cancelled task to end")
        assert final["status"] == "cancelled", final
        assert not saved.exists() and not saved.with_name("page.json").exists()
    assert [s["action"]["kind"] for s in _steps(home, {"id": task_id})] == ["click"]


ASKING_SCRIPT: list[Any] = [
    {"goto": "/shop"},
    {"ask_person": {"question": "Which cable?"}},
    {"done": {"answer": "could not choose", "success": False}},
]


@pytest.mark.timeout(300)
def test_a_failed_run_forgets_its_saved_browser_state(tmp_path: Path, sites: SiteServer) -> None:
    home = tmp_path / "home"
    home.mkdir()
    with serving(home, ASKING_SCRIPT) as server:
        task_id = _start(server, sites)

        def question() -> dict[str, Any] | None:
            return next((r for r in _requests(server, task_id) if r["kind"] == "question"), None)

        asked = _wait(question, "the agent's question")
        saved = home / "tasks" / task_id / "storage.json"
        assert saved.is_file() and _mode(saved) == 0o600
        answer = server.post(f"/api/requests/{asked['id']}/answer", {"text": "none of them"})
        assert answer.status_code == 200, answer.text
        final = _final(server, task_id, "the task to fail")
    assert final["status"] == "failed", final
    assert not (home / "tasks" / task_id).exists()


async def test_a_takeover_whose_holder_stays_away_ends_after_the_grace_period(
    home: Path, sites: SiteServer
) -> None:
    """A holder who closes the live view and does not come back: once the grace period is
    over the takeover ends as if they handed back, and the agent goes on."""
    pacing = Pacing()
    async with running_server(home, model_factory=pacing.factory, takeover_grace_s=2.0) as srv:
        task_id = (await srv.create("asked", sites))["id"]
        async with srv.ws(f"/api/tasks/{task_id}/live") as other_socket:
            other = LiveClient(other_socket)
            await other.hello()
            async with srv.ws(f"/api/tasks/{task_id}/live?name=Ada") as holder_socket:
                holder = LiveClient(holder_socket)
                ada = await holder.hello()
                await holder.frame()
                taken = await srv.client.post(
                    f"/api/tasks/{task_id}/takeover", json={"viewer": ada}
                )
                assert taken.status_code == 200, taken.text
                pacing.gate("asked").set()
                await holder.until(lease_is("active", you=True))
            # Ada's view closed: the lease is still hers until the grace period is over.
            held = (await srv.client.get(f"/api/tasks/{task_id}/lease")).json()
            assert held["holder"] == "Ada", held
            await other.until(lease_is("free"))
            events = await srv.final_events(task_id)
        statuses = [e["status"] for e in events if e["type"] == "status"]
        assert statuses[-1] == "succeeded", statuses
        # Coming back too late is a new viewer, without the lease.
        async with srv.ws(f"/api/tasks/{task_id}/live?resume={ada}") as late_socket:
            late = LiveClient(late_socket)
            assert await late.hello() != ada
