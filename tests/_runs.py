"""Running scripted tasks in tests: real Chromium, the real loop, the local sites."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests._person import PlaysPerson

from valet.agent import Limits, OutputMode, RunEnd
from valet.gateway import Approver
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.policy import RuleSet
from valet.record import RunStore
from valet.runtime import TaskSpec, run_task
from valet.sites import SiteServer


@dataclass
class ScriptedRun:
    end: RunEnd
    header: dict[str, Any]
    steps: list[dict[str, Any]]


async def run_script(
    home: Path,
    sites: SiteServer,
    script: list[Any],
    *,
    start: str | None = "/shop",
    limits: Limits | None = None,
    output_mode: OutputMode = "tools",
    replay: bool = False,
    vision: bool = False,
    priced_as: str | None = None,
    approver: Approver | None = None,
    rules: RuleSet | None = None,
    task: str = "scripted test task",
    person: PlaysPerson | None = None,
    allow_hosts: frozenset[str] = frozenset(),
) -> ScriptedRun:
    """`person` takes the browser when valet stops for them (else the run stops there)."""
    player = ScriptPlayer(parse_steps(script), replay=replay)
    spec = TaskSpec(
        task=task,
        start_url=None if start is None else sites.url_for(start),
        limits=limits or Limits(),
        rules=rules,
        allow_hosts=allow_hosts,
    )
    result = await run_task(
        spec,
        scripted_model(player, priced_as),
        home=home,
        model_info={"model": "scripted:test"},
        output_mode=output_mode,
        vision=vision,
        approver=approver,
        handover=person,
        on_session=None if person is None else person.attach,
    )
    header, steps = RunStore(home / "runs").load(result.run_id)
    return ScriptedRun(result.end, header, steps)
