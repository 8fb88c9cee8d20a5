"""Browser sessions: list and revoke them, make a one-time sign-in link, sign out."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from valet.server._security import (
    SIGNED_OUT_PATH,
    Guard,
    clear_cookie,
    gate_page,
    signed_out,
)
from valet.server._tasks import TaskManager

api = APIRouter(prefix="/api", tags=["sessions"])
web = APIRouter(include_in_schema=False)


class SessionInfo(BaseModel):
    """One signed-in browser (its secret is never shown)."""

    id: str
    created_at: str
    last_used_at: str
    expires_at: str = Field(description="Pushed on by each use (sliding expiry).")
    agent: str = Field(description="The browser's User-Agent when it signed in.")
    current: bool = Field(description="The session this request came with.")


class SignInLink(BaseModel):
    url: str = Field(description="Signs in one browser, once, within a day.")


def _guard(request: Request) -> Guard:
    guard: Guard = request.app.state.guard
    return guard


def _ended(request: Request, session_id: str) -> None:
    """The session's open event streams end now (its pages go to the signed-out page)."""
    manager: TaskManager = request.app.state.tasks
    manager.hub.end_session(session_id)


def _current(request: Request) -> str | None:
    session: str | None = getattr(request.state, "session", None)
    return session


@api.get("/sessions")
async def list_sessions(request: Request) -> list[SessionInfo]:
    """The browsers signed in to this server, most recently used first."""
    guard = _guard(request)
    current = _current(request)
    found = await asyncio.to_thread(guard.sessions.sessions, guard.install)
    return [
        SessionInfo(
            id=s.id,
            created_at=s.created_at,
            last_used_at=s.last_used_at,
            expires_at=s.expires_at,
            agent=s.agent,
            current=s.id == current,
        )
        for s in found
    ]


@api.delete("/sessions/{session_id}", status_code=204)
async def revoke_session(
    request: Request, session_id: Annotated[str, Path(max_length=16)]
) -> Response:
    """Sign one browser out: its cookie stops working at once."""
    if not await asyncio.to_thread(_guard(request).sessions.revoke, session_id):
        raise HTTPException(404, f"no session {session_id!r}")
    _ended(request, session_id)
    return Response(status_code=204)


@api.post("/sessions/links", status_code=201)
async def new_link(request: Request) -> SignInLink:
    """A one-time sign-in link for another browser (what `valet link` prints)."""
    guard = _guard(request)
    secret = await asyncio.to_thread(guard.sessions.new_link, guard.install)
    return SignInLink(url=f"{request.base_url}?token={secret}")


@web.post("/ui/sign-out")
async def sign_out(request: Request) -> Response:
    """End this browser's session and forget its cookie."""
    current = _current(request)
    if current is not None:
        await asyncio.to_thread(_guard(request).sessions.revoke, current)
        _ended(request, current)
    if request.headers.get("hx-request"):
        page: Response = Response(status_code=204, headers={"HX-Redirect": SIGNED_OUT_PATH})
    else:
        page = gate_page(signed_out(_guard(request)), 200)
    clear_cookie(page, _guard(request))
    return page
