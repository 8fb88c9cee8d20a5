"""What the navigation guard and the egress proxy cost a page load: `goto` with and without.

Three browsers in one process: one without valet's checks (`plain`), one with the gateway's
`DocumentGuard` asked before every document request (`guarded`), and one as a task runs it,
the guard plus valet's egress proxy through which every connection leaves, each checked on its
resolved address (`egress`). The same navigations rotate between them (which goes first
rotates too). Cases: the shop's home page (its stylesheet, script and images: each a connection
through the proxy), a page one redirect away (`/account` → the login page: two guarded
requests), and a page with many links. A load counts until the page's `load` event, so that
its sub-resources are in it.

The last line prints space-separated key=value figures: p50/p95 per arm in milliseconds, the
guard's p50 difference to plain (`delta_p50_ms`) and the proxy's to the guard alone
(`egress_delta_p50_ms`).
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
ARMS = ("plain", "guarded", "egress")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed_goto(session: BrowserSession, url: str) -> float:
    started = time.perf_counter()
    outcome = await session.goto(url)
    assert outcome.ok, outcome.message
    page = await session.live_page()
    await page.wait_for_load_state("load")  # the sub-resources too
    return (time.perf_counter() - started) * 1000


async def main(loads: int, warmup: int) -> None:
    os.environ.pop(KEY_ENV, None)
    rows: list[str] = []
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    with SiteServer() as sites, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        audit = AuditLog.open(folder / "audit.db", folder / "audit.key")
        here = NavigationSettings(allow_hosts=frozenset({site_of(sites.url) or ""}))
        gateway = Gateway(rules=Policy(navigation=here), audit=audit)
        documents = DocumentGuard(gateway.gate)
        checked = DocumentGuard(gateway.gate)
        sessions = {
            "plain": await BrowserSession.start(BrowserSettings(), folder / "plain"),
            "guarded": await BrowserSession.start(
                BrowserSettings(), folder / "guarded", guard=documents.check
            ),
            "egress": await BrowserSession.start(
                BrowserSettings(),
                folder / "egress",
                guard=checked.check,
                egress=checked.connect,
                resolve=checked.addresses,
            ),
        }
        try:
            for path in CASES:
                url = sites.url + path
                for _ in range(warmup):
                    for arm in ARMS:
                        await timed_goto(sessions[arm], url)
                case: dict[str, list[float]] = {arm: [] for arm in ARMS}
                for i in range(loads):
                    turn = i % len(ARMS)
                    for arm in ARMS[turn:] + ARMS[:turn]:
                        case[arm].append(await timed_goto(sessions[arm], url))
                for arm in ARMS:
                    times[arm] += case[arm]
                rows.append(
                    f"{path:<12}"
                    + "".join(
                        f" {statistics.median(case[arm]):>11.1f} {pct(case[arm], 0.95):>11.1f}"
                        for arm in ARMS
                    )
                )
            assert not documents.take(), "nothing here may be refused"
            assert not checked.take(), "nothing here may be refused"
        finally:
            for session in sessions.values():
                await session.close()
            audit.close()
    print(f"{'page':<12}" + "".join(f" {arm + ' p50':>11} {arm + ' p95':>11}" for arm in ARMS))
    for row in rows:
        print(row)
    p50 = {arm: statistics.median(times[arm]) for arm in ARMS}
    print(
        f"plain_p50_ms={p50['plain']:.1f} plain_p95_ms={pct(times['plain'], 0.95):.1f} "
        f"guarded_p50_ms={p50['guarded']:.1f} guarded_p95_ms={pct(times['guarded'], 0.95):.1f} "
        f"delta_p50_ms={p50['guarded'] - p50['plain']:.1f} "
        f"egress_p50_ms={p50['egress']:.1f} egress_p95_ms={pct(times['egress'], 0.95):.1f} "
        f"egress_delta_p50_ms={p50['egress'] - p50['guarded']:.1f} "
        f"loads={len(times['plain'])}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="page load time with and without the checks")
    parser.add_argument("--loads", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.loads, args.warmup))
