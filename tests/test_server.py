"""The server runs tasks in-process: real headless Chromium, scripted models, the local sites."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import yaml
from tests.test_server_harness import is_final, running_server, step_seen

from valet.sites import SiteServer


async def test_task_succeeds_and_its_events_arrive_in_order(home: Path, sites: SiteServer) -> None:
    async with running_server(home) as srv, srv.ws("/api/events") as inbox:
        task = await srv.create("quick", sites)
        assert task["status"] == "queued"
        events = await srv.final_events(task["id"])

        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        statuses = [e["status"] for e in events if e["type"] == "status"]
        assert statuses == ["queued", "running", "succeeded"]
        steps = [e["step"] for e in events if e["type"] == "step"]
        assert [s["index"] for s in steps] == [1, 2]
        first = steps[0]
        assert first["ok"] and first["action_text"].startswith("click")
        assert first["url"].endswith("/shop") and set(first["timings_ms"]) == {
            "observe",
            "model",
            "act",
        }
        assert events[-1]["answer"] == "The cart is open"

        detail = (await srv.client.get(f"/api/tasks/{task['id']}")).json()
        assert detail["status"] == "succeeded" and detail["success"] is True
        assert detail["answer"] == "The cart is open"
        assert [s["index"] for s in detail["timeline"]] == [1, 2]
        assert detail["timeline"][1]["url"].endswith("/shop/cart")

        # The inbox socket saw the same task's events, live.
        seen: list[str] = []
        while "succeeded" not in seen:
            event = json.loads(await inbox.recv())
            if event["task_id"] == task["id"] and event["type"] == "status":
                seen.append(event["status"])
        assert seen == ["queued", "running", "succeeded"]

        listing = (await srv.client.get("/api/tasks", params={"status": "succeeded"})).json()
        assert [t["id"] for t in listing["tasks"]] == [task["id"]]
        assert listing["counts"]["by_status"]["succeeded"] == 1
        assert listing["counts"]["done"] == 1 and listing["counts"]["running"] == 0

        run_id = detail["run_id"]
        run = (await srv.client.get(f"/api/runs/{run_id}")).json()
        assert run["status"] == "succeeded" and run["settings"]["server_task"] == task["id"]
        assert [r["id"] for r in (await srv.client.get("/api/runs")).json()] == [run_id]
        download = await srv.client.get(f"/api/runs/{run_id}/download")
        assert download.status_code == 200
        assert download.headers["content-type"] == "application/zip"
        names = zipfile.ZipFile(io.BytesIO(download.content)).namelist()
        assert f"{run_id}/run.json" in names and f"{run_id}/steps.jsonl" in names
        assert (await srv.client.get("/api/requests")).json() == []


async def test_cancel_a_long_task_and_steer_it_before(home: Path, sites: SiteServer) -> None:
    async with running_server(home) as srv:
        task = await srv.create("long", sites)
        task_id = task["id"]
        await srv.events_until(task_id, step_seen(1))

        sent = await srv.client.post(f"/api/tasks/{task_id}/messages", json={"text": "Hurry"})
        assert sent.status_code == 201 and sent.json()["delivered"] is False
        assert [m.text for m in srv.manager.pending_messages(task_id)] == ["Hurry"]
        pending = await srv.client.get(f"/api/tasks/{task_id}/messages?pending=true")
        assert [m["text"] for m in pending.json()] == ["Hurry"]

        cancel = await srv.client.post(f"/api/tasks/{task_id}/cancel")
        assert cancel.status_code == 202 and cancel.json()["cancel_requested"] is True
        events = await srv.final_events(task_id)
        assert events[-1]["status"] == "cancelled"
        assert any(e["type"] == "message" and e["message"]["text"] == "Hurry" for e in events)

        detail = (await srv.client.get(f"/api/tasks/{task_id}")).json()
        assert detail["status"] == "cancelled" and detail["stop_reason"] == "cancelled"
        run = (await srv.client.get(f"/api/runs/{detail['run_id']}")).json()
        assert run["status"] == "stopped" and run["end"]["reason"] == "cancelled"

        again = await srv.client.post(f"/api/tasks/{task_id}/cancel")
        assert again.status_code == 409 and again.json()["error"] == "conflict"
        late = await srv.client.post(f"/api/tasks/{task_id}/messages", json={"text": "x"})
        assert late.status_code == 409


async def test_a_message_reaches_the_agent_at_its_next_step(home: Path, sites: SiteServer) -> None:
    async with running_server(home) as srv:
        task_id = (await srv.create("steered", sites))["id"]
        await srv.events_until(task_id, step_seen(1))
        sent = await srv.client.post(
            f"/api/tasks/{task_id}/messages", json={"text": "Take the cheapest"}
        )
        assert sent.status_code == 201
        events = await srv.final_events(task_id)
        assert events[-1]["status"] == "succeeded", events[-1]
        detail = (await srv.client.get(f"/api/tasks/{task_id}")).json()
        assert detail["answer"] == "Heard the person"
        assert [m["delivered"] for m in detail["messages"]] == [True]


async def test_concurrency_limit_queues_the_second_task(home: Path, sites: SiteServer) -> None:
    async with running_server(home, max_concurrent=1) as srv:
        first = await srv.create("long", sites)
        await srv.events_until(first["id"], step_seen(1))
        second = await srv.create("quick", sites)
        # The first task is blocked in a step; the second has no slot.
        assert (await srv.client.get(f"/api/tasks/{second['id']}")).json()["status"] == "queued"
        counts = (await srv.client.get("/api/tasks")).json()["counts"]
        assert counts["by_status"]["running"] == 1 and counts["by_status"]["queued"] == 1
        assert counts["running"] == 2

        await srv.client.post(f"/api/tasks/{first['id']}/cancel")
        events = await srv.final_events(second["id"])
        assert events[-1]["status"] == "succeeded"
        a = (await srv.client.get(f"/api/tasks/{first['id']}")).json()
        b = (await srv.client.get(f"/api/tasks/{second['id']}")).json()
        assert a["status"] == "cancelled"
        assert b["started_at"] >= a["finished_at"]


async def test_cancel_a_queued_task(home: Path, sites: SiteServer) -> None:
    async with running_server(home, max_concurrent=1) as srv:
        first = await srv.create("long", sites)
        second = await srv.create("quick", sites)
        cancel = await srv.client.post(f"/api/tasks/{second['id']}/cancel")
        assert cancel.status_code == 202
        events = await srv.final_events(second["id"])
        assert [e["status"] for e in events if e["type"] == "status"] == ["queued", "cancelled"]
        await srv.client.post(f"/api/tasks/{first['id']}/cancel")
        assert (await srv.final_events(first["id"]))[-1]["status"] == "cancelled"


async def test_model_from_configuration_and_bad_models(
    home: Path, sites: SiteServer, tmp_path: Path
) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"done": {"answer": "from yaml", "success": True}}]))
    async with running_server(home, model_factory=None) as srv:
        task = await srv.create(f"scripted:{script}", sites)
        events = await srv.final_events(task["id"])
        assert is_final(events[-1]) and events[-1]["answer"] == "from yaml"
        assert task["model"] == f"scripted:{script}"

        for model in ("nonsense", "scripted:/no/such/file.yaml", "openai-compatible:x"):
            body = {"task": "t", "model": model}
            response = await srv.client.post("/api/tasks", json=body)
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "bad_model"
