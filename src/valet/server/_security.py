"""Who may talk to the server: the install's token, browser sessions, the Origin check and
defensive headers.

Even bound to 127.0.0.1 the server is reachable by any page the person's (or the agent's own)
browser opens. So every route except the static assets needs to know who asks: an API client
sends the install's token (`Authorization: Bearer`); a browser opens a one-time link
(`?token=` with a sign-in secret, never the install token) and gets a session of its own in an
HttpOnly SameSite=Strict cookie; an OAuth provider's redirect back needs the state of a sign-in
the person started instead. Requests that change state and websocket handshakes must come from
the server's own origin, and no response carries CORS headers, so other origins cannot read
anything.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from urllib.parse import urlencode, urlsplit

from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.requests import cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from valet.errors import StoreUnavailable
from valet.server._principal import INSTALL, Principal, person_principal
from valet.store import TOKEN_PREFIX, People, SessionStore, SignedIn, install_of

log = logging.getLogger("valet.server")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES = ("/static/",)
PROBES = frozenset({"/healthz", "/readyz"})
"""Health and readiness probes: answered without the token (they say nothing else)."""
SIGN_IN_PATHS = frozenset({"/signin", "/join", "/signin/sso", "/signin/sso/callback"})
"""Multi-person mode: the sign-in and invitation pages, reached before anyone is signed in."""
SIGNED_OUT_PATH = "/signed-out"
"""Where the web app goes after signing out: a page anyone may see (it says only that)."""
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
COOKIE_MAX_AGE = int(timedelta(days=400).total_seconds())
"""The browser may keep the cookie this long (its cap); the server decides when a session ends."""

_GATE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · valet</title><link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/app.css"></head>
<body class="gate"><main class="gate-card card"><p class="brand"><span class="brand-mark"
aria-hidden="true"></span>valet</p><h1>{title}</h1>{body}</main></body></html>"""
NEEDS_LINK = (
    "This valet server needs its link",
    "<p>Open the sign-in link that <code>valet serve</code> printed when it started (it ends "
    "with <code>?token=…</code>). Each link signs in one browser, once.</p><p>For a new link, "
    "run <code>valet link</code> on the machine valet runs on.</p>",
)
LINK_SPENT = (
    "This sign-in link was already used",
    "<p>A sign-in link works once, for one browser, within a day of being made. This one was "
    "used, has expired, or was made before the server's token was changed.</p><p>For a new "
    "link, run <code>valet link</code> on the machine valet runs on.</p>",
)
SIGNED_OUT = (
    "You are signed out",
    "<p>This browser's session has ended. To sign in again, run <code>valet link</code> on the "
    "machine valet runs on and open the link it prints.</p>",
)
SIGNED_OUT_PEOPLE = (
    "You are signed out",
    '<p>This browser\'s session has ended.</p><p><a class="button" href="/signin">Sign in '
    "again</a></p>",
)


def signed_out(guard: Guard) -> tuple[str, str]:
    """The signed-out page's words: multi-person mode sends people to its sign-in page."""
    return SIGNED_OUT if guard.people is None else SIGNED_OUT_PEOPLE


def gate_page(what: tuple[str, str], status: int) -> HTMLResponse:
    """A page for a browser that is not signed in (styled by app.css, no inline style)."""
    title, body = what
    return HTMLResponse(_GATE_PAGE.format(title=escape(title), body=body), status_code=status)


@dataclass(frozen=True)
class Guard:
    """The server's secret and the origins allowed to act on it."""

    token: str
    origins: frozenset[str]
    """Allowed `Origin` values; empty: only the origin the request was addressed to (its Host)."""
    sessions: SessionStore
    """Sign-in links and browser sessions, bound to `token`."""
    redirects: Mapping[str, Callable[[str | None], bool]] = field(
        default_factory=dict[str, Callable[[str | None], bool]]
    )
    """Paths a provider sends the person's browser back to (OAuth callbacks), each with the
    check of its `state`. That cross-site navigation carries no SameSite=Strict cookie, so a GET
    there is let in without the token when its state belongs to a sign-in the person started
    (with the token): a one-time, unguessable pass for that one request."""
    people: People | None = None
    """Multi-person mode: the accounts people sign in with (None: single-person mode)."""

    @property
    def cookie_name(self) -> str:
        """Unique per install, so two valet servers on one host never overwrite each other."""
        return "valet_" + hashlib.sha256(self.token.encode()).hexdigest()[:12]

    @property
    def install(self) -> str:
        return install_of(self.token)

    def token_ok(self, candidate: str | None) -> bool:
        return candidate is not None and secrets.compare_digest(
            candidate.encode(), self.token.encode()
        )

    def origin_ok(self, headers: Headers, scheme: str) -> bool:
        """False when the request says it comes from a foreign origin or site."""
        site = headers.get("sec-fetch-site")
        if site == "cross-site":
            return False
        if site == "same-origin":
            # The browser's own word (a header no page can set). A plain form's post sends
            # `Origin: null` under this server's `Referrer-Policy: no-referrer`.
            return True
        origin = headers.get("origin")
        if origin is None:  # not a browser (curl, httpx); the token still applies
            return True
        allowed = self.origins or {f"{_http_scheme(scheme)}://{headers.get('host', '')}"}
        return origin in allowed

    def host_ok(self, headers: Headers) -> bool:
        """With configured origins, the Host must be one of them (defeats DNS rebinding)."""
        if not self.origins:
            return True
        return headers.get("host", "") in {urlsplit(o).netloc for o in self.origins}


def _principal(guard: Guard, bearer: str | None, session: SignedIn | None) -> Principal | None:
    """Who the request acts for, or None when its credentials no longer hold."""
    if guard.token_ok(bearer):
        return INSTALL
    people = guard.people
    if bearer is not None and people is not None and bearer.startswith(TOKEN_PREFIX):
        token = people.check_token(bearer)
        return None if token is None else person_principal(people, token.person, token)
    if session is None:
        return None
    if session.person is None:
        return INSTALL
    return None if people is None else person_principal(people, session.person, None)


def _http_scheme(scheme: str) -> str:
    return {"ws": "http", "wss": "https"}.get(scheme, scheme)


class SecurityMiddleware:
    """Pure ASGI middleware, so it guards websocket handshakes as well as HTTP requests."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = Headers(scope=scope)
        is_ws = scope["type"] == "websocket"
        guard = self.guard
        if path.startswith(PUBLIC_PREFIXES) or (path in PROBES and not is_ws):
            await self.app(scope, receive, _with_headers(send, path))
            return
        if path == SIGNED_OUT_PATH and not is_ws:
            await gate_page(signed_out(guard), 200)(scope, receive, _with_headers(send, path))
            return
        if guard.people is not None and path in SIGN_IN_PATHS and not is_ws:
            # Before anyone is signed in: a form, and its post from this server's own page.
            if scope["method"] not in SAFE_METHODS and not guard.origin_ok(
                headers, scope["scheme"]
            ):
                refusal = _refuse(403, "forbidden_origin", "requests from other origins", path)
                await refusal(scope, receive, _with_headers(send, path))
                return
            await self.app(scope, receive, _with_headers(send, path))
            return
        query = QueryParams(scope.get("query_string", b""))
        bearer = headers.get("authorization", "")
        from_header = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        cookie = cookie_parser(headers.get("cookie", "")).get(guard.cookie_name)
        link = query.get("token")
        is_page = not is_ws and scope["method"] == "GET" and not path.startswith("/api")
        try:
            session = (
                None
                if not cookie
                else await asyncio.to_thread(guard.sessions.check, guard.install, cookie)
            )
            signed_in = None
            if link is not None and is_page:
                agent = headers.get("user-agent", "")
                signed_in = await asyncio.to_thread(
                    guard.sessions.redeem, guard.install, link, agent
                )
            principal = (
                None
                if from_header is None and session is None
                else await asyncio.to_thread(_principal, guard, from_header, session)
            )
        except (SQLAlchemyError, StoreUnavailable) as exc:
            log.error("cannot read the sessions: %s", exc)
            refusal = _refuse(503, "store_unavailable", "the session database cannot be read", path)
            await refusal(scope, receive, _with_headers(send, path))
            return
        if principal is None and _expected_redirect(guard, scope, query):
            principal = INSTALL
        authorized = principal is not None
        if not guard.host_ok(headers):
            refusal = _refuse(400, "bad_host", "this server does not answer to that Host", path)
        elif link is not None and is_page and (signed_in is not None or session is not None):
            # Drop the link's secret from the address bar (and history); a spent link only
            # redirects a browser that is signed in already.
            rest = urlencode([(k, v) for k, v in query.multi_items() if k != "token"])
            response = RedirectResponse(path + (f"?{rest}" if rest else ""), status_code=303)
            if signed_in is not None:
                set_session_cookie(response, guard, signed_in)
            await response(scope, receive, _with_headers(send, path))
            return
        elif link is not None and is_page:
            refusal = gate_page(LINK_SPENT, 401)
        elif not authorized and is_page and guard.people is not None:
            refusal = RedirectResponse("/signin?" + urlencode({"next": path}), status_code=303)
        elif not authorized:
            refusal = _refuse(401, "unauthorized", "a valid token is required", path)
        elif (
            (is_ws or scope["method"] not in SAFE_METHODS)
            and path != "/ui/stream"
            and not path.endswith("/events")
            and not principal.allows("write")
        ):
            refusal = _refuse(403, "insufficient_scope", "this token may only read", path)
        elif (is_ws or scope["method"] not in SAFE_METHODS) and not guard.origin_ok(
            headers, scope["scheme"]
        ):
            refusal = _refuse(403, "forbidden_origin", "requests from other origins", path)
        else:
            refusal = None
        if refusal is not None:
            if is_ws and "websocket.http.response" in scope.get("extensions", {}):
                # The handshake is answered with the refusal itself (401, 403…).
                await refusal(scope, receive, send)
            elif is_ws:
                await send({"type": "websocket.close", "code": 4000 + refusal.status_code})
            else:
                await refusal(scope, receive, _with_headers(send, path))
            return
        state = scope.setdefault("state", {})
        state["session"] = None if session is None else session.id
        state["principal"] = principal
        await self.app(scope, receive, _with_headers(send, path) if not is_ws else send)


def _expected_redirect(guard: Guard, scope: Scope, query: QueryParams) -> bool:
    check = guard.redirects.get(scope["path"])
    if check is None or scope["type"] != "http" or scope["method"] != "GET":
        return False
    return check(query.get("state"))


def _refuse(status: int, code: str, detail: str, path: str) -> Response:
    if path.startswith("/api") or status != 401:
        return JSONResponse({"error": code, "detail": detail}, status_code=status)
    return gate_page(NEEDS_LINK, status)


def set_session_cookie(response: Response, guard: Guard, session: str) -> None:
    response.set_cookie(
        guard.cookie_name,
        session,
        max_age=COOKIE_MAX_AGE,
        httponly=True,
        samesite="strict",
        path="/",
    )


def clear_cookie(response: Response, guard: Guard) -> None:
    """Make the browser forget its session cookie (sign out)."""
    response.delete_cookie(guard.cookie_name, httponly=True, samesite="strict", path="/")


def _with_headers(send: Send, path: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            headers.setdefault("x-content-type-options", "nosniff")
            headers.setdefault("x-frame-options", "DENY")
            headers.setdefault("referrer-policy", "no-referrer")
            headers.setdefault("cross-origin-resource-policy", "same-origin")
            headers.setdefault("content-security-policy", PAGE_CSP)
            if not path.startswith("/static/"):
                headers.setdefault("cache-control", "no-store")
        await send(message)

    return wrapped
