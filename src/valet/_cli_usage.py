"""`valet usage`: where the month stands against the plan's quota, read from valet's database
(server running or not)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from valet.errors import ConfigError, StoreUnavailable
from valet.settings import load_config, valet_home

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def usage(
    org: Annotated[
        str | None, typer.Option(help="An organization's account (multi-person mode).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON, as GET /api/usage.")] = False,
) -> None:
    """Task requests used this month, what is left, when the quota resets, overage."""
    from sqlalchemy.exc import SQLAlchemyError

    from valet.billing import ACCOUNT, Metering, summary, tasks_left, utc_now
    from valet.store import People, PeopleError, TaskStore, database_url

    home = valet_home()
    url = database_url(home)
    try:
        metering = Metering.from_config(load_config(home))
        account = ACCOUNT
        if org is not None:
            people = People(url)
            try:
                account = "org:" + people.org(org).id
            finally:
                people.close()
        store = TaskStore(url)
        try:
            shown = store.read(lambda db: summary(db, metering, utc_now(), account))
        finally:
            store.close()
    except (ConfigError, PeopleError, StoreUnavailable, SQLAlchemyError) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    if as_json:
        out.print(json.dumps(shown, indent=2), markup=False)
        return
    words = tasks_left(shown)
    if words is None:
        out.print(
            f"{shown['used']} task request(s) this month ({shown['period']}); no plan limits them"
        )
        return
    out.print(words["text"], markup=False)
    out.print(words["detail"], markup=False, soft_wrap=True)
