"""What the sandbox costs: starting it and running a trivial command (`true`), p50/p95, against
the same command started as a plain subprocess, in the same run, interleaved (plain, sandboxed,
plain…). The sandbox is what `workspace_shell` runs: bubblewrap with new namespaces (no
network), the workspace bound, limits set, the sandbox user (as root) or a user namespace.

Usage: .venv/bin/python bench/sandbox.py [--runs 60]
The last line is machine-readable: sandbox_p50_ms= sandbox_p95_ms= plain_p50_ms= ratio_p50=
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from valet.workspace import Sandbox, SandboxLimits


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def plain() -> float:
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec("/bin/sh", "-c", "true")
    await process.wait()
    return (time.perf_counter() - started) * 1000


async def sandboxed(box: Sandbox) -> float:
    started = time.perf_counter()
    result = await box.run("true")
    assert result.ok, result
    return (time.perf_counter() - started) * 1000


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args()
    box = Sandbox(Path(tempfile.mkdtemp()) / "workspace", SandboxLimits())
    await sandboxed(box)  # warm-up
    base: list[float] = []
    boxed: list[float] = []
    for _ in range(args.runs):
        base.append(await plain())
        boxed.append(await sandboxed(box))
    p50, p95 = statistics.median(boxed), pct(boxed, 0.95)
    plain50 = statistics.median(base)
    print(f"sandboxed `true`: p50 {p50:.1f} ms, p95 {p95:.1f} ms; plain: p50 {plain50:.1f} ms")
    print(
        f"sandbox_p50_ms={p50:.1f} sandbox_p95_ms={p95:.1f} plain_p50_ms={plain50:.1f} "
        f"plain_p95_ms={pct(base, 0.95):.1f} ratio_p50={p50 / plain50:.1f} runs={args.runs}"
    )


if __name__ == "__main__":
    asyncio.run(main())
