"""The real servers connector tests talk to, on 127.0.0.1 and free ports, started once per test
session when a test first asks for them: Dovecot (IMAP, run as `nobody` when the tests run as
root) with aiosmtpd (SMTP, in-process, delivering to Dovecot's mailboxes), Radicale (CalDAV)
and WsgiDAV (WebDAV). `tests/conftest.py` loads this module as a plugin, so every test module
can ask for the `dovecot`, `smtp`, `radicale` and `wsgidav` fixtures."""

from __future__ import annotations

import base64
import grp
import imaplib
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

if TYPE_CHECKING:  # caldav loads only for the tests that use Radicale
    import caldav


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- mail: Dovecot (IMAP) and aiosmtpd (SMTP) -----------------------------------------------

DOMAIN = "valet.test"
"""The mail domain of Dovecot's users: mail sent to `<user>@valet.test` lands in their INBOX."""
CAPABILITIES_WITHOUT_MOVE = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT THREAD=REFERENCES MULTIAPPEND "
    "UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 LITERAL+ SPECIAL-USE"
)

DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run-{name}
state_dir = {root}/state-{name}
log_path = {root}/{name}.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
auth_failure_delay = 0
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = oauth2
  mechanisms = xoauth2
  args = {root}/oauth2.conf.ext
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
namespace inbox {{
  inbox = yes
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \\Archive
    auto = subscribe
  }}
}}
{extra}
"""


OAUTH2_CONF = """\
introspection_mode = post
introspection_url = http://127.0.0.1:{port}/introspect
username_attribute = username
active_attribute = active
active_value = true
"""


class Introspection(BaseHTTPRequestHandler):
    """The OAuth2 token introspection endpoint Dovecot asks about XOAUTH2 tokens."""

    tokens: ClassVar[dict[str, str]] = {}
    """Each valid access token → its user."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        user = self.tokens.get(form.get("token", [""])[0])
        answer = {"active": True, "username": user} if user else {"active": False}
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def wait_for_greeting(port: int, log: Path, deadline: float) -> None:
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            shown = log.read_text() if log.exists() else "(no log)"
            pytest.fail(f"Dovecot did not start on port {port}: {shown}")


@dataclass
class Dovecot:
    """Two Dovecot servers over the same mailboxes: `port` offers MOVE, `plain_port` does not
    (so a move must copy, verify and expunge)."""

    root: Path
    port: int
    plain_port: int
    passwords: dict[str, str] = field(default_factory=dict[str, str])
    spare: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])

    def create_users(self, count: int) -> None:
        """Write every user before Dovecot starts: it rereads a changed passwd-file lazily."""
        lines = []
        for number in range(1, count + 1):
            password = secrets.token_urlsafe(12)
            self.spare.append((f"u{number}", password))
            lines.append(f"u{number}:{{PLAIN}}{password}::::::\n")
        (self.root / "passwd").write_text("".join(lines))

    def add_user(self) -> str:
        """A user nobody has used yet (with an empty mailbox)."""
        user, password = self.spare.pop(0)
        self.passwords[user] = password
        return user

    def imap(self, user: str) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(user, self.passwords[user])
        return conn

    def append(self, user: str, folder: str, message: bytes, flags: str = "") -> None:
        conn = self.imap(user)
        try:
            typ, data = conn.append(folder, flags or None, None, message)
            assert typ == "OK", data
        finally:
            conn.logout()

    def messages(self, user: str, folder: str) -> list[bytes]:
        """Every message in `folder`, raw, by a direct IMAP session (not the connector)."""
        conn = self.imap(user)
        try:
            typ, _ = conn.select(folder, readonly=True)
            assert typ == "OK"
            _, data = conn.uid("SEARCH", "ALL")
            found: list[bytes] = []
            for uid in data[0].split():
                _, parts = conn.uid("FETCH", uid, "(BODY.PEEK[])")
                found.extend(p[1] for p in parts if isinstance(p, tuple))
            return found
        finally:
            conn.logout()

    def flags(self, user: str, folder: str) -> list[bytes]:
        conn = self.imap(user)
        try:
            conn.select(folder, readonly=True)
            _, data = conn.fetch("1:*", "(FLAGS)")
            return [d for d in data if isinstance(d, bytes)]
        finally:
            conn.logout()


def start_dovecot(
    binary: str, root: Path, name: str, port: int, extra: str
) -> subprocess.Popen[bytes]:
    if os.geteuid() == 0:  # Dovecot will not run its processes or mail as root
        user = "nobody"
        group = grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    else:
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
    conf = root / f"{name}.conf"
    conf.write_text(
        DOVECOT_CONF.format(root=root, name=name, user=user, group=group, port=port, extra=extra)
    )
    process = subprocess.Popen(
        [binary, "-c", str(conf), "-F"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    wait_for_greeting(port, root / f"{name}.log", time.monotonic() + 15)
    return process


@contextmanager
def running_dovecot(users: int = 60) -> Iterator[Dovecot]:
    """Dovecot (two instances: with and without IMAP MOVE) with `users` users, until the block
    ends."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        raise RuntimeError("Dovecot is not installed: run `make dovecot` (dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="valet-dovecot-"))
    root.chmod(0o755)  # readable by the unprivileged user Dovecot runs as
    (root / "mail").mkdir()
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(root / "mail", nobody.pw_uid, nobody.pw_gid)
    server = Dovecot(root, free_port(), free_port())
    server.create_users(users)
    introspection = ThreadingHTTPServer(("127.0.0.1", 0), Introspection)
    threading.Thread(target=introspection.serve_forever, daemon=True).start()
    (root / "oauth2.conf.ext").write_text(OAUTH2_CONF.format(port=introspection.server_port))
    (root / "oauth2.conf.ext").chmod(0o644)
    (root / "passwd").chmod(0o644)
    plain = f"protocol imap {{\n  imap_capability = {CAPABILITIES_WITHOUT_MOVE}\n}}\n"
    processes = [
        start_dovecot(binary, root, "main", server.port, ""),
        start_dovecot(binary, root, "plain", server.plain_port, plain),
    ]
    try:
        yield server
    finally:
        _stop(processes, introspection)
        shutil.rmtree(root, ignore_errors=True)


def _stop(processes: list[subprocess.Popen[bytes]], introspection: ThreadingHTTPServer) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=10)
    introspection.shutdown()
    introspection.server_close()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    try:
        with running_dovecot() as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc))


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class MailDrop:
    """The SMTP server's handler: keeps what it receives and delivers it to Dovecot users."""

    def __init__(self, dovecot: Dovecot) -> None:
        self.dovecot = dovecot
        self.received: list[Received] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = message_from_bytes(raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), parsed))
        for rcpt in envelope.rcpt_tos:
            local, _, domain = rcpt.partition("@")
            if domain == DOMAIN and local in self.dovecot.passwords:
                self.dovecot.append(local, "INBOX", raw)
        return "250 OK"

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        said = base64.b64decode(args[1]).decode() if len(args) > 1 else ""
        fields = dict(p.split("=", 1) for p in said.split("\x01") if "=" in p)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        ok = bool(token) and Introspection.tokens.get(token) == user
        return AuthResult(success=ok, handled=False, auth_data=user)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        return AuthResult(success=self.dovecot.passwords.get(user) == password, handled=False)


@pytest.fixture(scope="session")
def smtp(dovecot: Dovecot) -> Iterator[tuple[MailDrop, int]]:
    drop = MailDrop(dovecot)
    with smtp_server(drop, drop.authenticate) as port:
        yield drop, port


@contextmanager
def smtp_server(handler: object, authenticator: Any) -> Iterator[int]:
    """An aiosmtpd server on 127.0.0.1 (a free port, yielded) that requires a sign-in."""
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


# ---- calendars: Radicale (CalDAV) ------------------------------------------------------------

CAL_PASSWORD = "correct horse"
"""The password of every Radicale user."""


class Radicale:
    """A Radicale server in a subprocess, with one user and storage in a temporary folder."""

    def __init__(self, folder: Path) -> None:
        if importlib.util.find_spec("radicale") is None:
            pytest.fail("Radicale is not installed: run `pip install -e '.[dev]'` (or make test)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.storage = folder / "storage"
        self.users = folder / "users"
        self.users.write_text("")
        config = folder / "config"
        config.write_text(
            f"[server]\nhosts = 127.0.0.1:{self.port}\n"
            f"[auth]\ntype = htpasswd\nhtpasswd_filename = {folder / 'users'}\n"
            "htpasswd_encryption = plain\ndelay = 0\n"
            f"[storage]\nfilesystem_folder = {self.storage}\n"
            "[logging]\nlevel = error\n"
        )
        self.log = (folder / "radicale.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"Radicale exited: {(folder / 'radicale.log').read_text()[-2000:]}")
            try:
                httpx.get(self.url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("Radicale did not start within 20 s")

    def add_user(self) -> str:
        """A new user (Radicale reads its users file at each login)."""
        user = f"{uuid.uuid4().hex[:10]}@example.org"
        with self.users.open("a") as users:
            users.write(f"{user}:{CAL_PASSWORD}\n")
        return user

    def client(self, user: str) -> caldav.DAVClient:
        import caldav

        return caldav.DAVClient(
            url=self.url, username=user, password=CAL_PASSWORD, enable_rfc6764=False
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


@pytest.fixture(scope="session")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    server = Radicale(tmp_path_factory.mktemp("radicale"))
    yield server
    server.stop()


# ---- files: WsgiDAV (WebDAV) -----------------------------------------------------------------

DAV_USER, DAV_PASSWORD = "ann", "correct horse"


class WsgiDav:
    """A WsgiDAV server (cheroot, in a thread) sharing a temporary folder at /files/."""

    def __init__(self, root: Path) -> None:
        for module in ("wsgidav", "cheroot"):
            if importlib.util.find_spec(module) is None:
                pytest.fail(f"{module} is not installed: run `pip install -e '.[dev]'`")
        from cheroot import wsgi
        from wsgidav.wsgidav_app import WsgiDAVApp

        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/files/"
        app = WsgiDAVApp(
            {
                "host": "127.0.0.1",
                "port": self.port,
                "provider_mapping": {"/files": str(root)},
                "simple_dc": {"user_mapping": {"*": {DAV_USER: {"password": DAV_PASSWORD}}}},
                "http_authenticator": {
                    "accept_basic": True,
                    "accept_digest": False,
                    "default_to_digest": False,
                },
                "verbose": 1,
                "logging": {"enable_loggers": []},
                "dir_browser": {"enable": False},
            }
        )
        self.server = wsgi.Server(("127.0.0.1", self.port), app)
        self.server.prepare()
        self.thread = threading.Thread(target=self.server.serve, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.request("OPTIONS", self.url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("WsgiDAV did not start within 10 s")

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(10)


@pytest.fixture(scope="session")
def wsgidav(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WsgiDav]:
    server = WsgiDav(tmp_path_factory.mktemp("webdav"))
    yield server
    server.stop()
