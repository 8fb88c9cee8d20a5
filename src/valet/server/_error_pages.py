"""Errors answered to the web app as pages (styled, with a way home); `/api` keeps JSON."""

from __future__ import annotations

from typing import Any, cast

from fastapi import Request
from fastapi.responses import HTMLResponse

from valet.server._views import counts
from valet.server._web import templates
from valet.server._wording import problems_text

TITLES = {
    400: "That did not work",
    401: "Sign in first",
    403: "Not allowed from here",
    404: "Not found",
    405: "Not possible here",
    409: "Not possible now",
    413: "Too large",
    422: "Check what you entered",
    503: "valet cannot save right now",
}


def wants_page(request: Request) -> bool:
    """Whether an error on this request should be a page: anything outside `/api`."""
    return not request.url.path.startswith("/api")


def error_page(request: Request, status: int, detail: object) -> HTMLResponse:
    """The error as a page: its title, what went wrong (validation problems field by field)."""
    problems: list[str] = []
    text = ""
    if isinstance(detail, list):
        problems = problems_text(_mappings(cast(list[Any], detail)))
    else:
        text = str(detail)
    context: dict[str, Any] = {
        "status": status,
        "title": TITLES.get(status, "Something went wrong"),
        "detail": text,
        "problems": problems,
        "counts": counts(request.app.state.tasks),
    }
    return templates.TemplateResponse(request, "error.html", context, status_code=status)


def _mappings(items: list[Any]) -> list[dict[str, Any]]:
    return [item for item in items if isinstance(item, dict)]
