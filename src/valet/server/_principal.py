"""Who a request acts for, and what that lets it reach.

Single-person mode (the default): whoever holds the install's token or a session opened with
one of its links is *the install*, and sees everything. Multi-person mode (`[people]` in
config.toml): people sign in with a password and act as themselves; each sees only their own
tasks, runs, requests, live views and event streams. A route that does not yet keep what it
shows apart by person is refused to people (fail closed) and stays the install's.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from valet.billing import ACCOUNT
from valet.store import ApiToken, Membership, People, PeopleError, Person, Scope


@dataclass(frozen=True)
class Principal:
    """Who acts: the install (person None) or one person, through a session or an API token."""

    person: Person | None = None
    membership: Membership | None = None
    token: ApiToken | None = None
    """The personal API token the request came with (its scopes bound what it may do)."""

    @property
    def install(self) -> bool:
        return self.person is None

    def owns(self, owner: str | None) -> bool:
        """Whether what `owner` (a person's id, None: the install's) made is theirs to see."""
        return self.person is None or owner == self.person.id

    def allows(self, scope: Scope) -> bool:
        return self.token is None or self.token.allows(scope)

    @property
    def id(self) -> str | None:
        return None if self.person is None else self.person.id

    @property
    def account(self) -> str:
        """Whose quota a task request is charged to: the person's organization, or theirs."""
        if self.membership is not None:
            return "org:" + self.membership.org.id
        return self.own_account

    @property
    def own_account(self) -> str:
        """The person's own, in an organization too (the install's for the install): whose
        tasks `[people] tasks_at_once_per_person` counts."""
        return ACCOUNT if self.person is None else "person:" + self.person.id

    @property
    def timezone(self) -> str | None:
        """The organization's time zone (its month is the quota's month), if any."""
        return None if self.membership is None else self.membership.org.timezone


INSTALL = Principal()


def principal_of(connection: HTTPConnection) -> Principal:
    """The principal the security middleware found for this request (the install when none:
    an app without the middleware, as in-process tests build it)."""
    found = connection.scope.get("state", {}).get("principal")
    return found if isinstance(found, Principal) else INSTALL


def person_principal(people: People, person_id: str, token: ApiToken | None) -> Principal | None:
    """The principal for a signed-in person, or None when they no longer may sign in."""
    try:
        person = people.person(person_id)
    except PeopleError:
        return None
    if person.disabled:
        return None
    return Principal(person, people.membership(person.id), token)


PERSON_ROUTES: tuple[str, ...] = (
    "/",
    "/api/me",
    "/api/me/rules",
    "/api/tokens",
    "/api/tokens/{token_id}",
    "/api/usage",
    "/api/audit",
    "/audit",
    "/api/org",
    "/api/org/rules",
    "/api/org/usage",
    "/api/org/invitations",
    "/ui/org/invite",
    "/usage",
    "/schedules",
    "/ui/schedules",
    "/ui/schedules/{schedule_id}/{action}",
    "/api/schedules",
    "/api/schedules/{schedule_id}",
    "/api/schedules/{schedule_id}/pause",
    "/api/schedules/{schedule_id}/resume",
    "/api/schedules/{schedule_id}/run",
    "/org",
    "/ui/org/block",
    "/api/tasks",
    "/api/tasks/{task_id}",
    "/api/tasks/{task_id}/events",
    "/api/tasks/{task_id}/cancel",
    "/api/tasks/{task_id}/messages",
    "/api/tasks/{task_id}/takeover",
    "/api/tasks/{task_id}/handback",
    "/api/tasks/{task_id}/lease",
    "/api/tasks/{task_id}/live",
    "/api/tasks/{task_id}/report",
    "/tasks/{task_id}/report",
    "/tasks/{task_id}/report.pdf",
    "/ui/tasks/{task_id}/research",
    "/tasks/{task_id}/files",
    "/tasks/{task_id}/files/{path:path}",
    "/tasks/{task_id}/commands.log",
    "/api/runs",
    "/api/runs/{run_id}",
    "/api/requests",
    "/api/requests/{request_id}",
    "/api/requests/{request_id}/answer",
    "/api/requests/{request_id}/approve",
    "/api/requests/{request_id}/decline",
    "/api/requests/{request_id}/edit",
    "/ui/inbox",
    "/ui/stream",
    "/ui/sign-out",
    "/ui/tasks",
    "/tasks/{task_id}",
    "/ui/tasks/{task_id}",
    "/ui/tasks/{task_id}/cancel",
    "/ui/tasks/{task_id}/messages",
    "/signin",
    "/join",
    "/sources",
    "/sources/oauth/callback",
    "/ui/sources",
    "/ui/sources/toolsets",
    "/ui/sources/{name}/test",
    "/ui/sources/{name}/revoke",
    "/api/sources",
    "/api/sources/{name}",
    "/api/sources/{name}/test",
)
"""The routes a person may reach in multi-person mode: each keeps people apart (a list shows
only their own, an object of someone else's is not found). Everything else is the install's."""
