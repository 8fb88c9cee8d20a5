"""Secrets never reach what valet stores: a real run logs in with a vault password and types a
card number, then every byte under valet's home (run records, screenshots, the audit database,
keys, state) and every log line is scanned for them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from playwright.async_api import async_playwright
from pydantic import SecretStr

from valet.agent import Finished, Limits, RunEnd
from valet.audit import AuditLog, LogRedaction, Redactor
from valet.browser import SENSITIVE_FIELDS
from valet.gateway import Approval, ScriptedApprover
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.record import RunStore
from valet.runtime import TaskSpec, run_task
from valet.sites import SiteServer
from valet.vault import KEY_ENV, Credential, Vault

PASSWORD = "correct horse"
EMAIL = "demo@voltline.test"
CARD = "4242 4242 4242 4242"


@pytest.fixture
def vault(home: Path, sites: SiteServer, monkeypatch: pytest.MonkeyPatch) -> Vault:
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    vault = Vault.open(home, create=True)
    login = Credential(
        name="shop",
        domains=(f"127.0.0.1:{sites.port}",),
        username=EMAIL,
        password=SecretStr(PASSWORD),
    )
    vault.add(login)
    vault.save()
    return vault


async def run(
    home: Path, sites: SiteServer, script: list[Any], vault: Vault, start: str
) -> tuple[RunEnd, dict[str, Any], list[dict[str, Any]]]:
    spec = TaskSpec(
        task="sign in to the shop", start_url=sites.url_for(start), limits=Limits(max_steps=30)
    )
    approve = ScriptedApprover.of([Approval.approved("person:test")] * 10)
    result = await run_task(
        spec,
        scripted_model(ScriptPlayer(parse_steps(script))),
        home=home,
        model_info={"model": "scripted:test"},
        vision=True,
        approver=approve,
        vault=vault,
    )
    header, steps = RunStore(home / "runs").load(result.run_id)
    return result.end, header, steps


def leaks(home: Path, *secrets: str) -> list[str]:
    """Every stored file under `home` that holds one of `secrets` (UTF-8 bytes)."""
    found: list[str] = []
    needles = [s.encode() for s in secrets]
    for path in sorted(home.rglob("*")):
        if path.is_file() and any(n in path.read_bytes() for n in needles):
            found.append(str(path.relative_to(home)))
    return found


async def test_a_vault_login_leaves_no_secret_in_anything_stored(
    home: Path, sites: SiteServer, vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    script = [
        {"type": {"role": "textbox", "name": "Email", "text": "{{vault:shop.username}}"}},
        {"type": {"role": "textbox", "name": "Password", "text": "{{vault:shop.password}}"}},
        {"click": {"role": "button", "name": "Sign in"}},
        {"expect": {"text": "Welcome back"}},
        {"done": {"answer": "signed in", "success": True}},
    ]
    end, header, steps = await run(home, sites, script, vault, "/account/login")
    assert end == Finished("signed in", True), steps
    assert header["status"] == "succeeded"
    assert steps[1]["action"]["text"] == "{{vault:shop.password}}"
    assert "{{vault:shop.username}}" in steps[0]["result"]
    frames = [s["screenshot"] for s in steps if s["screenshot"]]
    assert len(frames) == len(steps)  # vision run: every step's screenshot is stored
    log = AuditLog.open(home / "audit.db", home / "keys" / "audit.key")
    try:
        typed = [r.args["text"] for r in log.records() if r.tool == "type"]
    finally:
        log.close(checkpoint=False)
    assert typed == ["{{vault:shop.username}}", "{{vault:shop.password}}"]
    assert leaks(home, PASSWORD, EMAIL) == []
    assert PASSWORD not in caplog.text and EMAIL not in caplog.text


async def test_a_typed_card_number_is_not_stored(
    home: Path, sites: SiteServer, vault: Vault
) -> None:
    script = [
        {"goto": "/shop/product/braided-usb-c-cable-2m"},
        {"click": {"role": "button", "name": "Add to cart"}},
        {"goto": "/shop/checkout/payment"},
        {"type": {"role": "textbox", "name": "Card number", "text": CARD}},
        {"done": {"answer": "typed", "success": True}},
    ]
    _end, header, steps = await run(home, sites, script, vault, "/shop")
    typed = [s for s in steps if (s["action"] or {}).get("kind") == "type"]
    assert typed and typed[0]["action"]["text"] == "[redacted]"
    assert header["status"] in ("succeeded", "stopped", "failed")
    assert leaks(home, CARD, CARD.replace(" ", "")) == []


def test_the_redactor_covers_known_shapes_and_vault_values() -> None:
    redactor = Redactor(["hunter2-very-secret"])
    text = (
        "keys sk-ant-api03-abcdefghijklmnop ghp_abcdefghijklmnopqrstuvwx xoxb-1234567890-abc "
        "AKIAABCDEFGHIJKLMNOP Bearer abcdefghijklmnopqrstuvwxyz card 4111-1111-1111-1111 "
        "pw hunter2-very-secret order 1234 5678 9012 3456"
    )
    cleaned = redactor.text(text)
    for secret in ("sk-ant", "ghp_", "xoxb-", "AKIA", "abcdefghijklmnopqrstuvwxyz", "4111"):
        assert secret not in cleaned
    assert "hunter2" not in cleaned
    assert "1234 5678 9012 3456" in cleaned  # fails the Luhn check: not a card
    record = redactor.data({"input_tokens": 12, "result": "typed hunter2-very-secret"})
    assert record == {"input_tokens": 12, "result": "typed [redacted]"}


def test_valet_logs_pass_the_redactor(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("valet.server")
    guard = LogRedaction(Redactor([PASSWORD])).install()
    try:
        with caplog.at_level(logging.INFO, logger="valet.server"):
            logger.info("login with %s and sk-abcdefghijklmnopqrstu", PASSWORD)
    finally:
        guard.remove()
    assert PASSWORD not in caplog.text and "sk-abc" not in caplog.text
    assert "login with [redacted] and [redacted]" in caplog.text


async def test_password_and_card_fields_are_masked_in_screenshots(sites: SiteServer) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium")
        try:
            page = await browser.new_page()
            await page.goto(sites.url_for("/account/login"))
            masked = page.locator(SENSITIVE_FIELDS)
            assert await masked.count() == 1
            assert await masked.get_attribute("type") == "password"
            await page.set_content(
                '<form><input name="cardholder"><input name="card_number" autocomplete="cc-number">'
                '<input name="expiry" autocomplete="cc-exp"><input name="cvc">'
                '<input name="cardNumber"><input name="q"></form>'
            )
            names = await page.locator(SENSITIVE_FIELDS).evaluate_all("els => els.map(e => e.name)")
            assert names == ["card_number", "expiry", "cvc", "cardNumber"]
            assert "cardholder" not in names
        finally:
            await browser.close()
