# pyright: strict
"""Voltline checkout: shipping -> payment -> review -> order confirmation."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from .state import (
    COUNTRIES,
    SHIPPING_METHODS,
    Payment,
    Session,
    Shipping,
    country_name,
    shipping_method,
)
from .web import SiteContext, redirect

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
EXPIRY_RE = re.compile(r"^(0[1-9]|1[0-2])\s*/\s*(\d{2})$")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def validate_shipping(data: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    labels = {
        "full_name": "Full name",
        "address": "Street address",
        "city": "City",
        "postal_code": "Postal code",
        "country": "Country",
        "email": "Email",
        "method": "Shipping method",
    }
    for key, label in labels.items():
        if not data.get(key, "").strip():
            errors[key] = f"{label} is required."
    if "email" not in errors and not EMAIL_RE.match(data["email"].strip()):
        errors["email"] = "Enter a valid email address, like name@example.com."
    if "country" not in errors and data["country"] not in dict(COUNTRIES):
        errors["country"] = "Choose a country from the list."
    if "method" not in errors and shipping_method(data["method"]) is None:
        errors["method"] = "Choose a shipping method."
    if "postal_code" not in errors and not re.match(
        r"^[A-Za-z0-9 \-]{3,10}$", data["postal_code"].strip()
    ):
        errors["postal_code"] = "Enter a valid postal code."
    return errors


def validate_payment(data: dict[str, str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not data["cardholder"].strip():
        errors["cardholder"] = "Cardholder name is required."
    digits = re.sub(r"[\s-]", "", data["card_number"])
    if not digits:
        errors["card_number"] = "Card number is required."
    elif not digits.isdigit() or not 12 <= len(digits) <= 19 or not _luhn_ok(digits):
        errors["card_number"] = "Enter a valid card number (try 4242 4242 4242 4242)."
    if not data["expiry"].strip():
        errors["expiry"] = "Expiry date is required."
    elif not EXPIRY_RE.match(data["expiry"].strip()):
        errors["expiry"] = "Enter the expiry date as MM/YY."
    if not re.fullmatch(r"\d{3,4}", data["cvc"].strip()):
        errors["cvc"] = "Enter the 3 or 4 digit security code."
    return errors


def build_checkout_router(ctx: SiteContext) -> APIRouter:
    router = APIRouter(prefix="/shop")

    def totals(session: Session) -> dict[str, object]:
        lines = session.cart_lines()
        subtotal = sum(line.total_cents for line in lines)
        method = shipping_method(session.shipping.method) if session.shipping else None
        shipping_cents = method[3] if method else 0
        return {
            "lines": lines,
            "subtotal": subtotal,
            "shipping_method": method,
            "shipping_cents": shipping_cents,
            "total": subtotal + shipping_cents,
        }

    def empty_cart(session: Session) -> Response | None:
        if not session.cart_lines():
            session.flashes.append("Your cart is empty. Add something before checking out.")
            return redirect("/shop/cart")
        return None

    def render_shipping(
        request: Request, values: dict[str, str], errors: dict[str, str]
    ) -> Response:
        session = ctx.session(request)
        return ctx.render(
            request,
            "shop/checkout_shipping.html",
            {
                "title": "Checkout: shipping – Voltline",
                "values": values,
                "errors": errors,
                "countries": COUNTRIES,
                "methods": SHIPPING_METHODS,
                "step": 1,
                **totals(session),
            },
            status_code=422 if errors else 200,
        )

    @router.get("/checkout")
    def checkout(request: Request) -> Response:
        session = ctx.session(request)
        if (bounce := empty_cart(session)) is not None:
            return bounce
        s = session.shipping
        values = (
            {
                "full_name": s.full_name,
                "address": s.address,
                "city": s.city,
                "postal_code": s.postal_code,
                "country": s.country,
                "email": s.email,
                "method": s.method,
            }
            if s
            else {"country": "US", "method": "standard", "email": session.user_email or ""}
        )
        return render_shipping(request, values, {})

    @router.post("/checkout")
    def checkout_submit(
        request: Request,
        full_name: Annotated[str, Form()] = "",
        address: Annotated[str, Form()] = "",
        city: Annotated[str, Form()] = "",
        postal_code: Annotated[str, Form()] = "",
        country: Annotated[str, Form()] = "",
        email: Annotated[str, Form()] = "",
        method: Annotated[str, Form()] = "",
    ) -> Response:
        session = ctx.session(request)
        if (bounce := empty_cart(session)) is not None:
            return bounce
        values = {
            "full_name": full_name,
            "address": address,
            "city": city,
            "postal_code": postal_code,
            "country": country,
            "email": email,
            "method": method,
        }
        errors = validate_shipping(values)
        if errors:
            return render_shipping(request, values, errors)
        session.shipping = Shipping(**{k: v.strip() for k, v in values.items()})
        return redirect("/shop/checkout/payment")

    def render_payment(
        request: Request, values: dict[str, str], errors: dict[str, str]
    ) -> Response:
        session = ctx.session(request)
        account = ctx.state.accounts.get(session.user_email or "")
        return ctx.render(
            request,
            "shop/checkout_payment.html",
            {
                "title": "Checkout: payment – Voltline",
                "values": values,
                "errors": errors,
                "step": 2,
                "saved_card": None if account is None else account.saved_card,
                **totals(session),
            },
            status_code=422 if errors else 200,
        )

    @router.get("/checkout/payment")
    def payment(request: Request) -> Response:
        session = ctx.session(request)
        if (bounce := empty_cart(session)) is not None:
            return bounce
        if session.shipping is None:
            return redirect("/shop/checkout")
        return render_payment(request, {"cardholder": session.shipping.full_name}, {})

    @router.post("/checkout/payment")
    def payment_submit(
        request: Request,
        cardholder: Annotated[str, Form()] = "",
        card_number: Annotated[str, Form()] = "",
        expiry: Annotated[str, Form()] = "",
        cvc: Annotated[str, Form()] = "",
        saved_card: Annotated[str, Form()] = "",
    ) -> Response:
        session = ctx.session(request)
        if (bounce := empty_cart(session)) is not None:
            return bounce
        if session.shipping is None:
            return redirect("/shop/checkout")
        account = ctx.state.accounts.get(session.user_email or "")
        if saved_card and account is not None and account.saved_card is not None:
            session.payment = account.saved_card
            return redirect("/shop/checkout/review")
        values = {
            "cardholder": cardholder,
            "card_number": card_number,
            "expiry": expiry,
            "cvc": cvc,
        }
        errors = validate_payment(values)
        if errors:
            values["cvc"] = ""
            return render_payment(request, values, errors)
        digits = re.sub(r"[\s-]", "", card_number)
        session.payment = Payment(cardholder.strip(), digits[-4:], expiry.replace(" ", ""))
        return redirect("/shop/checkout/review")

    @router.get("/checkout/review")
    def review(request: Request) -> Response:
        session = ctx.session(request)
        if (bounce := empty_cart(session)) is not None:
            return bounce
        if session.shipping is None:
            return redirect("/shop/checkout")
        if session.payment is None:
            return redirect("/shop/checkout/payment")
        return ctx.render(
            request,
            "shop/checkout_review.html",
            {
                "title": "Checkout: review your order – Voltline",
                "shipping": session.shipping,
                "payment": session.payment,
                "country": country_name(session.shipping.country),
                "step": 3,
                **totals(session),
            },
        )

    @router.post("/checkout/place-order")
    def place_order(request: Request) -> Response:
        session = ctx.session(request)
        order = ctx.state.place_order(session)
        if order is None:
            return redirect("/shop/checkout/review")
        return redirect(f"/shop/order/{order.id}")

    @router.get("/order/{order_id}")
    def order_page(request: Request, order_id: str) -> Response:
        order = ctx.state.orders.get(order_id)
        if order is None:
            raise HTTPException(status_code=404)
        method = shipping_method(order.shipping.method)
        return ctx.render(
            request,
            "shop/order.html",
            {
                "title": f"Order {order.id} – Voltline",
                "order": order,
                "method": method,
                "country": country_name(order.shipping.country),
            },
        )

    return router
