"""Policy for the browser: the navigation guard and click classification from DOM facts."""

from __future__ import annotations

import pytest

from valet.browser import Element, Observation
from valet.policy import NavigationSettings, check_navigation, classify_click, classify_enter
from valet.tools import Effect

DEMO = NavigationSettings(allow_hosts=frozenset({"127.0.0.1:8765", "intranet.lan"}))
PUBLIC = ["93.184.216.34"]

NAVIGATION: list[tuple[str, list[str], str, str]] = [
    ("https://example.com/", PUBLIC, "allow", "nav.public"),
    ("file:///etc/passwd", [], "deny", "nav.scheme.file"),
    ("FILE:///C:/Windows/win.ini", [], "deny", "nav.scheme.file"),
    ("chrome://settings", [], "deny", "nav.scheme.chrome"),
    ("chrome-extension://abc/page.html", [], "deny", "nav.scheme.chrome-extension"),
    ("javascript:alert(1)", [], "deny", "nav.scheme.javascript"),
    ("data:text/html,<script>alert(1)</script>", [], "deny", "nav.scheme.data"),
    ("view-source:https://example.com", [], "deny", "nav.scheme.view-source"),
    ("about:blank", [], "allow", "nav.blank"),
    ("http://127.0.0.1/", [], "deny", "nav.loopback"),
    ("http://127.0.0.1:9999/", [], "deny", "nav.loopback"),
    ("http://localhost:8765/", [], "deny", "nav.loopback"),
    ("http://[::1]/", [], "deny", "nav.loopback"),
    ("http://2130706433/", [], "deny", "nav.loopback"),
    ("http://0x7f.1/", [], "deny", "nav.loopback"),
    ("http://10.1.2.3/admin", [], "deny", "nav.private"),
    ("http://192.168.1.1/", [], "deny", "nav.private"),
    ("http://172.16.0.5/", [], "deny", "nav.private"),
    ("http://[::ffff:10.0.0.1]/", [], "deny", "nav.private"),
    ("http://169.254.169.254/latest/meta-data/", [], "deny", "nav.metadata"),
    ("http://[fd00:ec2::254]/latest/", [], "deny", "nav.metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", [], "deny", "nav.metadata"),
    ("http://169.254.1.1/", [], "deny", "nav.link_local"),
    ("http://0.0.0.0:8000/", [], "deny", "nav.loopback"),
    ("http://100.64.0.1/", [], "deny", "nav.reserved"),
    # names resolving to internal addresses (DNS answers passed in)
    ("https://innocent.example/", ["10.0.0.7"], "deny", "nav.private"),
    ("https://innocent.example/", ["93.184.216.34", "127.0.0.1"], "deny", "nav.loopback"),
    ("https://rebind.example/", ["169.254.169.254"], "deny", "nav.metadata"),
    # the allow-list: exact host:port, or a host on any port
    ("http://127.0.0.1:8765/shop", [], "allow", "nav.allow_listed"),
    ("http://intranet.lan:8080/", ["10.0.0.9"], "allow", "nav.allow_listed"),
    ("http://169.254.169.254:8765/", [], "deny", "nav.metadata"),
    ("http:///nohost", [], "deny", "nav.malformed"),
    ("http://[::1/", [], "deny", "nav.malformed"),
]


@pytest.mark.parametrize(("url", "resolved", "verdict", "rule_id"), NAVIGATION)
def test_navigation_guard(url: str, resolved: list[str], verdict: str, rule_id: str) -> None:
    decision = check_navigation(url, resolved, DEMO)
    assert (decision.verdict, decision.rule_id) == (verdict, rule_id), decision.reason


def test_demo_sites_need_the_allow_list() -> None:
    assert check_navigation("http://127.0.0.1:8765/", []).verdict == "deny"
    assert check_navigation("http://127.0.0.1:8765/", [], DEMO).verdict == "allow"


def page(*elements: Element, text: str = "", url: str = "https://shop.example/") -> Observation:
    return Observation(url=url, title="t", tabs=[], elements=list(elements), text=text)


def el(id_: int, role: str, name: str, **facts: object) -> Element:
    return Element(id_, role, name, **facts)  # pyright: ignore[reportArgumentType]


CARD_FIELDS = (
    el(1, "textbox", "Card number"),
    el(2, "textbox", "Expiry (MM/YY)"),
    el(3, "textbox", "CVC"),
)
CART = page(el(1, "button", "Remove"), el(2, "link", "Checkout", extra="→/checkout"))
CHECKOUT = page(*CARD_FIELDS, el(9, "button", "Checkout"))
AUTOCOMPLETE = page(el(1, "textbox", "(name=cc-number)"), el(2, "button", "Continue to payment"))
COMPOSER = page(el(1, "textbox", "To"), el(2, "textbox", "Message body"), el(3, "button", "Send"))
PLAIN = page()

CLICKS: list[tuple[Element, Observation, Effect]] = [
    (el(4, "button", "Place order"), CHECKOUT, Effect.PURCHASE),
    (el(4, "button", "Buy now"), PLAIN, Effect.PURCHASE),
    (el(4, "button", "Pay 129.90 €"), CHECKOUT, Effect.PURCHASE),
    (el(9, "button", "Checkout"), CHECKOUT, Effect.PURCHASE),
    (el(2, "button", "Continue to payment"), AUTOCOMPLETE, Effect.SUBMIT),
    (el(2, "button", "Continue to payment"), PLAIN, Effect.NAVIGATE),
    (el(2, "button", "Review order"), PLAIN, Effect.NAVIGATE),
    (el(5, "button", "Checkout"), AUTOCOMPLETE, Effect.PURCHASE),
    (el(2, "link", "Checkout", extra="→/checkout"), CART, Effect.NAVIGATE),
    (el(1, "button", "Remove"), CART, Effect.DELETE),
    (el(1, "button", "Delete"), PLAIN, Effect.DELETE),
    (el(1, "button", "Delete all"), PLAIN, Effect.DELETE),
    (el(1, "button", "(icon: trash)"), PLAIN, Effect.DELETE),
    (el(1, "button", '(icon: bin, near "invoice.pdf")'), PLAIN, Effect.DELETE),
    (el(3, "button", "Send"), COMPOSER, Effect.SEND),
    (el(3, "button", "Reply all"), COMPOSER, Effect.SEND),
    (el(1, "button", "Post"), PLAIN, Effect.PUBLISH),
    (el(1, "button", "Publish"), PLAIN, Effect.PUBLISH),
    (el(1, "button", "Tweet"), PLAIN, Effect.PUBLISH),
    (el(1, "button", "Comment"), PLAIN, Effect.PUBLISH),
    (el(1, "button", "Share"), PLAIN, Effect.SHARE),
    (el(1, "button", "Submit"), PLAIN, Effect.SUBMIT),
    (el(1, "button", "Save changes"), PLAIN, Effect.SUBMIT),
    (el(1, "button", "Go", extra="type=submit"), PLAIN, Effect.SUBMIT),
    (el(1, "link", "Laptops", extra="→/c/laptops"), PLAIN, Effect.NAVIGATE),
    (el(1, "checkbox", "Remember me"), PLAIN, Effect.INPUT),
    (el(1, "switch", "Dark mode"), PLAIN, Effect.INPUT),
    (el(1, "tab", "Reviews"), PLAIN, Effect.READ),
    (el(1, "button", "Details", states=("collapsed",)), PLAIN, Effect.READ),
    (el(1, "button", "Delete account", states=("collapsed",)), PLAIN, Effect.READ),
    (el(1, "button", "Add to cart"), PLAIN, Effect.INPUT),
    (el(1, "button", "Search"), PLAIN, Effect.READ),
    (el(1, "button", "Apply filters"), PLAIN, Effect.READ),
    (el(1, "button", "Save for later"), PLAIN, Effect.INPUT),
    (el(1, "button", "Sign in"), PLAIN, Effect.SUBMIT),
    (el(1, "button", "Refund"), PLAIN, Effect.UNKNOWN),
    (el(1, "button", "Next page"), PLAIN, Effect.READ),
    (el(1, "button", "OK"), PLAIN, Effect.UNKNOWN),
    (el(1, "button", "(unlabeled div)"), PLAIN, Effect.UNKNOWN),
]


@pytest.mark.parametrize(
    ("element", "observation", "effect"),
    CLICKS,
    ids=[f"{e.role}:{e.name}" for e, _, _ in CLICKS],
)
def test_click_classification(element: Element, observation: Observation, effect: Effect) -> None:
    found = classify_click(element, observation)
    assert found.effect == effect, found.reason
    assert found.reason


def test_enter_classification() -> None:
    search = el(1, "searchbox", "Search products", states=("focused",))
    login = el(2, "textbox", "Password", states=("focused",))
    assert classify_enter(search, page(search)).effect == Effect.READ
    assert classify_enter(None, page(search)).effect == Effect.READ  # the focused element
    assert classify_enter(None, page(login)).effect == Effect.SUBMIT
    assert classify_enter(None, page()).effect == Effect.UNKNOWN
    send = el(3, "button", "Send", states=("focused",))
    assert classify_enter(None, page(send)).effect == Effect.SEND
