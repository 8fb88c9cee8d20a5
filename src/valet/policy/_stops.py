"""Stops for the person, found by code: password, payment and one-time-code fields, CAPTCHAs.

Pure functions over what the page's markup declares (`FieldFacts`, `Widget`), never over
accessible names or page text alone: a search box named "password tips", a "Card message"
field, a price on a product page or an article about CAPTCHAs stay silent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from valet.browser._types import FieldFacts, Observation, Widget

StopKind = Literal["login", "payment", "captcha", "otp"]
"""Why the person must take over: a password, payment details, a CAPTCHA, a one-time code."""
STOP_KINDS: frozenset[StopKind] = frozenset(get_args(StopKind))

FieldKind = Literal["password", "card", "otp"]
"""A field only the person fills: a password, payment details (card or IBAN), a one-time code."""

VAULT_PLACEHOLDER = re.compile(r"\{\{\s*vault:[A-Za-z0-9][A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]+\s*\}\}")
"""A vault placeholder (`{{vault:NAME.FIELD}}`): the vault fills it, the agent never sees it."""


@dataclass(frozen=True, slots=True)
class Stop:
    kind: StopKind
    reason: str
    """Plain words for the person and the model, e.g. `the page asks for a password (login
    form)`."""


_CARD_AUTOCOMPLETE = {
    "cc-number": "card number",
    "cc-exp": "expiry date",
    "cc-exp-month": "expiry date",
    "cc-exp-year": "expiry date",
    "cc-csc": "security code",
}
_CARD_NUMBER = re.compile(r"card(?:number|num|nr)|cardno$|^cc(?:number|num|nr|no$)")
_CARD_EXPIRY = re.compile(r"cardexp|^ccexp")
_CARD_CODE = re.compile(r"^(?:cvc|cvv|cvc2|cvv2|csc|cvn)$|cardcode|cardverification|cardcvc")
_CARD_CODE_TOKENS = frozenset({"cvc", "cvv", "cvc2", "cvv2", "csc", "cvn"})
_OTP_TOKENS = frozenset({"otp", "totp", "hotp", "2fa", "mfa", "otc", "onetimecode"})
_OTP_JOINED = re.compile(
    r"onetime(?:code|password|passcode|pin|token)|twofactor|2facode|mfacode|verificationcode|"
    r"verifycode|authcode|authenticationcode|smscode|totpcode|otpcode"
)
_CODE_NAMES = frozenset({"code", "pin", "token", "passcode", "otp"})
_NUMERIC = frozenset({"numeric", "decimal", "tel"})


def _tokens(identifier: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", identifier)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def _card_part(facts: FieldFacts) -> str | None:
    """Which payment detail the field asks for (`card number`, `IBAN`…), if any."""
    for token in facts.autocomplete.split():
        if token in _CARD_AUTOCOMPLETE:
            return _CARD_AUTOCOMPLETE[token]
    for identifier in (facts.name, facts.id):
        tokens = _tokens(identifier)
        joined = "".join(tokens)
        if not joined:
            continue
        if any(t.startswith("iban") or t.endswith("iban") for t in tokens):
            return "IBAN"
        if _CARD_NUMBER.search(joined):
            return "card number"
        if _CARD_CODE.search(joined) or _CARD_CODE_TOKENS.intersection(tokens):
            return "security code"
        if _CARD_EXPIRY.search(joined):
            return "expiry date"
    return None


def _one_time_code(facts: FieldFacts, *, guess: bool) -> bool:
    """Declared a one-time code (autocomplete, name or id); with `guess`, also a short numeric
    field simply named `code`, `pin` or `token`."""
    if "one-time-code" in facts.autocomplete.split():
        return True
    short = facts.maxlength is not None and 4 <= facts.maxlength <= 8
    numeric = facts.inputmode in _NUMERIC or facts.type in ("tel", "number")
    for identifier in (facts.name, facts.id):
        tokens = _tokens(identifier)
        joined = "".join(tokens)
        if _OTP_TOKENS.intersection(tokens) or _OTP_JOINED.search(joined):
            return True
        if guess and joined in _CODE_NAMES and numeric and short:
            return True
    return False


def _password(facts: FieldFacts) -> bool:
    tokens = facts.autocomplete.split()
    return facts.type == "password" or "current-password" in tokens or "new-password" in tokens


def field_kind(facts: FieldFacts) -> FieldKind | None:
    """What only the person may fill in this field, from its markup: `card` (card number,
    expiry, security code, IBAN), `otp` (one-time code), `password`, or None."""
    if _card_part(facts) is not None:
        return "card"
    if _one_time_code(facts, guess=False):
        return "otp"
    if _password(facts):
        return "password"
    if _one_time_code(facts, guess=True):
        return "otp"
    return None


_CAPTCHA_FRAMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "reCAPTCHA",
        re.compile(
            r"^https?://(?:www\.)?(?:google\.com|recaptcha\.net)/recaptcha/"
            r"|/recaptcha/(?:api2|enterprise)/(?:anchor|bframe)",
            re.IGNORECASE,
        ),
    ),
    (
        "hCaptcha",
        re.compile(r"^https?://(?:[a-z0-9-]+\.)*hcaptcha\.com/|/hcaptcha\.html", re.IGNORECASE),
    ),
    (
        "Turnstile",
        re.compile(
            r"^https?://challenges\.cloudflare\.com/|/cdn-cgi/challenge-platform/\S*turnstile",
            re.IGNORECASE,
        ),
    ),
)
_CAPTCHA_CLASSES = {
    "g-recaptcha": "reCAPTCHA",
    "h-captcha": "hCaptcha",
    "cf-turnstile": "Turnstile",
}
_INVISIBLE = re.compile(r"[?&#]size=invisible\b", re.IGNORECASE)


def captcha_of(widget: Widget) -> str | None:
    """The CAPTCHA vendor a visible widget belongs to (`reCAPTCHA`, `hCaptcha`, `Turnstile`,
    or `CAPTCHA` for a bare `data-sitekey`); None for other widgets and invisible checks."""
    if widget.size == "invisible":
        return None
    if widget.src:
        if _INVISIBLE.search(widget.src):
            return None
        for vendor, pattern in _CAPTCHA_FRAMES:
            if pattern.search(widget.src):
                return vendor
    for cls in widget.classes.split():
        if cls in _CAPTCHA_CLASSES:
            return _CAPTCHA_CLASSES[cls]
    return "CAPTCHA" if widget.sitekey else None


def _listed(parts: Iterable[str]) -> str:
    unique = list(dict.fromkeys(parts))
    return unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " and " + unique[-1]


def detect_stops(observation: Observation, kinds: Iterable[StopKind] = STOP_KINDS) -> list[Stop]:
    """Every stop the page calls for, among `kinds`, in the order login, otp, payment,
    captcha."""
    wanted = frozenset(kinds)
    passwords: list[FieldFacts] = []
    payment: list[str] = []
    otp = False
    for facts in observation.fields.values():
        match field_kind(facts):
            case "password":
                passwords.append(facts)
            case "card":
                payment.append(_card_part(facts) or "card details")
            case "otp":
                otp = True
            case None:
                pass
    vendors = [v for v in map(captcha_of, observation.widgets) if v is not None]
    stops: list[Stop] = []
    if passwords and "login" in wanted:
        choose = all("new-password" in f.autocomplete.split() for f in passwords)
        what = "to choose a password (sign-up form)" if choose else "for a password (login form)"
        stops.append(Stop("login", f"the page asks {what}"))
    if otp and "otp" in wanted:
        stops.append(Stop("otp", "the page asks for a one-time code (two-step verification)"))
    if payment and "payment" in wanted:
        stops.append(Stop("payment", f"the page asks for payment details ({_listed(payment)})"))
    if vendors and "captcha" in wanted:
        stops.append(Stop("captcha", f"the page shows a CAPTCHA ({_listed(vendors)})"))
    return stops


def combine(stops: list[Stop]) -> Stop | None:
    """One stop for several: the first one's kind, every reason."""
    if not stops:
        return None
    return Stop(stops[0].kind, "; ".join(stop.reason for stop in stops))


def detect_stop(observation: Observation, kinds: Iterable[StopKind] = STOP_KINDS) -> Stop | None:
    """Why the person must take over on this page (among `kinds`), or None."""
    return combine(detect_stops(observation, kinds))


def sensitive_field(observation: Observation, element_id: int) -> FieldKind | None:
    """The kind of the field `element_id` of the observation, when only the person fills it."""
    facts = observation.fields.get(element_id)
    return None if facts is None else field_kind(facts)


def is_vault_placeholder(text: str) -> bool:
    """The text is exactly one vault placeholder, which the vault (not the agent) fills."""
    return VAULT_PLACEHOLDER.fullmatch(text) is not None
