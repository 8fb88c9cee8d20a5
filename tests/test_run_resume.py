"""A durable run's record when it resumes: on the machine that began it (the steps it replays
are not written twice) and on another one (begun afresh, marked `continued`)."""

from __future__ import annotations

import json
from pathlib import Path

from valet.agent import StepRecord
from valet.record import RunRecorder


def _step(index: int) -> StepRecord:
    return StepRecord(
        index=index,
        started_at="2026-12-07T12:00:00+00:00",
        url="http://shop.test/",
        title="Shop",
        observation_digest="d",
        observation_chars=10,
        action={"kind": "click", "element": index},
        action_text=f"click [{index}]",
        target=None,
        model_message="",
        model_error=None,
        ok=True,
        result="clicked",
        changed=True,
        artifacts=[],
        timings_ms={},
        input_tokens=0,
        output_tokens=0,
        cost_usd=None,
        screenshot=b"png" if index == 1 else None,
    )


def _indexes(folder: Path) -> list[int]:
    lines = (folder / "steps.jsonl").read_text().splitlines()
    return [json.loads(line)["index"] for line in lines]


def test_a_run_resumed_where_it_began_goes_on_with_its_record(tmp_path: Path) -> None:
    first = RunRecorder(tmp_path / "runs", "buy a cable", {"model": "m"}, run_id="t1")
    first.step(_step(1))
    first.step(_step(2))  # killed here
    again = RunRecorder.resume(tmp_path / "runs", "t1", task="buy a cable", settings={})
    for index in (1, 2, 3):  # the first two replayed
        again.step(_step(index))
    assert _indexes(again.dir) == [1, 2, 3]
    header = json.loads((again.dir / "run.json").read_text())
    assert header["restarts"] == 1 and "continued" not in header
    assert header["settings"] == {"model": "m"}  # the record's own, not the resumer's


def test_a_run_resumed_on_another_machine_begins_a_record_there(tmp_path: Path) -> None:
    here, there = tmp_path / "a" / "runs", tmp_path / "b" / "runs"
    first = RunRecorder(here, "buy a cable", {"model": "m"}, run_id="t1")
    first.step(_step(1))
    elsewhere = RunRecorder.resume(there, "t1", task="buy a cable", settings={"model": "m"})
    for index in (1, 2):
        elsewhere.step(_step(index))
    assert elsewhere.dir == there / "t1" and _indexes(elsewhere.dir) == [1, 2]
    header = json.loads((elsewhere.dir / "run.json").read_text())
    assert header["continued"] is True and header["restarts"] == 1
    assert header["task"] == "buy a cable" and header["status"] == "running"
    assert _indexes(first.dir) == [1]  # the first machine's record is its own
