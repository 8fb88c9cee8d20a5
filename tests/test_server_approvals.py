"""Approvals over the REST API: the gateway's asks wait for the person, who approves, edits or
declines; an edit is validated and decided again by the gateway; every answer is audited."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.test_server_harness import Harness, running_server
from tests.test_server_live import Pacing, status_is, until

from valet.sites import SiteServer

REMOVE = {"click": {"role": "button", "name": "Remove"}}
SECOND_REMOVE = {"role": "button", "name": "Remove", "nth": 1}
MAILTO = {"role": "link", "name": "priya.natarajan@northwind.test"}
APPROVAL_SCRIPTS: dict[str, list[Any]] = {
    # Three asks: declined, edited (another row's button), approved.
    "remove": [
        REMOVE,
        {"expect": {"prompt": "declined by person"}},
        REMOVE,
        REMOVE,
        {"done": {"answer": "Removed after approval", "success": True}},
    ],
    # One ask, edited into a click on a mailto: link.
    "mailto": [
        REMOVE,
        {"expect": {"prompt": "denied by rule nav.scheme.mailto"}},
        {"done": {"answer": "The edit was refused", "success": True}},
    ],
}


async def next_request(srv: Harness, seen: set[str]) -> dict[str, Any]:
    """The first pending request not answered yet (waits for it)."""
    found: list[dict[str, Any]] = []

    async def pending() -> bool:
        requests = (await srv.client.get("/api/requests")).json()
        found[:] = [r for r in requests if r["id"] not in seen]
        return bool(found)

    await until(pending, "a new request for the person")
    seen.add(found[0]["id"])
    return found[0]


async def test_approve_edit_and_decline_go_through_the_gateway(
    home: Path, sites: SiteServer
) -> None:
    pacing = Pacing(scripts=APPROVAL_SCRIPTS)
    async with running_server(home, model_factory=pacing.factory) as srv:
        start = sites.url_for("/bench/200")
        task = await srv.create("remove", sites, start_url=start)
        task_id = task["id"]
        seen: set[str] = set()

        first = await next_request(srv, seen)
        assert first["kind"] == "approval" and first["task_id"] == task_id
        assert (first["tool"], first["effect"], first["state"]) == ("click", "delete", "pending")
        assert first["summary"] == "Remove" and '"Remove"' in first["reason"]
        assert first["rule"] and first["url"] == start
        assert first["args"] == {"element": {"role": "button", "name": "Remove", "nth": 0}}
        # every rule that asked, the deciding one first; no warning: nothing read handed over a
        # value, nothing is out of the task's scope
        assert first["rules"][0].startswith(f"{first['rule']}: ") and first["warnings"] == []
        card = (await srv.client.get(f"/ui/tasks/{task_id}")).text
        assert first["rules"][0].split(": ", 1)[1].replace('"', "&#34;") in card
        assert "Look before you say yes" not in card
        waiting = await srv.events_until(task_id, status_is("waiting"))
        assert waiting[-1]["detail"] == "approve: Remove"
        counts = (await srv.client.get("/api/tasks")).json()["counts"]
        assert counts["waiting"] == 1 and counts["running"] == 0
        inbox = (await srv.client.get("/ui/inbox")).text
        assert "Waiting for you: approve: Remove" in inbox and "badge-on" in inbox
        assert (await srv.client.get(f"/api/requests?task_id={task_id}")).json() == [first]
        assert (await srv.client.get("/api/requests?task_id=other")).json() == []

        declined = await srv.client.post(f"/api/requests/{first['id']}/decline")
        assert declined.status_code == 200 and declined.json()["state"] == "declined"
        again = await srv.client.post(f"/api/requests/{first['id']}/approve")
        assert again.status_code == 409 and "already answered" in again.json()["detail"]

        second = await next_request(srv, seen)
        bad_edits: list[tuple[Any, str]] = [
            ({"args": {"element": "twelve"}}, "invalid_edit"),
            ({"args": {"element": 3, "surprise": 1}}, "invalid_edit"),
            ({"args": {}}, "invalid_edit"),
            ({"args": "not an object"}, "invalid_request"),
            ({}, "invalid_request"),
        ]
        for body, error in bad_edits:
            response = await srv.client.post(f"/api/requests/{second['id']}/edit", json=body)
            assert response.status_code == 422, (body, response.text)
            assert response.json()["error"] == error
        assert (await srv.client.get(f"/api/requests/{second['id']}")).json()["state"] == "pending"
        edited = await srv.client.post(
            f"/api/requests/{second['id']}/edit", json={"args": {"element": SECOND_REMOVE}}
        )
        assert edited.status_code == 200 and edited.json()["args"] == {"element": SECOND_REMOVE}

        third = await next_request(srv, seen)
        approved = await srv.client.post(f"/api/requests/{third['id']}/approve")
        assert approved.json()["state"] == "approved" and approved.json()["answered_by"] == "person"
        events = await srv.final_events(task_id)
        assert events[-1]["status"] == "succeeded", events[-1]
        statuses = [e["status"] for e in events if e["type"] == "status"]
        assert statuses.count("waiting") == 3 and statuses[-2] == "running"
        steps = [e["step"] for e in events if e["type"] == "step"]
        assert steps[0]["result"].startswith("declined by person")
        assert steps[1]["ok"] and steps[2]["ok"]
        assert (await srv.client.get("/api/requests")).json() == []

        run_id = (await srv.client.get(f"/api/tasks/{task_id}")).json()["run_id"]
        with sqlite3.connect(home / "audit.db") as db:
            rows = db.execute(
                "SELECT actor, tool, args, approver, outcome, rule_id FROM records "
                "WHERE task_id = ? ORDER BY seq",
                (run_id,),
            ).fetchall()
        answers = [
            json.loads(args)["answer"] for actor, tool, args, *_ in rows if tool == "approval"
        ]
        assert answers == ["declined", "edited", "approved"]
        assert all(actor == "person" for actor, tool, *_ in rows if tool == "approval")
        clicks = [
            (approver, outcome, rule)
            for _, tool, _, approver, outcome, rule in rows
            if tool == "click"
        ]
        assert [(approver, outcome) for approver, outcome, _ in clicks] == [
            ("person", "declined"),
            ("person", "executed"),
            ("person", "executed"),
        ]
        assert all(rule == "builtin.ask.delete" for *_, rule in clicks)


async def test_an_edit_is_decided_again_and_a_deny_rule_still_refuses_it(
    home: Path, sites: SiteServer
) -> None:
    pacing = Pacing(scripts=APPROVAL_SCRIPTS)
    async with running_server(home, model_factory=pacing.factory) as srv:
        task = await srv.create("mailto", sites, start_url=sites.url_for("/bench/200"))
        request = await next_request(srv, set())
        edited = await srv.client.post(
            f"/api/requests/{request['id']}/edit", json={"args": {"element": MAILTO}}
        )
        assert edited.status_code == 200
        assert edited.json()["args"] == {"element": MAILTO | {"nth": 0}}  # validated
        events = await srv.final_events(task["id"])
        step = next(e["step"] for e in events if e["type"] == "step")
        assert "denied by rule nav.scheme.mailto" in step["result"]
        assert events[-1]["status"] == "succeeded"


async def test_answer_errors_are_clear_4xx(home: Path, sites: SiteServer) -> None:
    pacing = Pacing()
    async with running_server(home, model_factory=pacing.factory) as srv:
        for answer in ("approve", "decline", "edit"):
            body = {"args": {}} if answer == "edit" else None
            missing = await srv.client.post(f"/api/requests/nope/{answer}", json=body)
            assert missing.status_code == 404
            assert missing.json() == {"error": "not_found", "detail": "no request 'nope'"}
        assert (await srv.client.get("/api/requests/nope")).status_code == 404
        odd = await srv.client.get("/api/requests", params={"task_id": "x" * 65})
        assert odd.status_code == 422

        task = await srv.create("asked", sites)  # a takeover request cannot be approved
        async with srv.ws(f"/api/tasks/{task['id']}/live") as socket_:
            hello = json.loads(await socket_.recv())
            await srv.events_until(task["id"], lambda e: e["type"] == "step")
            taken = await srv.client.post(
                f"/api/tasks/{task['id']}/takeover", json={"viewer": hello["viewer"]}
            )
            assert taken.status_code == 200
            pacing.gate("asked").set()
            request = await next_request(srv, set())
            assert request["kind"] == "takeover"
            refused = await srv.client.post(f"/api/requests/{request['id']}/approve")
            assert refused.status_code == 409 and "take over" in refused.json()["detail"]
            # Cancelling a waiting task closes its request.
            await srv.client.post(f"/api/tasks/{task['id']}/cancel")
            await srv.final_events(task["id"])
        closed = (await srv.client.get(f"/api/requests/{request['id']}")).json()
        assert closed["state"] == "cancelled"
