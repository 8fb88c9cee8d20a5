"""Many tasks at once, and what durability costs per step.

1. `--tasks` (20) scripted tasks run at the same time on the bundled demo shop through
   `run_task` (the same wiring the server uses), twice in the same run: first the baseline, each
   task with its own Chromium, then as `valet serve` runs them, each task a context of one
   shared Chromium (`BrowserPool`). Reported for both: p50/p95 of the harness's own time per
   step (observe + act, the model is scripted so its time is ~0), and the memory per task
   (proportional memory of this process and every browser process at the busiest moment, minus
   the same before the tasks started, divided by the number of tasks), and the CPU time per
   step (this process and every process it started, ended ones included). Then the floor: the
   same task in bare Playwright (no observation, no gateway, no record), as many runs at once
   in contexts of one Chromium, its step times and CPU per step. With tasks that never wait
   for a model, a step cannot take less than the tasks' CPU per step over the cores.
2. The same task run `--repeat` times each way, one at a time and interleaved: without
   checkpoints, then as a DBOS workflow (`DbosCheckpoints`, SQLite), wired as `valet serve`
   wires it (an inbox for the person's messages and a takeover check, here always empty).
   The checkpoint overhead per loop step (observe + the model's turn + act, with the state a
   durable task saves after each action) is taken step by step (the same action in every run:
   the durable time less the plain time of the same round, the median over the rounds) and
   averaged over the task's steps. Measured for each layout in the same run: layout 1 (five
   checkpoints a step: messages, observe, takeover check, model turn, action), layout 2
   (three: the look, the model's turn, the action) as the baselines, then as now, layout 3
   (two: the model's turn, then the action with the next step's look, the browser's state
   saved while the page is looked at). A workflow of 200 no-op DBOS steps gives the cost of
   one checkpoint.

Usage: .venv/bin/python bench/concurrency.py [--tasks 20] [--repeat 20]
The last line is machine-readable: step_p50_ms= step_p95_ms= mb_per_task= checkpoint_ms= ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbos import DBOS
from playwright.async_api import Browser, Page, async_playwright

from valet.agent import HandBack, Limits
from valet.browser import BrowserPool, BrowserSettings
from valet.browser._pool import CHROMIUM_ARGS
from valet.browser._settings import chromium_executable
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.runtime import DbosCheckpoints, DurableTasks, TaskSpec, _local, run_task
from valet.runtime._checkpoints import LAYOUT
from valet.sites import SiteServer

SCRIPT: list[Any] = [
    {
        "type": {
            "role": "searchbox",
            "name": "Search products",
            "text": "USB-C cable",
            "submit": True,
        }
    },
    {"select": {"role": "combobox", "name": "Sort by", "option": "Price: low to high"}},
    {"click": {"role": "button", "name": "Apply filters"}},
    {"click": {"role": "link", "name": "USB-C Cable 1 m (Basic)"}},
    {"type": {"role": "spinbutton", "name": "Quantity", "text": "2"}},
    {"click": {"role": "button", "name": "Add to cart"}},
    {"goto": "/shop/cart"},
    {"done": {"answer": "two cables in the cart", "success": True}},
]


async def bare_playwright(browser: Browser, base: str) -> list[float]:
    """The same task in bare Playwright, in a context of its own: each step's time (the action
    and the wait for the page to load) in ms; the first opens the context at the shop, as
    valet's first step does. What any agent on this machine pays at least."""
    page: Page | None = None

    async def opening() -> None:
        nonlocal page
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{base}/shop")

    def on() -> Page:
        assert page is not None
        return page

    steps: list[Callable[[], Awaitable[object]]] = [
        opening,
        lambda: on().get_by_role("searchbox", name="Search products").fill("USB-C cable"),
        lambda: on().get_by_role("searchbox", name="Search products").press("Enter"),
        lambda: (
            on().get_by_role("combobox", name="Sort by").select_option(label="Price: low to high")
        ),
        lambda: on().get_by_role("button", name="Apply filters").click(),
        lambda: on().get_by_role("link", name="USB-C Cable 1 m (Basic)").click(),
        lambda: on().get_by_role("spinbutton", name="Quantity").fill("2"),
        lambda: on().get_by_role("button", name="Add to cart").click(),
        lambda: on().goto(f"{base}/shop/cart"),
    ]
    times: list[float] = []
    for step in steps:
        started = time.perf_counter()
        await step()
        await on().wait_for_load_state()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def bare(sites: SiteServer, tasks: int) -> tuple[list[float], float]:
    """`tasks` bare Playwright runs at once in contexts of one Chromium: the step times, and
    the CPU time of this process and its children per step (read before the browser closes)."""
    base = sites.url_for("/shop").removesuffix("/shop")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=chromium_executable(PATIENT), args=CHROMIUM_ARGS
        )
        before = tree_cpu_s(os.getpid())
        results = await asyncio.gather(*(bare_playwright(browser, base) for _ in range(tasks)))
        used = tree_cpu_s(os.getpid()) - before
        await browser.close()
    steps = [t for times in results for t in times]
    return steps, used * 1000 / len(steps)


PATIENT = BrowserSettings(navigation_timeout_s=120, action_timeout_s=120)
"""Both ways get the same generous timeouts: 20 Chromium processes starting at once on two
cores take longer than the default 15 s to load a page, and a timed-out task measures nothing."""


async def _noop() -> None:
    return None


@DBOS.workflow()
async def noop_checkpoints(count: int) -> int:
    """`count` checkpoints that do nothing: the cost of checkpointing alone."""
    for _ in range(count):
        await DBOS.run_step_async({"name": "noop"}, _noop)
    return count


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _tree(root: int) -> list[int]:
    """`root` and all its descendants' process ids."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, stack = [root], [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        found.extend(children.get(pid, []))
    return found


def tree_pss_mb(root: int) -> float:
    """Proportional memory (PSS: shared pages split between their users) of `root` and all
    its descendants, from Linux /proc, in MB."""
    total_kb = 0
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total_kb += int(line.split()[1])
                        break
        except OSError:
            continue
    return total_kb / 1000


def tree_cpu_s(root: int) -> float:
    """CPU time (user and system) of `root` and all its descendants, those that ended and were
    waited for included (a closed context's renderer), from Linux /proc, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15]) / tick
    return total


async def one_task(
    home: Path, sites: SiteServer, phases: tuple[str, ...] = ("observe", "act"), **kwargs: Any
) -> list[float]:
    """Run the script once; the time of each step in `phases`, in ms: the harness's own time
    (observe + act) by default, the model's turn too (`model`: the scripted model answers at
    once) when it holds checkpoints."""
    player = ScriptPlayer(parse_steps(SCRIPT))
    spec = TaskSpec(
        task="bench",
        start_url=sites.url_for("/shop"),
        limits=Limits(max_steps=20),
        browser=PATIENT,
    )
    result = await run_task(
        spec, scripted_model(player), home=home, model_info={"model": "scripted"}, **kwargs
    )
    steps_file = result.run_dir / "steps.jsonl"
    steps = [json.loads(line) for line in steps_file.read_text().splitlines() if line.strip()]
    assert result.end.__class__.__name__ == "Finished", result.end
    return [sum(s["timings_ms"][phase] for phase in phases) for s in steps]


async def concurrent(
    home: Path, sites: SiteServer, tasks: int, shared: bool
) -> tuple[list[float], float, float]:
    """The steps' harness times, the memory per task, the CPU time per step (ms)."""
    baseline = tree_pss_mb(os.getpid())
    cpu = tree_cpu_s(os.getpid())
    pool = BrowserPool() if shared else None
    peak = baseline
    running = True

    async def sample() -> None:
        nonlocal peak
        while running:
            peak = max(peak, await asyncio.to_thread(tree_pss_mb, os.getpid()))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    try:
        results = await asyncio.gather(
            *(one_task(home, sites, browsers=pool) for _ in range(tasks))
        )
        # Before the browser closes: its renderers' time is lost with it. A task's own browser
        # closes with the task, so with a browser each this undercounts (not reported then).
        cpu = tree_cpu_s(os.getpid()) - cpu
    finally:
        running = False
        await sampler
        if pool is not None:
            await pool.close()
    steps = [t for steps in results for t in steps]
    return steps, (peak - baseline) / tasks, cpu * 1000 / len(steps)


class Quiet:
    """The person's side of a served task when they say nothing: no message, no takeover."""

    async def take(self) -> list[str]:
        return []

    async def requested(self) -> str | None:
        return None

    async def hand_over(self, reason: str, url: str) -> HandBack | None:
        return None


@dataclass
class Durability:
    """One task at a time: each step's harness time, per run, without checkpoints and per
    layout; and the cost of one no-op checkpoint."""

    plain: list[list[float]]
    layouts: dict[int, list[list[float]]]
    checkpoint_op_ms: float

    def median(self, runs: list[list[float]]) -> float:
        return statistics.median(t for steps in runs for t in steps)

    def overhead(self, layout: int) -> float:
        """What checkpoints add to a step: step by step (the same action in every run), the
        median over the rounds of the durable time less the plain time of the same round (run
        next to each other: a slower moment of the machine weighs on both), averaged over the
        task's steps."""
        runs = self.layouts[layout]
        count = min(len(steps) for steps in [*self.plain, *runs])
        return statistics.mean(
            statistics.median(
                durable[i] - plain[i] for durable, plain in zip(runs, self.plain, strict=True)
            )
            for i in range(count)
        )


WHOLE_STEP = ("observe", "model", "act")
"""A durable step's checkpoints are in all three: the model's turn is one."""


async def durability(home: Path, sites: SiteServer, repeat: int) -> Durability:
    served: dict[str, Any] = {"inbox": Quiet(), "handover": Quiet()}
    measured = Durability([], {n: [] for n in range(1, LAYOUT + 1)}, 0.0)

    async def execute(task_id: str) -> str:
        layout = int(task_id.split("-")[1])
        _local.LAYOUT = layout  # the baselines: the layouts runs had before
        try:
            steps = await one_task(home, sites, WHOLE_STEP, checkpoints=DbosCheckpoints(), **served)
        finally:
            _local.LAYOUT = LAYOUT
        measured.layouts[layout].append(steps)
        return "done"

    runtime = await DurableTasks.launch(home / "durable", execute, 1)
    try:
        for i in range(repeat):  # interleaved: a slower moment of the machine hits all four
            measured.plain.append(await one_task(home, sites, WHOLE_STEP, **served))
            for layout in measured.layouts:
                await runtime.submit(f"bench-{layout}-{i}")
                await runtime.result(f"bench-{layout}-{i}")
        started = time.perf_counter()
        handle = await DBOS.start_workflow_async(noop_checkpoints, 200)
        await handle.get_result()
        measured.checkpoint_op_ms = (time.perf_counter() - started) * 1000 / 200
    finally:
        runtime.close()
    return measured


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument(
        "--repeat", type=int, default=20, help="runs of each way, one task at a time"
    )
    args = parser.parse_args()
    sites = SiteServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            home = Path(tmp)
            measured: dict[bool, tuple[list[float], float, float]] = {}
            for shared in (False, True):
                started = time.perf_counter()
                steps, mb_per_task, cpu_ms = measured[shared] = await concurrent(
                    home, sites, args.tasks, shared
                )
                wall = time.perf_counter() - started
                how = "contexts of one shared Chromium" if shared else "a Chromium each"
                used = f"; {cpu_ms:.0f} ms of CPU per step" if shared else ""
                print(
                    f"{args.tasks} concurrent tasks, {how}: {len(steps)} steps in {wall:.1f} s; "
                    f"harness time per step p50 {pct(steps, 0.5):.0f} ms, "
                    f"p95 {pct(steps, 0.95):.0f} ms; {mb_per_task:.0f} MB per task{used}",
                    flush=True,
                )
            own_steps, own_mb, _ = measured[False]
            bare_steps, bare_cpu_ms = await bare(sites, args.tasks)
            cores = os.cpu_count() or 1
            floor = args.tasks * bare_cpu_ms / cores
            print(
                f"{args.tasks} concurrent runs of the same task in bare Playwright, contexts of "
                f"one Chromium: step p50 {pct(bare_steps, 0.5):.0f} ms, p95 "
                f"{pct(bare_steps, 0.95):.0f} ms; {bare_cpu_ms:.0f} ms of CPU per step, so "
                f"{args.tasks} tasks that never wait for a model need {floor:.0f} ms a step on "
                f"{cores} cores at the least",
                flush=True,
            )
            measured = await durability(home, sites, args.repeat)
            plain = measured.median(measured.plain)
            durable = measured.median(measured.layouts[LAYOUT])
            overhead, three, five = (measured.overhead(n) for n in (LAYOUT, 2, 1))
            per_checkpoint = measured.checkpoint_op_ms
            print(
                f"one task at a time, wired as served: median step {plain:.1f} ms without "
                f"checkpoints, {durable:.1f} ms as a DBOS workflow; checkpoints add {overhead:.1f}"
                f" ms a step (two a step), {three:.1f} ms with three, {five:.1f} ms with five; "
                f"one checkpoint {per_checkpoint:.2f} ms"
            )
    finally:
        sites.stop()
    print(
        f"tasks={args.tasks} step_p50_ms={pct(steps, 0.5):.1f} step_p95_ms={pct(steps, 0.95):.1f} "
        f"mb_per_task={mb_per_task:.0f} step_plain_ms={plain:.1f} step_durable_ms={durable:.1f} "
        f"checkpoint_ms={overhead:.1f} checkpoint_three_ms={three:.1f} "
        f"checkpoint_five_ms={five:.1f} "
        f"checkpoint_op_ms={per_checkpoint:.2f} "
        f"own_browser_step_p95_ms={pct(own_steps, 0.95):.1f} own_browser_mb_per_task={own_mb:.0f} "
        f"cpu_ms_per_step={cpu_ms:.0f} bare_playwright_step_p95_ms={pct(bare_steps, 0.95):.1f} "
        f"bare_playwright_cpu_ms_per_step={bare_cpu_ms:.0f} cpu_floor_step_ms={floor:.0f} "
        f"p95_ratio={pct(own_steps, 0.95) / max(pct(steps, 0.95), 1e-9):.2f} "
        f"memory_ratio={own_mb / max(mb_per_task, 1e-9):.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
