"""Record and replay: a run saved as a workflow replays by role and name, with no model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests._runs import run_script
from tests.test_agent_loop import CHEAPEST, SHOP_TASK

from valet.agent import Finished, Limits
from valet.errors import WorkflowError
from valet.models import ScriptPlayer, load_script, scripted_model
from valet.record import RunStore, save_workflow, workflow_from_run
from valet.runtime import TaskSpec, run_task
from valet.sites import SiteServer


async def _replay(
    home: Path, sites: SiteServer, workflow: Path, start: str
) -> tuple[Any, list[Any]]:
    steps = load_script(workflow)
    spec = TaskSpec(task="replay", start_url=sites.url_for(start), limits=Limits(max_steps=30))
    result = await run_task(
        spec,
        scripted_model(ScriptPlayer(steps, replay=True)),
        home=home,
        model_info={"model": "replay"},
    )
    return result.end, RunStore(home / "runs").load(result.run_id)[1]


@pytest.fixture
async def saved(home: Path, sites: SiteServer) -> tuple[Path, list[dict[str, Any]]]:
    run = await run_script(home, sites, SHOP_TASK)
    assert isinstance(run.end, Finished) and run.end.success
    failed = [(s["action_text"], s["result"]) for s in run.steps if not s["ok"]]
    assert not failed, failed  # a failed step is left out of the workflow
    path = save_workflow(RunStore(home / "runs"), run.header["id"], home / "workflows", "cable")
    return path, run.steps


async def test_saved_workflow_addresses_elements_by_role_and_name(
    saved: tuple[Path, list[dict[str, Any]]],
) -> None:
    path, _ = saved
    document = yaml.safe_load(path.read_text())
    assert document["name"] == "cable" and document["params"] == {
        "search_products": "USB-C cable",
        "quantity": "2",
    }
    assert document["start_url"].endswith("/shop")
    kinds = [next(iter(step)) for step in document["steps"]]
    assert kinds == ["type", "select", "click", "click", "type", "click", "goto", "done"]
    for step in document["steps"]:
        args = next(iter(step.values()))
        if "element" in args:
            assert set(args["element"]) == {"role", "name"}
    assert document["steps"][0]["type"]["text"] == "{{search_products}}"
    assert document["steps"][6]["goto"]["url"] == "/shop/cart", "same-origin URLs become paths"


async def test_replay_survives_a_changed_layout(
    home: Path, sites: SiteServer, saved: tuple[Path, list[dict[str, Any]]]
) -> None:
    path, original = saved
    end, steps = await _replay(home, sites, path, "/shop/layout?mode=alt&next=/shop")
    assert isinstance(end, Finished) and end.success, steps[-1]
    assert all(step["ok"] for step in steps)
    before = [s["target"]["id"] for s in original if s["target"]]
    after = [s["target"]["id"] for s in steps if s["target"]]
    assert len(before) == len(after) and before != after, (
        "the alternate layout orders elements differently"
    )


async def test_replay_stops_clearly_when_an_element_is_gone(
    home: Path, sites: SiteServer, saved: tuple[Path, list[dict[str, Any]]]
) -> None:
    path, _ = saved
    end, steps = await _replay(home, sites, path, "/shop/layout?hide=add-to-cart&next=/shop")
    assert isinstance(end, Finished) and not end.success
    assert end.answer.startswith('replay stopped at step 6 (click button "Add to cart")'), (
        end.answer
    )
    assert steps[5]["ok"] is False


def test_ids_become_role_and_name_and_failed_steps_are_dropped() -> None:
    header = {
        "id": "r1",
        "task": "t",
        "end": {"kind": "finished", "answer": "a", "success": True},
        "settings": {"start_url": "http://h:1/shop"},
    }
    target = {"id": 7, "role": "button", "name": CHEAPEST}
    steps = [
        {"index": 1, "ok": False, "action": {"kind": "click", "element": 99}, "target": None},
        {"index": 2, "ok": True, "action": {"kind": "click", "element": 7}, "target": target},
        {"index": 3, "ok": True, "action": {"kind": "read_page"}, "target": None},
        {
            "index": 4,
            "ok": True,
            "action": {"kind": "goto", "url": "https://other.example/x"},
            "target": None,
        },
    ]
    document = workflow_from_run(header, steps)
    assert document["steps"] == [
        {"click": {"element": {"role": "button", "name": CHEAPEST}}},
        {"goto": {"url": "https://other.example/x"}},
        {"done": {"answer": "a", "success": True}},
    ]


def test_only_successful_runs_become_workflows() -> None:
    header = {
        "id": "r2",
        "status": "stopped",
        "end": {"kind": "stopped", "reason": "loop", "detail": ""},
    }
    with pytest.raises(WorkflowError, match="did not finish successfully"):
        workflow_from_run(header, [])
