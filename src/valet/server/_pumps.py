"""Running a websocket's pumps (one per direction or duty) until the first of them ends."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def until_one_ends(*pumps: Coroutine[Any, Any, None]) -> None:
    """Run `pumps` together; when one ends (or fails), cancel the others and wait for them."""
    tasks = [asyncio.create_task(pump) for pump in pumps]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
