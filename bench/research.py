"""How fast research reads: pages read per minute with 1, 4 and 8 parallel readers, in the same
run, on the local corpus (about thirty pages and two PDFs, tests/_research_corpus.py) served
with a network-like latency per request (`--latency-ms`, default 150).

Each configuration reads the whole corpus `--rounds` times with a fresh `Reader` (so robots.txt
is fetched again, as in a new task) and the same limits as research uses: the global limit is
the number of readers, the per-domain limit too (the corpus is one site). What is counted is
every page and PDF read into a `Document` (text extracted, passages cut, injection scan).

Usage: .venv/bin/python bench/research.py [--rounds 3] [--latency-ms 150]
The last line is machine-readable: pages_per_min_1= pages_per_min_4= pages_per_min_8= ratio_8=
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests._research_corpus import Corpus, make_pdfs, serve

from valet.research import Read, Reader


async def read_round(corpus: Corpus, readers: int) -> tuple[int, float]:
    """Read the corpus once with `readers` in parallel: (documents read, seconds)."""
    async with httpx.AsyncClient() as client:
        reader = Reader(client, concurrency=readers, per_domain=readers)
        started = time.perf_counter()
        results = await reader.read_all(corpus.urls())
        elapsed = time.perf_counter() - started
    return sum(isinstance(r, Read) for r in results), elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    args = parser.parse_args()
    pdfs = await make_pdfs()
    rates: dict[int, float] = {}
    with serve(pdfs, delay=args.latency_ms / 1000) as corpus:
        await read_round(corpus, 4)  # warm-up: imports (trafilatura, pypdf), connections
        for readers in (1, 4, 8):
            per_minute: list[float] = []
            for _ in range(args.rounds):
                count, seconds = await read_round(corpus, readers)
                per_minute.append(count * 60 / seconds)
            rates[readers] = statistics.median(per_minute)
            print(f"{readers} reader(s): {rates[readers]:7.1f} pages/min (median of {args.rounds})")
    print(
        f"pages_per_min_1={rates[1]:.1f} pages_per_min_4={rates[4]:.1f} "
        f"pages_per_min_8={rates[8]:.1f} ratio_4={rates[4] / rates[1]:.2f} "
        f"ratio_8={rates[8] / rates[1]:.2f} pages={len(corpus.urls())} "
        f"latency_ms={args.latency_ms:g}"
    )


if __name__ == "__main__":
    asyncio.run(main())
