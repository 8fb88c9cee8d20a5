"""Toolsets that sign in with the person's connector accounts (`account = "NAME"` in their
settings), against real servers on 127.0.0.1. The account signs in at the authlib authorization
server of tests/_oauth_server.py; every server below checks the bearer token with that server's
userinfo endpoint (RFC 6750), so only a token it honours gets in:

- Radicale (CalDAV) behind a reverse proxy that checks the token and passes the user on
  (`X-Remote-User`, Radicale's `http_x_remote_user` auth), as an OAuth proxy in front of a
  CalDAV server does;
- Dovecot (IMAP) with `passdb oauth2` for XOAUTH2 (`introspection_mode = auth`: it sends the
  token to the userinfo endpoint), and an SMTP server (aiosmtpd) that checks XOAUTH2 the same
  way;
- GitHub's REST API as its published OpenAPI description says (tests/test_github.py).

An expired token is refreshed before use, a refused one once after; a revoked one says to sign
in again; each use records the account's last use; an app-password account uses its vault
credential (mail, GitHub, WebDAV on WsgiDAV); a wrong account is a clear error when the toolset
opens. The GitHub toolset is
opened the way `valet run` opens it: from config.toml through `person_setup`."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import caldav
import httpx
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography.fernet import Fernet
from tests._oauth_server import CLIENT_ID, USER, OAuthServer
from tests._servers import (
    DAV_PASSWORD,
    DAV_USER,
    WsgiDav,
    free_port,
    smtp_server,
    start_dovecot,
)
from tests.test_github import SPEC, Contract, ContractServer, default_answers

from valet.connectors import (
    Accounts,
    ConnectorError,
    Toolset,
    ToolsetConfig,
    add_oauth_account,
    add_password_account,
    oauth_provider,
    open_toolsets,
)
from valet.gateway import Approval, Gateway, ScriptedApprover, TaskContext
from valet.runtime import person_setup
from valet.settings import load_config
from valet.vault import KEY_ENV, Credential, Vault

ADDRESS = f"{USER}@valet.test"


@pytest.fixture(scope="module")
def oauth() -> Iterator[OAuthServer]:
    with OAuthServer.start() as running:
        yield running


@pytest.fixture
def home(home: Path, oauth: OAuthServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """valet's home whose config.toml has the test server as OAuth provider `local`."""
    monkeypatch.setenv(KEY_ENV, Fernet.generate_key().decode())
    oauth.state.expires_in = 3600
    write_config(home, oauth)
    return home


def write_config(home: Path, oauth: OAuthServer, *toolsets: dict[str, object]) -> None:
    """config.toml: `[oauth.local]` and `[[connectors]]` for each toolset."""
    lines = ["[oauth.local]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in oauth.provider_config().items()]
    for table in toolsets:
        lines += ["", "[[connectors]]", *(f"{k} = {json.dumps(v)}" for k, v in table.items())]
    (home / "config.toml").write_text("\n".join(lines) + "\n")


async def connect(home: Path, connector: str) -> str:
    """`valet connectors add local --oauth --connector CONNECTOR`, the person's browser
    consenting at once; returns the access token the vault got."""

    async def browse(url: str) -> None:
        async with httpx.AsyncClient(follow_redirects=True, timeout=10) as client:
            assert (await client.get(url)).status_code == 200

    opened: list[asyncio.Task[None]] = []
    provider = oauth_provider("local", load_config(home))
    await add_oauth_account(
        home,
        "local",
        provider,
        connector=connector,
        show=lambda url: opened.append(asyncio.ensure_future(browse(url))),
    )
    await opened[0]
    return access_token(home)


def access_token(home: Path) -> str:
    token = Vault.open(home).token("local")
    assert token is not None
    return token.access_token.get_secret_value()


def expire(home: Path, oauth: OAuthServer) -> str:
    """Time passes: the account's access token expires, for valet and for the server alike.
    Returns the expired token."""
    vault = Vault.open(home)
    token = vault.token("local")
    assert token is not None
    vault.put_token(token.model_copy(update={"expires_at": time.time() - 1}))
    vault.save()
    old = token.access_token.get_secret_value()
    with oauth.state.lock:
        for issued in oauth.state.tokens:
            if issued.access_token == old:
                issued.issued_at -= issued.expires_in + 1
    return old


def revoke_at_server(home: Path, oauth: OAuthServer) -> None:
    """The person revokes valet's access at the provider (its tokens stay in valet's vault)."""
    token = Vault.open(home).token("local")
    assert token is not None and token.refresh_token is not None
    for secret in (token.refresh_token, token.access_token):
        form = {"token": secret.get_secret_value(), "client_id": CLIENT_ID}
        assert httpx.post(oauth.url("/revoke"), data=form).status_code == 200


def last_used(home: Path, name: str = "local") -> datetime | None:
    account = Accounts.load(home).get(name)
    assert account is not None
    return account.last_used


def who(oauth: OAuthServer, authorization: str | None) -> str | None:
    """The user the authorization server says a bearer token belongs to (None: refused)."""
    if not authorization or not authorization.startswith("Bearer "):
        return None
    answer = httpx.get(oauth.url("/userinfo"), headers={"Authorization": authorization})
    return str(answer.json()["login"]) if answer.status_code == 200 else None


@asynccontextmanager
async def toolset(connector: str, **settings: object) -> AsyncIterator[Toolset]:
    """A toolset of a registered connector (the entry point `valet run` loads)."""
    config = ToolsetConfig(name="t", connector=connector, settings=settings)
    async with AsyncExitStack() as stack:
        (opened,) = await open_toolsets([config], stack)
        yield opened


def gateway(opened: Toolset, approvals: int = 0, request: str = "") -> Gateway:
    """A gateway for `opened`, approving `approvals` asks, for a task that asked `request`."""
    approver = ScriptedApprover.of([Approval.approved() for _ in range(approvals)])
    task = TaskContext(task_id="oauth-test", request=request)
    return Gateway(opened.tools(), approver=approver, task=task)


# ---- calendar: Radicale behind a proxy that checks bearer tokens -----------------------------


class BearerProxy:
    """A reverse proxy in front of Radicale: a request goes through only with a bearer token the
    authorization server honours, and Radicale is told whose it is (`X-Remote-User`, set only
    here: whatever the client sent under that name is dropped)."""

    def __init__(self, oauth: OAuthServer, upstream: int) -> None:
        self.seen: list[str | None] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def __getattr__(self, name: str) -> Any:
                if name.startswith("do_"):  # every method CalDAV uses: PROPFIND, REPORT, PUT…
                    return self.forward
                raise AttributeError(name)

            def forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                authorization = self.headers.get("Authorization")
                proxy.seen.append(authorization)
                user = who(oauth, authorization)
                if user is None:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Bearer error="invalid_token"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                dropped = {"authorization", "x-remote-user", "connection", "content-length"}
                headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
                headers["X-Remote-User"] = user
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=10)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in ("connection", "content-length", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def radicale_behind_proxy(
    oauth: OAuthServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[BearerProxy, int]]:
    """Radicale trusting `X-Remote-User`, reachable with a token through the proxy; yields the
    proxy and Radicale's own port (for the test's direct checks)."""
    folder = tmp_path_factory.mktemp("radicale-oauth")
    port = free_port()
    (folder / "config").write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n[auth]\ntype = http_x_remote_user\n"
        f"[storage]\nfilesystem_folder = {folder / 'storage'}\n[logging]\nlevel = error\n"
    )
    with (folder / "radicale.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(folder / "config")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"Radicale exited: {(folder / 'radicale.log').read_text()[-2000:]}")
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("Radicale did not start within 20 s")
        proxy = BearerProxy(oauth, port)
        yield proxy, port
        proxy.close()
        process.terminate()
        process.wait(10)


def direct(port: int) -> caldav.DAVClient:
    """A CalDAV client straight to Radicale as the account's user (the test's own view)."""
    return caldav.DAVClient(
        url=f"http://127.0.0.1:{port}/", headers={"X-Remote-User": USER}, enable_rfc6764=False
    )


async def test_calendar_sends_the_accounts_token_as_a_bearer_refreshed_when_it_expires(
    home: Path, oauth: OAuthServer, radicale_behind_proxy: tuple[BearerProxy, int]
) -> None:
    proxy, port = radicale_behind_proxy
    work = direct(port).principal().make_calendar(name="Work", cal_id="work")
    first = await connect(home, "calendar")
    settings = {"url": proxy.url, "account": "local", "timezone": "UTC", "task_id": "t1"}
    event = {"summary": "Review", "start": "2026-12-07T09:00:00Z", "end": "2026-12-07T10:00:00Z"}
    async with toolset("calendar", **settings) as opened:
        calendar = gateway(opened, approvals=2)
        listed = await calendar.call("t_list_calendars", {})
        assert listed.ok, listed.message
        assert [c["name"] for c in listed.value] == ["Work"]
        assert set(proxy.seen) == {f"Bearer {first}"}
        assert last_used(home) is not None

        refreshes = oauth.state.refreshes
        assert expire(home, oauth) == first
        created = await calendar.call("t_create_event", {**event, "uid": "review-1"})
        assert created.ok, created.message
        second = access_token(home)
        assert second != first and oauth.state.refreshes == refreshes + 1
        assert proxy.seen[-1] == f"Bearer {second}"
        assert [str(e.icalendar_component["UID"]) for e in work.events()] == ["review-1"]

        revoke_at_server(home, oauth)  # the token has not expired: the server refuses it
        day = {"start": "2026-12-07T00:00:00Z", "end": "2026-12-08T00:00:00Z"}
        refused = await calendar.call("t_search_events", day)
    assert not refused.ok
    assert "local refused to refresh: invalid_grant" in refused.message
    assert (
        "sign in again (valet connectors add local --oauth --connector calendar --replace)"
        in refused.message
    )
    assert first not in refused.message and second not in refused.message


# ---- mail: Dovecot and SMTP checking XOAUTH2 with the authorization server -------------------

OAUTH2_USERINFO = """\
introspection_mode = auth
introspection_url = {userinfo}
username_attribute = login
"""


class CheckedSmtp:
    """The SMTP server's handler: XOAUTH2 checked with the authorization server, passwords with
    the passwd file's; keeps what it receives and the tokens it was shown."""

    def __init__(self, oauth: OAuthServer, passwords: dict[str, str]) -> None:
        self.oauth = oauth
        self.passwords = passwords
        self.tokens: list[str] = []
        self.received: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = message_from_bytes(envelope.original_content or b"", policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 OK"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        said = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        fields = dict(p.split("=", 1) for p in said.split("\x01") if "=" in p)
        user, authorization = fields.get("user", ""), fields.get("auth", "")
        self.tokens.append(authorization.removeprefix("Bearer "))
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(
                self.oauth.url("/userinfo"), headers={"Authorization": authorization}
            )
        ok = answer.status_code == 200 and answer.json()["login"] == user
        return AuthResult(success=ok, handled=False, auth_data=user)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        return AuthResult(success=self.passwords.get(user) == password, handled=False)


@pytest.fixture(scope="module")
def mail_servers(oauth: OAuthServer) -> Iterator[tuple[int, int, CheckedSmtp]]:
    """Dovecot whose `passdb oauth2` asks the authorization server about each XOAUTH2 token
    (plus one password user, `pat`), and the SMTP server; yields their ports and the handler."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(binary).exists():
        pytest.fail("Dovecot is not installed: run `make dovecot` (Debian package dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="valet-dovecot-oauth-"))
    root.chmod(0o755)  # readable by the unprivileged user Dovecot runs as
    (root / "mail").mkdir()
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(root / "mail", nobody.pw_uid, nobody.pw_gid)
    passwords = {"pat": secrets.token_urlsafe(12)}
    (root / "passwd").write_text(f"pat:{{PLAIN}}{passwords['pat']}::::::\n")
    (root / "oauth2.conf.ext").write_text(OAUTH2_USERINFO.format(userinfo=oauth.url("/userinfo")))
    for name in ("passwd", "oauth2.conf.ext"):
        (root / name).chmod(0o644)
    imap_port = free_port()
    process = start_dovecot(binary, root, "oauth", imap_port, "")
    handler = CheckedSmtp(oauth, passwords)
    with smtp_server(handler, handler.authenticate) as smtp_port:
        yield imap_port, smtp_port, handler
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(root, ignore_errors=True)


def mailbox(imap_port: int, smtp_port: int, **sign_in: object) -> dict[str, object]:
    return {
        "imap_host": "127.0.0.1",
        "imap_port": imap_port,
        "imap_tls": "none",
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_port,
        "smtp_tls": "none",
        "address": ADDRESS,
        "timeout": 10,
        **sign_in,
    }


pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


async def test_mail_signs_in_with_xoauth2_that_dovecot_and_smtp_check(
    home: Path, oauth: OAuthServer, mail_servers: tuple[int, int, CheckedSmtp]
) -> None:
    imap_port, smtp_port, smtp = mail_servers
    first = await connect(home, "mail")
    settings = mailbox(imap_port, smtp_port, account="local")
    letter = {"to": ["ann@valet.test"], "subject": "Hello", "body": "Hi Ann"}
    request = "send ann@valet.test a hello, look in Sent for it, then send it again"
    async with toolset("mail", **settings) as opened:
        assert opened.auth == "oauth2"
        mail = gateway(opened, approvals=1, request=request)
        folders = await mail.call("t_list_folders", {})
        assert folders.ok, folders.message
        assert {"INBOX", "Sent"} <= {f["name"] for f in folders.value}
        sent = await mail.call("t_send", letter)
        assert sent.ok, sent.message
    assert smtp.tokens[-1] == first
    assert smtp.received[-1]["From"].addresses[0].addr_spec == ADDRESS
    assert last_used(home) is not None

    refreshes = oauth.state.refreshes
    assert expire(home, oauth) == first  # Dovecot and SMTP would refuse it now
    async with toolset("mail", **settings) as opened:  # a new IMAP connection signs in again
        mail = gateway(opened, approvals=1, request=request)
        copies = await mail.call("t_search", {"folder": "Sent"})
        assert copies.ok, copies.message
        assert [m["subject"] for m in copies.value["messages"]] == ["Hello"]
        again = await mail.call("t_send", {**letter, "subject": "Again"})
        assert again.ok, again.message
    second = access_token(home)
    assert second != first and oauth.state.refreshes == refreshes + 1
    assert smtp.tokens[-1] == second

    revoke_at_server(home, oauth)  # not expired for valet, refused by the servers
    async with toolset("mail", **settings) as opened:
        refused = await gateway(opened).call("t_list_folders", {})
    assert not refused.ok
    assert f"refused the sign-in of {USER!r}" in refused.message
    assert "the account 'local' may lack mail access or have been revoked: sign in again" in (
        refused.message
    )
    assert "valet connectors add local --oauth --connector mail --replace" in refused.message


async def test_mail_with_an_app_password_account_uses_its_vault_credential(
    home: Path, mail_servers: tuple[int, int, CheckedSmtp]
) -> None:
    imap_port, smtp_port, smtp = mail_servers
    vault = Vault.open(home, create=True)
    password = smtp.passwords["pat"]
    vault.add(Credential(name="pat", domains=("127.0.0.1",), username="pat", password=password))
    vault.save()
    add_password_account(home, "work", connector="mail", credential="pat")
    assert last_used(home, "work") is None
    async with toolset("mail", **mailbox(imap_port, smtp_port, account="work")) as opened:
        assert opened.auth == "basic"
        folders = await gateway(opened).call("t_list_folders", {})
    assert folders.ok, folders.message
    assert last_used(home, "work") is not None


# ---- GitHub: the contract server, taking the tokens the authorization server honours ----------


class OAuthGitHub(ContractServer):
    """GitHub's REST API as its description says; a token is good when the authorization server
    says whose it is. Keeps every Authorization header it was sent."""

    def __init__(self, contract: Contract, oauth: OAuthServer) -> None:
        super().__init__(contract, default_answers(contract))
        self.oauth = oauth
        self.authorizations: list[str | None] = []

    def accepts(self, authorization: str | None) -> bool:
        self.authorizations.append(authorization)
        return who(self.oauth, authorization) is not None or super().accepts(authorization)


@pytest.fixture(scope="module")
def contract() -> Contract:
    if not SPEC.is_file():
        pytest.fail("GitHub's OpenAPI description is missing: run `make github-spec`")
    return Contract(json.loads(SPEC.read_bytes()))


@pytest.fixture
def github(contract: Contract, oauth: OAuthServer) -> Iterator[OAuthGitHub]:
    with OAuthGitHub(contract, oauth) as running:
        yield running
    assert running.problems == [], "the connector or a fixture broke GitHub's API contract"


async def test_a_configured_github_toolset_sends_the_accounts_refreshed_token(
    home: Path, oauth: OAuthServer, github: OAuthGitHub
) -> None:
    first = await connect(home, "github")
    configured = {"name": "gh", "connector": "github", "base_url": github.url, "account": "local"}
    write_config(home, oauth, configured)
    setup = person_setup(home)  # what `valet run` and `valet serve` attach to every task
    async with AsyncExitStack() as stack:
        (opened,) = await open_toolsets(setup["toolsets"], stack)
        assert "the connector account 'local'" in opened.description
        gh = gateway(opened)
        listed = await gh.call("gh_list_repos", {})
        assert listed.ok, listed.message
        assert github.authorizations == [f"Bearer {first}"]
        assert last_used(home) is not None

        refreshes = oauth.state.refreshes
        expire(home, oauth)
        again = await gh.call("gh_list_repos", {})
        assert again.ok, again.message
        second = access_token(home)
        assert second != first and oauth.state.refreshes == refreshes + 1
        assert github.authorizations[-1] == f"Bearer {second}"  # refreshed before it was sent

        with oauth.state.lock:  # the server ends the access token early: GitHub answers 401
            issued = next(t for t in oauth.state.tokens if t.access_token == second)
            issued.issued_at -= issued.expires_in + 1
        renewed = await gh.call("gh_list_repos", {})
        assert renewed.ok, renewed.message
        third = access_token(home)
        assert github.authorizations[-2:] == [f"Bearer {second}", f"Bearer {third}"]

        revoke_at_server(home, oauth)
        refused = await gh.call("gh_list_repos", {})
    assert not refused.ok
    assert "local refused to refresh: invalid_grant" in refused.message
    assert "valet connectors add local --oauth --connector github --replace" in refused.message
    assert len(github.authorizations) == 5  # without a new token, no second try


async def test_github_with_an_app_password_account_uses_its_vault_credential(
    home: Path, github: OAuthGitHub
) -> None:
    vault = Vault.open(home, create=True)
    host = github.url.removeprefix("http://")
    vault.add(Credential(name="gh-token", domains=(host,), password=github.token))
    vault.save()
    add_password_account(home, "gh-pat", connector="github", credential="gh-token")
    async with toolset("github", base_url=github.url, account="gh-pat") as opened:
        listed = await gateway(opened).call("t_list_repos", {})
    assert listed.ok, listed.message
    assert github.authorizations == [f"Bearer {github.token}"]
    assert last_used(home, "gh-pat") is not None


async def test_webdav_with_an_app_password_account_uses_its_vault_credential(
    home: Path, wsgidav: WsgiDav
) -> None:
    vault = Vault.open(home, create=True)
    host = f"127.0.0.1:{wsgidav.port}"
    vault.add(Credential(name="dav", domains=(host,), username=DAV_USER, password=DAV_PASSWORD))
    vault.save()
    add_password_account(home, "cloud", connector="webdav", credential="dav")
    async with toolset("webdav", url=wsgidav.url, account="cloud") as opened:
        listed = await gateway(opened).call("t_list", {})
    assert listed.ok, listed.message
    assert last_used(home, "cloud") is not None


# ---- wrong accounts ---------------------------------------------------------------------------


async def test_a_missing_or_unusable_account_is_a_clear_error_when_the_toolset_opens(
    home: Path, oauth: OAuthServer
) -> None:
    async def fails(connector: str, **settings: object) -> str:
        with pytest.raises(ConnectorError) as caught:
            async with toolset(connector, **settings):
                pass
        return str(caught.value)

    mail = mailbox(143, 25)
    for connector, settings in (
        ("mail", mail),
        ("calendar", {"url": "https://cal.example/"}),
        ("webdav", {"url": "https://cloud.example/"}),
        ("github", {}),
    ):
        said = await fails(connector, **settings, account="nope")
        assert "toolset 't': no connector account named 'nope'" in said
        assert "valet connectors add nope --oauth" in said
    both = await fails("github", account="local", credential="github")
    assert "give either `account` or `credential`" in both
    neither = await fails("mail", **mail)
    assert "give either `credential`" in neither

    await connect(home, "github")
    (home / "config.toml").write_text("")  # the provider's client id is gone from config.toml
    no_client = await fails("github", account="local")
    assert "the account 'local' signs in with OAuth, but no OAuth provider 'local'" in no_client
