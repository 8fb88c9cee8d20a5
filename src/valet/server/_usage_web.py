"""The usage page (where the month stands, a chart of it, per person for admins) and the
organization page (its members and the rules its admins set), in the web app."""

from __future__ import annotations

import asyncio
import calendar
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from valet.billing import tasks_left
from valet.policy import RuleSet, explain
from valet.server._api import tasks_of
from valet.server._org import (
    BadRules,
    NewInvitation,
    admin_of,
    by_person,
    invite,
    membership_of,
    save_org_rules,
)
from valet.server._principal import principal_of
from valet.server._views import counts
from valet.server._web import templates
from valet.store import People

web = APIRouter(include_in_schema=False)
org_web = APIRouter(include_in_schema=False)
"""Multi-person mode only."""

CHART_HEIGHT = 120
BAR = 14
"""Width of one day in the chart's own units (the SVG scales to the page)."""


def month_chart(per_day: dict[int, int], year: int, month: int) -> dict[str, Any]:
    """A bar per day of the month, as shapes a template draws in an inline SVG."""
    days = calendar.monthrange(year, month)[1]
    top = max([1, *per_day.values()])
    bars: list[dict[str, Any]] = []
    for day in range(1, days + 1):
        count = per_day.get(day, 0)
        height = round(count / top * (CHART_HEIGHT - 20))
        bars.append(
            {
                "x": (day - 1) * BAR + 2,
                "y": CHART_HEIGHT - 14 - height,
                "width": BAR - 4,
                "height": height,
                "day": day,
                "count": count,
                "label": day in (1, 8, 15, 22, 29),
            }
        )
    name = f"{calendar.month_name[month]} {year}"
    total = sum(per_day.values())
    return {
        "width": days * BAR,
        "height": CHART_HEIGHT,
        "bars": bars,
        "top": top,
        "title": f"Task requests per day, {name}: {total} in all",
        "month": calendar.month_abbr[month],
    }


@web.get("/usage", response_class=HTMLResponse)
async def usage_page(request: Request) -> Response:
    manager, who = tasks_of(request), principal_of(request)
    usage = await asyncio.to_thread(manager.usage, who)
    per_day = await asyncio.to_thread(manager.accounts.daily, who)
    accounts = manager.accounts
    local = accounts.clock().astimezone(accounts.metering_for(who.timezone).zone)
    member = who.membership
    people = await by_person(request, who, member) if member is not None and member.admin else None
    context = {
        "usage": usage,
        "left": tasks_left(usage),
        "chart": month_chart(per_day, local.year, local.month),
        "resets": datetime.fromisoformat(usage["resets_at"]),
        "people": people,
        "organization": None if member is None else member.org.name,
        "counts": counts(manager, who),
    }
    return templates.TemplateResponse(request, "usage.html", context)


def _rules_in_words(data: dict[str, Any]) -> list[str]:
    """The organization's rules as its members read them."""
    return [explain(rule) for rule in RuleSet.model_validate(data).rules]


async def _org_page(
    request: Request,
    error: str = "",
    status: int = 200,
    invited: dict[str, str] | None = None,
) -> Response:
    who, member = membership_of(request)
    store: People = request.app.state.guard.people
    rules = await asyncio.to_thread(store.rules_of, "org:" + member.org.id)
    found = await asyncio.to_thread(store.members, member.org.id) if member.admin else []
    blocked = [site for r in rules["rules"] if r.get("kind") == "deny_sites" for site in r["sites"]]
    context = {
        "org": member.org,
        "role": member.role,
        "admin": member.admin,
        "members": found,
        "rules": _rules_in_words(rules),
        "blocked": blocked,
        "error": error,
        "invited": invited,
        "usage": await asyncio.to_thread(tasks_of(request).usage, who) if member.admin else None,
        "counts": counts(tasks_of(request), who),
    }
    return templates.TemplateResponse(request, "org.html", context, status_code=status)


@org_web.get("/org", response_class=HTMLResponse)
async def org_page(request: Request) -> Response:
    return await _org_page(request)


@org_web.post("/ui/org/invite", response_class=HTMLResponse)
async def invite_form(
    request: Request,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "member",
) -> Response:
    """Make an invitation link (admins) and show it on the organization's page."""
    try:
        body = NewInvitation.model_validate({"email": email.strip(), "role": role})
        made = await invite(request, body)
    except ValidationError as exc:
        return await _org_page(request, f"Invitation: {exc.errors()[0]['msg']}", 400)
    except BadRules as exc:
        return await _org_page(request, str(exc), 400)
    return await _org_page(request, invited=made.model_dump())


@org_web.post("/ui/org/block", response_class=HTMLResponse)
async def block_site(
    request: Request,
    site: Annotated[str, Form()] = "",
    unblock: Annotated[str, Form()] = "",
) -> Response:
    """Add a site to the organization's blocked sites (or take one off): admins only."""
    _, member = admin_of(request)
    store: People = request.app.state.guard.people
    data = await asyncio.to_thread(store.rules_of, "org:" + member.org.id)
    kept = [r for r in data["rules"] if r.get("kind") != "deny_sites"]
    sites = [s for r in data["rules"] if r.get("kind") == "deny_sites" for s in r["sites"]]
    wanted = site.strip().lower().removeprefix("https://").removeprefix("http://").strip("/")
    if unblock:
        sites = [s for s in sites if s != unblock]
    elif not wanted or " " in wanted or "/" in wanted:
        return await _org_page(request, "Write a site's name, like casino.example.", 400)
    elif wanted not in sites:
        sites.append(wanted)
    rules = kept + ([{"kind": "deny_sites", "sites": sites}] if sites else [])
    try:
        await save_org_rules(request, {"rules": rules})
    except ValidationError as exc:
        return await _org_page(request, f"That is not a site: {exc.errors()[0]['msg']}", 400)
    return RedirectResponse("/org", status_code=303)
