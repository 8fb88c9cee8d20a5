"""Connector accounts over OAuth2 against a real local authorization server (authlib, on
127.0.0.1): sign-in with code + PKCE through the loopback redirect, tokens encrypted in the
vault, refresh before expiry, revocation on remove, and the failures: a wrong PKCE verifier, a
wrong state, refused consent, a server that is down. Plus `valet connectors add|test|remove`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from tests._oauth_server import CLIENT_ID, EMAIL, USER, OAuthServer
from typer.testing import CliRunner

from valet.cli import app
from valet.connectors import (
    Accounts,
    AccountToken,
    LoopbackRedirect,
    OAuthError,
    OAuthProvider,
    add_oauth_account,
    authorization_request,
    check_account,
    exchange_code,
    oauth_provider,
    refresh,
    remove_account,
)
from valet.connectors._oauth import whoami
from valet.errors import ConfigError
from valet.settings import load_config
from valet.vault import Credential, Vault


@pytest.fixture(scope="module")
def server() -> Iterator[OAuthServer]:
    with OAuthServer.start() as running:
        yield running


@pytest.fixture
def home(home: Path, server: OAuthServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """valet's home with the test server configured as OAuth provider `local`."""
    monkeypatch.setenv("VALET_VAULT_KEY", Fernet.generate_key().decode())
    server.state.expires_in = 3600
    server.state.consent = True
    table = server.provider_config()
    lines = ["[oauth.local]"]
    for key, value in table.items():
        shown = (
            "[" + ", ".join(f'"{v}"' for v in value) + "]"
            if isinstance(value, list)
            else f'"{value}"'
        )
        lines.append(f"{key} = {shown}")
    (home / "config.toml").write_text("\n".join(lines) + "\n")
    return home


def provider(home: Path) -> OAuthProvider:
    return oauth_provider("local", load_config(home))


async def browse(url: str) -> httpx.Response:
    """The person's browser: open the authorization URL (the server consents at once) and
    follow its redirect to valet's loopback listener."""
    async with httpx.AsyncClient(follow_redirects=True, timeout=10) as client:
        return await client.get(url)


async def sign_in(home: Path, name: str = "local") -> tuple[str, httpx.Response]:
    """Run the whole sign-in; returns the URL valet showed and what the browser ended on."""
    shown: list[str] = []
    opened: list[asyncio.Task[httpx.Response]] = []

    def show(url: str) -> None:
        shown.append(url)
        opened.append(asyncio.ensure_future(browse(url)))

    try:
        await add_oauth_account(home, name, provider(home), connector="github", show=show)
    finally:
        landed = [await task for task in opened]
    return shown[0], landed[0]


def files_holding(folder: Path, secret: str) -> list[Path]:
    needle = secret.encode()
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


async def test_sign_in_with_code_and_pkce_keeps_the_tokens_encrypted(
    home: Path, server: OAuthServer
) -> None:
    url, landed = await sign_in(home)
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) >= 43
    assert query["client_id"] == [CLIENT_ID] and query["scope"] == ["read"]
    assert query["redirect_uri"][0].startswith("http://127.0.0.1:")
    assert len(query["state"][0]) >= 20
    assert landed.status_code == 200 and "valet has the answer" in landed.text

    account = Accounts.load(home).get("local")
    assert account is not None
    assert (account.auth, account.provider, account.login) == ("oauth2", "local", USER)
    assert account.scopes == ("read",) and account.last_used is None
    token = Vault.open(home).token("local")
    assert token is not None and token.refresh_token is not None
    access, refresh_token = (
        token.access_token.get_secret_value(),
        token.refresh_token.get_secret_value(),
    )
    assert {access, refresh_token} <= server.state.live_tokens()
    assert token.expires_at is not None and token.expires_at > time.time() + 3000
    # on disk: nothing holds a token in clear (the vault is Fernet-encrypted)
    assert (home / "vault.json").is_file() and (home / "connectors.toml").is_file()
    assert files_holding(home, access) == [] and files_holding(home, refresh_token) == []
    assert files_holding(home, "octocat") == [home / "connectors.toml"]  # no secret, just who


async def test_a_wrong_pkce_verifier_or_state_is_rejected(home: Path, server: OAuthServer) -> None:
    local = provider(home)
    async with LoopbackRedirect(within=10) as redirect:
        start = authorization_request(local, redirect.uri)
        browsing = asyncio.ensure_future(browse(start.url))
        answer = await redirect.wait()
        await browsing
    assert set(answer) == {"code", "state"}
    with pytest.raises(OAuthError, match="wrong state"):
        await exchange_code(local, start, answer | {"state": "forged"}, name="local")
    forged = type(start)(start.url, start.state, "x" * 64, start.redirect_uri, start.scopes)
    with pytest.raises(OAuthError, match="refused to sign in: invalid_grant"):
        await exchange_code(local, forged, answer, name="local")
    assert not (home / "vault.json").exists()
    # the same code with the right verifier works, once
    token = await exchange_code(local, start, answer, name="local")
    assert token.access_token.get_secret_value() in server.state.live_tokens()
    with pytest.raises(OAuthError, match="invalid_grant"):
        await exchange_code(local, start, answer, name="local")
    server.state.consent = False  # the person says no on the consent page
    try:
        with pytest.raises(OAuthError, match="did not grant access"):
            await sign_in(home)
    finally:
        server.state.consent = True
    assert not (home / "vault.json").exists() and not (home / "connectors.toml").exists()
    assert files_holding(home, token.access_token.get_secret_value()) == []


async def test_tokens_are_refreshed_before_they_expire(home: Path, server: OAuthServer) -> None:
    server.state.expires_in = 30  # inside valet's one-minute margin: refreshed before use
    await sign_in(home)
    first = Vault.open(home).token("local")
    assert first is not None and first.refresh_token is not None
    before = server.state.refreshes

    source = AccountToken(home, "local", load_config(home))
    access = await source.token()
    assert server.state.refreshes == before + 1
    second = Vault.open(home).token("local")
    assert second is not None and second.refresh_token is not None
    assert access == second.access_token.get_secret_value() != first.access_token.get_secret_value()
    live = server.state.live_tokens()
    assert first.refresh_token.get_secret_value() not in live  # rotated: the old one is spent
    assert {access, second.refresh_token.get_secret_value()} <= live
    used = Accounts.load(home).get("local")
    assert used is not None and used.last_used is not None

    server.state.expires_in = 3600
    renewed = await source.token(renew=True)  # the service refused the last token (a 401)
    assert renewed not in (access, first.access_token.get_secret_value())
    assert server.state.refreshes == before + 2
    assert await source.token() == renewed  # valid for an hour: used as is
    assert server.state.refreshes == before + 2
    # a spent refresh token is refused with a clear error
    with pytest.raises(OAuthError, match="refused to refresh: invalid_grant"):
        await refresh(provider(home), second)


async def test_remove_revokes_at_the_server_and_deletes_the_tokens(
    home: Path, server: OAuthServer
) -> None:
    await sign_in(home)
    token = Vault.open(home).token("local")
    assert token is not None and token.refresh_token is not None
    access = token.access_token.get_secret_value()
    async with httpx.AsyncClient() as client:
        headers = {"Authorization": f"Bearer {access}"}
        assert (await client.get(server.url("/userinfo"), headers=headers)).status_code == 200
        removed = await remove_account(home, "local", load_config(home))
        assert removed.name == "local"
        assert (await client.get(server.url("/userinfo"), headers=headers)).status_code == 401
    live = server.state.live_tokens()
    assert access not in live and token.refresh_token.get_secret_value() not in live
    assert Vault.open(home).token("local") is None
    assert Accounts.load(home).get("local") is None
    assert files_holding(home, access) == []
    with pytest.raises(ConfigError, match="no connector account named 'local'"):
        await remove_account(home, "local", load_config(home))


async def test_a_server_that_is_down_is_a_clear_error_and_changes_nothing(
    home: Path, server: OAuthServer
) -> None:
    await sign_in(home)
    kept = Vault.open(home).token("local")
    down = provider(home).model_copy(
        update={"token_url": "http://127.0.0.1:9/token", "revoke_url": "http://127.0.0.1:9/revoke"}
    )
    assert kept is not None
    with pytest.raises(OAuthError, match="cannot reach local to refresh"):
        await refresh(down, kept)
    config = load_config(home)
    config["oauth"]["local"]["revoke_url"] = "http://127.0.0.1:9/revoke"
    with pytest.raises(OAuthError, match="cannot reach local to revoke"):
        await remove_account(home, "local", config)
    assert Vault.open(home).token("local") == kept  # nothing half-done
    assert Accounts.load(home).get("local") is not None
    # the person can still forget it locally (after revoking by hand)
    await remove_account(home, "local", config, local_only=True)
    assert Vault.open(home).token("local") is None and Accounts.load(home).get("local") is None


def test_cli_add_test_list_remove(home: Path, server: OAuthServer) -> None:
    env = os.environ | {"VALET_HOME": str(home)}
    command = [sys.executable, "-m", "valet", "connectors", "add", "local", "--oauth"]
    command += ["--connector", "github", "--no-browser", "--timeout", "30"]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as adding:
        assert adding.stdout is not None
        url = ""
        for line in adding.stdout:  # valet prints the URL to open, then waits for the answer
            if line.strip().startswith("http://127.0.0.1"):
                url = line.strip()
                break
        assert url.startswith(server.url("/authorize?")), url
        assert httpx.get(url, follow_redirects=True, timeout=10).status_code == 200
        out, err = adding.communicate(timeout=30)
    assert adding.returncode == 0, err
    assert f"connected local as {USER}" in out

    runner = CliRunner()
    listed = runner.invoke(app, ["connectors", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    assert '"name": "local"' in listed.stdout and '"scopes": [' in listed.stdout
    tested = runner.invoke(app, ["connectors", "test", "local"])
    assert tested.exit_code == 0, tested.output
    assert f"local works: signed in as {USER}" in tested.stdout
    missing = runner.invoke(app, ["connectors", "test", "nope"])
    assert missing.exit_code == 2 and "no connector account named 'nope'" in missing.output

    token = Vault.open(home).token("local")
    assert token is not None
    removed = runner.invoke(app, ["connectors", "remove", "local"])
    assert removed.exit_code == 0, removed.output
    assert "revoked" in removed.stdout
    assert token.access_token.get_secret_value() not in server.state.live_tokens()
    assert Accounts.load(home).get("local") is None


def test_cli_add_with_an_app_password_from_the_vault(home: Path) -> None:
    vault = Vault.open(home, create=True)
    vault.add(Credential(name="mail", domains=("127.0.0.1",), username="me", password="app-pw"))
    vault.save()
    runner = CliRunner()
    added = runner.invoke(app, ["connectors", "add", "mail", "--credential", "mail"])
    assert added.exit_code == 0, added.output
    account = Accounts.load(home).get("mail")
    assert account is not None and (account.auth, account.credential) == ("password", "mail")
    assert files_holding(home, "app-pw") == []
    assert runner.invoke(app, ["connectors", "test", "mail"]).exit_code == 0
    gone = runner.invoke(app, ["connectors", "add", "other", "--credential", "nope"])
    assert gone.exit_code == 2 and "the vault has no credential 'nope'" in gone.output
    assert runner.invoke(app, ["connectors", "remove", "mail"]).exit_code == 0
    assert Vault.open(home).get("mail") is not None  # the credential stays in the vault


async def test_check_account_reads_with_the_token(home: Path, server: OAuthServer) -> None:
    await sign_in(home)
    report = await check_account(home, "local", load_config(home))
    assert report.ok and report.login == USER
    used = Accounts.load(home).get("local")
    assert used is not None and used.last_used is not None
    # the server forgot the token (revoked elsewhere): the read fails with a clear error
    token = Vault.open(home).token("local")
    assert token is not None
    async with httpx.AsyncClient() as client:
        for secret, hint in (
            (token.refresh_token, "refresh_token"),
            (token.access_token, "access_token"),
        ):
            assert secret is not None
            data = {
                "token": secret.get_secret_value(),
                "token_type_hint": hint,
                "client_id": CLIENT_ID,
            }
            assert (await client.post(server.url("/revoke"), data=data)).status_code == 200
    with pytest.raises(OAuthError, match="no longer accepts the local token"):
        await check_account(home, "local", load_config(home))


def test_unknown_provider_and_missing_client_id_say_what_to_do(home: Path) -> None:
    with pytest.raises(ConfigError, match="valet knows google, microsoft, outlook, github"):
        oauth_provider("dropbox", {})
    with pytest.raises(ConfigError, match=r"put client_id in \[oauth.github\]"):
        oauth_provider("github", {})
    github = oauth_provider("github", {"oauth": {"github": {"client_id": "abc"}}})
    assert github.authorize_url == "https://github.com/login/oauth/authorize"
    assert github.scopes == ("read:user",) and github.revoke_url is None
    google = oauth_provider("google", {"oauth": {"google": {"client_id": "g"}}})
    assert google.authorize_params["access_type"] == "offline"
    start = authorization_request(google, "http://127.0.0.1:5000/callback")
    assert "access_type=offline" in start.url and "code_challenge_method=S256" in start.url


async def test_a_failed_first_read_leaves_no_token_anywhere(
    home: Path, server: OAuthServer
) -> None:
    broken = provider(home).model_copy(update={"userinfo_url": server.url("/nowhere")})
    opened: list[asyncio.Task[httpx.Response]] = []
    live = server.state.live_tokens()
    with pytest.raises(OAuthError, match="answered HTTP 404 to a read"):
        await add_oauth_account(
            home,
            "local",
            broken,
            connector="github",
            show=lambda url: opened.append(asyncio.ensure_future(browse(url))),
        )
    assert (await opened[0]).status_code == 200
    assert server.state.live_tokens() == live  # the new tokens were revoked at once
    assert not (home / "vault.json").exists() and Accounts.load(home).accounts == ()


async def test_a_provider_without_userinfo_names_the_account_by_its_id_token(
    home: Path, server: OAuthServer
) -> None:
    """Like Outlook mail (tokens for IMAP/SMTP only): the sign-in's OpenID id_token names the
    account, and a refresh keeps the name."""
    config = server.provider_config()
    del config["userinfo_url"]
    mail_only = OAuthProvider.model_validate(
        config | {"name": "local", "scopes": ("openid", "read"), "account_field": "email"}
    )
    server.state.expires_in = 30
    opened: list[asyncio.Task[httpx.Response]] = []

    def show(url: str) -> None:  # the person's browser opens the address valet shows
        opened.append(asyncio.ensure_future(browse(url)))

    account = await add_oauth_account(home, "mail", mail_only, connector="mail", show=show)
    assert (await opened[0]).status_code == 200
    assert (account.login, account.scopes) == (EMAIL, ("openid", "read"))
    token = Vault.open(home).token("mail")
    assert token is not None and token.subject == EMAIL
    renewed = await refresh(mail_only, token)
    assert renewed.subject == EMAIL and renewed.access_token != token.access_token
    assert await whoami(mail_only, renewed) == EMAIL  # no userinfo endpoint: the id_token's


def test_the_outlook_preset_asks_for_imap_and_smtp_and_names_by_id_token() -> None:
    outlook = oauth_provider("outlook", {"oauth": {"outlook": {"client_id": "abc"}}})
    assert outlook.userinfo_url is None and "openid" in outlook.scopes
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in outlook.scopes
    assert "https://outlook.office.com/SMTP.Send" in outlook.scopes
