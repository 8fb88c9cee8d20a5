"""One browser, many tasks, and that browser dies: `valet serve` runs its tasks as contexts of
one shared Chromium; when that Chromium is killed mid-task, the task's browser is reopened
where it was (its saved page, cookies and storage) in a new Chromium, the interrupted action
is chosen again, and the task ends as if nothing happened, each action once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from tests.test_durable import (
    CART_TASK,
    SLOW,
    _final,
    _header,
    _sessions,
    _steps,
    _turn,
    serving,
)

from valet.sites import SiteServer

CRASHED = "The browser stopped working during this action"


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _browsers(pid: int) -> list[int]:
    """The Chromium browser processes (not their renderers or helpers) under `pid`."""
    found: list[int] = []
    for child in _descendants(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as cmdline:
                args = cmdline.read().split(b"\0")
        except OSError:
            continue
        if os.path.basename(args[0]) in (b"chromium", b"chromium-headless-shell") and not any(
            arg.startswith(b"--type=") for arg in args
        ):
            found.append(child)
    return found


@pytest.mark.timeout(300)
def test_a_task_goes_on_when_the_shared_browser_is_killed(
    tmp_path: Path, sites: SiteServer
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    before = set(_sessions(sites))
    after = 4  # on the product page, the search and sort behind it
    script = [*CART_TASK[:after], SLOW, *CART_TASK[after:]]
    with serving(home, script) as server:
        created = server.post(
            "/api/tasks",
            {
                "task": "put two cheapest USB-C cables in the cart",
                "start_url": sites.url_for("/shop"),
            },
        )
        assert created.status_code == 201, created.text
        task = created.json()
        _turn(server, task["id"], after)
        assert server.process is not None
        browsers = _browsers(server.process.pid)
        assert len(browsers) == 1, browsers  # one Chromium, shared
        os.kill(browsers[0], signal.SIGKILL)  # while the slow action runs
        final = _final(server, task["id"], "the task to end after its browser died")
        assert final["status"] == "succeeded", final
        replaced = _browsers(server.process.pid)
        assert len(replaced) == 1 and replaced != browsers
    steps = _steps(home, task)
    assert [s["index"] for s in steps] == list(range(1, len(steps) + 1))
    crashed = [s for s in steps if s["result"].startswith(CRASHED)]
    assert [s["index"] for s in crashed] == [after + 1], [s["result"] for s in steps]
    assert steps[after + 1]["action"] == steps[after]["action"]  # chosen again, then run
    assert len(steps) == len(script) - 1 + 1
    assert _header(home, task["id"]).get("restarts", 0) == 0  # the server itself never restarted
    # The reopened browser had the task's cookies back: the same shop session, two cables.
    carts = [cart for sid, cart in _sessions(sites).items() if sid not in before and cart]
    assert [sum(cart.values()) for cart in carts] == [2], carts
