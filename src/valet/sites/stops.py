# pyright: strict
"""Pages where valet must stop for the person, and look-alikes where it must not.

Static markup only, no network: the CAPTCHA pages embed a same-origin iframe whose path mimics
the vendor's (`/recaptcha/api2/anchor`, `/hcaptcha.html`, `/cdn-cgi/challenge-platform/…
turnstile`), served by `/stops/vendor/…`. `?only=frame` drops the vendor's container markup
and `?only=markup` drops the iframe, so each signal can be checked on its own. The login page
signs in to the Voltline account (`demo@voltline.test` / `correct horse`).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from .web import SiteContext

STOP_PAGES: tuple[tuple[str, str, str, str], ...] = (
    # path, stop kind, title, what it shows
    ("/stops/login", "login", "Sign in", "A login form (password, current-password)."),
    ("/stops/payment", "payment", "Card payment", "Card fields with cc-* autocomplete."),
    ("/stops/iban", "payment", "Direct debit", "An IBAN field."),
    ("/stops/recaptcha", "captcha", "reCAPTCHA", "reCAPTCHA markup and its iframe."),
    ("/stops/hcaptcha", "captcha", "hCaptcha", "hCaptcha markup and its iframe."),
    ("/stops/turnstile", "captcha", "Turnstile", "Cloudflare Turnstile markup and its iframe."),
    ("/stops/otp", "otp", "Two-step verification", "A one-time-code field."),
    ("/stops/verify", "otp", "Verify it's you", "A 6-digit code field, no autocomplete hint."),
)
LOOKALIKES: tuple[tuple[str, str, str], ...] = (
    ("/stops/lookalike/search", "Help centre", 'A search box named "password tips".'),
    ("/stops/lookalike/gift", "Gift options", 'A "Card message" field and a postal code.'),
    ("/stops/lookalike/article", "Blog", "An article about CAPTCHAs, an invisible badge."),
    ("/stops/lookalike/price", "Product page", "A product with its price, no fields."),
)
_VENDOR_FRAMES = {
    "recaptcha": "/stops/vendor/recaptcha/api2/anchor?ar=1&k=6Lc-demo-sitekey&size=normal",
    "hcaptcha": "/stops/vendor/captcha/v1/3f1a/static/hcaptcha.html#frame=checkbox&id=0x1",
    "turnstile": (
        "/stops/vendor/cdn-cgi/challenge-platform/h/b/turnstile/if/ov2/av0/rcv0/0/x1/"
        "0x4AAAAAAADEMO/light/normal"
    ),
}


def build_stops_router(ctx: SiteContext) -> APIRouter:
    router = APIRouter(prefix="/stops")

    def page(request: Request, name: str, title: str, **extra: object) -> Response:
        context: dict[str, object] = {"title": f"{title} – stops"}
        context.update(extra)
        return ctx.render(request, f"stops/{name}.html", context)

    @router.get("")
    def stops_index(request: Request) -> Response:
        return page(request, "index", "Stops", pages=STOP_PAGES, lookalikes=LOOKALIKES)

    @router.get("/login")
    def login(request: Request) -> Response:
        return page(request, "login", "Sign in")

    @router.get("/payment")
    def payment(request: Request) -> Response:
        return page(request, "payment", "Card payment")

    @router.get("/iban")
    def iban(request: Request) -> Response:
        return page(request, "iban", "Direct debit")

    @router.get("/otp")
    def otp(request: Request) -> Response:
        return page(request, "otp", "Two-step verification", hinted=True)

    @router.get("/verify")
    def verify(request: Request) -> Response:
        return page(request, "otp", "Verify it's you", hinted=False)

    @router.get("/{vendor}")
    def captcha(request: Request, vendor: str, only: str = "") -> Response:
        if vendor not in _VENDOR_FRAMES:
            raise HTTPException(status_code=404)
        return page(
            request,
            "captcha",
            vendor,
            vendor=vendor,
            frame=_VENDOR_FRAMES[vendor] if only != "markup" else None,
            markup=only != "frame",
        )

    @router.get("/vendor/{path:path}")
    def vendor_widget(request: Request, path: str) -> Response:
        return page(request, "widget", "Security check")

    @router.get("/lookalike/{name}")
    def lookalike(request: Request, name: str) -> Response:
        if name not in ("search", "gift", "article", "price"):
            raise HTTPException(status_code=404)
        invisible = _VENDOR_FRAMES["recaptcha"].replace("size=normal", "size=invisible")
        return page(request, f"lookalike_{name}", name.title(), badge=invisible)

    return router
