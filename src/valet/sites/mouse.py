# pyright: strict
"""Widgets driven by the mouse and keyboard alone: a sortable list, HTML5 drag and drop, a
slider handle, a spinner, and content that appears late (for drag, press and wait)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from .web import SiteContext

PAGES = {
    "sortable": "Sortable list",
    "dnd": "Drag and drop",
    "slider": "Slider",
    "spinner": "Spinner",
    "late": "Late content",
}


def build_mouse_router(ctx: SiteContext) -> APIRouter:
    router = APIRouter(prefix="/mouse")

    @router.get("/{name}")
    def page(request: Request, name: str) -> Response:
        if name not in PAGES:
            raise HTTPException(status_code=404)
        return ctx.render(request, f"mouse/{name}.html", {"title": PAGES[name]})

    return router
