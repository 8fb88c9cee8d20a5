"""What the navigation guard costs a page load: `goto` with and without valet's guard.

Two browsers, one with the gateway's `DocumentGuard` asked before every document request (as
a task runs), one without; the same navigations alternate between them (which goes first
alternates too). Cases: a plain page, a page one redirect away (`/account` → the login page:
two guarded requests), and a page with many links.

The last line prints space-separated key=value figures: p50/p95 per arm in milliseconds and
the p50 difference.
Usage: .venv/bin/python bench/navigation_guard.py [--loads 40] [--warmup 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from valet.audit import KEY_ENV, AuditLog
from valet.browser import BrowserSession, BrowserSettings
from valet.gateway import DocumentGuard, Gateway
from valet.policy import NavigationSettings, Policy, site_of
from valet.sites import SiteServer

CASES = ["/shop", "/account", "/bench/200"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed_goto(session: BrowserSession, url: str) -> float:
    started = time.perf_counter()
    outcome = await session.goto(url)
    assert outcome.ok, outcome.message
    return (time.perf_counter() - started) * 1000


async def main(loads: int, warmup: int) -> None:
    os.environ.pop(KEY_ENV, None)
    rows: list[str] = []
    all_plain: list[float] = []
    all_guarded: list[float] = []
    with SiteServer() as sites, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        audit = AuditLog.open(folder / "audit.db", folder / "audit.key")
        here = NavigationSettings(allow_hosts=frozenset({site_of(sites.url) or ""}))
        gateway = Gateway(rules=Policy(navigation=here), audit=audit)
        documents = DocumentGuard(gateway.gate)
        plain = await BrowserSession.start(BrowserSettings(), folder / "plain")
        guarded = await BrowserSession.start(
            BrowserSettings(), folder / "guarded", guard=documents.check
        )
        try:
            for path in CASES:
                url = sites.url + path
                for _ in range(warmup):
                    await timed_goto(plain, url)
                    await timed_goto(guarded, url)
                plain_ms: list[float] = []
                guarded_ms: list[float] = []
                for i in range(loads):
                    if i % 2 == 0:
                        plain_ms.append(await timed_goto(plain, url))
                        guarded_ms.append(await timed_goto(guarded, url))
                    else:
                        guarded_ms.append(await timed_goto(guarded, url))
                        plain_ms.append(await timed_goto(plain, url))
                all_plain += plain_ms
                all_guarded += guarded_ms
                rows.append(
                    f"{path:<12} {statistics.median(plain_ms):>9.1f} {pct(plain_ms, 0.95):>9.1f} "
                    f"{statistics.median(guarded_ms):>11.1f} {pct(guarded_ms, 0.95):>11.1f}"
                )
            assert not documents.take(), "nothing here may be refused"
        finally:
            await guarded.close()
            await plain.close()
            audit.close()
    print(f"{'page':<12} {'plain p50':>9} {'plain p95':>9} {'guarded p50':>11} {'guarded p95':>11}")
    for row in rows:
        print(row)
    plain50 = statistics.median(all_plain)
    guarded50 = statistics.median(all_guarded)
    print(
        f"plain_p50_ms={plain50:.1f} plain_p95_ms={pct(all_plain, 0.95):.1f} "
        f"guarded_p50_ms={guarded50:.1f} guarded_p95_ms={pct(all_guarded, 0.95):.1f} "
        f"delta_p50_ms={guarded50 - plain50:.1f} loads={len(all_plain)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="page load time with and without the guard")
    parser.add_argument("--loads", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.loads, args.warmup))
