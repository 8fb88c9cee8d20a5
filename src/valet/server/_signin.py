"""Multi-person mode: signing in with a password, joining by invitation, who am I, and
personal API tokens.

The sign-in and join pages are the only ones served before anyone is signed in; their posts
must come from the server's own origin (the security middleware checks it). A successful
sign-in opens a session bound to the person, in the same HttpOnly SameSite=Strict cookie the
single-person link gives.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from html import escape
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from valet.errors import ValetError
from valet.server._principal import Principal, principal_of
from valet.server._schemas import ErrorBody
from valet.server._security import Guard, gate_page, set_session_cookie
from valet.store import SCOPES, ApiToken, People, PeopleError, Scope

web = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api", tags=["people"], responses={401: {"model": ErrorBody}})

MAX_TOKEN_DAYS = 366


class NotSignedInAsAPerson(ValetError):
    """A personal route reached with the install's token (400)."""


class TokenNotFound(ValetError):
    """No token of the person's with that id (404)."""


def _guard(request: Request) -> Guard:
    guard: Guard = request.app.state.guard
    return guard


def _people(request: Request) -> People:
    people = _guard(request).people
    if people is None:  # the routes exist only in multi-person mode; this is a coding error
        raise RuntimeError("multi-person routes without [people]")
    return people


def next_path(value: str | None) -> str:
    """Where to go after signing in: a path on this server, never another site."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


_FIELD = (
    '<label>{label}<input name="{name}" type="{kind}" autocomplete="{auto}" required{extra}>'
    "</label>"
)


def _sign_in_page(
    request: Request, going: str, problem: str = "", status_code: int = 200
) -> HTMLResponse:
    fields = _FIELD.format(
        label="E-mail", name="email", kind="email", auto="username", extra=" autofocus"
    ) + _FIELD.format(
        label="Password", name="password", kind="password", auto="current-password", extra=""
    )
    body = (
        (f'<p class="form-error" role="alert">{escape(problem)}</p>' if problem else "")
        + f'<form method="post" action="/signin" class="stack">{fields}'
        + f'<input type="hidden" name="next" value="{escape(going)}">'
        + '<button type="submit">Sign in</button></form>'
    )
    if (sso := getattr(request.app.state, "sso", None)) is not None:
        start = "/signin/sso?" + urlencode({"next": going})
        label = escape(sso.settings.label)
        body += f'<p><a class="button" href="{escape(start)}">Sign in with {label}</a></p>'
    return gate_page(("Sign in to valet", body), status_code)


@web.get("/signin")
async def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request, next_path(request.query_params.get("next")))


@web.post("/signin")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    email, password = str(form.get("email") or ""), str(form.get("password") or "")
    going = next_path(str(form.get("next") or ""))
    people = _people(request)
    client = request.client.host if request.client is not None else ""
    if (wait := await asyncio.to_thread(people.locked, email, client)) is not None:
        minutes = max(1, round(wait.total_seconds() / 60))
        problem = f"Too many failed sign-ins for this address: try again in {minutes} minute(s)" + (
            ", or use single sign-on." if hasattr(request.app.state, "sso") else "."
        )
        return _sign_in_page(request, going, problem, 429)
    person = await asyncio.to_thread(people.authenticate, email, password)
    if person is None:
        await asyncio.to_thread(people.failed, email, client)
        return _sign_in_page(
            request, going, "That e-mail address and password do not match an account.", 401
        )
    return await signed_in(request, person.id, RedirectResponse(going, status_code=303))


async def signed_in(request: Request, person_id: str, response: Response) -> Response:
    """`response`, carrying the cookie of a new session for the person who proved who they
    are (a password, an invitation, single sign-on)."""
    guard = _guard(request)
    agent = request.headers.get("user-agent", "")
    secret = await asyncio.to_thread(guard.sessions.sign_in, guard.install, person_id, agent)
    set_session_cookie(response, guard, secret)
    return response


def _join_page(invite: str, org: str, email: str, problem: str = "", code: int = 200) -> Response:
    fields = _FIELD.format(
        label="Your name", name="name", kind="text", auto="name", extra=" autofocus"
    ) + _FIELD.format(
        label="Choose a password (10 characters or more)",
        name="password",
        kind="password",
        auto="new-password",
        extra=' minlength="10"',
    )
    body = (
        f"<p>You are invited to <strong>{escape(org)}</strong> as {escape(email)}.</p>"
        + (f'<p class="form-error" role="alert">{escape(problem)}</p>' if problem else "")
        + f'<form method="post" action="/join" class="stack">{fields}'
        + f'<input type="hidden" name="invite" value="{escape(invite)}">'
        + '<button type="submit">Join</button></form>'
    )
    return gate_page(("Join valet", body), code)


_SPENT = (
    "This invitation cannot be used",
    "<p>It was used already or has expired (invitations last 7 days). Ask your "
    "organization's admin for a new one.</p>",
)


@web.get("/join")
async def join_form(request: Request) -> Response:
    invite = request.query_params.get("invite", "")
    found = await asyncio.to_thread(_people(request).invitation, invite) if invite else None
    if found is None:
        return gate_page(_SPENT, 404)
    org, email, _ = found
    return _join_page(invite, org.name, email)


@web.post("/join")
async def join(request: Request) -> Response:
    form = await request.form()
    invite, name = str(form.get("invite") or ""), str(form.get("name") or "")
    password = str(form.get("password") or "")
    people = _people(request)
    found = await asyncio.to_thread(people.invitation, invite) if invite else None
    if found is None:
        return gate_page(_SPENT, 404)
    try:
        joined = await asyncio.to_thread(people.accept, invite, name, password)
    except PeopleError as exc:
        return _join_page(invite, found[0].name, found[1], str(exc), 400)
    return await signed_in(request, joined.person.id, RedirectResponse("/", status_code=303))


# the API ---------------------------------------------------------------------------------------


class Me(BaseModel):
    install: bool = Field(description="True: the installation's own token or link.")
    id: str | None = None
    email: str | None = None
    name: str | None = None
    organization: str | None = None
    role: str | None = None
    scopes: list[str] | None = Field(
        default=None, description="The API token's scopes, if one is used."
    )


@api.get("/me")
async def who_am_i(request: Request) -> Me:
    """Who the request acts for."""
    who = principal_of(request)
    if who.person is None:
        return Me(install=True)
    member = who.membership
    return Me(
        install=False,
        id=who.person.id,
        email=who.person.email,
        name=who.person.name,
        organization=None if member is None else member.org.name,
        role=None if member is None else member.role,
        scopes=None if who.token is None else list(who.token.scopes),
    )


class TokenInfo(BaseModel):
    id: str
    name: str
    scopes: list[str]
    created_at: str
    expires_at: str | None
    last_used_at: str | None


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(
        min_length=1, description=", ".join(f"{k}: {v}" for k, v in SCOPES.items())
    )
    days: int | None = Field(
        90, ge=1, le=MAX_TOKEN_DAYS, description="It stops working after this many days."
    )


class MadeToken(TokenInfo):
    token: str = Field(description="The secret: shown this once, kept only as a digest.")


def _info(token: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=token.id,
        name=token.name,
        scopes=list(token.scopes),
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
    )


def _person(request: Request) -> Principal:
    who = principal_of(request)
    if who.person is None:
        raise NotSignedInAsAPerson(
            "API tokens are personal: sign in as a person (the installation has its own token)"
        )
    return who


@api.get("/tokens")
async def list_tokens(request: Request) -> list[TokenInfo]:
    """Your personal API tokens (never their secrets)."""
    who = _person(request)
    assert who.person is not None
    found = await asyncio.to_thread(_people(request).tokens, who.person.id)
    return [_info(t) for t in found]


@api.post("/tokens", status_code=status.HTTP_201_CREATED)
async def make_token(request: Request, body: Annotated[NewToken, Body()]) -> MadeToken:
    """A new personal API token (send it as `Authorization: Bearer`). Made from a signed-in
    browser only: a token cannot make tokens."""
    who = _person(request)
    assert who.person is not None
    if who.token is not None:
        raise NotSignedInAsAPerson("a token cannot make tokens: make it from the web app")
    lifetime = None if body.days is None else timedelta(days=body.days)
    made, secret = await asyncio.to_thread(
        _people(request).new_token, who.person.id, body.name, tuple(body.scopes), lifetime
    )
    return MadeToken(token=secret, **_info(made).model_dump())


@api.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(token_id: str, request: Request) -> Response:
    """End one of your tokens at once (404: you have none with that id)."""
    who = _person(request)
    assert who.person is not None
    if not await asyncio.to_thread(_people(request).revoke_token, who.person.id, token_id):
        raise TokenNotFound(f"you have no token {token_id!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
