"""`valet users` and `valet org`: the people of a multi-person install and their
organizations. Like `valet link`, they work on the home's database directly (the machine valet
runs on is where it is administered), whether or not the server is running."""

from __future__ import annotations

import sys
from collections.abc import Generator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from valet.errors import StoreUnavailable
from valet.settings import valet_home
from valet.store import MIN_PASSWORD, ROLES, People, PeopleError, Role

users_app = typer.Typer(
    help="People who sign in to valet (multi-person mode): add, list, passwords.",
    no_args_is_help=True,
)
org_app = typer.Typer(
    help="Organizations: create them, their members and roles, invitations.",
    no_args_is_help=True,
)

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

ROLE_HELP = "owner, admin or member"


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(2)


@contextmanager
def _people() -> Generator[People]:
    from valet.store import database_url

    people = People(database_url(valet_home()))
    try:
        yield people
    except PeopleError as exc:
        _fail(str(exc))
    except StoreUnavailable as exc:
        _fail(str(exc))
    finally:
        people.close()


def _role(value: str) -> Role:
    for role in ROLES:
        if value == role:
            return role
    _fail(f"there is no role {value!r}: choose {ROLE_HELP}")


def _password(stdin: bool) -> str:
    """From standard input (one line, for scripts), else asked twice without echo."""
    if stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt(f"password ({MIN_PASSWORD} characters or more)", hide_input=True)
    if typer.prompt("the same again", hide_input=True) != first:
        _fail("the two passwords differ; nothing was changed")
    return str(first)


def _end_sessions(person_id: str) -> int:
    from valet.store import SessionStore, database_url

    sessions = SessionStore(database_url(valet_home()))
    try:
        return sessions.revoke_person(person_id)
    finally:
        sessions.close()


PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input.")
]


@users_app.command("add")
def users_add(
    email: Annotated[str, typer.Argument(help="Their e-mail address (how they sign in).")],
    name: Annotated[str, typer.Option(help="Their name as shown.")] = "",
    org: Annotated[str | None, typer.Option(help="Put them in this organization.")] = None,
    role: Annotated[str, typer.Option(help=ROLE_HELP)] = "member",
    password_stdin: PasswordStdin = False,
) -> None:
    """Add a person with a password (to let them choose it, use `valet org invite`)."""
    chosen = _role(role)
    password = _password(password_stdin)
    with _people() as people:
        target = people.org(org) if org is not None else None
        person = people.add_person(email, name, password)
        if target is not None:
            people.add_member(target.id, person.id, chosen)
    where = "" if target is None else f" in {target.name} as {chosen}"
    out.print(f"added {person.email}{where}; they sign in at the server's /signin page")


@users_app.command("list")
def users_list() -> None:
    """Everyone with an account, with their organization and role."""
    with _people() as people:
        everyone = people.everyone()
        roles = {p.id: people.membership(p.id) for p in everyone}
    if not everyone:
        out.print("no one has an account yet: `valet users add EMAIL` or `valet org invite`")
        return
    table = Table("e-mail", "name", "organization", "role", "since")
    for p in everyone:
        m = roles[p.id]
        table.add_row(
            p.email + (" (disabled)" if p.disabled else ""),
            p.name,
            "" if m is None else m.org.name,
            "" if m is None else m.role,
            p.created_at[:10],
        )
    out.print(table)


@users_app.command("passwd")
def users_passwd(email: str, password_stdin: PasswordStdin = False) -> None:
    """Set a person's password; their browsers are signed out."""
    password = _password(password_stdin)
    with _people() as people:
        people.set_password(email, password)
        person = people.find(email)
    ended = _end_sessions(person.id)
    out.print(f"password changed for {person.email}; {ended} browser session(s) ended")


@users_app.command("disable")
def users_disable(email: str) -> None:
    """Stop a person from signing in: their sessions and API tokens stop working at once."""
    with _people() as people:
        person = people.set_disabled(email, True)
    ended = _end_sessions(person.id)
    out.print(f"{person.email} can no longer sign in; {ended} browser session(s) ended")


@users_app.command("enable")
def users_enable(email: str) -> None:
    """Let a disabled person sign in again."""
    with _people() as people:
        person = people.set_disabled(email, False)
    out.print(f"{person.email} can sign in again")


@org_app.command("create")
def org_create(
    name: str,
    owner: Annotated[str | None, typer.Option(help="E-mail of its first owner.")] = None,
    timezone: Annotated[str, typer.Option(help="Its months are counted here.")] = "UTC",
) -> None:
    """Create an organization."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        _fail(f"{timezone!r} is not a time zone (e.g. Europe/Paris, UTC)")
    with _people() as people:
        made = people.create_org(name, timezone)
        if owner is not None:
            people.add_member(made.id, people.find(owner).id, "owner")
    out.print(f"created {made.name}" + ("" if owner is None else f", owned by {owner}"))


@org_app.command("list")
def org_list() -> None:
    """The organizations and how many members each has."""
    with _people() as people:
        found = [(o, len(people.members(o.id))) for o in people.orgs()]
    if not found:
        out.print("no organization yet: `valet org create NAME`")
        return
    table = Table("organization", "members", "time zone", "since")
    for o, count in found:
        table.add_row(o.name, str(count), o.timezone, o.created_at[:10])
    out.print(table)


@org_app.command("members")
def org_members(org: str) -> None:
    """The members of an organization and their roles."""
    with _people() as people:
        found = people.members(org)
    table = Table("e-mail", "name", "role")
    for m in found:
        table.add_row(m.person.email, m.person.name, m.role)
    out.print(table)


@org_app.command("add")
def org_add(
    org: str, email: str, role: Annotated[str, typer.Option(help=ROLE_HELP)] = "member"
) -> None:
    """Put a person in an organization, or change their role there."""
    chosen = _role(role)
    with _people() as people:
        made = people.add_member(people.org(org).id, people.find(email).id, chosen)
    out.print(f"{made.person.email} is {chosen} of {made.org.name}")


@org_app.command("remove")
def org_remove(org: str, email: str) -> None:
    """Take a person out of an organization (it keeps at least one owner)."""
    with _people() as people:
        people.remove_member(people.org(org).id, people.find(email).id)
    out.print(f"{email} is no longer in {org}")


@org_app.command("invite")
def org_invite(
    org: str,
    email: str,
    role: Annotated[str, typer.Option(help=ROLE_HELP)] = "member",
    url: Annotated[
        str | None,
        typer.Option(help="The server's address (default: where `valet serve` last started)."),
    ] = None,
) -> None:
    """Print a one-time link (7 days) with which `email` chooses a password and joins."""
    from valet.server._serve import server_address

    chosen = _role(role)
    try:
        base = server_address(valet_home(), url)
    except LookupError as exc:
        _fail(f"{exc}; start it with `valet serve`, or pass --url")
    with _people() as people:
        secret = people.invite(people.org(org).id, email, chosen, invited_by="install")
    out.print(f"{base}/join?invite={secret}", markup=False, soft_wrap=True)
