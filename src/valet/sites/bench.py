# pyright: strict
"""Benchmark pages: a realistic 200-element dashboard and a plain N-element stress page."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from .web import SiteContext

MAX_PLAIN = 20000

SIDEBAR = (
    "Overview", "Orders", "Customers", "Products", "Inventory", "Shipments", "Returns",
    "Invoices", "Payouts", "Discounts", "Reports", "Analytics", "Integrations", "Settings",
)  # fmt: skip
KPIS = (
    ("Revenue", "$48,210", "+12.4%"),
    ("Orders", "1,284", "+3.1%"),
    ("Refund rate", "1.8%", "-0.4%"),
    ("Avg. order", "$37.55", "+2.0%"),
)
STATUSES = ("Pending", "Paid", "Shipped", "Delivered", "Refunded")
CUSTOMERS = (
    "Ada Byron", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Linus Pauling",
    "Margaret Hamilton", "Tim Berners-Lee", "Barbara Liskov", "Donald Knuth", "Radia Perlman",
    "Ken Thompson", "Frances Allen", "Edsger Dijkstra", "Hedy Lamarr", "John McCarthy",
    "Mary Jackson", "Vint Cerf", "Shafi Goldwasser", "Niklaus Wirth", "Anita Borg",
    "Dennis Ritchie", "Sophie Wilson", "Claude Shannon", "Jean Bartik", "Leslie Lamport",
)  # fmt: skip
TEAM = (
    ("Priya Natarajan", "Owner"), ("Marco Rossi", "Admin"), ("Chen Wei", "Editor"),
    ("Fatima Zahra", "Editor"), ("Lars Nilsson", "Viewer"), ("Aiko Tanaka", "Viewer"),
    ("Tomás García", "Support"), ("Nia Okafor", "Support"),
)  # fmt: skip
INTEGRATIONS = (
    ("Stripe", True), ("Slack", True), ("Mailchimp", False),
    ("Zendesk", False), ("QuickBooks", True), ("Shippo", False),
)  # fmt: skip
FOOTER = (
    "About", "Careers", "Press", "Blog", "Help center", "API docs",
    "Status", "Security", "Privacy", "Terms", "Cookies", "Contact",
)  # fmt: skip


def dashboard_rows() -> list[dict[str, str | int]]:
    rows: list[dict[str, str | int]] = []
    for i, name in enumerate(CUSTOMERS):
        rows.append(
            {
                "id": 58210 + i,
                "customer": name,
                "status": STATUSES[(i * 7) % len(STATUSES)],
                "total": f"${(i * 1373) % 400 + 12}.{(i * 37) % 100:02d}",
                "date": f"2025-03-{(i % 28) + 1:02d}",
            }
        )
    return rows


def plain_page(n: int) -> str:
    """`n` interactive elements: rows of (link, checkbox, text input, button)."""
    kinds = (
        '<a href="#item-{i}">Item {i}</a>',
        '<input type="checkbox" name="pick" value="{i}" aria-label="Select item {i}">',
        '<input type="text" name="note-{i}" aria-label="Note for item {i}">',
        '<button type="button">Action {i}</button>',
    )
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>Stress test: {n} interactive elements</title></head><body>",
        f"<h1 id='top'>Stress test: {n} interactive elements</h1><ol>",
    ]
    for i in range(n):
        if i % 4 == 0:
            if i:
                parts.append("</li>")
            parts.append(f"<li id='item-{i // 4}'>")
        parts.append(kinds[i % 4].format(i=i // 4))
    if n:
        parts.append("</li>")
    parts.append("</ol></body></html>")
    return "".join(parts)


def build_bench_router(ctx: SiteContext) -> APIRouter:
    router = APIRouter(prefix="/bench")

    @router.get("/200")
    def dashboard(request: Request) -> Response:
        return ctx.render(
            request,
            "bench/dashboard.html",
            {
                "title": "Northwind Ops – Dashboard",
                "sidebar": SIDEBAR,
                "kpis": KPIS,
                "statuses": STATUSES,
                "rows": dashboard_rows(),
                "team": TEAM,
                "integrations": INTEGRATIONS,
                "footer": FOOTER,
            },
        )

    @router.get("/{n}")
    def plain(n: int) -> Response:
        if not 0 < n <= MAX_PLAIN:
            raise HTTPException(status_code=404)
        return HTMLResponse(plain_page(n))

    return router
