"""Gateway overhead per tool call (around a trivial tool) and audit append throughput.

    .venv/bin/python bench/gateway.py [--calls 2000] [--appends 5000]

The last line prints space-separated key=value figures: p50_ms / p95_ms are the gateway's time
per allowed call with a real audit log (SQLite, WAL, one committed record per call), bare_us is
the trivial tool called directly, appends_per_s is `AuditLog.append` alone (one transaction
each), ask_p50_ms is a call that asks a scripted approver.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from valet.audit import KEY_ENV, AuditEntry, AuditLog
from valet.gateway import Approval, Gateway, ScriptedApprover, TaskContext, tool
from valet.policy import MaxAmount, Policy, RuleSet, Scope
from valet.tools import Effect


@tool(effect=Effect.READ)
def echo(text: str, times: int = 1) -> str:
    """A trivial tool."""
    return text * times


@tool(effect=Effect.SEND, recipient_args=("to",))
def notify(to: str, body: str) -> str:
    return "ok"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(calls: int, appends: int) -> None:
    os.environ.pop(KEY_ENV, None)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        audit = AuditLog.open(folder / "audit.db", folder / "audit.key")
        approver = ScriptedApprover.of([Approval.approved("bench")] * calls)
        rules = Policy(rules=RuleSet(rules=(MaxAmount(limit=100, currency="EUR"),)))  # pyright: ignore[reportArgumentType]
        gateway = Gateway(
            [echo, notify],
            rules=rules,
            audit=audit,
            approver=approver,
            scope=Scope(),
            task=TaskContext(task_id="bench", request="Say hello to ana@example.com"),
        )
        for _ in range(50):
            await gateway.call("echo", {"text": "warm"})
        gated: list[float] = []
        for i in range(calls):
            start = time.perf_counter()
            result = await gateway.call("echo", {"text": f"hello {i}", "times": 2})
            gated.append((time.perf_counter() - start) * 1000)
            assert result.ok
        asked: list[float] = []
        for _ in range(min(calls, 500)):
            start = time.perf_counter()
            result = await gateway.call("notify", {"to": "ana@example.com", "body": "hi"})
            asked.append((time.perf_counter() - start) * 1000)
            assert result.ok
        bare: list[float] = []
        for i in range(calls):
            start = time.perf_counter()
            echo(f"hello {i}", 2)
            bare.append((time.perf_counter() - start) * 1e6)
        audit.close()

        log = AuditLog.open(folder / "append.db", folder / "audit.key")
        entry = AuditEntry(
            actor="agent",
            on_behalf_of="bench",
            task_id="bench",
            tool="echo",
            effect="read",
            args={"text": "hello"},
            verdict="allow",
            rule_id="builtin.allow.read",
            reason="read is allowed",
            outcome="executed",
            result_digest="0" * 64,
        )
        start = time.perf_counter()
        for _ in range(appends):
            log.append(entry)
        elapsed = time.perf_counter() - start
        verify_start = time.perf_counter()
        report = log.verify()
        verify_s = time.perf_counter() - verify_start
        log.close()
        assert report.ok, report.summary()

    print(
        f"gateway call (allowed, audited): p50 {statistics.median(gated):.3f} ms, "
        f"p95 {pct(gated, 0.95):.3f} ms over {calls} calls"
    )
    print(f"gateway call (asked, approved):  p50 {statistics.median(asked):.3f} ms")
    print(f"trivial tool called directly:    p50 {statistics.median(bare):.2f} µs")
    print(
        f"audit append: {appends / elapsed:,.0f} records/s; verify {report.records} records "
        f"in {verify_s * 1000:.0f} ms"
    )
    print(
        f"p50_ms={statistics.median(gated):.3f} p95_ms={pct(gated, 0.95):.3f} "
        f"ask_p50_ms={statistics.median(asked):.3f} bare_us={statistics.median(bare):.2f} "
        f"appends_per_s={appends / elapsed:.0f} "
        f"verify_records_per_s={report.records / verify_s:.0f} "
        f"calls={calls}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="valet gateway overhead and audit throughput")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--appends", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.appends))
