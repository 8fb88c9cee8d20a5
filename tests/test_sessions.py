"""Where the browser comes from: a named persistent profile, or a running Chromium over CDP;
and a replay that hands the rest of a task to a model when a step fails."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests._runs import run_script

from valet.agent import Finished, Limits
from valet.browser import BrowserSettings
from valet.models import ScriptPlayer, load_script, parse_steps, scripted_model
from valet.record import RunStore, save_workflow
from valet.runtime import TaskSpec, run_task
from valet.sites import SiteServer

ADD_TO_CART = [
    {"click": {"role": "button", "name": "Add to cart"}},
    {"expect": {"text": "Added to cart"}},
    {"done": "added"},
]


async def test_a_named_profile_keeps_the_session_between_runs(
    home: Path, sites: SiteServer
) -> None:
    profile = BrowserSettings(profile="shopper")
    product = sites.url_for("/shop/product/usb-c-cable-1m-basic")

    async def run(script: list[object], start: str) -> Finished:
        spec = TaskSpec(task="t", start_url=start, browser=profile)
        player = ScriptPlayer(parse_steps(script))
        result = await run_task(spec, scripted_model(player), home=home, model_info={})
        assert isinstance(result.end, Finished)
        return result.end

    assert (await run(ADD_TO_CART, product)).success
    assert (home / "profiles" / "shopper").is_dir()
    check = [{"expect": {"text": "USB-C Cable 1 m (Basic)"}}, {"done": "still in the cart"}]
    assert (await run(check, sites.url_for("/shop/cart"))).success
    fresh = await run_script(home, sites, check, start="/shop/cart")
    assert isinstance(fresh.end, Finished) and not fresh.end.success, (
        "a throwaway profile starts empty"
    )


@pytest.fixture
def running_chromium(tmp_path: Path) -> Iterator[str]:
    """A Chromium started on its own with a DevTools port, as a person would."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    process = subprocess.Popen(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-address=127.0.0.1",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={tmp_path / 'cdp-profile'}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # Connection attempts are retried until Chromium listens.
        with httpx.Client(transport=httpx.HTTPTransport(retries=8), timeout=10) as client:
            assert client.get(f"{url}/json/version").status_code == 200
        yield url
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


async def test_attaches_to_a_running_browser_over_cdp(
    home: Path, sites: SiteServer, running_chromium: str
) -> None:
    spec = TaskSpec(
        task="t",
        start_url=sites.url_for("/shop/product/usb-c-cable-1m-basic"),
        browser=BrowserSettings(cdp_url=running_chromium),
    )
    result = await run_task(
        spec, scripted_model(ScriptPlayer(parse_steps(ADD_TO_CART))), home=home, model_info={}
    )
    assert result.end == Finished("added", True)
    header, _ = RunStore(home / "runs").load(result.run_id)
    assert header["settings"]["browser"]["cdp"] is True


async def test_a_failed_replay_step_hands_the_rest_to_the_model(
    home: Path, sites: SiteServer
) -> None:
    product = "/shop/product/usb-c-cable-1m-basic"
    recorded = await run_script(home, sites, ADD_TO_CART, start=product)
    assert isinstance(recorded.end, Finished) and recorded.end.success
    path = save_workflow(RunStore(home / "runs"), recorded.header["id"], home / "workflows", "add")
    takeover = scripted_model(
        ScriptPlayer(parse_steps([{"done": {"answer": "model took over", "success": False}}]))
    )
    player = ScriptPlayer(load_script(path), replay=True, fallback=takeover)
    spec = TaskSpec(
        task="add it",
        start_url=sites.url_for(product + "?hide=add-to-cart"),
        limits=Limits(max_steps=10),
    )
    result = await run_task(spec, scripted_model(player), home=home, model_info={})
    assert result.end == Finished("model took over", False)
