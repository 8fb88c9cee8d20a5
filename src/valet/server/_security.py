"""Who may talk to the server: the install's token, the Origin check and defensive headers.

Even bound to 127.0.0.1 the server is reachable by any page the person's (or the agent's own)
browser opens. So every route except the static assets needs the token (`Authorization: Bearer`,
a one-time `?token=` that becomes an HttpOnly SameSite=Strict cookie, or that cookie; an OAuth
provider's redirect back needs the state of a sign-in the person started instead); requests
that change state and websocket handshakes must come from the server's own origin; and no
response carries CORS headers, so other origins cannot read anything.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.requests import cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES = ("/static/",)
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_UNAUTHORIZED_PAGE = """<!doctype html><meta charset="utf-8"><title>valet</title>
<body style="font:16px system-ui;margin:4rem auto;max-width:36rem;color:#1f2328">
<h1 style="font-size:1.4rem">This valet server needs its link</h1>
<p>Open the address that <code>valet serve</code> printed (it ends with
<code>?token=…</code>). The token is also in <code>server-token</code> in valet's home folder.</p>
</body>"""


@dataclass(frozen=True)
class Guard:
    """The server's secret and the origins allowed to act on it."""

    token: str
    origins: frozenset[str]
    """Allowed `Origin` values; empty: only the origin the request was addressed to (its Host)."""
    redirects: Mapping[str, Callable[[str | None], bool]] = field(
        default_factory=dict[str, Callable[[str | None], bool]]
    )
    """Paths a provider sends the person's browser back to (OAuth callbacks), each with the
    check of its `state`. That cross-site navigation carries no SameSite=Strict cookie, so a GET
    there is let in without the token when its state belongs to a sign-in the person started
    (with the token): a one-time, unguessable pass for that one request."""

    @property
    def cookie_name(self) -> str:
        """Unique per install, so two valet servers on one host never overwrite each other."""
        return "valet_" + hashlib.sha256(self.token.encode()).hexdigest()[:12]

    def token_ok(self, candidate: str | None) -> bool:
        return candidate is not None and secrets.compare_digest(
            candidate.encode(), self.token.encode()
        )

    def origin_ok(self, headers: Headers, scheme: str) -> bool:
        """False when the request says it comes from a foreign origin or site."""
        if headers.get("sec-fetch-site") == "cross-site":
            return False
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
        if path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, _with_headers(send, path))
            return
        query = QueryParams(scope.get("query_string", b""))
        bearer = headers.get("authorization", "")
        from_header = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
        from_query = query.get("token")
        cookies = cookie_parser(headers.get("cookie", ""))
        authorized = any(
            guard.token_ok(t) for t in (from_header, from_query, cookies.get(guard.cookie_name))
        ) or _expected_redirect(guard, scope, query)
        if not guard.host_ok(headers):
            refusal = _refuse(400, "bad_host", "this server does not answer to that Host", path)
        elif not authorized:
            refusal = _refuse(401, "unauthorized", "a valid token is required", path)
        elif (is_ws or scope["method"] not in SAFE_METHODS) and not guard.origin_ok(
            headers, scope["scheme"]
        ):
            refusal = _refuse(403, "forbidden_origin", "requests from other origins", path)
        else:
            refusal = None
        if refusal is not None:
            if is_ws:
                await send({"type": "websocket.close", "code": 4000 + refusal.status_code})
            else:
                await refusal(scope, receive, _with_headers(send, path))
            return
        if from_query is not None and not is_ws and guard.token_ok(from_query):
            if scope["method"] == "GET" and not path.startswith("/api/"):
                # Drop the token from the address bar (and history) once the cookie is set.
                rest = urlencode([(k, v) for k, v in query.multi_items() if k != "token"])
                response = RedirectResponse(path + (f"?{rest}" if rest else ""), status_code=303)
                _set_cookie(response, guard)
                await response(scope, receive, _with_headers(send, path))
                return
            send = _with_cookie(send, guard)
        await self.app(scope, receive, _with_headers(send, path) if not is_ws else send)


def _expected_redirect(guard: Guard, scope: Scope, query: QueryParams) -> bool:
    check = guard.redirects.get(scope["path"])
    if check is None or scope["type"] != "http" or scope["method"] != "GET":
        return False
    return check(query.get("state"))


def _refuse(status: int, code: str, detail: str, path: str) -> Response:
    if path.startswith("/api") or status != 401:
        return JSONResponse({"error": code, "detail": detail}, status_code=status)
    return HTMLResponse(_UNAUTHORIZED_PAGE, status_code=status)


def _set_cookie(response: Response, guard: Guard) -> None:
    response.set_cookie(guard.cookie_name, guard.token, httponly=True, samesite="strict", path="/")


def _with_cookie(send: Send, guard: Guard) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            carrier = Response()
            _set_cookie(carrier, guard)
            headers = MutableHeaders(scope=message)
            for value in carrier.headers.getlist("set-cookie"):
                headers.append("set-cookie", value)
        await send(message)

    return wrapped


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
