"""A person's answer is bound to the page they saw: killed with an approval pending on a filled
form, restarted with the form reopened empty, the approval given from the stale page left open
is not applied to the emptied form; the action is asked again on the page as it is now, and a
task page opened after the restart says the task waits, the badge counting it. Run
through `valet serve` (durable on), the person in real headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from playwright.async_api import expect
from tests._chromium import chromium
from tests.test_durable import _final, _steps, _wait, serving

from valet.sites import SiteServer
from valet.sites.state import SiteState


@pytest.mark.timeout(300)
async def test_an_approval_from_a_stale_page_is_not_applied_to_the_reopened_form(
    tmp_path: Path, sites: SiteServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    state = cast(SiteState, sites.app.state.site)
    sent_before = len(state.hostile("message"))
    script: list[Any] = [
        {"type": {"role": "textbox", "name": "To", "text": "returns@shop.example"}},
        {"type": {"role": "textbox", "name": "Order number", "text": "VL-104233"}},
        {"click": {"role": "button", "name": "Send"}},
        {"done": {"answer": "asked about the parcel", "success": True}},
    ]
    with serving(home, script) as server:
        created = server.post(
            "/api/tasks",
            {
                "task": "send the returns desk a message about my parcel",
                "start_url": sites.url_for("/hostile/contact"),
            },
        )
        task_id = created.json()["id"]
        asked = _wait(lambda: server.get(f"/api/requests?task_id={task_id}").json(), "the ask")
        (first,) = asked
        assert first["kind"] == "approval" and first["tool"] == "click" and first["page"]
        async with chromium() as browser:
            context = await browser.new_context(
                extra_http_headers={"Authorization": f"Bearer {server.token}"}
            )
            stale = await context.new_page()
            await stale.goto(f"http://127.0.0.1:{server.port}/tasks/{task_id}")
            approve = stale.get_by_role("button", name="Approve", exact=True)
            await expect(approve).to_be_visible()

            server.kill()
            # The form could not be put back as it was (here: what was typed is gone).
            saved = home / "tasks" / task_id / "page.json"
            page = json.loads(saved.read_text())
            saved.write_text(json.dumps({**page, "fields": []}))
            server.start()

            await approve.click()  # from the page left open, about the filled form

            def asked_again() -> dict[str, Any] | None:
                pending = server.get(f"/api/requests?task_id={task_id}").json()
                return next((r for r in pending if r["id"] != first["id"]), None)

            again = _wait(asked_again, "the action asked again on the reopened page")
            # after the restart, a task page opened afresh says it waits, and the badge counts it
            fresh = await context.new_page()
            await fresh.goto(f"http://127.0.0.1:{server.port}/tasks/{task_id}")
            await expect(fresh.locator("#task-status")).to_have_text("waiting")
            await expect(fresh.locator("#waiting-badge")).to_have_text("1")
            await expect(fresh.get_by_role("dialog")).to_contain_text("Send")

        assert again["tool"] == "click" and again["page"] != first["page"]
        old = server.get(f"/api/requests/{first['id']}").json()
        assert old["state"] in ("approved", "cancelled")  # answered in time or withdrawn
        assert len(state.hostile("message")) == sent_before  # nothing was sent
        declined = server.post(f"/api/requests/{again['id']}/decline", {})
        assert declined.status_code == 200, declined.text
        final = _final(server, task_id, "the task to end")
    assert final["status"] == "succeeded", final
    assert len(state.hostile("message")) == sent_before
    click = next(s for s in _steps(home, {"id": task_id}) if s["action"]["kind"] == "click")
    assert not click["ok"], click
