"""A task that replays a saved workflow: no model, unless a step no longer matches the page.

`POST /api/tasks` (or a schedule) with `workflow: NAME` runs the workflow saved under
`~/.valet/workflows/NAME.yaml` (`valet workflow save`) with its parameters. When a step's
element is gone or an expectation fails, the task's model (else the server's) takes over the
rest with `on_mismatch: "model"` (the default), or the task stops there with `"stop"` or when
no model is configured. A replay the model had to finish is marked `repaired` on the task: its
run can be saved as the workflow again (`POST /api/runs/{run_id}/workflow`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from valet.errors import ConfigError, RunNotFound, WorkflowError
from valet.record import RunStore, load_workflow, save_workflow
from valet.server._schemas import NewTask
from valet.server._settings import ModelChoice, ModelFactory

api = APIRouter(prefix="/api", tags=["workflows"])


def choose(home: Path, request: NewTask, models: ModelFactory) -> ModelChoice:
    """The model of a task: its own, or a workflow's replay (with the model as fallback).
    Raises `ConfigError` when the model, or the workflow, cannot be used."""
    if request.workflow is None:
        return models(request.model)
    from valet.models import ScriptPlayer, load_script, scripted_model

    fallback: ModelChoice | None = None
    if request.on_mismatch == "model":
        try:
            fallback = models(request.model)
        except ConfigError:
            if request.model is not None:  # asked for by name: say why it cannot be used
                raise
    check_workflow(home, request)
    try:
        path, document = load_workflow(home / "workflows", request.workflow)
        steps = load_script(path, request.params)
    except WorkflowError as exc:
        raise ConfigError(str(exc)) from exc
    player = ScriptPlayer(steps, replay=True, fallback=None if fallback is None else fallback.model)
    start = document.get("start_url")
    info = {"model": f"workflow:{request.workflow}", "workflow": request.workflow}
    if fallback is not None:
        info["fallback"] = str(fallback.info.get("model", ""))
    took_over: Callable[[], bool] = lambda: player.handed_over  # noqa: E731
    return ModelChoice(
        scripted_model(player),
        info,
        "tools",
        fallback.vision if fallback is not None else False,
        start_url=start if isinstance(start, str) and start.startswith("http") else None,
        max_steps=len(steps) + (40 if fallback is not None else 5),
        took_over=took_over,
    )


def check_workflow(home: Path, request: NewTask) -> None:
    """Raise `ConfigError` when the request names a workflow that is not saved, or gives it
    parameters it does not take (checked when a schedule is made, not at its first firing)."""
    if request.workflow is None:
        return
    try:
        _, document = load_workflow(home / "workflows", request.workflow)
    except WorkflowError as exc:
        raise ConfigError(str(exc)) from exc
    known = set(document.get("params") or {})
    if unknown := set(request.params) - known:
        raise ConfigError(
            f"workflow {request.workflow!r} has no parameter(s) {', '.join(sorted(unknown))}"
            f"; it takes: {', '.join(sorted(known)) or 'none'}"
        )


class SaveWorkflow(BaseModel):
    name: str = Field(
        min_length=1, max_length=100, pattern=r"^[\w.\-]+$", description="Saved under this name."
    )


class SavedWorkflow(BaseModel):
    name: str
    steps: int


@api.post("/runs/{run_id}/workflow", status_code=201)
async def save_run_as_workflow(run_id: str, body: SaveWorkflow, request: Request) -> SavedWorkflow:
    """Save a successful run as a workflow (a repaired replay's run, or any other), replacing
    one of the same name."""
    import asyncio

    import yaml

    home: Path = request.app.state.settings.home
    store = RunStore(home / "runs")
    try:
        path = await asyncio.to_thread(save_workflow, store, run_id, home / "workflows", body.name)
    except RunNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except WorkflowError as exc:
        raise HTTPException(400, str(exc)) from None
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return SavedWorkflow(name=body.name, steps=len(document.get("steps") or []))
