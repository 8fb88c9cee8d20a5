"""Saving a finished run as a replayable workflow.

A workflow is a script (see `valet.models` for the format) whose steps address elements by
role and accessible name, never by id, so it survives layout changes. Text the agent typed
becomes a parameter named after the field (`search`, `email`, …) with the typed text as its
default; `valet workflow run NAME --param search="HDMI"` replays it with another value.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import yaml

from valet.errors import WorkflowError
from valet.record._store import RunStore

_SKIPPED = {"read_page", "screenshot", "done"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def workflow_path(workflows_dir: Path, name: str) -> Path:
    if not _NAME.match(name):
        raise WorkflowError(f"invalid workflow name {name!r}: use letters, digits, - _ .")
    return workflows_dir / f"{name}.yaml"


def workflow_from_run(header: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The workflow document for a run: its successful actions, by role and name."""
    end: dict[str, Any] = header.get("end") or {}
    if end.get("kind") != "finished" or not end.get("success"):
        raise WorkflowError(
            f"run {header['id']} did not finish successfully ({header.get('status')}); "
            "only successful runs can be saved as workflows"
        )
    settings: dict[str, Any] = header.get("settings") or {}
    start_url = str(settings.get("start_url") or "")
    params: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for step in steps:
        action = step.get("action")
        if not step.get("ok") or not action or action["kind"] in _SKIPPED:
            continue
        args = {k: v for k, v in action.items() if k != "kind"}
        if isinstance(args.get("element"), int):
            target = step.get("target")
            if not target:
                raise WorkflowError(
                    f"step {step['index']}: the element it acted on was not recorded"
                )
            args["element"] = {"role": target["role"], "name": target["name"]}
        if action["kind"] in ("goto", "open_tab") and args.get("url"):
            args["url"] = _relative_to(str(args["url"]), start_url)
        if action["kind"] == "type" and isinstance(args.get("text"), str):
            key = _param_name(args.get("element"), params)
            params[key] = args["text"]
            args["text"] = "{{" + key + "}}"
        out.append({action["kind"]: args})
    out.append({"done": {"answer": end.get("answer") or "workflow finished", "success": True}})
    return {
        "name": None,
        "task": header.get("task"),
        "from_run": header["id"],
        "start_url": start_url or None,
        "params": params,
        "steps": out,
    }


def save_workflow(store: RunStore, run_id: str, workflows_dir: Path, name: str) -> Path:
    header, steps = store.load(run_id)
    document = workflow_from_run(header, steps)
    document["name"] = name
    path = workflow_path(workflows_dir, name)
    workflows_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def load_workflow(workflows_dir: Path, name_or_path: str) -> tuple[Path, dict[str, Any]]:
    """A saved workflow by name, or a workflow file by path."""
    candidate = Path(name_or_path).expanduser()
    path = (
        candidate
        if candidate.suffix in (".yaml", ".yml", ".json") and candidate.is_file()
        else None
    )
    if path is None:
        path = workflow_path(workflows_dir, name_or_path)
    if not path.is_file():
        known = (
            sorted(p.stem for p in workflows_dir.glob("*.yaml")) if workflows_dir.is_dir() else []
        )
        raise WorkflowError(f"no workflow {name_or_path!r}; saved workflows: {known or 'none'}")
    try:
        loaded: object = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise WorkflowError(f"{path}: invalid YAML: {exc}") from exc
    data = cast(dict[str, Any], loaded) if isinstance(loaded, dict) else None
    if data is None or not isinstance(data.get("steps"), list):
        raise WorkflowError(f"{path}: a workflow is a mapping with a `steps:` list")
    return path, data


def _param_name(element: Any, taken: dict[str, str]) -> str:
    raw = str(cast(dict[str, Any], element).get("name", "")) if isinstance(element, dict) else ""
    base = re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_")[:30] or "text"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def _relative_to(url: str, start_url: str) -> str:
    """Same-origin URLs become paths, so a replay can run against another host or port."""
    if not start_url:
        return url
    target, start = urlsplit(url), urlsplit(start_url)
    if (target.scheme, target.netloc) == (start.scheme, start.netloc):
        return urlunsplit(("", "", target.path or "/", target.query, target.fragment))
    return url
