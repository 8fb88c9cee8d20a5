"""The agent asks the person a question: it waits in the inbox as "waiting for you", the person
answers over the API, the answer reaches the model as the person's and is audited as theirs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from tests.test_server_approvals import next_request
from tests.test_server_harness import running_server
from tests.test_server_live import Pacing, status_is

from valet.sites import SiteServer

QUESTION = "Which colour do you want: blue or red?"
SCRIPTS: dict[str, list[Any]] = {
    "ask": [
        {"ask_person": {"question": QUESTION}},
        {"expect": {"prompt": "OK: the person answered: blue, please"}},
        {"done": {"answer": "Chose blue", "success": True}},
    ],
    "remove": [
        {"click": {"role": "button", "name": "Remove"}},
        {"done": {"answer": "asked", "success": True}},
    ],
}


async def test_a_question_waits_for_the_person_and_the_answer_reaches_the_agent(
    home: Path, sites: SiteServer
) -> None:
    async with running_server(home, model_factory=Pacing(scripts=SCRIPTS).factory) as srv:
        task = await srv.create("ask", sites)
        task_id = task["id"]
        asked = await next_request(srv, set())
        assert (asked["kind"], asked["summary"], asked["state"]) == (
            "question",
            QUESTION,
            "pending",
        )
        assert asked["task_id"] == task_id and asked["url"] == sites.url_for("/shop")
        waiting = await srv.events_until(task_id, status_is("waiting"))
        assert waiting[-1]["detail"] == f"answer: {QUESTION}"
        page = (await srv.client.get(f"/ui/tasks/{task_id}")).text
        assert f"valet asks you: {QUESTION}" in page and 'data-answer="answer"' in page

        # Wrong ways to answer: clear 4xx, the question stays pending.
        wrong = await srv.client.post(f"/api/requests/{asked['id']}/approve")
        assert wrong.status_code == 409 and "answer it" in wrong.json()["detail"]
        for body in ({}, {"text": ""}, {"text": "   "}, {"text": "x" * 4001}, {"text": 3}):
            response = await srv.client.post(f"/api/requests/{asked['id']}/answer", json=body)
            assert response.status_code == 422, (body, response.text)
        missing = await srv.client.post("/api/requests/nope/answer", json={"text": "blue"})
        assert missing.status_code == 404
        assert (await srv.client.get(f"/api/requests/{asked['id']}")).json()["state"] == "pending"

        answered = await srv.client.post(
            f"/api/requests/{asked['id']}/answer", json={"text": "blue, please"}
        )
        assert answered.status_code == 200, answered.text
        closed = answered.json()
        assert (closed["state"], closed["answer"], closed["answered_by"]) == (
            "answered",
            "blue, please",
            "person",
        )
        again = await srv.client.post(f"/api/requests/{asked['id']}/answer", json={"text": "red"})
        assert again.status_code == 409 and "already answered" in again.json()["detail"]

        events = await srv.final_events(task_id)
        assert events[-1]["status"] == "succeeded", events[-1]
        steps = [e["step"] for e in events if e["type"] == "step"]
        assert steps[0]["result"] == "the person answered: blue, please"
        run_id = (await srv.client.get(f"/api/tasks/{task_id}")).json()["run_id"]

    with sqlite3.connect(home / "audit.db") as db:
        rows = db.execute(
            "SELECT actor, args, rule_id FROM records WHERE tool = 'answer' AND task_id = ?",
            (run_id,),
        ).fetchall()
    [(actor, args, rule)] = rows
    assert (actor, rule) == ("person", "person.answer")
    details = json.loads(args)
    assert (details["question"], details["answer"]) == (QUESTION, "blue, please")


async def test_an_approval_cannot_be_answered_with_text(home: Path, sites: SiteServer) -> None:
    async with running_server(home, model_factory=Pacing(scripts=SCRIPTS).factory) as srv:
        task = await srv.create("remove", sites, start_url=sites.url_for("/bench/200"))
        asked = await next_request(srv, set())
        assert asked["kind"] == "approval"
        response = await srv.client.post(f"/api/requests/{asked['id']}/answer", json={"text": "y"})
        assert response.status_code == 409
        assert "approve, edit or decline it" in response.json()["detail"]
        await srv.client.post(f"/api/requests/{asked['id']}/decline")
        events = await srv.final_events(task["id"])
        assert events[-1]["status"] == "succeeded"
