"""The Sources API under /api/sources: list, connect, test and revoke connector accounts
(the web app's page is `_sources_web`). Errors are `SourceError`s, answered by `_app`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi import Path as PathParam

from valet._home import person_space
from valet.server._api import tasks_of
from valet.server._principal import principal_of
from valet.server._schemas import ErrorBody
from valet.server._signins import CALLBACK_PATH, SignIns
from valet.server._sources import (
    NAME,
    NewOAuthSource,
    NewSource,
    RevokedSource,
    SignInStarted,
    SourceAccount,
    SourceCheck,
    SourcesView,
    check_source,
    connect_with_secret,
    read_sources,
    revoke_source,
    start_sign_in,
)

api = APIRouter(prefix="/api", tags=["sources"])

AccountName = Annotated[str, PathParam(pattern=NAME, description="The account's name.")]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409, 422, 502)
}


def home_of(request: Request) -> Path:
    """Whose sources the request reads and changes: the installation's, or (multi-person
    mode) the person's own space: their accounts and their vault, never anyone else's."""
    return space_of(tasks_of(request).home, principal_of(request).id)


def space_of(home: Path, owner: str | None) -> Path:
    """The installation's home for the install (`owner` None), else the person's space."""
    return home if owner is None else person_space(home, owner)


def person_of(request: Request) -> str:
    """Who acts, as the audit log names them: "person" (the install), else their address."""
    who = principal_of(request).person
    return "person" if who is None else who.email


def signins_of(request: Request) -> SignIns:
    signins: SignIns = request.app.state.signins
    return signins


def callback_uri(request: Request) -> str:
    """Where the provider sends the browser back: this server, as the person reached it."""
    return str(request.base_url).rstrip("/") + CALLBACK_PATH


@api.get("/sources", responses=_ERRORS)
async def list_sources(
    request: Request,
    operations: Annotated[
        bool, Query(description="Open each toolset to list its operations and grants.")
    ] = True,
) -> SourcesView:
    """Connector accounts (scopes, created, last use, flagged when unused for long) and the
    configured toolsets with the standing grant on each operation. 409 when config.toml or
    connectors.toml is broken."""
    return await read_sources(home_of(request), operations=operations)


@api.post(
    "/sources",
    status_code=status.HTTP_201_CREATED,
    responses={**_ERRORS, 202: {"model": SignInStarted}},
)
async def connect_source(
    request: Request, response: Response, body: Annotated[NewSource, Body()]
) -> SourceAccount | SignInStarted:
    """Connect an account. `auth: "password"`: the app password or token goes straight to the
    vault (201, the account). `auth: "oauth2"`: 202 with the provider's authorization URL; the
    provider sends the browser back to this server, which completes the sign-in (code + PKCE).
    409 when the name is taken; 400 for an unknown connector or provider."""
    home = home_of(request)
    if isinstance(body, NewOAuthSource):
        response.status_code = status.HTTP_202_ACCEPTED
        return start_sign_in(
            home, body, signins_of(request), callback_uri(request), principal_of(request).id
        )
    return await connect_with_secret(home, body, person_of(request))


@api.post("/sources/{name}/test", responses=_ERRORS)
async def test_source(name: AccountName, request: Request) -> SourceCheck:
    """A cheap read with the account (refreshing its token first when needed) and each
    configured toolset using it opened once, as `valet connectors test`. An account that does
    not work is an answer (`ok: false`), not an error."""
    return await check_source(home_of(request), name)


@api.delete("/sources/{name}", responses=_ERRORS)
async def revoke(
    name: AccountName,
    request: Request,
    local_only: Annotated[
        bool, Query(description="Do not revoke at the provider (you did it there).")
    ] = False,
) -> RevokedSource:
    """Revoke an account, as `valet connectors remove`: its OAuth tokens at the provider, then
    its vault entries and the account. Recorded in the audit log as the person's. 409 when the
    provider has no revocation endpoint (revoke there, then use `local_only`); 502 when the
    provider refused or is down (nothing changed)."""
    return await revoke_source(
        home_of(request), name, local_only=local_only, person=person_of(request)
    )
