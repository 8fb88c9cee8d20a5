"""`valet link` and `valet sessions`: a fresh one-time sign-in link for the web app, and the
browsers signed in to it. They work on the home's database directly, so they need no token
on the command line and work whether or not the server is running."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from valet.errors import StoreUnavailable
from valet.settings import valet_home

sessions_app = typer.Typer(
    help="Browsers signed in to the web app: list them, sign them out.", no_args_is_help=True
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


def link(
    url: Annotated[
        str | None,
        typer.Option(help="The server's address (default: where `valet serve` last started)."),
    ] = None,
) -> None:
    """Print a fresh one-time sign-in link for the web app (for a link already used, or
    another browser). It signs in one browser, once, within a day."""
    from sqlalchemy.exc import SQLAlchemyError

    from valet.server._serve import new_link

    try:
        made = new_link(valet_home(), url)
    except LookupError as exc:
        _fail(f"{exc}; start it with `valet serve` (it prints a link), or pass --url")
    except (SQLAlchemyError, StoreUnavailable) as exc:
        _fail(f"cannot write the link to valet's database: {exc}")
    out.print(made, markup=False, soft_wrap=True)


@sessions_app.command("list")
def sessions_list() -> None:
    """The browsers signed in, most recently used first."""
    from valet.server import load_or_create_token
    from valet.store import SessionStore, database_url, install_of

    home = valet_home()
    store = SessionStore(database_url(home))
    try:
        found = store.sessions(install_of(load_or_create_token(home)))
    finally:
        store.close()
    if not found:
        out.print("no browser is signed in")
        return
    table = Table("signed in", "last used", "ends", "browser")
    table.add_column("id", no_wrap=True)
    for s in found:
        times = (s.created_at[:16], s.last_used_at[:16], s.expires_at[:10])
        table.add_row(*(t.replace("T", " ") for t in times), s.agent, s.id)
    out.print(table)


@sessions_app.command("revoke")
def sessions_revoke(
    session_id: Annotated[str | None, typer.Argument(help="A session id from `list`.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Sign out every browser.")] = False,
) -> None:
    """Sign a browser out (its cookie stops working at once), or all of them."""
    from valet.store import SessionStore, database_url

    if (session_id is None) == (not all_):
        _fail("name one session id, or pass --all")
    store = SessionStore(database_url(valet_home()))
    try:
        if all_:
            out.print(f"signed out {store.revoke_all()} browser(s); unused links no longer work")
        elif store.revoke(str(session_id)):
            out.print(f"signed out session {session_id}")
        else:
            _fail(f"no session {session_id!r} (see `valet sessions list`)")
    finally:
        store.close()
