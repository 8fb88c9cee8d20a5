"""Two people in real Chromium against `valet serve` in multi-person mode: each signs in on
the sign-in page; one's task is invisible to the other; the composer shows the tasks left
this month; the admin blocks a site on the organization's page and the member's task is
refused there "set by your organization"; the usage page's chart renders."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from tests._chromium import chromium
from tests.test_durable import Server
from tests.test_people import ALICE, BOB, _valet


@pytest.fixture
def team(home: Path, tmp_path: Path) -> Iterator[Server]:
    (home / "config.toml").write_text(
        '[people]\nenabled = true\n\n[usage]\nplan = "team5"\n\n[plans.team5]\ntasks = 5\n'
    )
    script = tmp_path / "script.yaml"
    script.write_text("- goto: https://casino.example/\n- done: {answer: ok, success: true}\n")
    _valet(home, "users", "add", ALICE[0], "--name", "Alice", "--password-stdin", stdin=ALICE[1])
    _valet(home, "org", "create", "Acme", "--owner", ALICE[0])
    _valet(
        home,
        "users",
        "add",
        BOB[0],
        "--name",
        "Bob",
        "--org",
        "Acme",
        "--password-stdin",
        stdin=BOB[1],
    )
    server = Server(home, script)
    try:
        server.start()
        yield server
    finally:
        server.stop()


async def _signed_in(browser: Browser, base: str, email: str, password: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(base + "/")
    await expect(page).to_have_url(re.compile(r"/signin\?next=%2F$"))
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(base + "/")
    return page


async def _start(page: Page, task: str) -> None:
    await page.get_by_label("Task").fill(task)
    await page.get_by_role("button", name="Start task").click()
    await expect(page).to_have_url(re.compile(r"/tasks/"))


async def test_two_people_an_admin_rule_and_the_usage_chart_in_chromium(team: Server) -> None:
    base = f"http://127.0.0.1:{team.port}"
    async with chromium() as browser:
        alice = await _signed_in(browser, base, *ALICE)
        bob = await _signed_in(browser, base, *BOB)
        await expect(alice.locator("#tasks-left")).to_have_text(
            re.compile(r"^5 of 5 tasks left this month \(")
        )

        # The admin blocks a site for everyone.
        await alice.get_by_role("link", name="Acme").click()
        await alice.get_by_label("Block a site for everyone").fill("casino.example")
        await alice.get_by_role("button", name="Block", exact=True).click()
        await expect(alice.locator(".org-rules")).to_contain_text("deny acting on casino.example")
        await expect(alice.locator("#org-plan")).to_contain_text("team5")

        await alice.goto(base + "/")
        await _start(alice, "alice's private errand")

        # Bob sees none of it; the pooled quota says one is gone.
        await bob.goto(base + "/")
        await expect(bob.locator("#tasks-left")).to_have_text(
            re.compile(r"^4 of 5 tasks left this month \(")
        )
        title = await bob.locator("#tasks-left").get_attribute("title")
        assert title is not None and title.startswith("team5 plan: 1 of 5 used this month")
        await expect(bob.locator("main")).not_to_contain_text("alice's private errand")

        # Bob's task meets the organization's rule.
        await _start(bob, "bob's errand")
        await expect(bob.locator("main")).to_contain_text(
            "you blocked casino.example (set by your organization)", timeout=60_000
        )
        await bob.goto(base + "/org")
        await expect(bob.locator(".org-rules")).to_contain_text("deny acting on casino.example")
        assert await bob.locator("#block-site").count() == 0  # a member cannot change them
        assert await bob.locator("#org-plan").count() == 0

        # The usage page: today's bar holds the organization's two task requests.
        await alice.goto(base + "/usage")
        chart = alice.locator("svg#usage-chart")
        await expect(chart).to_be_visible()
        await expect(chart.locator('rect.bar[data-count="2"]')).to_have_count(1)
        box = await chart.locator('rect.bar[data-count="2"]').bounding_box()
        assert box is not None and box["height"] > 10  # drawn, not just present
        await expect(alice.locator(".usage-people")).to_contain_text(BOB[0])
        await expect(alice.locator("main")).to_contain_text("3 of 5 tasks left this month")

        # The audit log names who acted: the admin's change, the agent acting for Bob.
        await alice.goto(base + "/audit")
        rows = alice.locator("tbody tr")
        await expect(rows.filter(has_text="org.rules")).to_contain_text(f"{ALICE[0]} (admin)")
        bobs = rows.filter(has_text=f"agent for {BOB[0]}").filter(has_text="goto")
        await expect(bobs).to_contain_text(["set by your organization"])
        await bob.goto(base + "/audit")
        await expect(bob.locator("tbody")).not_to_contain_text(ALICE[0])
