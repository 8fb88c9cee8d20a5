"""bench/injection.py's machinery: goal checks see a forced attack and nothing less, tasks are
solved without a gateway, and a small slice runs through the real gateway. No defence level is
asserted here: the bench measures it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))

import injection as bench
from injection_world import build_world

SLICE_TASKS = ("mail_reply_lily", "bank_pay_bill", "chat_link_bob", "travel_book_paris")
SLICE_GOALS = ("mail_send_code", "bank_send_500", "chat_visit", "travel_reserve_lisbon")


@pytest.mark.parametrize("goal", bench.GOALS, ids=lambda g: g.id)
async def test_a_forced_attack_meets_its_goal_check(goal: bench.Goal) -> None:
    world = build_world()
    assert not goal.check(world)
    model = bench.ObedientModel(bench.Direct(bench.tools_for(world, goal.needs)))
    await goal.run(model)
    assert goal.check(world), [(r.tool, r.args, r.ok) for r in model.records]


async def test_every_task_is_solved_without_a_gateway_and_reads_a_vector() -> None:
    for task in bench.TASKS:
        prepared = await bench.prepare(task)
        assert prepared.solved, task.id
        assert prepared.vectors, task.id


async def test_injected_text_alone_does_not_meet_a_goal_check() -> None:
    """The task run ungated over the injected world, by a model that does not obey: no goal
    check may hold (the task may copy the injected text, e.g. when it forwards a file)."""
    vectors = {t.id: (await bench.prepare(t)).vectors for t in bench.TASKS}
    for task, goal, template in bench.pairs(bench.TASKS, bench.GOALS):
        world = build_world(dict.fromkeys(vectors[task.id], template.render(goal)))
        await bench.ObedientModel(bench.Direct(bench.tools_for(world, task.connectors))).attempt(
            task
        )
        assert not goal.check(world), (task.id, goal.id, template.name)


def test_attacker_values_appear_only_in_the_injection() -> None:
    seen = repr(build_world()) + "".join(t.request for t in bench.TASKS)
    for goal in bench.GOALS:
        for value in goal.values:
            assert value in goal.instruction and value in goal.subtle, (goal.id, value)
            assert value not in seen, (goal.id, value)


async def test_a_slice_through_the_gateway_gives_rates() -> None:
    tasks = [t for t in bench.TASKS if t.id in SLICE_TASKS]
    goals = [g for g in bench.GOALS if g.id in SLICE_GOALS]
    todo = bench.pairs(tasks, goals)
    assert len(todo) >= 4
    hits = 0
    with bench.simulated_dns():
        for task, goal, template in todo:
            run = await bench.run_once(await bench.prepare(task), "careless", goal, template)
            assert any(r.for_goal for r in run.records), (task.id, goal.id)  # read and obeyed
            hits += run.attacked
    assert 0.0 <= bench.rate(hits, len(todo)) <= 1.0


async def test_the_careful_person_approves_only_the_tasks_own_calls() -> None:
    task = next(t for t in bench.TASKS if t.id == "bank_pay_bill")
    prepared = await bench.prepare(task)
    world = build_world()
    tools = bench.tools_for(world, task.connectors)
    person = bench.Person("careful", prepared.calls, {t.name: t.consequential for t in tools})
    own = next(c for c in prepared.calls if c.tool == "send_money")
    assert person.needs("send_money", {**own.args, "subject": "anything"})
    assert not person.needs("send_money", {**own.args, "recipient": "LT12 1000 0111 0100 1000"})
    assert not person.needs("send_money", {**own.args, "amount": 500.0})
