"""The audit log in the web app and the API: filtered by actor and task, and checked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.test_server_harness import running_server

from valet.sites import SiteServer


async def test_the_audit_log_is_shown_filtered_by_actor_and_task(
    home: Path, sites: SiteServer
) -> None:
    async with running_server(home) as srv:
        first = await srv.create("quick", sites)
        await srv.final_events(first["id"])
        second = await srv.create("quick", sites)
        await srv.final_events(second["id"])
        run_id = (await srv.client.get(f"/api/tasks/{first['id']}")).json()["run_id"]

        everything = (await srv.client.get("/api/audit")).json()
        assert everything["intact"] is True and "ok" in everything["summary"].lower()
        seqs = [r["seq"] for r in everything["records"]]
        assert seqs == sorted(seqs, reverse=True)  # newest first
        assert {r["task_id"] for r in everything["records"]} >= {run_id}

        mine = (await srv.client.get("/api/audit", params={"task": first["id"]})).json()
        assert mine["records"] and {r["task_id"] for r in mine["records"]} == {run_id}
        assert [r["tool"] for r in mine["records"] if r["actor"] == "agent"] == ["click"]
        # The start page was opened for the person (they asked for it), not by the agent.
        people = (
            await srv.client.get("/api/audit", params={"task": first["id"], "actor": "person"})
        ).json()
        assert [(r["actor"], r["tool"]) for r in people["records"]] == [("person", "goto")]

        page = await srv.client.get("/audit", params={"actor": "agent", "task": run_id})
        assert page.status_code == 200
        assert "Audit log" in page.text and 'id="audit-records"' in page.text
        assert page.text.count('<tr class="actor-agent') == 1
        assert "actor-person" not in page.text

        bad = await srv.client.get("/api/audit", params={"actor": "robot"})
        assert bad.status_code == 422

    with sqlite3.connect(home / "audit.db") as db:  # someone edits a record behind valet's back
        db.execute("UPDATE records SET verdict = 'deny' WHERE seq = 1")
    async with running_server(home) as srv:
        tampered = (await srv.client.get("/api/audit")).json()
        assert tampered["intact"] is False
        page = await srv.client.get("/audit")
        assert 'class="audit-check bad"' in page.text
