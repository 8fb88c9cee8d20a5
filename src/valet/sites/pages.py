# pyright: strict
"""Non-shop pages: the long library-card form, frames & shadow DOM, dynamic content."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from .web import SiteContext

FEED_ITEMS: tuple[str, ...] = tuple(
    f"{title} #{n}"
    for n in range(1, 11)
    for title in (
        "Release notes",
        "Incident report",
        "Design review",
        "Weekly digest",
        "Customer story",
    )
)

FORM_LABELS: dict[str, str] = {
    "first_name": "First name",
    "last_name": "Last name",
    "preferred_name": "Preferred name",
    "dob": "Date of birth",
    "email": "Email address",
    "phone": "Phone number",
    "alt_phone": "Alternative phone",
    "address1": "Street address",
    "address2": "Apartment, suite, etc.",
    "city": "City",
    "region": "State / province",
    "postal_code": "Postal code",
    "country": "Country",
    "years_at_address": "Years at this address",
    "card_type": "Card type",
    "branch": "Home branch",
    "interests": "Interests",
    "formats": "Preferred formats",
    "contact_method": "Preferred contact method",
    "language": "Preferred language",
    "newsletter": "Newsletter",
    "accessibility": "Accessibility needs",
    "referral": "How did you hear about us?",
    "id_type": "ID document type",
    "id_number": "ID document number",
    "proof": "Proof of address",
    "emergency_name": "Emergency contact name",
    "emergency_phone": "Emergency contact phone",
    "emergency_relation": "Relationship",
    "pin": "Choose a 4-digit PIN",
    "website": "Personal website",
    "notes": "Anything else?",
    "terms": "Terms accepted",
}


def _cross_origin(request: Request) -> str:
    """Same port, other loopback host name: 127.0.0.1 <-> localhost are different origins."""
    host = request.url.hostname or "127.0.0.1"
    other = "127.0.0.1" if host == "localhost" else "localhost"
    port = request.url.port
    return f"{request.url.scheme}://{other}" + (f":{port}" if port else "")


def build_pages_router(ctx: SiteContext) -> APIRouter:
    router = APIRouter()

    # --- long form ---------------------------------------------------------------
    @router.get("/form")
    def long_form(request: Request) -> Response:
        return ctx.render(
            request,
            "form/form.html",
            {"title": "Apply for a library card – Riverside Public Library"},
        )

    @router.post("/form")
    async def long_form_submit(request: Request) -> Response:
        form = await request.form()
        rows: list[tuple[str, str]] = []
        seen: dict[str, list[str]] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                text = f"{value.filename} ({value.size or 0} bytes)" if value.filename else ""
            else:
                text = value
            seen.setdefault(key, []).append(text)
        for key, values in seen.items():
            shown = ", ".join(v for v in values if v)
            if key == "pin":
                shown = "••••" if shown else ""
            rows.append((FORM_LABELS.get(key, key), shown or "—"))
        name = " ".join(
            x for x in (seen.get("first_name", [""])[0], seen.get("last_name", [""])[0]) if x
        )
        return ctx.render(
            request,
            "form/summary.html",
            {
                "title": "Application received – Riverside Public Library",
                "rows": rows,
                "name": name,
            },
        )

    # --- frames & shadow DOM ----------------------------------------------------------
    @router.get("/frames")
    def frames(request: Request) -> Response:
        widget_url = _cross_origin(request) + "/frames/widget"
        return ctx.render(
            request,
            "frames/frames.html",
            {"title": "Frames & components", "widget_url": widget_url},
        )

    @router.get("/frames/inner")
    def frames_inner(request: Request, code: str = "") -> Response:
        return ctx.render(request, "frames/inner.html", {"title": "Coupon", "code": code.strip()})

    @router.get("/frames/widget")
    def frames_widget(request: Request, email: str = "") -> Response:
        return ctx.render(
            request, "frames/widget.html", {"title": "Newsletter", "email": email.strip()}
        )

    # --- widgets made of plain elements with listeners -----------------------------
    @router.get("/widgets")
    def widgets(request: Request) -> Response:
        return ctx.render(request, "widgets/widgets.html", {"title": "Widgets"})

    # --- dynamic content --------------------------------------------------------------
    @router.get("/dynamic")
    def dynamic(request: Request) -> Response:
        return ctx.render(
            request,
            "dynamic/dynamic.html",
            {"title": "Activity feed – Dynamic page", "items": FEED_ITEMS[:5]},
        )

    @router.get("/dynamic/items")
    def dynamic_items(offset: int = 0, limit: int = 5) -> JSONResponse:
        offset = max(0, offset)
        limit = max(1, min(limit, 20))
        chunk = FEED_ITEMS[offset : offset + limit]
        return JSONResponse(
            {
                "items": list(chunk),
                "next": offset + len(chunk),
                "more": offset + len(chunk) < len(FEED_ITEMS),
            }
        )

    return router
