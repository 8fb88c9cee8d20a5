"""`valet connectors list`: the registered connectors, the person's accounts and the configured
toolsets (MCP servers and connectors in `config.toml`) with their tools, effects and what valet
does before each. `valet connectors add | test | remove`: connector accounts (OAuth2 sign-in in
the browser, or an app password from the vault)."""

from __future__ import annotations

import asyncio
import json
import webbrowser
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from valet.connectors import (
    Account,
    Accounts,
    ConnectorError,
    LoopbackRedirect,
    ToolsetReport,
    add_oauth_account,
    add_password_account,
    check_account,
    configured_toolsets,
    inspect_toolsets,
    oauth_provider,
    record_connect,
    record_removal,
    registered_connectors,
    remove_account,
    unused_after_days,
)
from valet.effects import Effect
from valet.errors import ConfigError
from valet.policy import BuiltinRules
from valet.settings import load_config, valet_home

connectors_app = typer.Typer(
    help="Connectors and MCP servers: what is registered and configured, with each tool's "
    "effect; connector accounts (add, test, remove).",
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
        config = load_config()
        configs = configured_toolsets(config)
        accounts = Accounts.load(valet_home()).accounts
        unused_days = unused_after_days(config)
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
        data = {
            "connectors": connectors,
            "accounts": [_account_data(a, unused_days) for a in accounts],
            "toolsets": [_report_data(r) for r in reports],
        }
        out.print_json(json.dumps(data))
        raise typer.Exit(1 if failed else 0)
    table = Table("connector", "auth", "scopes", "description", box=None)
    for connector in registry.values():
        scopes = ", ".join(connector.scopes) or "-"
        table.add_row(connector.name, connector.auth, scopes, Text(connector.description))
    out.print("[bold]registered connectors[/]")
    out.print(table)
    _print_accounts(accounts, unused_days)
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


def _account_data(account: Account, unused_days: int) -> dict[str, object]:
    data: dict[str, object] = account.model_dump(mode="json", exclude_none=True)
    data["unused"] = account.unused(unused_days)
    return data


def _print_accounts(accounts: tuple[Account, ...], unused_days: int) -> None:
    if not accounts:
        out.print("\nno accounts: valet connectors add NAME --oauth | --credential VAULT_NAME")
        return
    table = Table("account", "connector", "signs in", "as", "scopes", "last used", box=None)
    for account in accounts:
        how = f"oauth2 ({account.provider})" if account.auth == "oauth2" else "app password"
        used = "never" if account.last_used is None else f"{account.last_used:%Y-%m-%d %H:%M}"
        if account.unused(unused_days):
            used += f" [yellow](unused for over {unused_days} days: remove it?)[/]"
        table.add_row(
            Text(account.name),
            Text(account.connector),
            Text(how),
            Text(account.login or "-"),
            Text(", ".join(account.scopes) or "-"),
            used,
        )
    out.print("\n[bold]accounts[/]")
    out.print(table)


def _fail(exc: Exception) -> typer.Exit:
    """Say what failed; exit 2 for a setup problem, 1 for a service that refused or failed."""
    err.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
    return typer.Exit(2 if isinstance(exc, ConfigError) else 1)


@connectors_app.command("add")
def connectors_add(
    name: Annotated[str, typer.Argument(help="The account's name (github, work_mail…).")],
    oauth: Annotated[
        bool, typer.Option("--oauth", help="Sign in in the browser (OAuth2 code + PKCE).")
    ] = False,
    credential: Annotated[
        str | None,
        typer.Option(
            "--credential", help="The vault credential holding the app password or token."
        ),
    ] = None,
    provider: Annotated[
        str | None,
        typer.Option(
            help="OAuth provider: google, microsoft, github or one in config.toml "
            "[oauth.NAME] (default: NAME)."
        ),
    ] = None,
    connector: Annotated[
        str | None, typer.Option(help="The connector the account is for (default: NAME).")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="A scope to ask for (repeat); default: the provider's."),
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the URL to open.")
    ] = False,
    port: Annotated[
        int, typer.Option(help="Port of the loopback redirect on 127.0.0.1 (0: any free one).")
    ] = 0,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sign-in.")] = 300.0,
    replace: Annotated[bool, typer.Option("--replace", help="Replace an account NAME.")] = False,
) -> None:
    """Connect an account: --oauth (browser sign-in; tokens go to the vault, encrypted) or
    --credential VAULT_NAME (an app password or token already in the vault)."""
    home = valet_home()
    kind = connector or name
    if oauth == (credential is not None):
        raise _fail(ConfigError("give either --oauth or --credential VAULT_NAME"))
    try:
        if credential is not None:
            account = add_password_account(
                home, name, connector=kind, credential=credential, replace=replace
            )
            record_connect(home, account)
            out.print(f"connected {name} with the vault credential {credential!r}", markup=False)
            return
        settings = oauth_provider(provider or name, load_config())

        def show(url: str) -> None:
            err.print(f"Open this address to let valet use your {settings.name} account:")
            typer.echo(url)
            if not no_browser:
                webbrowser.open(url)

        redirect = LoopbackRedirect(port, within=timeout)
        scopes = tuple(scope or ())
        account = asyncio.run(
            add_oauth_account(
                home,
                name,
                settings,
                connector=kind,
                show=show,
                scopes=scopes,
                redirect=redirect,
                replace=replace,
            )
        )
        record_connect(home, account)
    except (ConnectorError, ConfigError) as exc:
        raise _fail(exc) from exc
    who = f" as {account.login}" if account.login else ""
    out.print(f"connected {name}{who}; scopes: {', '.join(account.scopes) or '-'}", markup=False)


@connectors_app.command("test")
def connectors_test(name: Annotated[str, typer.Argument(help="The account's name.")]) -> None:
    """Check an account with a cheap read (refreshing its token when it expires soon), and open
    each configured toolset that uses it."""
    try:
        report = asyncio.run(check_account(valet_home(), name, load_config()))
    except (ConnectorError, ConfigError) as exc:
        raise _fail(exc) from exc
    who = f": signed in as {report.login}" if report.login else ""
    out.print(f"{name} works{who}", markup=False)
    for toolset in report.toolsets:
        out.print(f"  toolset {toolset} opens", markup=False)
    for failure in report.failed:
        err.print(f"  [red]toolset {failure}[/]")
    raise typer.Exit(0 if report.ok else 1)


@connectors_app.command("remove")
def connectors_remove(
    name: Annotated[str, typer.Argument(help="The account's name.")],
    local_only: Annotated[
        bool,
        typer.Option("--local-only", help="Do not revoke at the provider (you did it there)."),
    ] = False,
) -> None:
    """Revoke an OAuth account's tokens at the provider, then delete them from the vault and
    forget the account. When revocation fails nothing is deleted."""
    home = valet_home()
    try:
        account = asyncio.run(remove_account(home, name, load_config(), local_only=local_only))
        record_removal(home, account, local_only=local_only)
    except (ConnectorError, ConfigError) as exc:
        raise _fail(exc) from exc
    if account.auth == "oauth2":
        how = "deleted its tokens" if local_only else "revoked and deleted its tokens"
        out.print(f"removed {name}: {how}", markup=False)
    elif account.credential_owned:
        out.print(f"removed {name} and its vault credential", markup=False)
    else:
        out.print(
            f"removed {name}; the vault credential {account.credential!r} stays "
            "(valet vault remove to delete it)",
            markup=False,
        )
