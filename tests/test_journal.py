"""The action journal's file format and the journaled tool body (the restarts themselves are
tested through `valet serve` in test_durable.py and test_durable_toolsets.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests._postgres import fresh_database
from tests.test_durable_postgres import postgres_url

from valet.browser import ActionOutcome
from valet.effects import Effect
from valet.errors import StoreUnavailable
from valet.gateway import ToolEffects as Effects
from valet.gateway import ToolFailure, make_tool, running_action
from valet.runtime._journal import Journal, JournalFile, journal_lines, journaled_tool
from valet.runtime._recovery import _yes_or_no
from valet.store import JournalTable, forget_resume

__all__ = ["postgres_url"]  # a fixture used here


def test_an_earlier_process_entries_are_read_back_and_a_cut_line_is_skipped(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    first = Journal(JournalFile(path), task_id="t1")
    first.start("act-2", "click", "http://shop/cart")
    first.end("act-2", ActionOutcome(ok=True, message="clicked", content="page"))
    first.start("act-5", "mail_send")
    first.commit("act-5")
    with path.open("a") as out:
        out.write('{"key": "act-7", "eve')  # the process died while writing
    again = Journal(JournalFile(path), task_id="t1")
    done, sending = again.found("act-2"), again.found("act-5")
    assert done is not None and done.ended and done.ok and done.content == "page"
    assert done.url == "http://shop/cart"
    assert sending is not None and sending.committed and not sending.ended
    assert again.found("act-7") is None
    assert path.stat().st_mode & 0o777 == 0o600
    again.settle("act-5", True, "the person confirmed it")
    assert again.found("act-5") is None
    assert (
        Journal(JournalFile(path)).found("act-5") is not None
    )  # settled: ended, for the next restart


async def test_a_journaled_write_has_a_stable_id_and_a_point_of_no_return(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    journal = Journal(JournalFile(path), task_id="20261204-1")
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
    entry = Journal(JournalFile(path)).found("act-3")
    assert entry is not None and entry.committed and entry.ended and entry.ok
    journal.key = "act-5"
    with pytest.raises(ToolFailure):
        await tool.fn(to="nobody")
    failed = Journal(JournalFile(path)).found("act-5")
    assert failed is not None and failed.ended and not failed.ok
    assert failed.message == "no such recipient"


def test_on_a_shared_database_the_journal_is_read_by_whichever_process_resumes(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Postgres the lines are in the database: a process on another machine (another home)
    resuming the task reads what the one that died had started, and only that task's."""
    url = fresh_database(postgres_url)
    monkeypatch.setenv("VALET_DATABASE_URL", url)
    here, there = tmp_path / "machine-a", tmp_path / "machine-b"
    dying = Journal(journal_lines(here, "t1"), task_id="t1")
    assert isinstance(dying.lines, JournalTable)
    dying.start("act-4", "mail_send")
    dying.commit("act-4")
    other = Journal(journal_lines(here, "t2"), task_id="t2")
    other.start("act-1", "click")
    resumed = Journal(journal_lines(there, "t1"), task_id="t1")
    sending = resumed.found("act-4")
    assert sending is not None and sending.kind == "mail_send" and sending.committed
    assert not sending.ended and resumed.found("act-1") is None  # t2's is not t1's
    assert not (here / "tasks").exists()  # nothing on either machine's disk
    resumed.settle("act-4", True, "found in Sent")
    ended = Journal(JournalTable(url, "t1")).found("act-4")
    assert ended is not None and ended.ended and ended.ok
    forget_resume(url, ["t1"])
    assert JournalTable(url, "t1").read() == [] and len(JournalTable(url, "t2").read()) == 1
    monkeypatch.setenv("VALET_DATABASE_URL", "postgresql://valet@127.0.0.1:1/none")
    down = journal_lines(there, "t3")
    with pytest.raises(StoreUnavailable, match="could not write the action journal"):
        down.append('{"key": "act-1", "event": "start"}')  # an action not journaled never runs


def test_reads_are_not_journaled(tmp_path: Path) -> None:
    def look(what: str) -> str:
        return what

    tool = make_tool(look, Effects(Effect.READ))
    assert journaled_tool(tool, Journal(JournalFile(tmp_path / "j.jsonl"))) is tool


def test_the_person_answers_yes_or_no_in_their_words() -> None:
    assert [_yes_or_no(a) for a in ("yes", "Yes.", "y", "yes, it arrived", "it did go")] == [
        "yes"
    ] * 5
    assert [_yes_or_no(a) for a in ("no", "No!", "it did not", "no, nothing came")] == ["no"] * 4
    assert [_yes_or_no(a) for a in (None, "I don't know", "maybe", "")] == [None] * 4


def test_processes_starting_their_first_tasks_at_once_create_the_tables_once(
    postgres_url: str,
) -> None:
    """Two servers (or workers) on a fresh database start tasks at the same moment: each
    process's first journal creates the tables, taking turns (one failed, a duplicate type)."""
    url = fresh_database(postgres_url)
    code = (
        "import sys; from valet.store import JournalTable, StateTable; "
        "JournalTable(sys.argv[1], 't').read(); StateTable(sys.argv[1], 't').read(); print('ok')"
    )
    started = [
        subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    outputs = [process.communicate(timeout=60)[0].strip() for process in started]
    assert outputs == ["ok"] * 6 and all(p.returncode == 0 for p in started)
