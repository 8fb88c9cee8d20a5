"""`valet schedules`: tasks on a timetable. Schedules live in the running server's workflow
database and fire there, so these commands talk to the server `valet serve` started on this
home (its address and token are in the home folder); they say so when none is running."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from valet.settings import valet_home

schedules_app = typer.Typer(
    help="Tasks that run on a timetable: add, list, pause, resume, run now, delete.",
    no_args_is_help=True,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


def local_timezone() -> str:
    """This machine's IANA timezone (`TZ`, /etc/timezone, /etc/localtime), else UTC."""
    if (named := os.environ.get("TZ", "").lstrip(":")) and "/" in named:
        return named
    try:
        written = Path("/etc/timezone").read_text(encoding="utf-8").strip()
        if written:
            return written
    except OSError:
        pass
    target = os.path.realpath("/etc/localtime")
    marker = "/zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else "UTC"


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    home = valet_home()
    try:
        url = (home / "server-url").read_text(encoding="utf-8").strip().rstrip("/")
        token = (home / "server-token").read_text(encoding="utf-8").strip()
    except OSError:
        _fail("no valet server has started on this home: start one with `valet serve`")
    try:
        response = httpx.request(
            method,
            url + path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    except httpx.TransportError:
        _fail(f"the valet server at {url} does not answer: is `valet serve` running?")
    if response.status_code >= 400:
        detail: object = response.text
        with contextlib.suppress(ValueError):
            detail = response.json().get("detail", detail)
        _fail(str(detail))
    return response


def _show(schedule: dict[str, Any]) -> str:
    state = "paused" if schedule["paused"] else f"next {_time(schedule['next_run_at'])}"
    return f"{schedule['id']}  {schedule['when']} ({schedule['timezone']}), {state}"


def _time(value: str | None) -> str:
    return "-" if not value else value[:16].replace("T", " ")


@schedules_app.command("list")
def schedules_list() -> None:
    """Every schedule, with when it runs next."""
    found: list[dict[str, Any]] = _call("GET", "/api/schedules").json()
    if not found:
        out.print("no schedules (add one with `valet schedules add`)")
        return
    table = Table("id", "when", "timezone", "next run", "last run", "task")
    for s in found:
        table.add_row(
            s["id"],
            s["when"] + (" (paused)" if s["paused"] else ""),
            s["timezone"],
            _time(s["next_run_at"]),
            _time(s["last_run_at"]),
            s["task"]["task"],
        )
    out.print(table)


@schedules_app.command("add")
def schedules_add(
    when: Annotated[
        str,
        typer.Argument(
            help="A cron expression or a phrase: 'every weekday at 8:00', 'every day at 7:30', "
            "'every monday and thursday at 17:00', 'every 15 minutes'."
        ),
    ],
    task: Annotated[str, typer.Argument(help="What to do, in plain words.")],
    start_url: Annotated[str | None, typer.Option(help="A page opened first.")] = None,
    timezone: Annotated[
        str | None, typer.Option(help="IANA timezone of the times (default: this machine's).")
    ] = None,
    missed: Annotated[
        str, typer.Option(help="Firings missed while valet was down: 'once' or 'skip'.")
    ] = "once",
    model: Annotated[
        str | None, typer.Option(help="provider:model (default: the server's).")
    ] = None,
    workflow: Annotated[
        str | None,
        typer.Option(
            help="Replay this saved workflow (`valet workflow save`) instead of asking a model; "
            "the model is called only if a step no longer matches the page."
        ),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="A workflow parameter: key=value.")
    ] = None,
) -> None:
    """Run TASK on a timetable."""
    request: dict[str, Any] = {"task": task}
    if start_url:
        request["start_url"] = start_url
    if model:
        request["model"] = model
    if workflow:
        request["workflow"] = workflow
    if param:
        pairs = [p.partition("=") for p in param]
        if any(not key or not sep for key, sep, _ in pairs):
            _fail("a --param is key=value")
        request["params"] = {key.strip(): value for key, _, value in pairs}
    body = {"when": when, "timezone": timezone or local_timezone(), "missed": missed}
    made = _call("POST", "/api/schedules", body | {"task": request}).json()
    out.print(f"scheduled: {_show(made)}", soft_wrap=True)


def _one(action: str, schedule_id: str) -> dict[str, Any]:
    found: dict[str, Any] = _call("POST", f"/api/schedules/{schedule_id}/{action}", {}).json()
    return found


@schedules_app.command("pause")
def schedules_pause(schedule_id: Annotated[str, typer.Argument(help="From `list`.")]) -> None:
    """No firing until resumed."""
    out.print(_show(_one("pause", schedule_id)))


@schedules_app.command("resume")
def schedules_resume(schedule_id: Annotated[str, typer.Argument(help="From `list`.")]) -> None:
    """Fire again on its timetable."""
    out.print(_show(_one("resume", schedule_id)))


@schedules_app.command("run")
def schedules_run(schedule_id: Annotated[str, typer.Argument(help="From `list`.")]) -> None:
    """Run it now, once (also when paused); the task shows in the web app."""
    _one("run", schedule_id)
    out.print(f"schedule {schedule_id} fired: its task is queued")


@schedules_app.command("delete")
def schedules_delete(schedule_id: Annotated[str, typer.Argument(help="From `list`.")]) -> None:
    """No more firings (the tasks it made stay)."""
    _call("DELETE", f"/api/schedules/{schedule_id}")
    out.print(f"schedule {schedule_id} deleted")
