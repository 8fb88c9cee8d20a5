"""The organization, seen by its people (multi-person mode): who is in it, its rules, its usage.

Every member reads the organization's rules (they bind their tasks: each refusal says "set by
your organization"); admins and owners change them (each change is in the audit log as that
admin's, marked `admin`) and read the month's usage by person. No route here shows a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError

from valet._rules_file import record_change
from valet.errors import ValetError
from valet.policy import RuleSet
from valet.server._principal import Principal, principal_of
from valet.server._schemas import ErrorBody
from valet.server._tasks import TaskManager, TaskNotFound
from valet.store import Membership, People, PeopleError, Person

api = APIRouter(prefix="/api", tags=["organization"], responses={401: {"model": ErrorBody}})


class NotInAnOrganization(ValetError):
    """The person belongs to no organization (404)."""


class AdminsOnly(ValetError):
    """Only the organization's owners and admins may do this (403)."""


class BadRules(ValetError):
    """Rules that are not valet's rule language (422)."""


def membership_of(request: Request) -> tuple[Principal, Membership]:
    who = principal_of(request)
    if who.membership is None:
        raise NotInAnOrganization("you are not in an organization")
    return who, who.membership


def admin_of(request: Request) -> tuple[Principal, Membership]:
    who, member = membership_of(request)
    if not member.admin or not who.allows("admin"):
        raise AdminsOnly(
            "only your organization's owners and admins may do this"
            + ("" if who.allows("admin") else " (and with a token, only one with scope admin)")
        )
    return who, member


def _people(request: Request) -> People:
    people: People = request.app.state.guard.people
    return people


class OrgMember(BaseModel):
    email: str
    name: str
    role: str


class OrgView(BaseModel):
    id: str
    name: str
    timezone: str
    role: str
    members: list[OrgMember] | None = None
    """Admins only."""


@api.get("/org")
async def my_org(request: Request) -> OrgView:
    """Your organization; its members if you are an admin."""
    _, member = membership_of(request)
    view = OrgView(
        id=member.org.id, name=member.org.name, timezone=member.org.timezone, role=member.role
    )
    if member.admin:
        found = await asyncio.to_thread(_people(request).members, member.org.id)
        view.members = [
            OrgMember(email=m.person.email, name=m.person.name, role=m.role) for m in found
        ]
    return view


@api.get("/org/rules")
async def org_rules(request: Request) -> dict[str, Any]:
    """The organization's rules: they bind every member's task, with the installation's and
    strictest first (a rule only ever refuses)."""
    _, member = membership_of(request)
    return await asyncio.to_thread(_people(request).rules_of, "org:" + member.org.id)


@api.put("/org/rules")
async def set_org_rules(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the organization's rules (admins): `{"rules": [{"kind": "deny_sites", "sites":
    ["casino.example"]}, …]}` in valet's rule language. Recorded in the audit log."""
    try:
        return await save_org_rules(request, body)
    except ValidationError as exc:
        raise BadRules(f"these are not valet rules: {exc.errors()[0]['msg']}") from exc


async def save_org_rules(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """Replace the organization's rules as the request's admin, and audit it. Raises
    `AdminsOnly`, and pydantic's `ValidationError` for what is not valet rules."""
    who, member = admin_of(request)
    assert who.person is not None
    return await _replace_rules(
        request,
        "org:" + member.org.id,
        body,
        who.person,
        "org.rules",
        {"admin": True, "organization": member.org.name},
        f"{who.person.email} (admin of {member.org.name}) set the organization's rules",
    )


async def _replace_rules(
    request: Request,
    owner: str,
    body: dict[str, Any],
    by: Person,
    tool: str,
    details: dict[str, Any],
    reason: str,
) -> dict[str, Any]:
    """Replace the rules of `owner` (`org:<id>`, `person:<id>`) with `body`, as `by`, and
    record it in the audit log. Raises pydantic's `ValidationError` for what is not rules."""
    data = RuleSet.model_validate(body).as_data()
    await asyncio.to_thread(_people(request).set_rules, owner, data, by.id)
    manager: TaskManager = request.app.state.tasks
    await asyncio.to_thread(
        record_change, manager.home, tool, details | data, reason, person=by.email
    )
    return data


def _own(request: Request) -> Principal:
    who = principal_of(request)
    if who.person is None:
        raise NotInAnOrganization(
            "the installation's rules are rules.toml (`valet rules`); sign in as a person"
        )
    return who


@api.get("/me/rules")
async def my_rules(request: Request) -> dict[str, Any]:
    """Your own rules (multi-person mode): they bind your tasks, with your organization's."""
    who = _own(request)
    assert who.person is not None
    return await asyncio.to_thread(_people(request).rules_of, "person:" + who.person.id)


@api.put("/me/rules")
async def set_my_rules(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """Replace your own rules (valet's rule language, as `PUT /api/org/rules`); audited."""
    person = _own(request).person
    assert person is not None
    reason = f"{person.email} set their rules"
    try:
        return await _replace_rules(
            request, "person:" + person.id, body, person, "rules", {}, reason
        )
    except ValidationError as exc:
        raise BadRules(f"these are not valet rules: {exc.errors()[0]['msg']}") from exc


class NewInvitation(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    role: Literal["member", "admin", "owner"] = "member"


class Invitation(BaseModel):
    link: str = Field(description="Works once, for 7 days: whoever opens it joins.")
    email: str
    role: str


async def invite(request: Request, body: NewInvitation) -> Invitation:
    """An invitation to the request's admin's organization (an admin invites members and
    admins; only an owner invites an owner). Audited."""
    who, member = admin_of(request)
    assert who.person is not None
    if body.role == "owner" and member.role != "owner":
        raise AdminsOnly("only an owner may invite an owner")
    try:
        secret = await asyncio.to_thread(
            _people(request).invite, member.org.id, body.email, body.role, who.person.id
        )
    except PeopleError as exc:
        raise BadRules(str(exc)) from exc
    manager: TaskManager = request.app.state.tasks
    await asyncio.to_thread(
        record_change,
        manager.home,
        "org.invite",
        {"admin": True, "organization": member.org.name, "email": body.email, "role": body.role},
        f"{who.person.email} invited {body.email} to {member.org.name} as {body.role}",
        person=who.person.email,
    )
    base = str(request.base_url).rstrip("/")
    return Invitation(link=f"{base}/join?invite={secret}", email=body.email, role=body.role)


@api.post("/org/invitations", status_code=201)
async def make_invitation(request: Request, body: NewInvitation) -> Invitation:
    """Invite someone to your organization (admins): the answer's link lets them choose a
    password and join, once, within 7 days."""
    return await invite(request, body)


class PersonUsage(BaseModel):
    email: str
    tasks: int


class OrgUsage(BaseModel):
    organization: str
    usage: dict[str, Any]
    by_person: list[PersonUsage]


@api.get("/org/usage")
async def org_usage(request: Request) -> OrgUsage:
    """The organization's month (admins): the pooled quota and each member's task requests."""
    who, member = admin_of(request)
    manager: TaskManager = request.app.state.tasks
    return OrgUsage(
        organization=member.org.name,
        usage=manager.usage(who),
        by_person=await by_person(request, who, member),
    )


async def by_person(request: Request, who: Principal, member: Membership) -> list[PersonUsage]:
    """Each member's task requests this month, from the ledger of their organization."""
    manager: TaskManager = request.app.state.tasks
    found = await asyncio.to_thread(_people(request).members, member.org.id)
    charged = await asyncio.to_thread(manager.accounts.charged, who)
    counts: dict[str, int] = {}
    for task_id, count in charged.items():
        with contextlib.suppress(TaskNotFound):
            owner = manager.get(task_id).owner or ""
            counts[owner] = counts.get(owner, 0) + count
    return [PersonUsage(email=m.person.email, tasks=counts.get(m.person.id, 0)) for m in found]
