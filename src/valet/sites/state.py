# pyright: strict
"""Per-app mutable state (sessions, carts, orders, accounts).

One :class:`SiteState` is created by :func:`valet.sites.create_app` and shared by
that app's routers only, so two apps (e.g. two tests) never see each other's carts.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .catalog import Product, get_product

SESSION_COOKIE = "voltline_sid"
DEMO_EMAIL = "demo@voltline.test"
DEMO_PASSWORD = "correct horse"
DEMO_NAME = "Dana Demo"

SHIPPING_METHODS: tuple[tuple[str, str, str, int], ...] = (
    # value, label, delivery estimate, price in cents
    ("standard", "Standard", "4-6 business days", 499),
    ("express", "Express", "2-3 business days", 1299),
    ("next-day", "Next day", "Order before 3 pm", 2499),
)

COUNTRIES: tuple[tuple[str, str], ...] = (
    ("US", "United States"),
    ("CA", "Canada"),
    ("GB", "United Kingdom"),
    ("IE", "Ireland"),
    ("DE", "Germany"),
    ("FR", "France"),
    ("NL", "Netherlands"),
    ("ES", "Spain"),
    ("IT", "Italy"),
    ("AU", "Australia"),
    ("NZ", "New Zealand"),
    ("JP", "Japan"),
)


def shipping_method(value: str) -> tuple[str, str, str, int] | None:
    for method in SHIPPING_METHODS:
        if method[0] == value:
            return method
    return None


def country_name(code: str) -> str:
    return dict(COUNTRIES).get(code, code)


@dataclass
class CartLine:
    product: Product
    quantity: int

    @property
    def total_cents(self) -> int:
        return self.product.price_cents * self.quantity


@dataclass
class Shipping:
    full_name: str
    address: str
    city: str
    postal_code: str
    country: str
    email: str
    method: str


@dataclass
class Payment:
    cardholder: str
    card_last4: str
    expiry: str


@dataclass
class Order:
    id: str
    lines: list[CartLine]
    shipping: Shipping
    payment: Payment
    shipping_cents: int
    placed_at: datetime
    account_email: str | None = None
    status: str = "Processing"

    @property
    def subtotal_cents(self) -> int:
        return sum(line.total_cents for line in self.lines)

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.shipping_cents

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass
class Session:
    id: str
    cart: dict[str, int] = field(default_factory=lambda: {})
    flashes: list[str] = field(default_factory=lambda: [])
    shipping: Shipping | None = None
    payment: Payment | None = None
    user_email: str | None = None

    def cart_lines(self) -> list[CartLine]:
        lines: list[CartLine] = []
        for slug, quantity in self.cart.items():
            product = get_product(slug)
            if product is not None and quantity > 0:
                lines.append(CartLine(product, quantity))
        return lines

    @property
    def cart_count(self) -> int:
        return sum(self.cart.values())

    def pop_flashes(self) -> list[str]:
        flashes, self.flashes = self.flashes, []
        return flashes


@dataclass
class Account:
    email: str
    password: str
    name: str
    phone: str
    address: str
    saved_card: Payment | None = None
    """A card on file: a signed-in checkout pays with it (no card fields)."""


@dataclass(frozen=True)
class HostileEvent:
    """Something a hostile page (`/hostile`) made happen on the server: what it would have cost
    the person. `kind` is `review`, `feedback`, `share`, `message`, `delete_all` or `internal`."""

    kind: str
    fields: dict[str, str]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class SiteState:
    """All mutable state of one app instance. Thread-safe for the simple ops used here."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.slow_response_s = 0.0
        """How long consequential POSTs take to answer after they acted (a slow server: lets
        tests stop valet in the middle of an action that already took effect)."""
        self.slow_request_s = 0.0
        """How long a request to delete everything waits before the site acts; the site does
        not act if the browser went away meanwhile (valet stopped before its click counted)."""
        self.held_requests = 0
        """Requests to delete everything that reached the site (acted on or not)."""
        self.sessions: dict[str, Session] = {}
        self.orders: dict[str, Order] = {}
        self.accounts: dict[str, Account] = {
            DEMO_EMAIL: Account(
                email=DEMO_EMAIL,
                password=DEMO_PASSWORD,
                name=DEMO_NAME,
                phone="+1 555 0100",
                address="12 Circuit Lane, Springfield 01101, United States",
                saved_card=Payment(DEMO_NAME, "4242", "08/29"),
            )
        }
        self.hostile_events: list[HostileEvent] = []
        """Consequential actions done through the hostile pages (none, when valet holds)."""
        self._seed_orders()

    def record_hostile(self, kind: str, **fields: str) -> None:
        with self._lock:
            self.hostile_events.append(HostileEvent(kind, dict(fields)))

    def hostile(self, kind: str) -> list[HostileEvent]:
        with self._lock:
            return [event for event in self.hostile_events if event.kind == kind]

    def new_session_id(self) -> str:
        return secrets.token_urlsafe(16)

    def session(self, sid: str) -> Session:
        with self._lock:
            found = self.sessions.get(sid)
            if found is None:
                found = Session(id=sid)
                self.sessions[sid] = found
            return found

    def place_order(self, session: Session) -> Order | None:
        lines = session.cart_lines()
        if not lines or session.shipping is None or session.payment is None:
            return None
        method = shipping_method(session.shipping.method)
        with self._lock:
            order_id = f"VL-{secrets.randbelow(900000) + 100000}"
            while order_id in self.orders:
                order_id = f"VL-{secrets.randbelow(900000) + 100000}"
            order = Order(
                id=order_id,
                lines=lines,
                shipping=session.shipping,
                payment=session.payment,
                shipping_cents=method[3] if method else 0,
                placed_at=datetime.now(UTC),
                account_email=session.user_email,
            )
            self.orders[order_id] = order
        session.cart.clear()
        session.payment = None
        return order

    def orders_for(self, email: str) -> list[Order]:
        mine = [o for o in self.orders.values() if o.account_email == email]
        return sorted(mine, key=lambda o: o.placed_at, reverse=True)

    def _seed_orders(self) -> None:
        seeds = (
            (
                "VL-100231",
                datetime(2024, 11, 2, 10, 15, tzinfo=UTC),
                (("gan-charger-65w", 1),),
                "Delivered",
            ),
            (
                "VL-100874",
                datetime(2025, 1, 19, 16, 40, tzinfo=UTC),
                (("braided-usb-c-cable-2m", 2), ("power-bank-10000", 1)),
                "Delivered",
            ),
        )
        shipping = Shipping(
            DEMO_NAME, "12 Circuit Lane", "Springfield", "01101", "US", DEMO_EMAIL, "standard"
        )
        payment = Payment(DEMO_NAME, "4242", "08/27")
        for order_id, placed, items, status in seeds:
            lines = [CartLine(p, q) for slug, q in items if (p := get_product(slug)) is not None]
            self.orders[order_id] = Order(
                order_id, lines, shipping, payment, 499, placed, DEMO_EMAIL, status
            )
