# pyright: strict
"""Voltline account area: login-protected orders list and profile."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from .state import DEMO_EMAIL, DEMO_PASSWORD
from .web import SiteContext, redirect, safe_next


def build_account_router(ctx: SiteContext) -> APIRouter:
    router = APIRouter(prefix="/account")

    def login_redirect(request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return redirect(f"/account/login?next={quote(target, safe='/')}")

    @router.get("")
    def account_home(request: Request) -> Response:
        session = ctx.session(request)
        account = ctx.state.accounts.get(session.user_email or "")
        if account is None:
            return login_redirect(request)
        return ctx.render(
            request,
            "account/home.html",
            {
                "title": "Your account – Voltline",
                "account": account,
                "orders": ctx.state.orders_for(account.email),
            },
        )

    @router.get("/login")
    def login_form(request: Request, next: str = "/account") -> Response:
        return ctx.render(
            request,
            "account/login.html",
            {
                "title": "Sign in – Voltline",
                "next": safe_next(next, "/account"),
                "email": "",
                "error": None,
                "demo_email": DEMO_EMAIL,
                "demo_password": DEMO_PASSWORD,
            },
        )

    @router.post("/login")
    def login_submit(
        request: Request,
        email: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/account",
    ) -> Response:
        account = ctx.state.accounts.get(email.strip().lower())
        if account is None or account.password != password:
            return ctx.render(
                request,
                "account/login.html",
                {
                    "title": "Sign in – Voltline",
                    "next": safe_next(next, "/account"),
                    "email": email,
                    "error": "Incorrect email or password.",
                    "demo_email": DEMO_EMAIL,
                    "demo_password": DEMO_PASSWORD,
                },
                status_code=401,
            )
        session = ctx.session(request)
        session.user_email = account.email
        session.flashes.append(f"Welcome back, {account.name.split()[0]}!")
        return redirect(safe_next(next, "/account"))

    @router.post("/logout")
    def logout(request: Request) -> Response:
        session = ctx.session(request)
        session.user_email = None
        session.flashes.append("You have been signed out.")
        return redirect("/shop")

    return router
