# pyright: strict
"""Realistic local web sites for valet's demo, tests and benchmark.

Usage::

    from valet.sites import create_app, SiteServer

    app = create_app()                  # FastAPI app, fresh in-memory state per call
    with SiteServer() as server:        # uvicorn in a daemon thread on 127.0.0.1, free port
        server.url                      # "http://127.0.0.1:43121" (no trailing slash)
        server.url_for("/shop")         # "http://127.0.0.1:43121/shop"

    python -m valet.sites --port 8765   # foreground, prints the URL

Sites (all on one app): ``/`` index, ``/shop`` (Voltline electronics shop with search,
filters, cart, checkout), ``/account`` (login: ``demo@voltline.test`` / ``correct horse``),
``/form`` (long library-card form), ``/frames`` (iframes + shadow DOM), ``/dynamic``,
``/bench/200`` and ``/bench/10000``, ``/edge/...`` (dialogs, redirect loop, 404,
download, slow, popup), ``/hostile`` (prompt injections), ``/stops`` (login, payment,
CAPTCHA and one-time-code pages where valet stops for the person, and look-alikes).

Layout variants for replay tests
--------------------------------
The shop's home, search/category and product pages honour two switches, read from
the query string first, then from cookies:

* ``layout=alt`` – same elements, different order/position (sidebar moves to the
  right, product grid reversed, buy-box buttons reordered, header items swapped).
* ``hide=add-to-cart`` – the product page has no "Add to cart" button at all.

Set them as cookies (so a replay sees them on every page) by visiting, e.g.::

    /shop/layout?mode=alt&next=/shop/product/usb-c-cable-1m-basic
    /shop/layout?hide=add-to-cart
    /shop/layout?mode=default&hide=          # reset both

or per request with ``?layout=alt`` / ``?hide=add-to-cart`` (``?layout=default`` and
``?hide=`` override a cookie for that one request).
"""

from __future__ import annotations

from .app import create_app
from .catalog import PRODUCTS, Product
from .server import SiteServer
from .state import DEMO_EMAIL, DEMO_PASSWORD, SiteState

__all__ = [
    "DEMO_EMAIL",
    "DEMO_PASSWORD",
    "PRODUCTS",
    "Product",
    "SiteServer",
    "SiteState",
    "create_app",
]
