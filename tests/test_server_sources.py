"""The Sources page and /api/sources: connector accounts with their scopes, last use and a flag
when unused for long; connect (an app password straight to the vault, or an OAuth sign-in whose
redirect the server receives itself), test, and revoke (at the provider, audited as the
person's). OAuth runs against the real local authorization server of `tests/_oauth_server`."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from playwright.async_api import Dialog, async_playwright, expect
from tests._oauth_server import USER, OAuthServer
from tests.test_server_harness import running_server
from tests.test_server_web import EXECUTABLE

from valet.connectors import Account, Accounts
from valet.vault import Credential, Vault

FOREIGN = "http://127.0.0.1:1"
SECRET = "app-pw-7d1f0c9e5b"


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuthServer]:
    with OAuthServer.start() as running:
        yield running


@pytest.fixture
def home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VALET_VAULT_KEY", Fernet.generate_key().decode())
    return home


def write_config(home: Path, oauth: OAuthServer | None = None, *, extra: str = "") -> None:
    lines = [extra]
    if oauth is not None:
        lines.append("[oauth.local]")
        for key, value in oauth.provider_config().items():
            shown = (
                "[" + ", ".join(f'"{v}"' for v in value) + "]"
                if isinstance(value, list)
                else f'"{value}"'
            )
            lines.append(f"{key} = {shown}")
    (home / "config.toml").write_text("\n".join(lines) + "\n")


def files_holding(folder: Path, secret: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def person_records(home: Path) -> list[tuple[str, str, str]]:
    """(actor, tool, args) of the audit records the person made."""
    with sqlite3.connect(home / "audit.db") as db:
        rows = db.execute("SELECT actor, tool, args FROM records WHERE actor = 'person'")
        return [(str(a), str(t), str(x)) for a, t, x in rows.fetchall()]


def old_accounts(home: Path) -> None:
    """`mail` (an owned app password) last used 120 days ago, `calendar` 3 days ago."""
    vault = Vault.open(home, create=True)
    vault.add(
        Credential(name="mail", domains=("imap.example.com",), username="me", password=SECRET)
    )
    vault.save()
    now = datetime.now(UTC)
    accounts = Accounts.load(home)
    accounts.add(
        Account(
            name="mail",
            connector="mail",
            auth="password",
            credential="mail",
            credential_owned=True,
            login="me",
            created=now - timedelta(days=400),
            last_used=now - timedelta(days=120),
        )
    )
    accounts.add(
        Account(
            name="calendar",
            connector="calendar",
            auth="oauth2",
            provider="local",
            scopes=("read",),
            created=now - timedelta(days=30),
            last_used=now - timedelta(days=3, hours=2),
        )
    )
    accounts.save()


async def test_an_app_password_goes_to_the_vault_is_tested_and_revoked(home: Path) -> None:
    async with running_server(home) as srv:
        empty = (await srv.client.get("/api/sources")).json()
        assert empty["accounts"] == [] and empty["toolsets"] == []
        assert {"files", "mail", "github"} <= set(empty["connectors"])
        assert "github" in empty["providers"] and empty["unused_after_days"] == 90

        body: dict[str, Any] = {
            "auth": "password",
            "name": "mail",
            "connector": "mail",
            "username": "me@example.com",
            "domains": ["IMAP.example.com", "smtp.example.com"],
            "secret": SECRET,
        }
        created = await srv.client.post("/api/sources", json=body)
        assert created.status_code == 201, created.text
        account = created.json()
        assert (account["name"], account["auth"], account["credential"]) == (
            "mail",
            "password",
            "mail",
        )
        assert account["last_used"] is None and account["unused"] is False
        assert SECRET not in created.text
        stored = Vault.open(home).get("mail")
        assert stored is not None and stored.password.get_secret_value() == SECRET
        assert stored.domains == ("imap.example.com", "smtp.example.com")
        assert files_holding(home, SECRET) == []  # only in the encrypted vault

        again = await srv.client.post("/api/sources", json=body)
        assert again.status_code == 409 and "already an account" in again.json()["detail"]
        for change, status in (
            ({"connector": "nope"}, 400),
            ({"name": "../x"}, 422),
            ({"domains": ["not a domain!"]}, 422),
            ({"domains": []}, 422),
            ({"secret": ""}, 422),
            ({"auth": "magic"}, 422),
            ({"surprise": 1}, 422),
        ):
            refused = await srv.client.post("/api/sources", json=body | {"name": "m2"} | change)
            assert refused.status_code == status, (change, refused.text)
            assert set(refused.json()) == {"error", "detail"}
            assert SECRET not in refused.text  # never echoed, even in a 422
        unknown_provider = {"auth": "oauth2", "name": "work", "connector": "mail", "provider": "x"}
        refused = await srv.client.post("/api/sources", json=unknown_provider)
        assert refused.status_code == 400 and "no OAuth provider 'x'" in refused.json()["detail"]

        tested = await srv.client.post("/api/sources/mail/test")
        assert tested.status_code == 200
        assert tested.json() | {"toolsets": [], "failed": []} == {
            "name": "mail",
            "ok": True,
            "login": "me@example.com",
            "toolsets": [],
            "failed": [],
            "error": "",
        }
        listed = (await srv.client.get("/api/sources")).json()["accounts"]
        assert [a["name"] for a in listed] == ["mail"] and listed[0]["last_used"] is not None
        assert (await srv.client.post("/api/sources/nope/test")).status_code == 404

        revoked = await srv.client.delete("/api/sources/mail")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json() == {
            "name": "mail",
            "revoked_at_provider": False,
            "deleted_credential": True,
        }
        assert Vault.open(home).get("mail") is None and Accounts.load(home).get("mail") is None
        missing = await srv.client.delete("/api/sources/mail")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found"
        assert (await srv.client.delete("/api/sources/%2e%2e")).status_code in (404, 422)

    records = person_records(home)
    assert [tool for _, tool, _ in records] == ["connectors.add", "connectors.remove"]
    assert all(SECRET not in args for _, _, args in records)


async def test_sources_need_the_token_and_the_servers_origin(home: Path) -> None:
    routes = [
        ("GET", "/api/sources"),
        ("POST", "/api/sources"),
        ("POST", "/api/sources/mail/test"),
        ("DELETE", "/api/sources/mail"),
        ("GET", "/sources"),
        ("GET", "/ui/sources/toolsets"),
        ("POST", "/ui/sources"),
        ("POST", "/ui/sources/mail/test"),
        ("POST", "/ui/sources/mail/revoke"),
        ("GET", "/sources/oauth/callback?code=x&state=forged-state-forged-state"),
    ]
    old_accounts(home)
    async with running_server(home) as srv:
        async with srv.anonymous() as anonymous:
            for method, path in routes:
                response = await anonymous.request(method, path)
                assert response.status_code == 401, (method, path, response.text)
        for method, path in routes:
            if method in ("POST", "DELETE"):
                for headers in ({"Origin": FOREIGN}, {"Sec-Fetch-Site": "cross-site"}):
                    response = await srv.client.request(method, path, headers=headers)
                    assert response.status_code == 403, (method, path, response.text)
        # the token without a pending sign-in: the callback says so (and changes nothing)
        stale = await srv.client.get("/sources/oauth/callback", params={"state": "x", "code": "y"})
        assert stale.status_code == 400 and "unknown or has expired" in stale.text
    assert Accounts.load(home).get("mail") is not None  # nothing was revoked


async def test_the_page_shows_scopes_last_use_and_flags_old_accounts(home: Path) -> None:
    notes = home / "notes"
    notes.mkdir()
    write_config(
        home,
        extra=(
            '[accounts]\nunused_after_days = 60\n[grants]\nnotes = ["read", "update"]\n'
            f'[[connectors]]\nname = "notes"\nconnector = "files"\nroot = "{notes}"\n'
        ),
    )
    old_accounts(home)
    async with running_server(home) as srv:
        page = await srv.client.get("/sources")
        assert page.status_code == 200
        assert '<a href="/sources">Sources</a>' in page.text
        assert page.text.count('class="flag-unused"') == 1
        assert "unused for 120 days" in page.text
        assert 'id="source-mail"' in page.text and 'class="source source-unused"' in page.text
        assert "3 days ago" in page.text and "<code>read</code>" in page.text
        assert SECRET not in page.text

        data = (await srv.client.get("/api/sources")).json()
        flags = {a["name"]: (a["unused"], a["idle_days"]) for a in data["accounts"]}
        assert flags == {"calendar": (False, 3), "mail": (True, 120)}
        assert data["unused_after_days"] == 60
        (notes_view,) = data["toolsets"]
        assert notes_view["grant"] == ["read", "update"] and notes_view["standing"] is True
        doing = {op["operation"]: (op["granted"], op["valet"]) for op in notes_view["operations"]}
        assert doing["read_file"] == (True, "runs")
        assert doing["write_file"] == (True, "asks you")
        assert doing["delete_file"] == (False, "needs a grant")
        quick = (await srv.client.get("/api/sources", params={"operations": "false"})).json()
        assert quick["toolsets"][0]["operations"] is None

        toolsets = await srv.client.get("/ui/sources/toolsets")
        assert "notes_delete_file" in toolsets.text and "needs a grant" in toolsets.text

        (home / "config.toml").write_text("[accounts]\nunused_after_days = 0\n")
        broken = await srv.client.get("/api/sources")
        assert broken.status_code == 409 and "unused_after_days" in broken.json()["detail"]
        assert "unused_after_days" in (await srv.client.get("/sources")).text


async def sign_in_through_the_server(srv: Any, name: str = "local") -> httpx.Response:
    """Start the sign-in with the API; the person's browser (without valet's cookie, as after
    a cross-site redirect) consents at the provider and lands on the server's callback."""
    body = {"auth": "oauth2", "name": name, "connector": "github", "provider": "local"}
    started = await srv.client.post("/api/sources", json=body)
    assert started.status_code == 202, started.text
    assert started.json()["redirect_uri"] == f"{srv.url}/sources/oauth/callback"
    async with srv.anonymous() as browser:
        landed = await browser.get(started.json()["authorization_url"], follow_redirects=True)
        assert str(landed.url).startswith(f"{srv.url}/sources/oauth/callback?")
        replay = await browser.get(str(landed.url))  # the state was good for one answer
        assert replay.status_code == 401
    return landed


async def test_an_oauth_sign_in_comes_back_to_the_server_and_revoke_reaches_the_provider(
    home: Path, oauth: OAuthServer
) -> None:
    write_config(home, oauth)
    async with running_server(home) as srv:
        landed = await sign_in_through_the_server(srv)
        assert landed.status_code == 200 and "Connected local" in landed.text
        assert f"as {USER}" in landed.text
        account = Accounts.load(home).get("local")
        assert account is not None and (account.provider, account.login) == ("local", USER)
        token = Vault.open(home).token("local")
        assert token is not None and token.refresh_token is not None
        secrets = {token.access_token.get_secret_value(), token.refresh_token.get_secret_value()}
        assert secrets <= oauth.state.live_tokens()

        listed = await srv.client.get("/api/sources")
        assert listed.json()["accounts"][0]["scopes"] == ["read"]
        assert not any(secret in listed.text for secret in secrets)
        tested = (await srv.client.post("/api/sources/local/test")).json()
        assert tested["ok"] is True and tested["login"] == USER

        oauth.state.consent = False  # the person says no at the provider
        try:
            refused = await sign_in_through_the_server(srv, "other")
        finally:
            oauth.state.consent = True
        assert refused.status_code == 400 and "did not grant access" in refused.text
        assert Accounts.load(home).get("other") is None

        write_config(home, oauth)  # a provider without a revocation endpoint: nothing changes
        config = (home / "config.toml").read_text()
        (home / "config.toml").write_text(
            "\n".join(line for line in config.splitlines() if not line.startswith("revoke_url"))
        )
        cannot = await srv.client.delete("/api/sources/local")
        assert cannot.status_code == 409 and "no revocation endpoint" in cannot.json()["detail"]
        assert Vault.open(home).token("local") is not None

        write_config(home, oauth)
        revoked = await srv.client.delete("/api/sources/local")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_at_provider"] is True
    assert not secrets & oauth.state.live_tokens()  # the provider no longer honours them
    assert Vault.open(home).token("local") is None and Accounts.load(home).get("local") is None
    assert files_holding(home, token.access_token.get_secret_value()) == []
    records = person_records(home)
    assert [tool for _, tool, _ in records] == ["connectors.add", "connectors.remove"]
    assert '"revoked_at_provider":true' in records[-1][2].replace(" ", "")


async def test_a_sign_in_started_on_one_server_is_finished_by_another(
    home: Path, oauth: OAuthServer
) -> None:
    """Two web servers on one database behind a balancer: the provider's redirect reaches
    the other one, which finds the sign-in in the database and finishes it, once."""
    write_config(home, oauth)
    async with running_server(home) as first, running_server(home) as second:
        body = {"auth": "oauth2", "name": "local", "connector": "github", "provider": "local"}
        started = await first.client.post("/api/sources", json=body)
        assert started.status_code == 202, started.text
        async with first.anonymous() as browser:
            consent = await browser.get(started.json()["authorization_url"])
            while consent.is_redirect and not consent.headers["location"].startswith(first.url):
                consent = await browser.get(consent.headers["location"])
            callback = consent.headers["location"].removeprefix(first.url)
            assert callback.startswith("/sources/oauth/callback?"), callback
        async with second.anonymous() as browser:  # the balancer sent it to the other server
            landed = await browser.get(callback)
            assert landed.status_code == 200 and "Connected local" in landed.text, landed.text
            assert (await browser.get(callback)).status_code == 401  # one answer per state
        async with first.anonymous() as browser:
            assert (await browser.get(callback)).status_code == 401  # taken for every server
    account = Accounts.load(home).get("local")
    assert account is not None and account.login == USER


async def test_in_chromium_connect_see_the_flag_and_revoke(home: Path, oauth: OAuthServer) -> None:
    write_config(home, oauth, extra="[accounts]\nunused_after_days = 60\n")
    old_accounts(home)
    async with running_server(home) as srv, async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=EXECUTABLE, headless=True)
        try:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(srv.sign_in_link("/sources"))
            await expect(page.get_by_role("heading", name="Sources", exact=True)).to_be_visible()
            await expect(page.get_by_role("link", name="Sources")).to_have_attribute(
                "href", "/sources"
            )
            mail = page.locator("#source-mail")
            await expect(mail.locator(".flag-unused")).to_have_text("unused for 120 days")
            await expect(page.locator("#source-calendar .last-used")).to_have_text("3 days ago")
            await expect(page.locator("#source-calendar .flag-unused")).to_have_count(0)

            # connect with the form: the sign-in goes to the provider and back to valet
            form = page.locator("#source-connect")
            await form.locator("input[name=name]").fill("local")
            await form.locator("select[name=connector]").select_option("github")
            await form.locator("input[name=provider]").fill("local")
            await form.get_by_role("button", name="Connect").click()
            await expect(page.get_by_role("heading", name="Connected local")).to_be_visible()
            await page.get_by_role("link", name="Back to Sources").click()
            await expect(page.locator("#source-local .last-used")).to_have_text("never")

            asked: list[str] = []

            async def accept(dialog: Dialog) -> None:
                asked.append(dialog.message)
                await dialog.accept()

            page.on("dialog", accept)
            await mail.get_by_role("button", name="Revoke").click()
            await expect(page.locator(".notice")).to_have_text(
                "Revoked mail; valet no longer holds it."
            )
            await expect(page.locator("#source-mail")).to_have_count(0)
            assert asked and asked[0].startswith("Revoke valet's access to mail?")
            assert errors == []
        finally:
            await browser.close()
    assert Accounts.load(home).get("mail") is None and Vault.open(home).get("mail") is None
    assert Accounts.load(home).get("local") is not None
    removal = [r for r in person_records(home) if r[1] == "connectors.remove"]
    assert [(actor, tool) for actor, tool, _ in removal] == [("person", "connectors.remove")]
    assert '"account":"mail"' in removal[0][2].replace(" ", "")
