"""`valet browser forget`: log out of one site or of all sites in the persistent profiles.
Parses and prints; `valet.browser` does the work."""

from __future__ import annotations

import asyncio
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from valet.browser import forget_all, forget_site
from valet.settings import valet_home
from valet.vault import normalize_domain

browser_app = typer.Typer(help="The browser's persistent profiles.", no_args_is_help=True)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", markup=True)
    raise typer.Exit(2)


@browser_app.command("forget")
def browser_forget(
    site: Annotated[
        str | None,
        typer.Option(
            "--site",
            help="example.com (and its subdomains) or host:port: its cookies, storage and history.",
        ),
    ] = None,
    all_sites: Annotated[
        bool,
        typer.Option("--all", help="Log out of all sites: wipe cookies, storage, cache, history."),
    ] = False,
    profile: Annotated[
        str | None, typer.Option("--profile", help="Only this profile (default: all of them).")
    ] = None,
) -> None:
    """Forget a site (--site) or everything (--all) in valet's persistent browser profiles."""
    if (site is None) == (not all_sites):
        _fail("give either --site SITE or --all")
    folder = valet_home() / "profiles"
    if site is not None:
        try:
            site = normalize_domain(site)
        except ValueError as exc:
            _fail(str(exc))
        if site.startswith("*."):
            site = site[2:]
        reports = asyncio.run(forget_site(folder, site, name=profile))
    else:
        reports = forget_all(folder, profile)
    if not reports:
        out.print(
            "no persistent profiles"
            + (f" named {profile}" if profile else "")
            + f" in {folder}: tasks use throwaway profiles unless --profile is given"
        )
        return
    for report in reports:
        out.print(report.summary(), markup=False, soft_wrap=True)
    if any(report.skipped for report in reports):
        raise typer.Exit(1)
