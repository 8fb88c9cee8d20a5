# pyright: strict
"""Shared plumbing for the site routers: templates, sessions and layout variants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from .catalog import CATEGORIES, format_price
from .state import Session, SiteState

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = PACKAGE_DIR / "templates"
STATIC_DIR = PACKAGE_DIR / "static"

LAYOUT_COOKIE = "layout"
HIDE_COOKIE = "hide"
LAYOUTS = ("default", "alt")
HIDEABLE = ("add-to-cart",)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATE_DIR))
    templates.env.filters["money"] = format_price
    return templates


@dataclass(frozen=True)
class Variant:
    """Layout variant for replay tests (see the package docstring)."""

    layout: str = "default"
    hidden: frozenset[str] = frozenset()

    @property
    def alt(self) -> bool:
        return self.layout == "alt"

    def hides(self, name: str) -> bool:
        return name in self.hidden


def parse_hidden(raw: str) -> frozenset[str]:
    return frozenset(part.strip() for part in raw.split(",") if part.strip() in HIDEABLE)


def variant_of(request: Request) -> Variant:
    """Query string wins over cookies, so `?layout=default` overrides a cookie once."""
    layout = request.query_params.get("layout") or request.cookies.get(LAYOUT_COOKIE) or "default"
    if layout not in LAYOUTS:
        layout = "default"
    hide_raw = request.query_params.get("hide")
    if hide_raw is None:
        hide_raw = request.cookies.get(HIDE_COOKIE, "")
    return Variant(layout, parse_hidden(hide_raw))


def safe_next(target: str | None, default: str) -> str:
    """Only allow local absolute paths as redirect targets."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


class SiteContext:
    """What every router needs: the app state plus a template renderer."""

    def __init__(self, state: SiteState, templates: Jinja2Templates) -> None:
        self.state = state
        self.templates = templates

    def session(self, request: Request) -> Session:
        sid: str = getattr(request.state, "sid", "") or ""
        return self.state.session(sid)

    def render(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any] | None = None,
        status_code: int = 200,
    ) -> Response:
        session = self.session(request)
        full: dict[str, Any] = {
            "session": session,
            "cart_count": session.cart_count,
            "variant": variant_of(request),
            "path": request.url.path,
            "categories": CATEGORIES,
        }
        if context:
            full.update(context)
        full.setdefault("flashes", session.pop_flashes())
        return self.templates.TemplateResponse(request, name, full, status_code=status_code)
