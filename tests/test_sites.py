"""Tests for valet.sites: the local demo web sites (served for real and via TestClient)."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest
from fastapi.testclient import TestClient

from valet.sites import DEMO_EMAIL, DEMO_PASSWORD, PRODUCTS, SiteServer, create_app

CHEAPEST_USB_C = "usb-c-cable-1m-basic"
INTERACTIVE_TAGS = {"a", "button", "input", "select", "textarea"}


class Interactive(HTMLParser):
    """Collects interactive elements as (tag, name) in document order.

    Interactive = a[href], button, select, textarea, input except type=hidden.
    Name = aria-label, else the element's text (for a/button), else name attribute.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, str]] = []
        self._open: list[tuple[str, str | None, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag not in INTERACTIVE_TAGS:
            return
        if tag == "a" and a.get("href") is None:
            return
        if tag == "input" and (a.get("type") or "text") == "hidden":
            return
        if tag in ("a", "button"):
            self._open.append((tag, a.get("aria-label"), []))
        else:
            self.elements.append((tag, a.get("aria-label") or a.get("id") or a.get("name") or ""))

    def handle_data(self, data: str) -> None:
        for _, _, texts in self._open:
            texts.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, label, texts = self._open.pop()
            self.elements.append((tag, label or " ".join("".join(texts).split())))


def interactive(html: str) -> list[tuple[str, str]]:
    parser = Interactive()
    parser.feed(html)
    parser.close()
    return parser.elements


def slugs(html: str) -> list[str]:
    return re.findall(r'<article class="product-card" data-slug="([^"]+)"', html)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def login(client: TestClient) -> str:
    """Sign in as the demo user; returns the page landed on."""
    return client.post(
        "/account/login",
        data={"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "next": "/account"},
    ).text


def fill_cart_and_ship(client: TestClient) -> None:
    client.post("/shop/cart/add", data={"slug": CHEAPEST_USB_C, "quantity": "2"})
    r = client.post(
        "/shop/checkout",
        data={
            "full_name": "Ada Lovelace",
            "address": "12 Analytical St",
            "city": "London",
            "postal_code": "NW1 6XE",
            "country": "GB",
            "email": "ada@example.com",
            "method": "express",
        },
    )
    assert r.status_code == 200 and r.url.path == "/shop/checkout/payment"


# --- server -----------------------------------------------------------------------------


def test_site_server_starts_on_free_port_and_stops() -> None:
    with SiteServer() as a, SiteServer() as b:
        assert a.port and b.port and a.port != b.port
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", a.url)
        assert a.url_for("/shop") == a.url + "/shop"
        r = httpx.get(a.url_for("/shop"))
        assert r.status_code == 200 and "Voltline" in r.text
        assert httpx.get(b.url_for("/healthz")).text == "ok"
        url = a.url
    started = time.monotonic()
    server = SiteServer().start()
    stop_url = server.url
    server.stop()
    assert time.monotonic() - started < 5
    for gone in (url, stop_url):
        with pytest.raises(httpx.ConnectError):
            httpx.get(gone + "/healthz", timeout=2)


def test_apps_do_not_share_state() -> None:
    with TestClient(create_app()) as one, TestClient(create_app()) as two:
        one.post("/shop/cart/add", data={"slug": CHEAPEST_USB_C, "quantity": "1"})
        two.cookies.update(one.cookies)
        assert 'aria-label="1 items in cart"' in one.get("/shop/cart").text
        assert 'aria-label="0 items in cart"' in two.get("/shop/cart").text


def test_cross_origin_widget_is_served_from_other_host() -> None:
    with SiteServer() as server:
        page = httpx.get(server.url_for("/frames")).text
        widget = f"http://localhost:{server.port}/frames/widget"
        assert f'src="{widget}"' in page
        assert 'src="/frames/inner"' in page
        r = httpx.get(widget)
        assert r.status_code == 200 and "Subscribe" in r.text


# --- shop -------------------------------------------------------------------------------


def test_search_sorted_by_price_finds_cheapest_usb_c_cable_first(client: TestClient) -> None:
    usb_c_cables = [p for p in PRODUCTS if "usb-c" in p.name.lower() and "cable" in p.name.lower()]
    assert len(usb_c_cables) >= 4
    cheapest = min(usb_c_cables, key=lambda p: p.price_cents)
    assert cheapest.slug == CHEAPEST_USB_C

    relevance = slugs(client.get("/shop/search", params={"q": "USB-C cable"}).text)
    assert relevance and relevance[0] != CHEAPEST_USB_C  # sorting is needed to find it

    r = client.get("/shop/search", params={"q": "USB-C cable", "sort": "price-asc"})
    by_price = slugs(r.text)
    assert by_price[0] == CHEAPEST_USB_C
    assert set(by_price) == set(relevance)
    assert '<option value="price-asc" selected>' in r.text

    prices = {p.slug: p.price_cents for p in PRODUCTS}
    desc = slugs(client.get("/shop/search?q=USB-C+cable&sort=price-desc").text)
    assert [prices[s] for s in desc] == sorted((prices[s] for s in desc), reverse=True)


def test_filters_work_server_side(client: TestClient) -> None:
    r = client.get(
        "/shop/search", params={"q": "", "max_price": "20", "brand": ["Kestrel", "Pulsewire"]}
    )
    by_slug = {p.slug: p for p in PRODUCTS}
    found = slugs(r.text)
    assert found
    assert all(by_slug[s].price_cents <= 2000 for s in found)
    assert {by_slug[s].brand for s in found} <= {"Kestrel", "Pulsewire"}
    cables = slugs(client.get("/shop/category/cables").text)
    assert cables and all(by_slug[s].category == "cables" for s in cables)
    assert client.get("/shop/category/nope").status_code == 404


def test_add_to_cart_shows_item_with_quantity(client: TestClient) -> None:
    page = client.get(f"/shop/product/{CHEAPEST_USB_C}").text
    assert '<label for="quantity">Quantity</label>' in page
    assert ("button", "Add to cart") in interactive(page)

    r = client.post("/shop/cart/add", data={"slug": CHEAPEST_USB_C, "quantity": "3"})
    assert r.url.path == f"/shop/product/{CHEAPEST_USB_C}"
    assert "Added to cart" in r.text
    # the flash message is one-shot
    assert "Added to cart" not in client.get(f"/shop/product/{CHEAPEST_USB_C}").text

    cart = client.get("/shop/cart").text
    row = re.search(rf'<tr data-slug="{CHEAPEST_USB_C}">(.*?)</tr>', cart, re.S)
    assert row is not None
    assert re.search(r'name="quantity"[^>]*value="3"', row.group(1))
    assert "$17.97" in cart  # 3 x $5.99 subtotal

    client.post("/shop/cart/update", data={"slug": CHEAPEST_USB_C, "quantity": "1"})
    assert re.search(r'name="quantity"[^>]*value="1"', client.get("/shop/cart").text)
    client.post("/shop/cart/remove", data={"slug": CHEAPEST_USB_C})
    assert "Your cart is empty" in client.get("/shop/cart").text


def test_checkout_reaches_review_with_total_and_places_order(client: TestClient) -> None:
    assert client.get("/shop/checkout", follow_redirects=False).status_code == 303  # empty cart

    client.post("/shop/cart/add", data={"slug": CHEAPEST_USB_C, "quantity": "2"})
    bad = client.post("/shop/checkout", data={"full_name": "", "email": "nope"})
    assert bad.status_code == 422
    assert "Full name is required." in bad.text and "Enter a valid email address" in bad.text
    assert 'aria-invalid="true"' in bad.text

    fill_cart_and_ship(client)
    payment = client.get("/shop/checkout/payment").text
    for ac in ("cc-number", "cc-exp", "cc-csc"):
        assert f'autocomplete="{ac}"' in payment
    bad_card = client.post(
        "/shop/checkout/payment",
        data={"cardholder": "Ada", "card_number": "1234", "expiry": "13/99", "cvc": "1"},
    )
    assert bad_card.status_code == 422 and "valid card number" in bad_card.text

    review = client.post(
        "/shop/checkout/payment",
        data={
            "cardholder": "Ada Lovelace",
            "card_number": "4242 4242 4242 4242",
            "expiry": "12/30",
            "cvc": "123",
        },
    )
    assert review.url.path == "/shop/checkout/review"
    # 4 units (2 before + 2 in fill_cart_and_ship) x $5.99 = $23.96, express shipping $12.99
    assert 'id="order-total">$36.95<' in review.text
    assert "Card ending in 4242" in review.text
    assert ("button", "Place order") in interactive(review.text)

    done = client.post("/shop/checkout/place-order")
    assert re.fullmatch(r"/shop/order/VL-\d{6}", done.url.path)
    assert "Your order has been placed" in done.text and "$36.95" in done.text
    assert "Your cart is empty" in client.get("/shop/cart").text


# --- account ----------------------------------------------------------------------------


def test_account_requires_login_and_demo_credentials_work(client: TestClient) -> None:
    r = client.get("/account", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account/login?next=/account"
    form = client.get(r.headers["location"]).text
    assert 'autocomplete="current-password"' in form

    wrong = client.post(
        "/account/login", data={"email": DEMO_EMAIL, "password": "nope", "next": "/account"}
    )
    assert wrong.status_code == 401 and "Incorrect email or password" in wrong.text

    ok = login(client)
    assert "Your orders" in ok and "VL-100231" in ok and DEMO_EMAIL in ok

    evil = client.post(
        "/account/login",
        data={"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "next": "//evil.test/"},
        follow_redirects=False,
    )
    assert evil.headers["location"] == "/account"


def test_order_placed_while_logged_in_shows_in_account(client: TestClient) -> None:
    login(client)
    fill_cart_and_ship(client)
    client.post(
        "/shop/checkout/payment",
        data={
            "cardholder": "Dana",
            "card_number": "4242424242424242",
            "expiry": "01/31",
            "cvc": "999",
        },
    )
    order_id = client.post("/shop/checkout/place-order").url.path.rsplit("/", 1)[1]
    assert order_id in client.get("/account").text


# --- edge cases -------------------------------------------------------------------------


def test_404_is_a_real_404_with_html(client: TestClient) -> None:
    for path in ("/edge/404", "/no/such/page", "/shop/product/nope"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "Page not found" in r.text


def test_redirect_loop_redirects_forever(client: TestClient) -> None:
    url, seen = "/edge/redirect-loop", set[str]()
    for _ in range(50):
        r = client.get(url, follow_redirects=False)
        assert r.status_code == 302
        url = r.headers["location"]
        assert url.startswith("/edge/redirect-loop") and url not in seen
        seen.add(url)
    with SiteServer() as server, pytest.raises(httpx.TooManyRedirects):
        httpx.get(server.url_for("/edge/redirect-loop"), follow_redirects=True)


def test_download_is_an_attachment(client: TestClient) -> None:
    assert 'href="/edge/file.csv"' in client.get("/edge/download").text
    r = client.get("/edge/file.csv")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment")
    assert r.text.startswith("order_id,")


def test_slow_page_waits_and_caps(client: TestClient) -> None:
    started = time.monotonic()
    r = client.get("/edge/slow?ms=150")
    assert r.status_code == 200 and time.monotonic() - started >= 0.15
    assert "150 ms" in r.text


def test_dialog_and_popup_pages(client: TestClient) -> None:
    dialogs = client.get("/edge/dialog-loop").text
    assert "alert(" in dialogs and "confirm(" in dialogs and "prompt(" in dialogs
    assert 'target="_blank"' in client.get("/edge/popup").text


# --- benchmark pages --------------------------------------------------------------------


def test_bench_200_has_exactly_200_interactive_elements(client: TestClient) -> None:
    elements = interactive(client.get("/bench/200").text)
    assert len(elements) == 200
    kinds = Counter(tag for tag, _ in elements)
    assert all(kinds[t] > 0 for t in INTERACTIVE_TAGS)


def test_bench_10000_has_exactly_10000_interactive_elements(client: TestClient) -> None:
    assert len(interactive(client.get("/bench/10000").text)) == 10000


# --- layout variants --------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"/shop/product/{CHEAPEST_USB_C}", "/shop/search?q=cable"])
def test_layout_alt_keeps_the_same_buttons_and_links(client: TestClient, path: str) -> None:
    default = interactive(client.get(path).text)
    alt = interactive(client.get(path + ("&" if "?" in path else "?") + "layout=alt").text)
    assert Counter(default) == Counter(alt)
    assert default != alt  # same elements, different order


def test_layout_variants_via_cookie_and_hide_add_to_cart(client: TestClient) -> None:
    product = f"/shop/product/{CHEAPEST_USB_C}"
    add = ("button", "Add to cart")
    assert add in interactive(client.get(product).text)
    assert add not in interactive(client.get(product + "?hide=add-to-cart").text)

    r = client.get("/shop/layout", params={"mode": "alt", "hide": "add-to-cart", "next": product})
    assert r.url.path == product
    assert client.cookies.get("layout") == "alt"
    elements = interactive(r.text)
    assert add not in elements and ("button", "Save for later") in elements
    assert 'class="product-layout alt"' in r.text
    assert add in interactive(client.get(product + "?hide=").text)  # query overrides cookie

    client.get("/shop/layout", params={"mode": "default", "hide": ""})
    page = client.get(product).text
    assert add in interactive(page) and 'class="product-layout"' in page


def test_long_form_has_many_fields_and_echoes_values(client: TestClient) -> None:
    page = client.get("/form").text
    fields = [e for e in interactive(page) if e[0] in ("input", "select", "textarea")]
    assert len(fields) >= 30
    assert (
        'type="file"' in page
        and 'title="Show help"' in page
        and "<title>Save draft</title>" in page
    )
    r = client.post(
        "/form",
        data={
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "interests": ["Music", "Film"],
        },
        files={"proof": ("bill.pdf", b"%PDF-1.4 demo", "application/pdf")},
    )
    assert r.status_code == 200
    assert "Application received, Ada Lovelace" in r.text
    assert "Music, Film" in r.text and "bill.pdf (13 bytes)" in r.text


def test_dynamic_items_endpoint(client: TestClient) -> None:
    page = client.get("/dynamic").text
    assert "Does nothing" in page and 'id="clock"' in page
    data = client.get("/dynamic/items?offset=5&limit=5").json()
    assert len(data["items"]) == 5 and data["next"] == 10 and data["more"] is True
