"""`valet vault`: add, list and remove site credentials. Parses and prints; the vault does the
work. Secrets are read from a hidden prompt or stdin, never from the command line."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from valet.settings import valet_home
from valet.vault import Credential, Vault, VaultError

vault_app = typer.Typer(
    help="Site credentials and one-time-code seeds, encrypted at rest; the model only ever "
    "sees placeholders such as {{vault:NAME.password}}.",
    no_args_is_help=True,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    raise typer.Exit(2)


def _read_line(what: str) -> str:
    line = sys.stdin.readline()
    if not line:
        _fail(f"expected the {what} on stdin")
    return line.rstrip("\r\n")


@vault_app.command("add")
def vault_add(
    name: Annotated[
        str, typer.Argument(help="Name used in placeholders: {{vault:NAME.password}}.")
    ],
    domain: Annotated[
        list[str],
        typer.Option(
            "--domain",
            "-d",
            help="Where it may be filled: shop.example (that host only), *.shop.example "
            "(its subdomains) or host:port. Repeat for several.",
        ),
    ],
    username: Annotated[str, typer.Option("--username", "-u", help="The login name.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin (first line).")
    ] = False,
    totp_seed_stdin: Annotated[
        bool,
        typer.Option(
            "--totp-seed-stdin",
            help="Read a TOTP seed (base32) from stdin (the line after the password, if any).",
        ),
    ] = False,
    replace: Annotated[
        bool, typer.Option("--replace", help="Overwrite NAME if it exists.")
    ] = False,
) -> None:
    """Add a credential (the password is asked for with a hidden prompt unless --password-stdin)."""
    password = ""
    if password_stdin:
        password = _read_line("password")
    elif username and sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    elif username:
        _fail("no terminal to ask for the password: pass it on stdin with --password-stdin")
    seed = _read_line("TOTP seed") if totp_seed_stdin else None
    if not (username or password or seed):
        _fail("nothing to store: give --username (and a password) and/or --totp-seed-stdin")
    try:
        credential = Credential(
            name=name,
            domains=tuple(domain),
            username=username,
            password=SecretStr(password),
            totp_seed=None if seed is None else SecretStr(seed),
        )
    except ValidationError as exc:
        problem = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in problem["loc"])
        _fail(f"{where}: {problem['msg']}")
    try:
        vault = Vault.open(valet_home(), create=True)
        vault.add(credential, replace=replace)
        vault.save()
    except VaultError as exc:
        _fail(str(exc))
    if vault.key.note:
        err.print(f"[yellow]note:[/] {vault.key.note}", markup=True)
    fields = " ".join("{{vault:" + f"{name}.{f}" + "}}" for f in credential.fields())
    out.print(f"added {name} for {', '.join(credential.domains)}: {fields}", markup=False)


@vault_app.command("list")
def vault_list() -> None:
    """List credentials: names, domains and which fields are set (never a secret)."""
    try:
        vault = Vault.load(valet_home())
    except VaultError as exc:
        _fail(str(exc))
    if vault is None or not vault.credentials:
        out.print("the vault is empty: valet vault add NAME --domain SITE --username U")
        return
    table = Table("name", "domains", "fields", box=None)
    for credential in vault.credentials:
        table.add_row(credential.name, ", ".join(credential.domains), " ".join(credential.fields()))
    out.print(table)
    out.print(f"[dim]key: {vault.key.where}[/]", markup=True)


@vault_app.command("remove")
def vault_remove(name: Annotated[str, typer.Argument(help="The credential to remove.")]) -> None:
    """Remove a credential."""
    try:
        vault = Vault.open(valet_home())
        vault.remove(name)
        vault.save()
    except VaultError as exc:
        _fail(str(exc))
    out.print(f"removed {name}")
