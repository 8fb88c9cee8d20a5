"""`valet serve` as a person runs it: a one-time link at each start, `valet link` for another,
`--rotate-token` ends every token, link and session made before; and where it cannot listen it
says why in one line and exits 2, without a traceback."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests._cli import valet_here

VALET = [sys.executable, "-m", "valet"]
LINK = re.compile(r"sign in \(once, within a day\):\s+(http://\S+\?token=\S+)")


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "VALET_HOME": str(home)}
    env.pop("VALET_DATABASE_URL", None)
    return env


@contextmanager
def _serving(home: Path, *args: str) -> Iterator[str]:
    """`valet serve` on a free port until the block ends; yields the link it printed."""
    log = home.parent / f"serve-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*VALET, "serve", "--port", "0", "--model", "scripted:none", *args],
            env=_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not (found := LINK.search(log.read_text())):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no link printed"
            time.sleep(0.05)
        yield found.group(1)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)


def _link(home: Path) -> str:
    done = valet_here(home, "link")
    assert done.exit_code == 0, done.output
    return done.stdout.strip()


def _signed_in(link: str) -> httpx.Client:
    client = httpx.Client(timeout=10)
    first = client.get(link)
    assert first.status_code == 303, first.text
    return client


def test_links_are_one_time_and_rotating_the_token_ends_everything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with _serving(home) as printed:
        base = printed.split("?", 1)[0]
        token = (home / "server-token").read_text().strip()
        browser = _signed_in(printed)
        assert browser.get(base).status_code == 200
        assert httpx.get(printed).status_code == 401  # spent
        fresh = _link(home)  # for a running home, from the command line
        assert fresh.startswith(base) and fresh != printed
        other = _signed_in(fresh)
        listed = valet_here(home, "sessions", "list")
        assert listed.exit_code == 0, listed.output
        assert listed.stdout.count("python-httpx") == 2
        spare = _link(home)  # made, not used before the rotation
        api = httpx.get(base + "api/tasks", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 200
    old_base = base
    with _serving(home, "--rotate-token") as printed:
        base = printed.split("?", 1)[0]  # another free port
        new_token = (home / "server-token").read_text().strip()
        assert new_token != token
        for client in (browser, other):
            assert client.get(base).status_code == 401
        assert httpx.get(spare.replace(old_base, base)).status_code == 401
        old = httpx.get(base + "api/tasks", headers={"Authorization": f"Bearer {token}"})
        assert old.status_code == 401
        new = httpx.get(base + "api/tasks", headers={"Authorization": f"Bearer {new_token}"})
        assert new.status_code == 200
        assert _signed_in(printed).get(base).status_code == 200


@pytest.mark.parametrize("where", ["port-range", "port-in-use", "bad-host"])
def test_where_it_cannot_listen_it_says_why_in_one_line(tmp_path: Path, where: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        args, why = {
            "port-range": (["--port", "99999"], "--port 99999 is not a port"),
            "port-in-use": (["--port", str(taken.getsockname()[1])], "is in use"),
            "bad-host": (["--host", "no-such-host.invalid", "--port", "0"], "--host"),
        }[where]
        done = subprocess.run(
            [*VALET, "serve", *args],
            env=_env(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and why in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
