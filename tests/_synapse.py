"""A throwaway Synapse homeserver on 127.0.0.1 for the Matrix connector's tests.

Synapse runs from its own venv (`.cache/synapse-venv`, made by `make synapse`, which `make test`
runs) so that its Twisted stack never touches valet's. The server gets a fresh folder with a
SQLite database, a generated signing key, a client listener on a free loopback port (no TLS,
no federation listener, no key servers: it makes no request outside this machine) and relaxed
rate limits; users are made through the admin API with the registration shared secret, since
open registration is off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
SYNAPSE_VENV = ROOT / ".cache" / "synapse-venv"
SERVER_NAME = "localhost"
SLOW_PER_SECOND = 0.2
"""How many messages a second a user named `slow…` may send (one, then one every 5 s)."""
_RELAXED = "{{per_second: 1000, burst_count: 1000}}"  # braces survive str.format

CONFIG = f"""\
server_name: {SERVER_NAME}
pid_file: {{root}}/homeserver.pid
public_baseurl: http://127.0.0.1:{{port}}/
listeners:
  - port: {{port}}
    bind_addresses: ['127.0.0.1']
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: {{root}}/homeserver.db
log_config: {{root}}/log.yaml
media_store_path: {{root}}/media
signing_key_path: {{root}}/signing.key
registration_shared_secret: "{{secret}}"
macaroon_secret_key: "{{macaroon}}"
form_secret: "{{form}}"
enable_registration: false
bcrypt_rounds: 4
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
presence:
  enabled: false
url_preview_enabled: false
enable_metrics: false
rc_message:  # strict for users named slow…; every other user is exempted when registered
  per_second: {SLOW_PER_SECOND}
  burst_count: 1
rc_registration: {_RELAXED}
rc_login:
  address: {_RELAXED}
  account: {_RELAXED}
  failed_attempts: {_RELAXED}
rc_joins:
  local: {_RELAXED}
  remote: {_RELAXED}
rc_joins_per_room: {_RELAXED}
rc_invites:
  per_room: {_RELAXED}
  per_user: {_RELAXED}
  per_issuer: {_RELAXED}
rc_room_creation: {_RELAXED}
"""

LOG_CONFIG = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(levelname)s - %(request)s - %(message)s'
filters:
  context:
    (): synapse.logging.context.LoggingContextFilter
    request: ""
handlers:
  file:
    class: logging.FileHandler
    filename: {root}/homeserver.log
    formatter: precise
    filters: [context]
root:
  level: INFO
  handlers: [file]
disable_existing_loggers: false
"""


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class User:
    """An account on the test server, with a token the test itself uses (not valet's)."""

    localpart: str
    user_id: str
    password: str = field(repr=False)
    token: str = field(repr=False)


class Synapse:
    """A running Synapse, and what the tests do on it directly (as people, not through valet)."""

    def __init__(self, root: Path) -> None:
        python = SYNAPSE_VENV / "bin" / "python"
        if not python.is_file():
            pytest.fail(
                f"Synapse is not installed ({SYNAPSE_VENV.relative_to(ROOT)} is missing): run "
                "`make test` (its `synapse` target installs matrix-synapse in that venv)"
            )
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secrets.token_hex(16)
        self.log = root / "homeserver.log"
        seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        (root / "signing.key").write_text(f"ed25519 a_test {seed}\n")
        (root / "log.yaml").write_text(LOG_CONFIG.format(root=root))
        (root / "homeserver.yaml").write_text(
            CONFIG.format(
                root=root,
                port=self.port,
                secret=self.secret,
                macaroon=secrets.token_hex(16),
                form=secrets.token_hex(16),
            )
        )
        self.http = httpx.Client(base_url=self.url, timeout=30)
        started = time.monotonic()
        self.process = subprocess.Popen(
            [str(python), "-m", "synapse.app.homeserver", "-c", str(root / "homeserver.yaml")],
            cwd=root,
            stdout=(root / "stdout.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        self._wait_until_up(started + 120)
        self.start_seconds = time.monotonic() - started
        """How long Synapse took to answer its first request."""
        self.admin = self.register("admin", admin=True)

    def _wait_until_up(self, deadline: float) -> None:
        while True:
            if self.process.poll() is not None:
                output = (self.root / "stdout.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"Synapse exited with {self.process.returncode}:\n{output}")
            try:
                if self.http.get("/_matrix/client/versions").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"Synapse did not answer within 120 s (log: {self.log})")
            time.sleep(0.05)  # polling for the server to come up, not waiting for time

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.http.close()

    # People and rooms, made directly on the server

    def register(self, name: str, *, admin: bool = False) -> User:
        """A new account (`name` plus a random suffix, so tests never share one). The server
        limits how fast it sends only when `name` is `slow`."""
        localpart = f"{name}{uuid.uuid4().hex[:6]}"
        password = secrets.token_urlsafe(12)
        nonce = self.http.get("/_synapse/admin/v1/register").json()["nonce"]
        mac = hmac.new(self.secret.encode(), digestmod=hashlib.sha1)
        kind = b"admin" if admin else b"notadmin"
        mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(), kind]))
        answer = self.http.post(
            "/_synapse/admin/v1/register",
            json={
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": mac.hexdigest(),
            },
        )
        answer.raise_for_status()
        made = answer.json()
        user = User(localpart, made["user_id"], password, made["access_token"])
        if name != "slow":
            self._unlimited(user, admin_token=made["access_token"] if admin else None)
        return user

    def _unlimited(self, user: User, admin_token: str | None) -> None:
        """Exempt `user` from the strict message rate (the admin API's per-user override)."""
        token = admin_token or self.admin.token
        answer = self.http.post(
            f"/_synapse/admin/v1/users/{quote(user.user_id, safe='')}/override_ratelimit",
            json={"messages_per_second": 0, "burst_count": 0},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text

    def api(
        self,
        user: User,
        method: str,
        path: str,
        body: Mapping[str, object] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A client-server API call as `user`; the answer must be a success."""
        answer = self.http.request(
            method,
            f"/_matrix/client/v3{path}",
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {user.token}"},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def create_room(self, owner: User, name: str, *, encrypted: bool = False) -> tuple[str, str]:
        """A public room named `name` with an alias; returns its id and alias."""
        alias_name = f"r{uuid.uuid4().hex[:8]}"
        body: dict[str, object] = {"name": name, "room_alias_name": alias_name}
        body["preset"] = "public_chat"
        if encrypted:
            body["initial_state"] = [
                {
                    "type": "m.room.encryption",
                    "state_key": "",
                    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
                }
            ]
        made = self.api(owner, "POST", "/createRoom", body)
        return made["room_id"], f"#{alias_name}:{SERVER_NAME}"

    def join(self, user: User, room: str) -> None:
        self.api(user, "POST", f"/join/{quote(room, safe='')}", {})

    def say(self, user: User, room_id: str, content: Mapping[str, object]) -> str:
        """`user` posts `content` (an `m.room.message`); returns the event id."""
        txn = uuid.uuid4().hex
        path = f"/rooms/{quote(room_id, safe='')}/send/m.room.message/{txn}"
        return self.api(user, "PUT", path, content)["event_id"]

    def send(self, user: User, room_id: str, kind: str, content: Mapping[str, object]) -> str:
        path = f"/rooms/{quote(room_id, safe='')}/send/{kind}/{uuid.uuid4().hex}"
        return self.api(user, "PUT", path, content)["event_id"]

    def messages(self, user: User, room_id: str) -> list[dict[str, Any]]:
        """The room's messages, oldest first, as `user` sees them."""
        page = self.api(
            user,
            "GET",
            f"/rooms/{quote(room_id, safe='')}/messages",
            params={"dir": "b", "limit": "100", "filter": '{"types": ["m.room.message"]}'},
        )
        return list(reversed(page["chunk"]))

    def members(self, user: User, room_id: str) -> set[str]:
        answer = self.api(user, "GET", f"/rooms/{quote(room_id, safe='')}/joined_members")
        return set(answer["joined"])

    def refused_sends(self, user: User) -> list[str]:
        """The access log's lines of `user`'s sends that the server answered 429."""
        return [
            line
            for line in self.log.read_text(errors="replace").splitlines()
            if f"{{{user.user_id}}}" in line and " 429 " in line and "/send/m.room.message/" in line
        ]
