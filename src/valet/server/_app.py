"""The FastAPI application: wiring of the API, websockets, web app, errors and security."""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from valet.billing import QuotaExceeded
from valet.errors import RunNotFound, StoreUnavailable
from valet.server import (
    _api,
    _audit,
    _metrics,
    _org,
    _person_api,
    _replay,
    _research_web,
    _schedules_api,
    _schedules_web,
    _sessions_api,
    _signin,
    _sources_api,
    _sources_web,
    _sso,
    _usage_web,
    _web,
    _workspace_web,
    _ws,
)
from valet.server._access import NotForPeople, check_access
from valet.server._error_pages import error_page, wants_page
from valet.server._live import LeaseConflict, NoBrowser, UnknownViewer
from valet.server._org import AdminsOnly, BadRules, NotInAnOrganization
from valet.server._person import InvalidEdit, RequestClosed, RequestNotFound
from valet.server._security import Guard, SecurityMiddleware
from valet.server._settings import (
    ServerSettings,
    build_model_choice,
    load_or_create_token,
    shared_browsers,
)
from valet.server._signin import NotSignedInAsAPerson, TokenNotFound
from valet.server._signins import CALLBACK_PATH, SignIns
from valet.server._sources import SourceError
from valet.server._sso import Provider
from valet.server._tasks import BadModel, TaskFinished, TaskManager, TaskNotFound
from valet.server._wording import problem_text
from valet.store import People, SessionStore, database_url

log = logging.getLogger("valet.server")

DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)

_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    502: "provider_error",
    503: "store_unavailable",
}


def create_app(settings: ServerSettings) -> FastAPI:
    """The valet server for `settings`. Its `TaskManager` is `app.state.tasks`."""
    token = settings.token or load_or_create_token(settings.home)
    manager = TaskManager(
        settings.home,
        build_model_choice(settings),
        settings.browser,
        settings.max_concurrent_tasks,
        settings.default_max_steps,
        durable=settings.durable,
        takeover_grace_s=settings.takeover_grace_s,
        browsers=shared_browsers(settings) if settings.runs_tasks else None,
        runs_tasks=settings.runs_tasks,
    )

    if settings.allowed_origins:  # the server's own address: links in notifications
        manager.notifier.base_url = settings.allowed_origins[0]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncGenerator[None]:
        await manager.start()
        yield
        await manager.shutdown()
        sessions.close()
        signins.close()
        if people is not None:
            people.close()

    app = FastAPI(
        title="valet",
        summary="Tasks, runs and requests of a valet server.",
        description="Every route needs the server's token: `Authorization: Bearer <token>`.",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        dependencies=[Depends(check_access)],
    )
    app.state.tasks = manager
    app.state.settings = settings
    app.state.signins = signins = SignIns(database_url(settings.home))
    app.state.sessions = sessions = SessionStore(database_url(settings.home))
    people = People(database_url(settings.home)) if settings.people else None
    manager.accounts.people = people
    app.state.guard = Guard(
        token,
        frozenset(o.rstrip("/") for o in settings.allowed_origins),
        sessions,
        redirects={CALLBACK_PATH: signins.expects},
        people=people,
    )
    app.add_middleware(SecurityMiddleware, guard=app.state.guard)
    _add_error_handlers(app)
    app.include_router(_metrics.router)
    app.include_router(_api.router)
    app.include_router(_ws.router)
    app.include_router(_person_api.router)
    app.include_router(_audit.api)
    app.include_router(_sessions_api.api)
    app.include_router(_schedules_api.api)
    app.include_router(_replay.api)
    app.include_router(_research_web.api)
    app.include_router(_research_web.web)
    app.include_router(_workspace_web.web)
    app.include_router(_sessions_api.web)
    app.include_router(_audit.web)
    app.include_router(_sources_api.api)
    app.include_router(_sources_web.web)
    app.include_router(_schedules_web.web)
    app.include_router(_usage_web.web)
    app.include_router(_web.router)
    if people is not None:
        app.include_router(_signin.web)
        app.include_router(_signin.api)
        app.include_router(_org.api)
        app.include_router(_usage_web.org_web)
        if settings.oidc is not None:
            app.state.sso = Provider(settings.oidc)
            app.include_router(_sso.web)
    static = Path(str(resources.files("valet.server").joinpath("static")))
    app.mount("/static", StaticFiles(directory=static), name="static")

    @app.get("/api/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="valet API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )
        page.headers["content-security-policy"] = DOCS_CSP
        return page

    return app


def _error(request: Request, status: int, detail: object, code: str | None = None) -> Response:
    if wants_page(request):
        return error_page(request, status, detail)
    return JSONResponse(
        {"error": code or _ERROR_CODES.get(status, "error"), "detail": detail},
        status_code=status,
    )


def create_worker_app(manager: TaskManager, token: str) -> FastAPI:
    """What a `valet worker` serves: the person's routes for the tasks it runs (live view,
    lease, takeover, hand back, requests), which the web server forwards here (`_remote.py`),
    behind the install token; and, for its supervisor, `/healthz`, `/readyz` (no token) and
    `/metrics`."""
    app = FastAPI(title="valet worker", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.tasks = manager
    app.state.sessions = sessions = SessionStore(database_url(manager.home))
    app.state.guard = Guard(token, frozenset(), sessions)
    app.add_middleware(SecurityMiddleware, guard=app.state.guard)
    _add_error_handlers(app)
    app.include_router(_metrics.router)
    app.include_router(_person_api.router)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if wants_page(request):
            return error_page(request, 422, list(exc.errors()))
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return _error(request, 422, errors)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404 and exc.detail == "Not Found" and wants_page(request):
            return _error(request, 404, f"There is no page at {request.url.path}.")
        return _error(request, exc.status_code, exc.detail)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(request, 404, str(exc))

    async def conflict(request: Request, exc: Exception) -> Response:
        return _error(request, 409, str(exc))

    async def bad_model(request: Request, exc: Exception) -> Response:
        return _error(request, 400, str(exc), "bad_model")

    async def unknown_viewer(request: Request, exc: Exception) -> Response:
        return _error(request, 400, str(exc), "unknown_viewer")

    async def no_browser(request: Request, exc: Exception) -> Response:
        return _error(request, 409, str(exc), "no_browser")

    async def controlled(request: Request, exc: Exception) -> Response:
        return _error(request, 409, str(exc), "controlled_by_another")

    async def invalid_edit(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, InvalidEdit)
        problems = [p | {"text": problem_text(p)} for p in exc.problems]
        return _error(request, 422, problems, "invalid_edit")

    async def source_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SourceError)
        return _error(request, exc.status, str(exc))

    async def unsaved(request: Request, exc: Exception) -> Response:
        log.error("%s", exc)
        detail = (
            f"{exc}. Nothing was changed (a request to you stays pending); try again once "
            "the database can be written (free disk space, check the file's permissions)."
        )
        return _error(request, 503, detail)

    async def over_quota(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, QuotaExceeded)
        return _error(request, 429, str(exc), "quota_exceeded")

    async def not_for_people(request: Request, exc: Exception) -> Response:
        return _error(request, 403, str(exc))

    async def bad_rules(request: Request, exc: Exception) -> Response:
        return _error(request, 422, str(exc))

    async def not_a_person(request: Request, exc: Exception) -> Response:
        return _error(request, 400, str(exc))

    async def crash(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(request, 500, "internal error; see the server log", "internal")

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(TaskNotFound, not_found)
    app.add_exception_handler(RunNotFound, not_found)
    app.add_exception_handler(TaskFinished, conflict)
    app.add_exception_handler(BadModel, bad_model)
    app.add_exception_handler(RequestNotFound, not_found)
    app.add_exception_handler(RequestClosed, conflict)
    app.add_exception_handler(UnknownViewer, unknown_viewer)
    app.add_exception_handler(NoBrowser, no_browser)
    app.add_exception_handler(LeaseConflict, controlled)
    app.add_exception_handler(InvalidEdit, invalid_edit)
    app.add_exception_handler(SourceError, source_error)
    app.add_exception_handler(StoreUnavailable, unsaved)
    app.add_exception_handler(QuotaExceeded, over_quota)
    app.add_exception_handler(NotForPeople, not_for_people)
    app.add_exception_handler(NotSignedInAsAPerson, not_a_person)
    app.add_exception_handler(TokenNotFound, not_found)
    app.add_exception_handler(NotInAnOrganization, not_found)
    app.add_exception_handler(AdminsOnly, not_for_people)
    app.add_exception_handler(BadRules, bad_rules)
    app.add_exception_handler(Exception, crash)
