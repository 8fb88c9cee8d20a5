"""`valet connectors list`: the registered connectors and the configured toolsets (MCP servers
and connectors in `config.toml`) with their tools, effects and what valet does before each."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from valet.connectors import (
    ConnectorError,
    ToolsetReport,
    configured_toolsets,
    inspect_toolsets,
    registered_connectors,
)
from valet.effects import Effect
from valet.errors import ConfigError
from valet.policy import BuiltinRules
from valet.settings import load_config

connectors_app = typer.Typer(
    help="Connectors and MCP servers: what is registered and configured, with each tool's effect.",
    no_args_is_help=True,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _before(effect: Effect) -> str:
    """What valet's built-in rules do before an operation with this effect."""
    verdict = BuiltinRules().check(effect, frozenset()).verdict
    return {"allow": "runs", "ask": "asks you", "deny": "refused"}[verdict]


@connectors_app.command("list")
def connectors_list(
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List registered connectors and configured toolsets (starting each MCP server once to
    read its tools). Exit code 1 when a configured toolset cannot be opened."""
    try:
        registry = registered_connectors()
        configs = configured_toolsets(load_config())
    except (ConnectorError, ConfigError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    reports = asyncio.run(inspect_toolsets(configs, registry))
    failed = any(report.error for report in reports)
    if json_out:
        connectors = [
            {"name": c.name, "description": c.description, "auth": c.auth, "scopes": c.scopes}
            for c in registry.values()
        ]
        data = {"connectors": connectors, "toolsets": [_report_data(r) for r in reports]}
        out.print_json(json.dumps(data))
        raise typer.Exit(1 if failed else 0)
    table = Table("connector", "auth", "scopes", "description", box=None)
    for connector in registry.values():
        scopes = ", ".join(connector.scopes) or "-"
        table.add_row(connector.name, connector.auth, scopes, Text(connector.description))
    out.print("[bold]registered connectors[/]")
    out.print(table)
    if not reports:
        out.print(
            "\nno toolsets configured: add [[mcp]] or [[connectors]] to config.toml", markup=False
        )
    for report in reports:
        _print_report(report)
    raise typer.Exit(1 if failed else 0)


def _print_report(report: ToolsetReport) -> None:
    config = report.config
    out.print(f"\n[bold]{config.name}[/] ({config.connector})")
    if report.toolset is None:
        out.print(f"  [red]cannot be opened:[/] {report.error}", markup=True)
        return
    toolset = report.toolset
    out.print(f"  {toolset.description}", markup=False)
    table = Table("tool", "effect", "valet", "because", box=None, padding=(0, 1, 0, 2))
    for op in toolset.operations:
        table.add_row(
            Text(toolset.tool_name(op)), op.effect.value, _before(op.effect), Text(op.effect_source)
        )
    out.print(table)


def _report_data(report: ToolsetReport) -> dict[str, object]:
    config = report.config
    data: dict[str, object] = {"name": config.name, "connector": config.connector}
    if report.toolset is None:
        return data | {"error": report.error}
    toolset = report.toolset
    operations = [
        {
            "tool": toolset.tool_name(op),
            "operation": op.name,
            "effect": op.effect.value,
            "because": op.effect_source,
            "valet": _before(op.effect),
            "scopes": list(op.scopes),
        }
        for op in toolset.operations
    ]
    return data | {"description": toolset.description, "auth": toolset.auth, "tools": operations}
