"""Requests to the person outlive the server process (durable mode): a resumed task that asks
the same thing finds its request; what it does not ask again is withdrawn, never reused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from valet.server._person import RequestBook
from valet.store import TaskStore


def _book(store: TaskStore) -> RequestBook:
    """A fresh process's book: what the store holds, and every change stored."""
    book = RequestBook(persist=store.save_request)
    book.restore(store.requests())
    return book


def _approval(name: str) -> dict[str, Any]:
    return {
        "task_id": "t1",
        "kind": "approval",
        "summary": name,
        "reason": "deleting asks",
        "url": "http://shop.test/settings",
        "tool": "click",
        "effect": "delete",
        "args": {"element": {"role": "button", "name": name}},
    }


async def test_an_answer_given_after_a_restart_is_owed_to_the_same_ask_only(
    tmp_path: Path,
) -> None:
    store = TaskStore(f"sqlite:///{tmp_path / 'valet.db'}")
    first = _book(store)
    delete_all = first.open(**_approval("Delete all"))
    remove = first.open(**_approval("Remove"))  # another one pending (not awaited)
    assert [r.id for r in first.pending("t1")] == [delete_all.id, remove.id]

    # The process dies; the person approves "Delete all" in the next one, before the task asks.
    second = _book(store)
    assert [r.id for r in second.pending("t1")] == [delete_all.id, remove.id]
    second.close(delete_all.id, "approved", "person")

    # The resumed task asks "Delete all" again: the same request, already answered.
    resumed = second.open(**_approval("Delete all"))
    assert resumed.id == delete_all.id
    answered = await asyncio.wait_for(second.wait(resumed.id), 5)
    assert answered.state == "approved"
    # "Remove" was not asked again: withdrawn.
    assert second.get(remove.id).state == "cancelled"

    # Later the task asks "Delete all" once more: a new request, the old answer is spent.
    later = second.open(**_approval("Delete all"))
    assert later.id != delete_all.id and later.state == "pending"

    # And in a third process the spent answer is still spent.
    third = _book(store)
    again = third.open(**_approval("Delete all"))
    assert again.id == later.id and again.state == "pending"
    other = third.open(**{**_approval("Delete all"), "task_id": "t2"})
    assert other.id not in (later.id, delete_all.id)
    store.close()


async def test_a_stale_answer_is_forfeit_once_the_task_asks_something_else(
    tmp_path: Path,
) -> None:
    store = TaskStore(f"sqlite:///{tmp_path / 'valet.db'}")
    first = _book(store)
    delete_all = first.open(**_approval("Delete all"))
    second = _book(store)
    second.close(delete_all.id, "approved", "person")
    # The resumed task chose differently: it asks about "Remove" first.
    second.open(**_approval("Remove"))
    # A later "Delete all" is asked afresh, not approved by the stale answer.
    fresh = second.open(**_approval("Delete all"))
    assert fresh.id != delete_all.id and fresh.state == "pending"
    store.close()
