"""The Sources page of the web app: the person's connector accounts (scopes, last use, a flag
on those unused for long) with test and revoke buttons, the configured toolsets with their
standing grants, a connect form, and the route the OAuth provider sends the browser back to."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from valet.server._api import tasks_of
from valet.server._principal import principal_of
from valet.server._signins import CALLBACK_PATH
from valet.server._sources import (
    NAME,
    CannotRevoke,
    NewOAuthSource,
    NewSecretSource,
    SourceCheck,
    SourceError,
    SourceNotFound,
    SourcesView,
    check_source,
    connect_with_secret,
    finish_sign_in,
    read_sources,
    revoke_source,
    start_sign_in,
)
from valet.server._sources_api import callback_uri, home_of, person_of, signins_of, space_of
from valet.server._views import counts
from valet.server._web import templates

web = APIRouter(include_in_schema=False)

_ANSWER_FIELDS = ("code", "state", "error", "error_description")
"""What the callback passes on from the provider's redirect (nothing else of the query)."""


def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """`3 days ago`, `yesterday`, `just now`; `never` for no moment."""
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        count = int(seconds // size)
        if count >= 1:
            if unit == "day" and count == 1:
                return "yesterday"
            return f"{count} {unit}{'s' if count > 1 else ''} ago"
    return "just now"


templates.env.filters["ago"] = ago


async def _view(request: Request) -> tuple[SourcesView | None, str]:
    """The sources without opening toolsets, or why they cannot be read."""
    try:
        return await read_sources(home_of(request)), ""
    except SourceError as exc:
        return None, str(exc)


def _form(**given: Any) -> dict[str, Any]:
    """The connect form's values (the secret is never sent back)."""
    empty = dict.fromkeys(("name", "connector", "provider", "scopes", "username", "domains"), "")
    return empty | {"auth": "oauth2", "replace": False} | given


@web.get("/sources", response_class=HTMLResponse)
async def sources_page(request: Request, connected: str = "") -> Response:
    view, broken = await _view(request)
    notice = f"Connected {connected}." if re.fullmatch(NAME, connected) else ""
    context = {
        "view": view,
        "broken": broken,
        "notice": notice,
        "checks": {},
        "problems": {},
        "local_only": frozenset[str](),
        "form": _form(),
        "error": "",
        "counts": counts(tasks_of(request)),
    }
    return templates.TemplateResponse(request, "sources.html", context)


@web.get("/ui/sources/toolsets", response_class=HTMLResponse)
async def toolsets_fragment(request: Request) -> Response:
    """The toolsets with their operations: each is opened, so the page loads it afterwards."""
    try:
        view, broken = await read_sources(home_of(request), operations=True), ""
    except SourceError as exc:
        view, broken = None, str(exc)
    context = {"view": view, "broken": broken}
    return templates.TemplateResponse(request, "_source_toolsets.html", context)


async def _accounts(
    request: Request,
    *,
    notice: str = "",
    error: str = "",
    checks: dict[str, SourceCheck] | None = None,
    problems: dict[str, str] | None = None,
    local_only: frozenset[str] = frozenset(),
) -> Response:
    view, broken = await _view(request)
    context = {
        "view": view,
        "broken": error or broken,
        "notice": notice,
        "checks": checks or {},
        "problems": problems or {},
        "local_only": local_only,
    }
    return templates.TemplateResponse(request, "_source_accounts.html", context)


@web.post("/ui/sources/{name}/test", response_class=HTMLResponse)
async def test_button(request: Request, name: str) -> Response:
    try:
        check = await check_source(home_of(request), name)
    except SourceError as exc:
        return await _accounts(request, error=str(exc))
    return await _accounts(request, checks={name: check})


@web.post("/ui/sources/{name}/revoke", response_class=HTMLResponse)
async def revoke_button(
    request: Request, name: str, local_only: Annotated[str, Form()] = ""
) -> Response:
    try:
        done = await revoke_source(
            home_of(request), name, local_only=bool(local_only), person=person_of(request)
        )
    except CannotRevoke as exc:
        hint = " Revoke valet's access there, then remove it here."
        return await _accounts(
            request, problems={name: str(exc) + hint}, local_only=frozenset({name})
        )
    except SourceNotFound as exc:  # no row to show it by
        return await _accounts(request, error=str(exc))
    except SourceError as exc:
        return await _accounts(request, problems={name: str(exc)})
    how = " at the provider" if done.revoked_at_provider else ""
    return await _accounts(request, notice=f"Revoked {name}{how}; valet no longer holds it.")


@web.post("/ui/sources", response_class=HTMLResponse)
async def connect_form(
    request: Request,
    name: Annotated[str, Form()] = "",
    connector: Annotated[str, Form()] = "",
    auth: Annotated[str, Form()] = "oauth2",
    provider: Annotated[str, Form()] = "",
    scopes: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    domains: Annotated[str, Form()] = "",
    secret: Annotated[str, Form()] = "",
    replace: Annotated[str | None, Form()] = None,
) -> Response:
    form = _form(
        name=name,
        connector=connector,
        auth=auth,
        provider=provider,
        scopes=scopes,
        username=username,
        domains=domains,
        replace=replace is not None,
    )
    common = {"name": name.strip(), "connector": connector.strip(), "replace": replace is not None}
    home = home_of(request)
    try:
        if auth == "password":
            fields = {"secret": secret, "username": username.strip(), "domains": _words(domains)}
            body = NewSecretSource.model_validate(common | fields | {"auth": "password"})
            await connect_with_secret(home, body, person_of(request))
            return go(request, f"/sources?connected={body.name}")
        fields = {"provider": provider.strip() or None, "scopes": _words(scopes)}
        oauth = NewOAuthSource.model_validate(common | fields | {"auth": "oauth2"})
        owner = principal_of(request).id
        started = start_sign_in(home, oauth, signins_of(request), callback_uri(request), owner)
        return go(request, started.authorization_url)
    except ValidationError as exc:  # field and rule only: never the value (it may be the secret)
        error = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
    except SourceError as exc:
        error = str(exc)
    view, _ = await _view(request)
    context = {"form": form, "error": error, "view": view}
    return templates.TemplateResponse(request, "_source_connect.html", context)


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", text) if w]


def go(request: Request, target: str) -> Response:
    """To the page `target` (HTMX follows `HX-Redirect`; a plain form a 303)."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@web.get(CALLBACK_PATH, response_class=HTMLResponse)
async def oauth_callback(request: Request) -> Response:
    """Where the provider sends the browser back: complete the sign-in it answers. The browser
    may come without valet's cookie (a cross-site navigation); the pending state let it in, so
    this page shows only the outcome of that one sign-in."""
    answer = {k: v for k, v in request.query_params.items() if k in _ANSWER_FIELDS}
    pending = signins_of(request).take(answer.get("state"))
    context: dict[str, Any] = {"counts": counts(tasks_of(request)), "account": None, "error": ""}
    if pending is None:
        context["error"] = "This sign-in is unknown or has expired: start it again on Sources."
        return templates.TemplateResponse(request, "source_signin.html", context, 400)
    context["name"] = pending.name
    try:
        tasks = tasks_of(request)  # the sign-in's person (the redirect comes without a session)
        space = space_of(tasks.home, pending.owner)
        by = await asyncio.to_thread(tasks.accounts.on_behalf, pending.owner)
        context["account"] = await finish_sign_in(space, pending, answer, by)
    except SourceError as exc:
        context["error"] = str(exc)
        return templates.TemplateResponse(request, "source_signin.html", context, 400)
    return templates.TemplateResponse(request, "source_signin.html", context)
