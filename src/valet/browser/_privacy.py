"""Privacy of persistent profiles (`home/profiles/<name>/`): forget one site, wipe a profile.

Throwaway profiles (the default) need none of this: each task gets a fresh in-memory context
that is gone when the task ends.

- `forget_site` opens each persistent profile in a headless Chromium and removes the site's
  cookies (the site and its subdomains; cookies ignore ports), its storage (local and session
  storage, IndexedDB, Cache Storage, service workers… via CDP `Storage.clearDataForOrigin`, for
  every origin of the site found in the profile) and, once the browser is closed, its history
  entries. The HTTP cache is shared by all sites and is left alone (`--all` removes it).
- `wipe_profile` deletes everything in a profile folder: logged out of every site.
A profile that a running Chromium holds (its `SingletonLock`) is skipped and reported.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import shutil
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Error, async_playwright

from valet.browser._settings import BrowserSettings, chromium_executable

_ORIGIN_TEXT = re.compile(rb"(https?)://([a-z0-9.\-]+|\[[0-9a-f:]+\])(?::(\d{1,5}))?")
_ORIGIN_NAME = re.compile(r"^(https?)_(.+?)_(\d+)(?:\.|$)")


@dataclass
class Forgotten:
    """What was removed from one profile."""

    profile: str
    cookies: int = 0
    cookie_domains: list[str] = field(default_factory=lambda: list[str]())
    origins: list[str] = field(default_factory=lambda: list[str]())
    """Origins whose storage was cleared."""
    history: int = 0
    """History entries (URLs) removed."""
    files: int = 0
    bytes: int = 0
    """Files and bytes deleted (wipes)."""
    skipped: str = ""
    """Why the profile was left alone (e.g. a running browser uses it)."""

    def summary(self) -> str:
        if self.skipped:
            return f"{self.profile}: skipped ({self.skipped})"
        if self.files:
            return (
                f"{self.profile}: wiped {self.files} files ({self.bytes:,} bytes): cookies, "
                "storage, cache and history of every site"
            )
        domains = f" ({', '.join(self.cookie_domains)})" if self.cookie_domains else ""
        storage = (
            f"{len(self.origins)} origins ({', '.join(self.origins)})" if self.origins else "none"
        )
        return (
            f"{self.profile}: {self.cookies} cookies{domains}; storage of {storage}; "
            f"{self.history} history entries"
        )


def host_matches(host: str, site: str) -> bool:
    """`site` (`example.com`, or `host:port`) covers `host` (itself or a subdomain)."""
    want = site.lower().rsplit(":", 1)[0] if _port_of(site) else site.lower()
    host = host.lower().lstrip(".")
    return host == want or host.endswith("." + want)


def origin_matches(origin: str, site: str) -> bool:
    parts = urlsplit(origin)
    if not parts.hostname or not host_matches(parts.hostname, site):
        return False
    port = _port_of(site)
    return port is None or (parts.port or {"http": 80, "https": 443}[parts.scheme]) == port


def is_sensitive(visited: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The `host[:port]` entries of `visited` that match a sensitive-site pattern."""
    pats = [p.lower() for p in patterns]
    found: list[str] = []
    for site in sorted(visited):
        host = site.rsplit(":", 1)[0] if _port_of(site) else site
        for pattern in pats:
            subject = site if ":" in pattern else host
            if fnmatch.fnmatchcase(subject.lower(), pattern):
                found.append(site)
                break
    return found


def profiles(profiles_dir: Path, name: str | None = None) -> list[Path]:
    if not profiles_dir.is_dir():
        return []
    found = sorted(p for p in profiles_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [p for p in found if name is None or p.name == name]


def in_use(profile: Path) -> bool:
    """A live Chromium holds the profile (its `SingletonLock` names a running process)."""
    lock = profile / "SingletonLock"
    if not lock.is_symlink():
        return False
    pid = os.readlink(lock).rpartition("-")[2]
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wipe_profile(profile: Path) -> Forgotten:
    """Delete everything in the profile folder (it stays, empty)."""
    report = Forgotten(profile.name)
    if in_use(profile):
        report.skipped = "a running browser uses it"
        return report
    for path in profile.rglob("*"):
        if path.is_file() and not path.is_symlink():
            report.files += 1
            with contextlib.suppress(OSError):
                report.bytes += path.stat().st_size
    for child in profile.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()
    return report


def forget_all(profiles_dir: Path, name: str | None = None) -> list[Forgotten]:
    """Wipe every persistent profile (or the one named): logged out of all sites."""
    return [wipe_profile(profile) for profile in profiles(profiles_dir, name)]


async def forget_site(
    profiles_dir: Path,
    site: str,
    settings: BrowserSettings | None = None,
    name: str | None = None,
) -> list[Forgotten]:
    """Remove `site`'s cookies, storage and history from every persistent profile (or the one
    named). `site` is `example.com` (with subdomains) or `host:port`."""
    from valet.browser._pool import CHROMIUM_ARGS

    settings = settings or BrowserSettings()
    executable = chromium_executable(settings)
    reports: list[Forgotten] = []
    async with async_playwright() as playwright:
        for profile in profiles(profiles_dir, name):
            report = Forgotten(profile.name)
            reports.append(report)
            if in_use(profile):
                report.skipped = "a running browser uses it"
                continue
            origins = sorted(o for o in _origins_on_disk(profile, site) if origin_matches(o, site))
            try:
                context = await playwright.chromium.launch_persistent_context(
                    profile, executable_path=executable, headless=True, args=CHROMIUM_ARGS
                )
            except Error as error:
                report.skipped = f"could not open it: {str(error).splitlines()[0]}"
                continue
            try:
                cookies = await context.cookies()
                domains = sorted({c.get("domain", "") for c in cookies} - {""})
                for domain in domains:
                    if host_matches(domain, site):
                        report.cookies += sum(1 for c in cookies if c.get("domain") == domain)
                        report.cookie_domains.append(domain)
                        await context.clear_cookies(domain=domain)
                page = context.pages[0] if context.pages else await context.new_page()
                cdp = await context.new_cdp_session(page)
                for origin in origins:
                    await cdp.send(  # pyright: ignore[reportUnknownMemberType]
                        "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}
                    )
                    report.origins.append(origin)
            finally:
                await context.close()
            report.history = _forget_history(profile, site)
    return reports


def _port_of(site: str) -> int | None:
    head, sep, tail = site.rpartition(":")
    return int(tail) if sep and tail.isdigit() and not head.endswith(":") else None


def _origins_on_disk(profile: Path, site: str) -> set[str]:
    """Origins that have storage in the profile (from storage folder names and the local
    storage database), plus the site's own default origins."""
    found: set[str] = {f"http://{site}", f"https://{site}"}
    default = profile / "Default"
    for path in _tree(default):
        match = _ORIGIN_NAME.match(path.name)
        if match and path.is_dir():
            scheme, host, port = match.groups()
            found.add(_origin(scheme, host, int(port)))
    for folder in ("Local Storage", "Session Storage", "Service Worker"):
        base = default / folder
        for path in _tree(base):
            if path.is_file() and path.stat().st_size < 50_000_000:
                for scheme, host, port in _ORIGIN_TEXT.findall(path.read_bytes()):
                    number = int(port) if port else (80 if scheme == b"http" else 443)
                    found.add(_origin(scheme.decode(), host.decode(), number))
    return found


def _tree(folder: Path) -> list[Path]:
    return list(folder.rglob("*")) if folder.is_dir() else []


def _origin(scheme: str, host: str, port: int) -> str:
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"


def _forget_history(profile: Path, site: str) -> int:
    """Delete the site's URLs and their visits from Chromium's history database."""
    path = profile / "Default" / "History"
    if not path.is_file():
        return 0
    try:
        db = sqlite3.connect(path)
    except sqlite3.Error:
        return 0
    try:
        rows = db.execute("SELECT id, url FROM urls").fetchall()
        doomed = [(int(row[0]),) for row in rows if origin_matches(str(row[1]), site)]
        with db:
            db.executemany("DELETE FROM visits WHERE url = ?", doomed)
            db.executemany("DELETE FROM urls WHERE id = ?", doomed)
        return len(doomed)
    except sqlite3.Error:
        return 0
    finally:
        db.close()
