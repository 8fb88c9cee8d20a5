# pyright: strict
"""The app factory: wires state, templates, middleware and all site routers together."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from .account import build_account_router
from .bench import build_bench_router
from .checkout import build_checkout_router
from .edge import build_edge_router
from .hostile import build_hostile_router
from .mouse import build_mouse_router
from .pages import build_pages_router
from .shop import build_shop_router
from .state import SESSION_COOKIE, SiteState
from .stops import build_stops_router
from .web import STATIC_DIR, SiteContext, make_templates

SITES: tuple[tuple[str, str, str], ...] = (
    (
        "/shop",
        "Voltline shop",
        "Electronics store: search, filters, cart, checkout and order confirmation.",
    ),
    ("/account", "Voltline account", "Login-protected order history and profile."),
    (
        "/form",
        "Library card application",
        "A long form with ~30 fields of every kind, some unlabelled.",
    ),
    (
        "/frames",
        "Frames & shadow DOM",
        "Same-origin and cross-origin iframes, open and closed shadow roots.",
    ),
    (
        "/dynamic",
        "Dynamic page",
        "Load more, counters, toggles, delayed elements and a live clock.",
    ),
    (
        "/bench/200",
        "Benchmark dashboard",
        "Exactly 200 interactive elements in a dashboard layout.",
    ),
    ("/bench/10000", "Stress page", "10,000 interactive elements, plain HTML."),
    ("/edge", "Edge cases", "Dialog loops, redirect loops, 404, downloads, slow pages and popups."),
    ("/hostile", "Hostile pages", "Prompt injections and traps an agent must not obey."),
    (
        "/stops",
        "Stops for the person",
        "Login, payment, CAPTCHA and one-time-code pages, and look-alikes that are none.",
    ),
)

Handler = Callable[[Request], Awaitable[Response]]


def create_app() -> FastAPI:
    """Build a fresh app with its own :class:`SiteState` (no state shared between apps)."""
    state = SiteState()
    templates = make_templates()
    ctx = SiteContext(state, templates)
    app = FastAPI(title="valet demo sites", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.site = state

    @app.middleware("http")
    async def session_cookie(request: Request, call_next: Handler) -> Response:
        if request.url.path.startswith("/static/"):
            return await call_next(request)
        sid = request.cookies.get(SESSION_COOKIE)
        if not sid or len(sid) > 64:
            sid, fresh = state.new_session_id(), True
        else:
            fresh = False
        request.state.sid = sid
        response = await call_next(request)
        if fresh:
            response.set_cookie(
                SESSION_COOKIE, sid, path="/", httponly=True, samesite="lax", max_age=30 * 86400
            )
        return response

    @app.exception_handler(StarletteHTTPException)
    async def html_errors(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404 and "json" not in request.headers.get("accept", ""):
            if not hasattr(request.state, "sid"):
                request.state.sid = ""
            return ctx.render(request, "404.html", {"title": "Page not found"}, status_code=404)
        return await http_exception_handler(request, exc)

    @app.get("/")
    def index(request: Request) -> Response:
        return ctx.render(request, "index.html", {"title": "valet demo sites", "sites": SITES})

    @app.get("/healthz")
    def healthz() -> Response:
        return PlainTextResponse("ok")

    app.include_router(build_shop_router(ctx))
    app.include_router(build_checkout_router(ctx))
    app.include_router(build_account_router(ctx))
    app.include_router(build_pages_router(ctx))
    app.include_router(build_bench_router(ctx))
    app.include_router(build_edge_router(ctx))
    app.include_router(build_hostile_router(ctx))
    app.include_router(build_stops_router(ctx))
    app.include_router(build_mouse_router(ctx))
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    return app
