"""Harness overhead per browser step: valet's observe + act + effect check vs bare Playwright.

Runs the bundled test sites, then on three pages repeats one action many times, alternating
which side goes first:

- valet: `observe()` (the previous step's post-action observation when it is fresh), then the
  action through `BrowserSession` (resolve id → act → wait/settle → observe → compare).
- bare:  the same action on the same element with a Playwright CSS locator, then
  `page.wait_for_load_state()` and one `page.evaluate("0")` round trip: the cheapest possible
  read-back, the least a script does to see the page (and so know the action took effect).
  `--bare-check load-state` drops the read-back (no round trip after the action at all), for
  the strictest comparison.

Both run in the same browser, page and process. The last line is machine-readable.
Usage: .venv/bin/python bench/step_overhead.py [--steps 40] [--warmup 5]
       [--bare-check {read,load-state}]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from valet.browser import ActionOutcome, BrowserSession, BrowserSettings, ByRole, render_observation
from valet.sites import SiteServer


@dataclass(frozen=True)
class Case:
    path: str
    action: str  # "click" or "type"
    role: str
    name: str
    css: str


CASES = [
    Case("/bench/200", "click", "checkbox", "Flagged only", "input[name=flagged]"),
    Case("/form", "type", "textbox", "First name", "#first-name"),
    Case("/shop/search?q=cable", "type", "spinbutton", "Max price ($)", "#max-price"),
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_case(
    session: BrowserSession, base_url: str, case: Case, steps: int, warmup: int, read_back: bool
) -> tuple[list[float], list[float], int, int, int]:
    outcome = await session.goto(base_url + case.path)
    assert outcome.ok, outcome.message
    observation = await session.observe()
    rendered = render_observation(observation)
    target = await session.resolve(ByRole(role=case.role, name=case.name))
    assert not isinstance(target, str), target
    page = session._driver.page  # pyright: ignore[reportPrivateUsage]
    assert page is not None
    locator = page.locator(case.css)
    counter = 0

    async def valet_step() -> None:
        nonlocal counter
        counter += 1
        obs = await session.observe()
        element = obs.element(target.id)
        assert element is not None, "target vanished from the observation"
        result: ActionOutcome
        if case.action == "click":
            result = await session.click(element.id)
        else:
            result = await session.type(element.id, str(counter))
        assert result.ok, result.message

    async def bare_step() -> None:
        nonlocal counter
        counter += 1
        if case.action == "click":
            await locator.click()
        else:
            await locator.fill(str(counter))
        await page.wait_for_load_state()
        if read_back:
            await page.evaluate("0")

    async def timed(step: Callable[[], Awaitable[None]]) -> float:
        start = time.perf_counter()
        await step()
        return (time.perf_counter() - start) * 1000

    for _ in range(warmup):
        await valet_step()
        await bare_step()
    valet_ms: list[float] = []
    bare_ms: list[float] = []
    for i in range(steps):
        if i % 2 == 0:
            valet_ms.append(await timed(valet_step))
            bare_ms.append(await timed(bare_step))
        else:
            bare_ms.append(await timed(bare_step))
            valet_ms.append(await timed(valet_step))
    return valet_ms, bare_ms, len(rendered), len(observation.elements), observation.omitted_elements


async def main(steps: int, warmup: int, read_back: bool) -> None:
    all_valet: list[float] = []
    all_bare: list[float] = []
    summary: dict[str, tuple[int, int, int]] = {}
    rows: list[str] = []
    with SiteServer() as sites, tempfile.TemporaryDirectory() as tmp:
        session = await BrowserSession.start(BrowserSettings(), Path(tmp))
        try:
            for case in CASES:
                valet_ms, bare_ms, chars, shown, omitted = await run_case(
                    session, sites.url, case, steps, warmup, read_back
                )
                all_valet += valet_ms
                all_bare += bare_ms
                summary[case.path] = (chars, shown, omitted)
                rows.append(
                    f"{case.path:<24} {case.action:<6} "
                    f"{statistics.median(valet_ms):>9.1f} {pct(valet_ms, 0.95):>9.1f} "
                    f"{statistics.median(bare_ms):>9.1f} {pct(bare_ms, 0.95):>9.1f} "
                    f"{statistics.median(valet_ms) / statistics.median(bare_ms):>6.2f} "
                    f"{chars:>6} {shown:>5} {omitted:>5}"
                )
        finally:
            await session.close()
    print(
        f"{'page':<24} {'action':<6} {'valet p50':>9} {'valet p95':>9} {'bare p50':>9} "
        f"{'bare p95':>9} {'ratio':>6} {'chars':>6} {'shown':>5} {'omit':>5}"
    )
    for row in rows:
        print(row)
    p50 = statistics.median(all_valet)
    p95 = pct(all_valet, 0.95)
    bare50 = statistics.median(all_bare)
    chars, shown, omitted = summary["/bench/200"]
    print(
        f"ratio={p50 / bare50:.2f} p50_ms={p50:.1f} p95_ms={p95:.1f} "
        f"bare_p50_ms={bare50:.1f} bare_p95_ms={pct(all_bare, 0.95):.1f} "
        f"observation_chars={chars} elements={shown} omitted={omitted} steps={len(all_valet)} "
        f"bare_check={'read' if read_back else 'load-state'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="valet browser step overhead vs bare Playwright")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--bare-check", choices=["read", "load-state"], default="read")
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.warmup, read_back=args.bare_check == "read"))
