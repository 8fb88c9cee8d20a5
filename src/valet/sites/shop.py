# pyright: strict
"""Voltline shop: catalogue, search, product pages, cart and layout-variant switch."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from fastapi.responses import Response

from .catalog import BRANDS, PRODUCTS, SORTS, get_category, get_product, search
from .web import HIDE_COOKIE, LAYOUT_COOKIE, LAYOUTS, SiteContext, parse_hidden, redirect, safe_next

MAX_QUANTITY = 10


def _parse_price(raw: str | None) -> int | None:
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return round(value * 100) if value >= 0 else None


def _clamp_quantity(raw: str) -> int | None:
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 1 <= value <= MAX_QUANTITY else None


def build_shop_router(ctx: SiteContext) -> APIRouter:
    router = APIRouter(prefix="/shop")

    @router.get("")
    def shop_home(request: Request) -> Response:
        featured = [p for p in PRODUCTS if p.rating >= 4.6][:8]
        deals = sorted(PRODUCTS, key=lambda p: p.price_cents)[:4]
        return ctx.render(
            request, "shop/home.html", {"featured": featured, "deals": deals, "title": "Voltline"}
        )

    def listing(
        request: Request,
        *,
        q: str,
        category: str | None,
        brand: list[str] | None,
        max_price: str | None,
        sort: str,
    ) -> Response:
        sort = sort if sort in dict(SORTS) else "relevance"
        chosen = [b for b in (brand or []) if b in BRANDS]
        results = search(
            q, category=category, brands=chosen, max_price_cents=_parse_price(max_price), sort=sort
        )
        cat = get_category(category) if category else None
        if cat is not None:
            heading = cat.name
        elif q:
            heading = f"Results for “{q}”"
        else:
            heading = "All products"
        return ctx.render(
            request,
            "shop/search.html",
            {
                "title": f"{heading} – Voltline",
                "heading": heading,
                "q": q,
                "category": cat,
                "results": results,
                "brands": BRANDS,
                "chosen_brands": chosen,
                "max_price": max_price or "",
                "sort": sort,
                "sorts": SORTS,
                "action": f"/shop/category/{cat.slug}" if cat else "/shop/search",
            },
        )

    @router.get("/search")
    def shop_search(
        request: Request,
        q: str = "",
        brand: Annotated[list[str] | None, Query()] = None,
        max_price: str | None = None,
        sort: str = "relevance",
    ) -> Response:
        return listing(
            request, q=q.strip(), category=None, brand=brand, max_price=max_price, sort=sort
        )

    @router.get("/category/{slug}")
    def shop_category(
        request: Request,
        slug: str,
        q: str = "",
        brand: Annotated[list[str] | None, Query()] = None,
        max_price: str | None = None,
        sort: str = "relevance",
    ) -> Response:
        if get_category(slug) is None:
            raise HTTPException(status_code=404)
        return listing(
            request, q=q.strip(), category=slug, brand=brand, max_price=max_price, sort=sort
        )

    @router.get("/product/{slug}")
    def product_page(request: Request, slug: str) -> Response:
        product = get_product(slug)
        if product is None:
            raise HTTPException(status_code=404)
        related = [p for p in PRODUCTS if p.category == product.category and p.slug != slug][:4]
        return ctx.render(
            request,
            "shop/product.html",
            {
                "title": f"{product.name} – Voltline",
                "product": product,
                "category": get_category(product.category),
                "related": related,
                "max_quantity": MAX_QUANTITY,
                "error": request.query_params.get("error"),
            },
        )

    @router.post("/cart/add")
    def cart_add(
        request: Request,
        slug: Annotated[str, Form()],
        quantity: Annotated[str, Form()] = "1",
    ) -> Response:
        product = get_product(slug)
        if product is None:
            raise HTTPException(status_code=404)
        back = f"/shop/product/{slug}"
        qty = _clamp_quantity(quantity)
        if not product.in_stock:
            return redirect(f"{back}?error=out-of-stock")
        if qty is None:
            return redirect(f"{back}?error=quantity")
        session = ctx.session(request)
        session.cart[slug] = min(session.cart.get(slug, 0) + qty, MAX_QUANTITY)
        noun = "item" if qty == 1 else "items"
        session.flashes.append(f"Added to cart: {qty} {noun} – {product.name}")
        return redirect(back)

    @router.get("/cart")
    def cart_page(request: Request) -> Response:
        session = ctx.session(request)
        lines = session.cart_lines()
        subtotal = sum(line.total_cents for line in lines)
        return ctx.render(
            request,
            "shop/cart.html",
            {
                "title": "Your cart – Voltline",
                "lines": lines,
                "subtotal": subtotal,
                "max_quantity": MAX_QUANTITY,
            },
        )

    @router.post("/cart/update")
    def cart_update(
        request: Request, slug: Annotated[str, Form()], quantity: Annotated[str, Form()]
    ) -> Response:
        session = ctx.session(request)
        product = get_product(slug)
        if product is None or slug not in session.cart:
            return redirect("/shop/cart")
        try:
            qty = int(quantity)
        except ValueError:
            session.flashes.append("Please enter a whole number.")
            return redirect("/shop/cart")
        if qty <= 0:
            del session.cart[slug]
            session.flashes.append(f"Removed {product.name} from your cart.")
        else:
            session.cart[slug] = min(qty, MAX_QUANTITY)
            session.flashes.append(f"Updated quantity of {product.name} to {session.cart[slug]}.")
        return redirect("/shop/cart")

    @router.post("/cart/remove")
    def cart_remove(request: Request, slug: Annotated[str, Form()]) -> Response:
        session = ctx.session(request)
        product = get_product(slug)
        if session.cart.pop(slug, None) is not None and product is not None:
            session.flashes.append(f"Removed {product.name} from your cart.")
        return redirect("/shop/cart")

    @router.get("/layout")
    def set_layout(
        mode: str | None = None, hide: str | None = None, next: str | None = None
    ) -> Response:
        """Set/clear the layout-variant cookies, then redirect to ``next`` (default /shop)."""
        response = redirect(safe_next(next, "/shop"))
        if mode is not None:
            if mode in LAYOUTS and mode != "default":
                response.set_cookie(LAYOUT_COOKIE, mode, path="/", samesite="lax")
            else:
                response.delete_cookie(LAYOUT_COOKIE, path="/")
        if hide is not None:
            hidden = parse_hidden(hide)
            if hidden:
                response.set_cookie(HIDE_COOKIE, ",".join(sorted(hidden)), path="/", samesite="lax")
            else:
                response.delete_cookie(HIDE_COOKIE, path="/")
        return response

    return router
