"""Agent mode off, as a person sets it in the web app: the task only reads, the gateway denies
every change (no ask), and the task page says so. Run through `valet serve` (durable on) with
the composer used in real headless Chromium."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from playwright.async_api import expect
from tests._chromium import chromium
from tests.test_durable import _final, _steps, serving

from valet.audit import AuditLog
from valet.policy import ActionRequest, Scope, derive_scope
from valet.sites import SiteServer
from valet.sites.state import SiteState
from valet.tools import Effect


@pytest.mark.timeout(240)
async def test_with_agent_mode_off_the_task_reads_and_every_change_is_denied(
    tmp_path: Path, sites: SiteServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    state = cast(SiteState, sites.app.state.site)
    deleted_before = len(state.hostile("delete_all"))
    script: list[Any] = [
        {"click": {"role": "button", "name": "Delete all"}},
        {"expect": {"prompt": "scope.read_only"}, "goto": sites.url_for("/shop")},
        {"type": {"role": "searchbox", "name": "Search products", "text": "cable"}},
        {"done": {"answer": "read the page, changed nothing", "success": True}},
    ]
    with serving(home, script) as server:
        async with chromium() as browser:
            context = await browser.new_context(
                extra_http_headers={"Authorization": f"Bearer {server.token}"}
            )
            page = await context.new_page()
            await page.goto(f"http://127.0.0.1:{server.port}/")
            await page.get_by_label("Task").fill("tidy my account settings")
            await page.get_by_label("Start page").fill(sites.url_for("/hostile/settings"))
            switch = page.get_by_role("checkbox", name="Agent mode")
            await expect(switch).to_be_checked()  # on unless the person turns it off
            await page.get_by_text("Agent mode", exact=True).click()  # as a person does
            await expect(switch).not_to_be_checked()
            await page.get_by_role("button", name="Start task").click()
            await page.wait_for_url("**/tasks/*")
            task_id = page.url.rstrip("/").rsplit("/", 1)[1]
            final = _final(server, task_id, "the read-only task to end")
            await page.reload()
            await expect(page.get_by_text("off: read only")).to_be_visible()
        task = server.get(f"/api/tasks/{task_id}").json()
    assert task["agent_mode"] is False
    assert final["status"] == "succeeded", final
    with AuditLog.open(home / "audit.db", home / "keys" / "audit.key") as log:
        decided = [(r.tool, r.verdict, r.rule_id) for r in log.records(task_id=task_id)]
    assert ("click", "deny", "scope.read_only") in decided
    assert all(verdict != "ask" for _, verdict, _ in decided), decided  # never put to the person
    assert len(state.hostile("delete_all")) == deleted_before
    steps = _steps(home, {"id": task_id})
    click = steps[0]
    assert not click["ok"] and "scope.read_only" in click["result"], click
    assert "agent mode is off" in click["result"]
    assert [s["ok"] for s in steps[1:3]] == [True, True]  # opening a page, typing a search


def test_a_read_only_scope_allows_reading_and_denies_the_rest() -> None:
    scope = derive_scope("buy a cable and email me the receipt", read_only=True)
    assert scope.read_only and scope.describe().startswith("read only (agent mode off)")
    assert _verdicts(scope) == {
        Effect.READ: None,
        Effect.NAVIGATE: None,
        Effect.INPUT: None,
        Effect.DOWNLOAD: None,
        **{e: "deny" for e in Effect if e not in _READING},
    }
    # the task's own words ("buy", "email") do not widen it
    assert not derive_scope("buy a cable", read_only=False).read_only


_READING = (Effect.READ, Effect.NAVIGATE, Effect.INPUT, Effect.DOWNLOAD)


def _verdicts(scope: Scope) -> dict[Effect, str | None]:
    found: dict[Effect, str | None] = {}
    for effect in Effect:
        decision = scope.check(ActionRequest(tool="t", effect=effect, connector="browser"))
        found[effect] = None if decision is None else decision.verdict
    return found
