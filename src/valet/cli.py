"""The `valet` command line. Parses, wires and prints; the work happens in the packages."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from valet._cli_browser import browser_app
from valet._cli_connectors import connectors_app
from valet._cli_people import org_app, users_app
from valet._cli_research import index_app, research
from valet._cli_rules import rules_app
from valet._cli_schedules import schedules_app
from valet._cli_sessions import link, sessions_app
from valet._cli_usage import usage
from valet._cli_vault import vault_app
from valet._home import make_private
from valet._progress import ProgressView
from valet._rules_file import RulesError
from valet._terminal_approver import TerminalApprover, TerminalQuestions
from valet._terminal_handover import TAKE_OVER_KEY, TerminalHandover
from valet.agent import Finished, Limits, RunEnd, Stopped
from valet.audit import (
    AuditLog,
    AuditSettings,
    fingerprint,
    load_signing_key,
    parse_fingerprint,
    read_pin,
    witness_from,
    write_pin,
)
from valet.browser import BrowserSettings
from valet.connectors._errors import ConnectorError
from valet.errors import ConfigError, RunNotFound, StartPageUnreachable, StartupError, WorkflowError
from valet.gateway import Approver, DenyAllApprover
from valet.record import RunStore, load_workflow, save_workflow
from valet.runtime import BrowserUnavailable, TaskResult, TaskSpec, person_setup, run_task
from valet.settings import load_config, valet_home
from valet.vault import Vault, VaultError

if TYPE_CHECKING:  # valet.models loads pydantic-ai (slow): commands that need it import it
    from valet.models import ModelConfig

app = typer.Typer(
    help="valet: an agent that does real work in a real browser.", no_args_is_help=True
)
runs_app = typer.Typer(help="Inspect run records.", no_args_is_help=True)
workflow_app = typer.Typer(help="Save runs as workflows and replay them.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
app.add_typer(workflow_app, name="workflow")
audit_app = typer.Typer(help="Check and export the audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(rules_app, name="rules")
app.add_typer(vault_app, name="vault")
app.add_typer(browser_app, name="browser")
app.add_typer(connectors_app, name="connectors")
app.add_typer(sessions_app, name="sessions")
app.add_typer(schedules_app, name="schedules")
app.add_typer(users_app, name="users")
app.add_typer(org_app, name="org")
app.command("link")(link)
app.command("usage")(usage)
app.command("research")(research)
app.add_typer(index_app, name="research-index")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

EXIT_SUCCESS, EXIT_NOT_DONE, EXIT_USAGE, EXIT_STOPPED = 0, 1, 2, 3

ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", help="provider:name, e.g. openai:gpt-4.1 (or VALET_MODEL)"),
]
StartUrlOption = Annotated[
    str | None, typer.Option("--start-url", "-u", help="Open this page first.")
]
MaxStepsOption = Annotated[
    int | None, typer.Option("--max-steps", min=1, help="Stop after this many steps.")
]
HeadedOption = Annotated[bool, typer.Option("--headed", help="Show the browser window.")]
CdpOption = Annotated[
    str | None, typer.Option("--cdp-url", help="Attach to a running Chromium (http://host:9222).")
]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", help="Use a named persistent browser profile.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def main() -> None:
    app()


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}")  # messages may hold [brackets]
    raise typer.Exit(code)


def _exit_code(end: RunEnd) -> int:
    match end:
        case Finished(success=True):
            return EXIT_SUCCESS
        case Finished():  # success is False
            return EXIT_NOT_DONE
        case Stopped(reason="cancelled"):
            return EXIT_NOT_DONE
        case Stopped():
            return EXIT_STOPPED


def _check_url(url: str | None, what: str) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        fail(f"{what} {url!r} is not an http(s) URL, e.g. https://example.com/")


def task_spec(
    task: str,
    start_url: str | None,
    max_steps: int | None,
    headed: bool,
    cdp_url: str | None,
    profile: str | None,
) -> TaskSpec:
    _check_url(start_url, "--start-url")
    _check_url(cdp_url, "--cdp-url")
    if profile is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}", profile):
        fail(f"invalid profile name {profile!r}: use letters, digits, '-', '_' and '.'")
    limits = Limits() if max_steps is None else Limits(max_steps=max_steps)
    browser = BrowserSettings(headless=not headed, cdp_url=cdp_url, profile=profile)
    try:
        setup = person_setup(valet_home())
    except RulesError as exc:
        fail(f"{exc}\nfix it with `valet rules edit`")
    except ConfigError as exc:
        fail(str(exc))
    return TaskSpec(task=task, start_url=start_url, limits=limits, browser=browser, **setup)


def execute_task(
    spec: TaskSpec, model: Any, config: ModelConfig | None, json_out: bool
) -> TaskResult:
    info: dict[str, Any] = config.public() if config else {"model": "replay"}
    mode = config.output_mode if config and config.provider != "scripted" else "tools"
    vision = bool(config and config.vision)
    console = err if json_out else out
    mine = len(spec.rules.rules) if spec.rules else 0
    console.print(f"[dim]scope: {spec.scope().describe()} · your rules: {mine}[/]", soft_wrap=True)
    make_private(valet_home())  # what an older valet left readable by others
    try:
        vault = Vault.load(valet_home())
    except VaultError as exc:
        fail(f"cannot open the vault: {exc}")
    try:
        with ProgressView(console) as progress:
            approver: Approver = DenyAllApprover()
            questions: TerminalQuestions | None = None
            if sys.stdin.isatty():
                approver = TerminalApprover(console, progress)
                questions = TerminalQuestions(console, progress)
            handover = _handover(spec, console, progress)
            listening = (
                handover.listening()
                if isinstance(handover, TerminalHandover)
                else contextlib.nullcontext()
            )
            with listening:
                return asyncio.run(
                    run_task(
                        spec,
                        model,
                        home=valet_home(),
                        model_info=info,
                        output_mode=mode,
                        vision=vision,
                        progress=progress,
                        approver=approver,
                        vault=vault,
                        handover=handover,
                        questions=questions,
                        on_session=None if handover is None else handover.attach,
                    )
                )
    except BrowserUnavailable as exc:
        fail(f"cannot start or reach the browser: {exc}")
    except ConnectorError as exc:
        fail(f"cannot open a toolset: {exc}")
    except StartPageUnreachable as exc:
        fail(f"the start page could not be opened: {exc}")
    except KeyboardInterrupt:
        fail("cancelled", EXIT_NOT_DONE)


def _handover(spec: TaskSpec, console: Console, progress: ProgressView) -> TerminalHandover | None:
    """Who takes the browser when the page needs the person: a headed run on a terminal gives
    the window to them; otherwise nobody (the run stops there)."""
    if spec.browser.headless or not sys.stdin.isatty():
        return None
    console.print(
        f"[dim]the browser window is yours at any time: press {TAKE_OVER_KEY} and valet hands "
        "it over at its next step[/]"
    )
    return TerminalHandover(console, progress)


def report_outcome(result: TaskResult, json_out: bool) -> NoReturn:
    if isinstance(result.end, Stopped) and result.end.reason == "needs_person":
        err.print(
            f"valet stopped for you: {result.end.detail}. To take over in the browser window, "
            "run with --headed on a terminal; or use `valet serve` and take over in the web app.",
            markup=False,
            soft_wrap=True,
        )
    if json_out:
        header, _ = RunStore(valet_home() / "runs").load(result.run_id)
        out.print_json(json.dumps(header))
    else:
        out.print(f"[dim]run record: {result.run_id}  (valet runs show {result.run_id})[/]")
    raise typer.Exit(_exit_code(result.end))


@app.command()
def run(
    task: Annotated[str, typer.Argument(help="What to do, in plain language.")],
    model: ModelOption = None,
    start_url: StartUrlOption = None,
    max_steps: MaxStepsOption = None,
    headed: HeadedOption = False,
    cdp_url: CdpOption = None,
    profile: ProfileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Carry out TASK in the browser, step by step."""
    from valet.models import build_model, resolve_model_config

    if not task.strip():
        fail("the task is empty")
    try:
        config = resolve_model_config(model, config=load_config())
        llm = build_model(config)
    except ConfigError as exc:
        fail(str(exc))
    spec = task_spec(task, start_url, max_steps, headed, cdp_url, profile)
    report_outcome(execute_task(spec, llm, config, json_out), json_out)


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20, json_out: JsonOption = False
) -> None:
    """List recent runs, newest first."""
    runs = RunStore(valet_home() / "runs").list(limit=limit)
    if json_out:
        out.print_json(json.dumps(runs))
        return
    if not runs:
        out.print('no runs yet: try `valet run "..."`')
        return
    table = Table("run", "status", "steps", "task", "answer / reason", box=None)
    for header in runs:
        end: dict[str, Any] = header.get("end") or {}
        totals: dict[str, Any] = header.get("totals") or {}
        outcome = end.get("answer") or end.get("detail") or ""
        table.add_row(
            header["id"],
            header["status"],
            str(totals.get("steps", "")),
            header["task"][:50],
            outcome[:60],
        )
    out.print(table)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id, a unique prefix, or `last`.")],
    json_out: JsonOption = False,
) -> None:
    """Show a run: its settings, each step and how it ended."""
    try:
        header, steps = RunStore(valet_home() / "runs").load(run_id)
    except RunNotFound as exc:
        fail(str(exc))
    if json_out:
        out.print_json(json.dumps({**header, "steps": steps}))
        return
    totals: dict[str, Any] = header.get("totals") or {}
    out.print(f"[bold]{header['id']}[/]  {header['status']}  ·  {header['task']}")
    tokens = totals.get("input_tokens", 0) + totals.get("output_tokens", 0)
    out.print(
        f"[dim]model {header['settings'].get('model')}  ·  {totals.get('steps', 0)} steps  ·  "
        f"{totals.get('elapsed_s', '?')} s  ·  {tokens:,} tokens  ·  "
        f"cost {totals.get('cost_usd')}[/]"
    )
    for step in steps:
        mark = "[green]✓[/]" if step["ok"] else "[red]✗[/]"
        out.print(
            f"{step['index']:>3} {mark} [cyan]{step['action_text']}[/]  [dim]{step['url']}[/]"
        )
        if not step["ok"] or step.get("changed") is False:
            out.print(f"      [yellow]{(step.get('model_error') or step['result'])[:200]}[/]")
    end: dict[str, Any] = header.get("end") or {}
    if end.get("kind") == "finished":
        out.print(f"[bold]{'Done' if end['success'] else 'Not done'}:[/] {end['answer']}")
    elif end:
        out.print(f"[bold]Stopped ({end['reason']}):[/] {end['detail']}")
    out.print(f"[dim]{header['dir']}[/]")


@workflow_app.command("save")
def workflow_save(
    run_id: Annotated[str, typer.Argument(help="A successful run (id, prefix or `last`).")],
    name: Annotated[str, typer.Argument(help="Name of the workflow.")],
) -> None:
    """Turn a finished run into a workflow that replays without a model."""
    home = valet_home()
    try:
        path = save_workflow(RunStore(home / "runs"), run_id, home / "workflows", name)
    except (RunNotFound, WorkflowError) as exc:
        fail(str(exc))
    out.print(f"saved workflow [bold]{name}[/] to {path}")


@workflow_app.command("list")
def workflow_list() -> None:
    """List saved workflows."""
    folder = valet_home() / "workflows"
    names = sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []
    out.print("\n".join(names) if names else "no workflows yet: `valet workflow save RUN NAME`")


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--param takes key=value, got {pair!r}")
        params[key.strip()] = value
    return params


@workflow_app.command("run")
def workflow_run(
    name: Annotated[str, typer.Argument(help="A saved workflow's name, or a workflow file.")],
    param: Annotated[list[str] | None, typer.Option("--param", "-p", help="key=value")] = None,
    model: ModelOption = None,
    start_url: StartUrlOption = None,
    headed: HeadedOption = False,
    cdp_url: CdpOption = None,
    profile: ProfileOption = None,
    json_out: JsonOption = False,
) -> None:
    """Replay a workflow with no model; with a model configured, it takes over if a step fails."""
    from valet.models import (
        ScriptPlayer,
        build_model,
        load_script,
        resolve_model_config,
        scripted_model,
    )

    try:
        path, document = load_workflow(valet_home() / "workflows", name)
        params = _params(param or [])
        unknown = set(params) - set(document.get("params") or {})
        if unknown:
            known = ", ".join(document.get("params") or {}) or "none"
            fail(f"unknown parameter(s) {', '.join(sorted(unknown))}; this workflow takes: {known}")
        steps = load_script(path, params)
        fallback = None
        config = None
        if model or os.environ.get("VALET_MODEL"):
            config = resolve_model_config(model, config=load_config())
            fallback = build_model(config)
    except (ConfigError, WorkflowError) as exc:
        fail(str(exc))
    player = ScriptPlayer(steps, replay=True, fallback=fallback)
    url = start_url or document.get("start_url")
    task = str(document.get("task") or f"replay workflow {name}")
    spec = task_spec(task, url, len(steps) + (40 if fallback else 5), headed, cdp_url, profile)
    result = execute_task(spec, scripted_model(player), config, json_out)
    report_outcome(result, json_out)


@app.command()
def demo(
    task: Annotated[
        str | None, typer.Option("--task", help="Run this task live (needs a model).")
    ] = None,
    model: ModelOption = None,
    stay: Annotated[
        bool | None, typer.Option("--stay/--no-stay", help="Keep the shop up afterwards.")
    ] = None,
) -> None:
    """Start the bundled shop and valet's web app, and run the demo task in it.

    On a terminal you play the person in the web app (take over at the login, approve the
    order); otherwise the demo plays them through the API and exits with the task's outcome."""
    from valet._demo import run_demo, validate_live_model

    if task:
        try:
            validate_live_model(valet_home(), model)
        except ConfigError as exc:
            fail(str(exc))
    person = not sys.stdout.isatty()
    final = asyncio.run(
        run_demo(
            valet_home(),
            task=task,
            model=model,
            person=person,
            stay=stay if stay is not None else not person,
            say=lambda line: out.print(line, markup=False, soft_wrap=True),
        )
    )
    status = final["status"]
    if status == "succeeded":
        out.print(Text.assemble(("Done: ", "bold green"), final.get("answer") or ""))
    else:
        why = final.get("answer") or final.get("detail") or final.get("error") or ""
        out.print(Text.assemble((f"{status.capitalize()}: ", "bold red"), why))
    if final.get("run_id"):
        out.print(f"[dim]run record: valet runs show {final['run_id']}[/]")
    codes = {"succeeded": EXIT_SUCCESS, "failed": EXIT_NOT_DONE}
    raise typer.Exit(codes.get(status, EXIT_STOPPED))


def _audit_log(settings: AuditSettings | None = None, *, signing: bool = True) -> AuditLog:
    home = valet_home()
    settings = settings or AuditSettings.from_home(home)
    if settings.database is None and not (home / "audit.db").is_file():
        fail(f"no audit log yet in {home}")
    return AuditLog.of_home(home, write=signing, settings=settings)


@audit_app.command("verify")
def audit_verify(
    key: Annotated[
        str | None,
        typer.Option(help="The pinned key's fingerprint (`valet audit pin` prints it)."),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            help="Compare with this witness (file:PATH, https://URL, postgresql://URL, mail:NAME)."
        ),
    ] = None,
) -> None:
    """Check that no audit record was changed, deleted, inserted or reordered, that every
    checkpoint is signed by the pinned key, and that the log holds every head its witnesses
    kept (truncation, deleted checkpoints, re-signing, a lost WAL)."""
    try:
        settings = AuditSettings.from_home(valet_home())
        pinned = (
            parse_fingerprint(key)
            if key
            else read_pin(settings.pin)
            if settings.pin is not None
            else None
        )
        if witness:
            chosen = tuple(witness_from(spec, log=settings.name) for spec in witness)
            settings = dataclasses.replace(settings, witnesses=chosen)
    except ConfigError as exc:
        fail(str(exc))
    log = _audit_log(settings, signing=pinned is None)
    try:
        report = log.verify(pinned)
    finally:
        log.close(checkpoint=False)
    (out if report.ok else err).print(report.summary(), markup=False, soft_wrap=True)
    raise typer.Exit(0 if report.ok else 1)


@audit_app.command("pin")
def audit_pin(
    path: Annotated[
        Path | None,
        typer.Argument(help="Also write the fingerprint here (outside valet's home)."),
    ] = None,
) -> None:
    """Print the fingerprint of the key that verifies the audit log, to keep apart from valet
    (then `valet audit verify --key FINGERPRINT`, or `pin = PATH` under [audit])."""
    home = valet_home()
    try:
        public = load_signing_key(home / "keys" / "audit.key").public_key()
        if path is not None:
            write_pin(path, public, home)
    except ConfigError as exc:
        fail(str(exc))
    out.print(fingerprint(public), markup=False, soft_wrap=True)
    if path is not None:
        hint = f"written to {path}; verify with: valet audit verify --key {fingerprint(public)}"
        err.print(hint, markup=False, soft_wrap=True)


@audit_app.command("export")
def audit_export(path: Annotated[Path, typer.Argument(help="JSONL file to write.")]) -> None:
    """Write every audit record as one JSON line."""
    log = _audit_log(signing=False)
    try:
        count = log.export_jsonl(path)
    finally:
        log.close(checkpoint=False)
    out.print(f"wrote {count} records to {path}")


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8700,
    model: ModelOption = None,
    max_tasks: Annotated[int, typer.Option("--max-tasks", min=1, help="Tasks run at once.")] = 2,
    browsers: Annotated[
        int,
        typer.Option(
            "--browsers",
            min=0,
            help="Chromium processes the tasks share, each task in an isolated context "
            "(0: every task launches its own).",
        ),
    ] = 1,
    remote_browser: Annotated[
        list[str] | None,
        typer.Option(
            "--remote-browser",
            help="CDP URL of a browser elsewhere (http://host:9222); repeat for a pool. Tasks "
            "get their contexts there instead of in a local Chromium.",
        ),
    ] = None,
    forget_lost_tasks: Annotated[
        bool,
        typer.Option(
            "--forget-lost-tasks",
            help="Start even though unfinished tasks are missing from the task database; "
            "their workflows are cancelled.",
        ),
    ] = False,
    web_only: Annotated[
        bool,
        typer.Option(
            "--web-only",
            help="Queue tasks but run none: `valet worker` processes on the same Postgres "
            "run them (--max-tasks still sets how many each runs at once).",
        ),
    ] = False,
    rotate_token: Annotated[
        bool,
        typer.Option(
            "--rotate-token",
            help="Make a new install token first: the old token, every sign-in link and every "
            "browser session stop working.",
        ),
    ] = False,
) -> None:
    """Serve the web app and REST API; open the printed one-time link to sign in
    (`valet link` prints another).

    Exit codes: 2 cannot listen; 3 a database is damaged, unreachable or has lost tasks;
    4 another valet server already serves this home or database."""
    from valet.server import serve

    try:
        serve(
            host,
            port,
            home=valet_home(),
            model=model,
            max_concurrent_tasks=max_tasks,
            announce=lambda line: out.print(line, markup=False, soft_wrap=True),
            forget_lost_tasks=forget_lost_tasks,
            new_token=rotate_token,
            shared_browsers=browsers,
            remote_browsers=tuple(remote_browser or ()),
            web_only=web_only,
        )
    except StartupError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None
    except OSError as exc:
        err.print(
            f"[bold red]error:[/] cannot serve on {host}:{port}: {escape(str(exc))}", soft_wrap=True
        )
        raise typer.Exit(EXIT_USAGE) from None


@app.command("worker")
def worker_command(
    model: ModelOption = None,
    browsers: Annotated[
        int,
        typer.Option(
            "--browsers",
            min=0,
            help="Chromium processes this worker's tasks share (0: every task its own).",
        ),
    ] = 1,
    remote_browser: Annotated[
        list[str] | None,
        typer.Option("--remote-browser", help="CDP URL of a browser elsewhere; repeatable."),
    ] = None,
    listen: Annotated[
        str,
        typer.Option(
            help="HOST:PORT where the web server reaches the live views of this worker's tasks "
            "(port 0: any free one).",
        ),
    ] = "127.0.0.1:0",
    advertise: Annotated[
        str | None,
        typer.Option(
            help="The address the web server should use for --listen (http://worker1:8701), "
            "when it differs.",
        ),
    ] = None,
) -> None:
    """Run tasks that `valet serve` queues, on the Postgres they share (VALET_DATABASE_URL)
    and the same valet home; each runs as many at once as the server's --max-tasks. Start as
    many as the machine(s) can carry; stop with Ctrl-C or SIGTERM (its tasks resume in
    another process).

    Exit codes: 3 cannot start (not on Postgres, database unreachable, bad config);
    75 lost the database connection that proves it alive (restart it)."""
    from valet.server._worker import work

    try:
        work(
            home=valet_home(),
            model=model,
            browsers=browsers,
            remote_browsers=tuple(remote_browser or ()),
            listen=listen,
            advertise=advertise,
            announce=lambda line: out.print(line, markup=False, soft_wrap=True),
        )
    except StartupError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


@app.command()
def sites(port: Annotated[int, typer.Option(help="Port (0: any free port).")] = 8765) -> None:
    """Serve the bundled demo and test sites until Ctrl-C."""
    from valet.sites import SiteServer

    with SiteServer(port=port) as server:
        out.print(f"serving the demo sites at {server.url}/ — Ctrl-C to quit")
        _wait_until_interrupted()


def _wait_until_interrupted() -> None:
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
