"""The action journal's file format and the journaled tool body (the restarts themselves are
tested through `valet serve` in test_durable.py and test_durable_toolsets.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from valet.browser import ActionOutcome
from valet.effects import Effect
from valet.gateway import ToolEffects as Effects
from valet.gateway import ToolFailure, make_tool, running_action
from valet.runtime._journal import Journal, journaled_tool
from valet.runtime._recovery import _yes_or_no


def test_an_earlier_process_entries_are_read_back_and_a_cut_line_is_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    first = Journal(path, task_id="t1")
    first.start("act-2", "click", "http://shop/cart")
    first.end("act-2", ActionOutcome(ok=True, message="clicked", content="page"))
    first.start("act-5", "mail_send")
    first.commit("act-5")
    with path.open("a") as out:
        out.write('{"key": "act-7", "eve')  # the process died while writing
    again = Journal(path, task_id="t1")
    done, sending = again.found("act-2"), again.found("act-5")
    assert done is not None and done.ended and done.ok and done.content == "page"
    assert done.url == "http://shop/cart"
    assert sending is not None and sending.committed and not sending.ended
    assert again.found("act-7") is None
    assert path.stat().st_mode & 0o777 == 0o600
    again.settle("act-5", True, "the person confirmed it")
    assert again.found("act-5") is None
    assert Journal(path).found("act-5") is not None  # settled: ended, for the next restart


async def test_a_journaled_write_has_a_stable_id_and_a_point_of_no_return(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(path, task_id="20261204-1")
    seen: list[str] = []

    async def send(to: str) -> str:
        action = running_action()
        assert action is not None
        seen.append(action.id)
        action.commit()
        if to == "nobody":
            raise ToolFailure("no such recipient")
        return f"sent to {to}"

    tool = journaled_tool(make_tool(send, Effects(Effect.SEND)), journal)
    journal.key = "act-3"
    assert await tool.fn(to="ann") == "sent to ann"
    assert seen == ["valet.20261204-1.act-3"]
    entry = Journal(path).found("act-3")
    assert entry is not None and entry.committed and entry.ended and entry.ok
    journal.key = "act-5"
    with pytest.raises(ToolFailure):
        await tool.fn(to="nobody")
    failed = Journal(path).found("act-5")
    assert failed is not None and failed.ended and not failed.ok
    assert failed.message == "no such recipient"


def test_reads_are_not_journaled(tmp_path: Path) -> None:
    def look(what: str) -> str:
        return what

    tool = make_tool(look, Effects(Effect.READ))
    assert journaled_tool(tool, Journal(tmp_path / "j.jsonl")) is tool


def test_the_person_answers_yes_or_no_in_their_words() -> None:
    assert [_yes_or_no(a) for a in ("yes", "Yes.", "y", "yes, it arrived", "it did go")] == [
        "yes"
    ] * 5
    assert [_yes_or_no(a) for a in ("no", "No!", "it did not", "no, nothing came")] == ["no"] * 4
    assert [_yes_or_no(a) for a in (None, "I don't know", "maybe", "")] == [None] * 4
