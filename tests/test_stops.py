"""Stops for the person, detected by code: each detector fires on its page of the bundled
`/stops` site (real headless Chromium) and stays silent on look-alikes; the agent cannot type
into password, payment or one-time-code fields itself."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from valet.audit import KEY_ENV, AuditLog
from valet.browser import (
    BrowserSession,
    BrowserSettings,
    ByRole,
    FieldFacts,
    Observation,
    Widget,
)
from valet.gateway import GatedToolbox, Gateway, ScriptedApprover, TaskContext
from valet.gateway._stop_guard import STILL
from valet.policy import (
    NavigationSettings,
    Policy,
    captcha_of,
    detect_stop,
    field_kind,
    is_vault_placeholder,
    site_of,
)
from valet.sites import SiteServer
from valet.tools import BrowserToolbox, Clear, Goto, Press, Type


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture(scope="module")
async def session(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BrowserSession]:
    browser = await BrowserSession.start(BrowserSettings(), tmp_path_factory.mktemp("artifacts"))
    yield browser
    await browser.close()


async def observe(session: BrowserSession, url: str) -> Observation:
    outcome = await session.goto(url)
    assert outcome.ok, outcome.message
    return await session.observe()


STOPS = [
    ("/stops/login", "login", "the page asks for a password (login form)"),
    ("/account/login", "login", "the page asks for a password (login form)"),
    (
        "/stops/payment",
        "payment",
        "the page asks for payment details (card number, expiry date and security code)",
    ),
    ("/stops/iban", "payment", "the page asks for payment details (IBAN)"),
    ("/stops/recaptcha", "captcha", "the page shows a CAPTCHA (reCAPTCHA)"),
    ("/stops/recaptcha?only=frame", "captcha", "the page shows a CAPTCHA (reCAPTCHA)"),
    ("/stops/recaptcha?only=markup", "captcha", "the page shows a CAPTCHA (reCAPTCHA)"),
    ("/stops/hcaptcha", "captcha", "the page shows a CAPTCHA (hCaptcha)"),
    ("/stops/hcaptcha?only=frame", "captcha", "the page shows a CAPTCHA (hCaptcha)"),
    ("/stops/hcaptcha?only=markup", "captcha", "the page shows a CAPTCHA (hCaptcha)"),
    ("/stops/turnstile", "captcha", "the page shows a CAPTCHA (Turnstile)"),
    ("/stops/turnstile?only=frame", "captcha", "the page shows a CAPTCHA (Turnstile)"),
    ("/stops/turnstile?only=markup", "captcha", "the page shows a CAPTCHA (Turnstile)"),
    ("/stops/otp", "otp", "the page asks for a one-time code (two-step verification)"),
    ("/stops/verify", "otp", "the page asks for a one-time code (two-step verification)"),
    ("/form", "login", "the page asks to choose a password (sign-up form)"),
]

LOOKALIKES = [
    "/stops/lookalike/search",  # a search box named "password tips"
    "/stops/lookalike/gift",  # "Card message", a numeric 5-digit postal code
    "/stops/lookalike/article",  # text about CAPTCHAs, an invisible reCAPTCHA badge
    "/stops/lookalike/price",  # a price, "card payments accepted"
    "/shop/product/usb-c-cable-1m-basic",  # a real product page with its price
    "/shop/search?q=cable",
    "/hostile/contact",  # a form asking for an email and an order number
]


@pytest.mark.parametrize(("path", "kind", "reason"), STOPS)
async def test_each_detector_fires_on_its_page(
    session: BrowserSession, sites: SiteServer, path: str, kind: str, reason: str
) -> None:
    page = await observe(session, sites.url_for(path))
    stop = detect_stop(page)
    assert stop is not None, f"no stop on {path}: {page.fields} {page.widgets}"
    assert (stop.kind, stop.reason) == (kind, reason)
    assert detect_stop(page, kinds={"otp"} if kind != "otp" else {"login"}) is None, (
        "a stop kind that is turned off stays silent"
    )


@pytest.mark.parametrize("path", LOOKALIKES)
async def test_lookalikes_stay_silent(
    session: BrowserSession, sites: SiteServer, path: str
) -> None:
    page = await observe(session, sites.url_for(path))
    assert page.elements, "the page was observed"
    assert detect_stop(page) is None, (path, detect_stop(page))


async def test_the_lookalikes_show_what_they_look_like(
    session: BrowserSession, sites: SiteServer
) -> None:
    """The look-alikes really carry the words a name-based detector would fall for."""
    search = await observe(session, sites.url_for("/stops/lookalike/search"))
    assert any(e.name == "password tips" and e.role == "searchbox" for e in search.elements)
    gift = await observe(session, sites.url_for("/stops/lookalike/gift"))
    assert any(e.name == "Card message" and e.role == "textbox" for e in gift.elements)
    article = await observe(session, sites.url_for("/stops/lookalike/article"))
    assert "CAPTCHA" in article.text
    assert any("size=invisible" in w.src for w in article.widgets), "the badge is listed"
    price = await observe(session, sites.url_for("/stops/lookalike/price"))
    assert "$129.00" in price.text


async def test_a_captcha_shown_later_is_found(session: BrowserSession, sites: SiteServer) -> None:
    page = await observe(session, sites.url_for("/stops/lookalike/article"))
    live = await session.live_page()
    await live.evaluate(
        """() => { const box = document.createElement("div"); box.id = "late";
        box.className = "h-captcha"; box.dataset.sitekey = "x"; box.hidden = true;
        box.style.cssText = "width:300px;height:80px"; document.body.append(box); }"""
    )
    hidden = await session.observe()
    assert detect_stop(page) is None and detect_stop(hidden) is None, "hidden: no stop yet"
    await live.evaluate("() => { document.getElementById('late').hidden = false; }")
    shown = await session.observe()
    stop = detect_stop(shown)
    assert stop is not None and stop.reason == "the page shows a CAPTCHA (hCaptcha)"


def facts(**declared: str | int) -> FieldFacts:
    maxlength = declared.pop("maxlength", None)
    text = {k: str(v) for k, v in declared.items()}
    return FieldFacts(
        tag=text.pop("tag", "input"),
        maxlength=None if maxlength is None else int(maxlength),
        **text,
    )


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        (facts(type="password", name="pw"), "password"),
        (facts(type="text", autocomplete="current-password"), "password"),  # "show password"
        (facts(autocomplete="section-pay billing cc-number"), "card"),
        (facts(tag="select", autocomplete="cc-exp-month"), "card"),
        (facts(name="cardNumber"), "card"),
        (facts(name="card_cvc", type="password"), "card"),
        (facts(id="ccExpiry"), "card"),
        (facts(name="account_iban"), "card"),
        (facts(autocomplete="one-time-code"), "otp"),
        (facts(name="totp"), "otp"),
        (facts(id="verificationCode"), "otp"),
        (facts(name="code", inputmode="numeric", maxlength=6), "otp"),
        (facts(type="search", name="q"), None),  # the "password tips" box
        (facts(name="card_message"), None),
        (facts(name="gift_card_note", tag="textarea"), None),
        (facts(name="postal_code", inputmode="numeric", maxlength=5), None),
        (facts(name="code", maxlength=6), None),  # a coupon code: not numeric
        (facts(name="account_number"), None),
        (facts(name="expiration_date"), None),  # a passport's, say
        (facts(type="email", autocomplete="username"), None),
    ],
)
def test_field_kind_reads_the_markup(field: FieldFacts, kind: str | None) -> None:
    assert field_kind(field) == kind


RECAPTCHA = "https://www.google.com/recaptcha/api2/anchor?k=x&size="
HCAPTCHA = "https://newassets.hcaptcha.com/captcha/v1/a/static/hcaptcha.html#frame=checkbox"
TURNSTILE = "https://challenges.cloudflare.com/cdn-cgi/challenge-platform/h/b/turnstile/if/ov2"


@pytest.mark.parametrize(
    ("widget", "vendor"),
    [
        (Widget("iframe", RECAPTCHA + "normal"), "reCAPTCHA"),
        (Widget("iframe", "https://www.recaptcha.net/recaptcha/api2/bframe?k=x"), "reCAPTCHA"),
        (Widget("iframe", HCAPTCHA), "hCaptcha"),
        (Widget("iframe", TURNSTILE), "Turnstile"),
        (Widget("div", classes="frc-captcha", sitekey=True), "CAPTCHA"),
        (Widget("iframe", RECAPTCHA + "invisible"), None),  # a background check: no stop
        (Widget("div", classes="g-recaptcha", sitekey=True, size="invisible"), None),
        (Widget("iframe", "https://www.youtube.com/embed/captcha-explained"), None),
        (Widget("div", classes="g-recaptcha-notice"), None),
    ],
)
def test_captcha_vendors_from_frames_and_markup(widget: Widget, vendor: str | None) -> None:
    assert captcha_of(widget) == vendor


def test_only_an_exact_vault_placeholder_is_one() -> None:
    assert is_vault_placeholder("{{vault:shop.password}}")
    assert not is_vault_placeholder("{{vault:shop.password}} and more")
    assert not is_vault_placeholder("hunter2")


# ---- the gateway: typing into sensitive fields -------------------------------------------


@contextlib.asynccontextmanager
async def gated_toolbox(
    session: BrowserSession, sites: SiteServer, tmp_path: Path, request: str
) -> AsyncIterator[GatedToolbox]:
    """The session behind a gateway for a task whose person asked `request`."""
    home = site_of(sites.url_for("/")) or ""
    audit = AuditLog.open(tmp_path / "audit.db", tmp_path / "audit.key")
    gateway = Gateway(
        rules=Policy(navigation=NavigationSettings(allow_hosts=frozenset({home}))),
        audit=audit,
        approver=ScriptedApprover(),
        task=TaskContext(task_id="stops", request=request),
    )
    try:
        yield GatedToolbox(BrowserToolbox(session), gateway)
    finally:
        audit.close()


@pytest.fixture
async def gated(
    session: BrowserSession, sites: SiteServer, tmp_path: Path
) -> AsyncIterator[GatedToolbox]:
    async with gated_toolbox(session, sites, tmp_path, "look around") as toolbox:
        yield toolbox


async def open_gated(toolbox: GatedToolbox, url: str) -> Observation:
    outcome = await toolbox.execute(Goto(url=url))
    assert outcome.ok, outcome.message
    return await toolbox.observe()


async def field_value(session: BrowserSession, selector: str) -> str:
    page = await session.live_page()
    return await page.locator(selector).input_value()


async def test_typing_a_password_is_denied_by_the_fields_markup(
    gated: GatedToolbox, session: BrowserSession, sites: SiteServer
) -> None:
    page = await open_gated(gated, sites.url_for("/stops/login"))
    assert page.needs_person == "the page asks for a password (login form)"
    assert page.text.startswith("[valet: the person must take over: the page asks for a password")
    password = next(e for e in page.elements if e.name == "Password")
    typed = await gated.execute(Type(element=password.id, text="correct horse"))
    assert not typed.ok
    assert typed.message.startswith(
        f"denied by rule stop.sensitive_field: [{password.id}] is a password field: only the "
        "person fills it"
    )
    by_role = await gated.execute(Type(element=ByRole(role="textbox", name="Password"), text="x"))
    assert "stop.sensitive_field" in by_role.message
    cleared = await gated.execute(Clear(element=password.id))
    pressed = await gated.execute(Press(keys="a", element=password.id))
    assert "stop.sensitive_field" in cleared.message and "stop.sensitive_field" in pressed.message
    assert await field_value(session, "#stops-password") == ""
    email = next(e for e in page.elements if e.name == "Email")
    assert (await gated.execute(Type(element=email.id, text="demo@voltline.test"))).ok


async def test_a_password_the_person_wrote_in_their_request_may_be_typed(
    session: BrowserSession, sites: SiteServer, tmp_path: Path
) -> None:
    """The person's own value is theirs to give; any other value stays denied."""
    request = 'Sign in with the password "Q3h-x9"'
    async with gated_toolbox(session, sites, tmp_path, request) as gated:
        page = await open_gated(gated, sites.url_for("/stops/login"))
        password = next(e for e in page.elements if e.name == "Password")
        for other in ("Q3h", "x9", "hunter2"):  # parts of it, or a value from elsewhere
            denied = await gated.execute(Type(element=password.id, text=other))
            assert "stop.sensitive_field" in denied.message, other
        typed = await gated.execute(Type(element=password.id, text="Q3h-x9"))
        assert typed.ok, typed.message
        assert await field_value(session, "#stops-password") == "Q3h-x9"


async def test_typing_a_card_number_is_denied_and_card_values_are_hidden(
    gated: GatedToolbox, session: BrowserSession, sites: SiteServer
) -> None:
    page = await open_gated(gated, sites.url_for("/stops/payment"))
    assert page.needs_person is not None and "card number" in page.needs_person
    number = next(e for e in page.elements if e.name == "Card number")
    denied = await gated.execute(Type(element=number.id, text="4242 4242 4242 4242"))
    assert not denied.ok and "is a payment field" in denied.message
    assert await field_value(session, "#cc-number") == ""
    name = next(e for e in page.elements if e.name == "Name on card")
    assert (await gated.execute(Type(element=name.id, text="Ada Lovelace"))).ok
    await gated.observe()  # as the loop does before it hands the browser over
    live = await session.live_page()  # the person types the card
    await live.locator("#cc-number").fill("4242 4242 4242 4242")
    after = await gated.observe()
    assert after.needs_person is None, "the person filled the card: the agent goes on"
    assert "The person already had the browser on this page" in after.text
    assert after.element(number.id) is not None
    assert after.element(number.id).value == "•••"  # type: ignore[union-attr]
    assert "4242" not in repr(after.elements)


async def test_a_card_form_handed_back_empty_stops_again(
    gated: GatedToolbox, session: BrowserSession, sites: SiteServer
) -> None:
    page = await open_gated(gated, sites.url_for("/stops/payment"))
    assert page.needs_person is not None
    live = await session.live_page()  # the person types only the name, not the card
    await live.get_by_label("Name on card").fill("Ada Lovelace")
    after = await gated.observe()
    assert after.needs_person is not None, "not cleared: the card fields are still empty"
    assert after.needs_person.endswith(f"; {STILL}"), after.needs_person
    assert "card number" in after.needs_person


async def test_a_vault_placeholder_goes_on_to_the_vault(
    gated: GatedToolbox, sites: SiteServer
) -> None:
    page = await open_gated(gated, sites.url_for("/stops/login"))
    password = next(e for e in page.elements if e.name == "Password")
    outcome = await gated.execute(Type(element=password.id, text="{{vault:shop.password}}"))
    assert "stop.sensitive_field" not in outcome.message


async def test_typing_into_the_password_tips_search_box_is_allowed(
    gated: GatedToolbox, session: BrowserSession, sites: SiteServer
) -> None:
    page = await open_gated(gated, sites.url_for("/stops/lookalike/search"))
    assert page.needs_person is None
    box = next(e for e in page.elements if e.name == "password tips")
    typed = await gated.execute(Type(element=box.id, text="strong password"))
    assert typed.ok, typed.message
    assert await field_value(session, "#help-q") == "strong password"
    gift = await open_gated(gated, sites.url_for("/stops/lookalike/gift"))
    message = next(e for e in gift.elements if e.name == "Card message")
    assert (await gated.execute(Type(element=message.id, text="Happy birthday!"))).ok


async def test_a_vault_that_can_fill_the_login_means_no_stop(
    session: BrowserSession, sites: SiteServer, tmp_path: Path
) -> None:
    audit = AuditLog.open(tmp_path / "audit.db", tmp_path / "audit.key")
    try:
        home = site_of(sites.url_for("/")) or ""
        gateway = Gateway(
            rules=Policy(navigation=NavigationSettings(allow_hosts=frozenset({home}))),
            audit=audit,
            task=TaskContext(task_id="vault", request="sign in"),
        )
        toolbox = GatedToolbox(
            BrowserToolbox(session),
            gateway,
            vault_can_fill=lambda page, stop: stop.kind == "login",
            stops={"login", "captcha"},
        )
        await session.goto(sites.url_for("/stops/login"))
        login = await toolbox.observe()
        assert login.url.endswith("/stops/login") and login.needs_person is None
        await session.goto(sites.url_for("/stops/otp"))
        otp = await toolbox.observe()
        assert otp.url.endswith("/stops/otp") and otp.needs_person is None, "otp stops are off"
        await session.goto(sites.url_for("/stops/hcaptcha"))
        assert (await toolbox.observe()).needs_person == "the page shows a CAPTCHA (hCaptcha)"
    finally:
        audit.close()
