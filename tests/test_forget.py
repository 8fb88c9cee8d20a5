"""`valet browser forget`: one site's cookies, storage and history, or everything, removed from
a real persistent Chromium profile filled by the local sites."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from playwright.async_api import BrowserContext, async_playwright

from valet.browser import forget_all, forget_site
from valet.sites import SiteServer

CHROMIUM = "/usr/bin/chromium"


async def fill_profile(profile: Path, urls: list[str]) -> None:
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True
        )
        try:
            page = context.pages[0]
            for url in urls:
                await page.goto(url)
                await page.evaluate("localStorage.setItem('remember', 'me')")
        finally:
            await context.close()


async def read_profile(profile: Path, urls: list[str]) -> tuple[set[str], list[str | None]]:
    """The cookie domains in the profile, and `remember` from each URL's local storage."""
    async with async_playwright() as playwright:
        context: BrowserContext = await playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True
        )
        try:
            domains = {c.get("domain", "") for c in await context.cookies()}
            page = context.pages[0]
            stored: list[str | None] = []
            for url in urls:
                await page.route(url, lambda route: route.fulfill(body="<p>blank</p>"))
                await page.goto(url)
                stored.append(await page.evaluate("localStorage.getItem('remember')"))
            return domains, stored
        finally:
            await context.close()


async def test_forget_site_removes_only_that_site(home: Path, sites: SiteServer) -> None:
    profiles = home / "profiles"
    ours = f"http://127.0.0.1:{sites.port}/shop"
    other = f"http://localhost:{sites.port}/shop"
    await fill_profile(profiles / "work", [ours, other])
    domains, stored = await read_profile(profiles / "work", [ours, other])
    assert {"127.0.0.1", "localhost"} <= domains and stored == ["me", "me"]

    [report] = await forget_site(profiles, f"127.0.0.1:{sites.port}")
    assert report.profile == "work" and not report.skipped
    assert report.cookies >= 1 and report.cookie_domains == ["127.0.0.1"]
    assert f"http://127.0.0.1:{sites.port}" in report.origins
    assert report.history >= 1
    assert "work: " in report.summary()

    domains, stored = await read_profile(profiles / "work", [ours, other])
    assert "127.0.0.1" not in domains and "localhost" in domains
    assert stored == [None, "me"]


async def test_forget_all_logs_out_of_every_site(home: Path, sites: SiteServer) -> None:
    profiles = home / "profiles"
    urls = [f"http://127.0.0.1:{sites.port}/shop", f"http://localhost:{sites.port}/shop"]
    await fill_profile(profiles / "work", urls)
    [report] = forget_all(profiles)
    assert report.files > 0 and report.bytes > 0 and "wiped" in report.summary()
    assert (profiles / "work").is_dir() and not any((profiles / "work").iterdir())
    domains, stored = await read_profile(profiles / "work", urls)
    assert domains == set() and stored == [None, None]


def test_the_cli_wants_a_site_or_all_and_reports(home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VALET_")}
    env["VALET_HOME"] = str(home)

    def valet(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "valet", "browser", "forget", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )

    assert valet().returncode == 2
    none = valet("--all")
    assert none.returncode == 0 and "no persistent profiles" in none.stdout
    (home / "profiles" / "p1").mkdir(parents=True)
    (home / "profiles" / "p1" / "Cookies").write_bytes(b"x" * 10)
    wiped = valet("--all")
    assert wiped.returncode == 0 and "p1: wiped 1 files (10 bytes)" in wiped.stdout
    bad = valet("--site", "https://x.test/")
    assert bad.returncode == 2 and "not a domain" in bad.stderr
