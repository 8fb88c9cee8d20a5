"""Stops for the person in a whole run: real loop, real headless Chromium, the local sites. With
nobody to take over, the run stops with `needs_person`; with a person (played by the test on the
live page) it goes on where they left it, and the record keeps the takeover, not what they typed."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import Page
from rich.console import Console
from tests._person import PlaysPerson, nothing, sign_in
from tests._runs import run_script

from valet._terminal_handover import TerminalHandover
from valet.agent import Finished, Stopped
from valet.audit import KEY_ENV
from valet.gateway._stop_guard import STILL
from valet.sites import DEMO_PASSWORD, SiteServer


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def files_holding(folder: Path, secret: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret in p.read_bytes()]


async def test_a_login_page_with_nobody_to_take_over_stops_the_run(
    home: Path, sites: SiteServer
) -> None:
    run = await run_script(home, sites, [{"done": "should not get here"}], start="/stops/login")
    assert run.end == Stopped(
        "needs_person",
        "the page asks for a password (login form); nobody can take over the browser here",
    )
    assert run.steps == [], "the model was never asked to act on the login page"
    assert run.header["status"] == "stopped"
    assert run.header["end"]["reason"] == "needs_person"


async def test_the_person_signs_in_and_the_run_goes_on_signed_in(
    home: Path, sites: SiteServer
) -> None:
    person = PlaysPerson(sign_in)
    script: list[Any] = [
        {"expect": {"prompt": "The person took over the browser"}},
        {"expect": {"url": "/account", "text": "Dana"}},
        {"goto": "/shop/checkout/payment"},  # an empty cart bounces to the cart page
        {"expect": {"element": {"role": "link", "name": "My account"}}},  # signed in
        {"done": "signed in"},
    ]
    run = await run_script(home, sites, script, start="/stops/login", person=person)
    assert run.end == Finished("signed in", True), run.steps
    assert person.reasons == ["the page asks for a password (login form)"]
    [takeover] = run.header["handovers"]
    assert takeover["reason"] == "the page asks for a password (login form)"
    assert takeover["by"] == "person:test"
    assert takeover["url_before"].endswith("/stops/login")
    assert takeover["url_after"].endswith("/account")
    assert takeover["after_step"] is None, "before the first step"
    assert files_holding(home, DEMO_PASSWORD.encode()) == []
    assert files_holding(home, b"demo@voltline.test") == [], "nor what else they typed"


async def test_a_login_handed_back_as_it_was_stops_again_and_the_model_never_acts_on_it(
    home: Path, sites: SiteServer
) -> None:
    """The person looks and hands the browser straight back, twice; the third time they sign
    in. Until then valet stops for them again each time, with the reason saying so; the
    model is first asked on the page the sign-in led to."""
    acts = [nothing, nothing, sign_in]

    async def person_acts(page: Page) -> None:
        await acts.pop(0)(page)

    person = PlaysPerson(person_acts)
    script: list[Any] = [
        {"expect": {"url": "/account", "text": "Dana"}},
        {"done": "signed in"},
    ]
    run = await run_script(home, sites, script, start="/stops/login", person=person)
    assert run.end == Finished("signed in", True), run.steps
    login = "the page asks for a password (login form)"
    assert person.reasons == [login, f"{login}; {STILL}", f"{login}; {STILL}"]
    [done] = run.steps
    assert done["url"].endswith("/account"), "the model never acted on the login page"
    assert len(run.header["handovers"]) == 3
    assert files_holding(home, DEMO_PASSWORD.encode()) == []


async def test_the_person_can_ask_for_the_browser_at_any_step(
    home: Path, sites: SiteServer
) -> None:
    person = PlaysPerson(nothing, asks=["I want to check the cart myself"])
    run = await run_script(home, sites, [{"done": "ok"}], start="/shop", person=person)
    assert run.end == Finished("ok", True)
    [takeover] = run.header["handovers"]
    assert takeover["reason"] == "I want to check the cart myself"
    assert takeover["url_after"].endswith("/shop")


def valet(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VALET_", "OPENAI_"))}
    env["VALET_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "valet", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_valet_run_without_a_terminal_stops_for_the_person_with_exit_3(
    home: Path, tmp_path: Path, sites: SiteServer
) -> None:
    script = tmp_path / "script.yaml"
    script.write_text(yaml.safe_dump([{"done": "never"}]))
    done = valet(
        home, "run", "sign in", "-m", f"scripted:{script}", "-u", sites.url_for("/stops/otp")
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "the page asks for a one-time code (two-step verification)" in done.stderr
    assert "--headed" in done.stderr and "valet serve" in done.stderr


def test_the_demo_signs_in_through_the_live_view_then_asks_before_the_order(home: Path) -> None:
    """`valet demo` without a terminal: the server runs the task and the demo plays the person
    through the API only (takeover, key presses in the live view, hand back, approve)."""
    done = valet(home, "demo", "--no-stay")
    assert done.returncode == 0, done.stdout + done.stderr
    out = " ".join(done.stdout.split())
    assert "valet's web app: http://127.0.0.1:" in out
    assert "valet stops for you: the page asks for a password (login form)" in out
    assert "the person (played by the demo) takes over and signs in" in out
    assert out.count("the person (played by the demo) approves: Place order") == 1
    assert "Done: Ordered two 'USB-C Cable 1 m (Basic)' with the saved card" in out
    # Typed in the live view, the password reached the page and nothing valet stores.
    assert files_holding(home, DEMO_PASSWORD.encode()) == []
    exported = home / "audit.jsonl"
    assert valet(home, "audit", "export", str(exported)).returncode == 0
    records = [json.loads(line) for line in exported.read_text().splitlines()]
    by_person = {r["tool"] for r in records if r["actor"] == "person"}
    assert {"takeover", "approval"} <= by_person, by_person
    assert valet(home, "audit", "verify").returncode == 0


async def test_the_terminal_hands_over_until_enter_and_ctrl_backslash_asks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown = io.StringIO()
    handover = TerminalHandover(Console(file=shown, width=200))
    url = "https://shop.example/login"
    with handover.listening():
        os.kill(os.getpid(), signal.SIGQUIT)
        assert await handover.requested() == "you pressed Ctrl-\\ to take over"
    assert await handover.requested() is None, "asked once, answered once"
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))  # the person presses Enter
    back = await handover.hand_over("the page asks for a password (login form)", url)
    assert back is not None
    assert (back.by, back.url_before, back.url_after) == ("person:terminal", url, url)
    assert "valet stops for you: the page asks for a password (login form)" in shown.getvalue()
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # nobody there: end of input
    assert await handover.hand_over("the page shows a CAPTCHA (hCaptcha)", url) is None
