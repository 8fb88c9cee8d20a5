"""What a click (or an Enter key) does, decided from the page: pure functions over DOM facts.

The order is by consequence: purchase, delete, share, send, publish, submit; then harmless kinds
(navigation links, toggles, tabs, expanders, search). Anything else is `unknown`, which asks.

Then where it goes: a click or an Enter that submits a form is judged by the form's target
(`Submission`). A form sent to another site than the page's with values in it is a `send` to
that site, whatever its button says; a sign-in form (a password field, or a button named sign
in / log in) sent to the page's own site is a `submit`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from valet.browser._types import Element, Observation
from valet.effects import Effect
from valet.policy._risk import Risk, risk_of
from valet.policy._sites import site_of
from valet.policy._stops import field_kind


@dataclass(frozen=True, slots=True)
class Submission:
    """A form submission an action would make: where it goes and what it carries."""

    url: str
    """The absolute URL it is sent to."""
    site: str | None
    """That URL's site (`host` or `host:port`); None when it is no web address."""
    elsewhere: bool
    """It goes to another site than the page's."""
    login: bool
    """The form has a password field (signing in or up)."""
    password_filled: bool
    """A password field of the form holds a value (typed by the person, filled by the vault,
    or being typed by this action)."""
    carried: tuple[str, ...]
    """The values it carries: what the form's text fields hold and what the action types
    (never a password)."""
    scripted: bool = False
    """The element is no submit button: the page's script may submit the form with it."""


@dataclass(frozen=True, slots=True)
class Classification:
    effect: Effect
    reason: str
    """Why, in words, e.g. `button "Place order" on a page with payment fields`."""
    submission: Submission | None = None
    """The form it submits, when it submits one (or may, by the page's script)."""


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b", re.IGNORECASE)


_PURCHASE_STRONG = _words(
    r"place\s+(?:my\s+)?order",
    r"buy(?:\s+it)?\s+now",
    r"pay(?:\s+now)?",
    r"pay\s+\S+",
    r"complete\s+(?:purchase|order|payment)",
    r"confirm\s+(?:and\s+pay|purchase|order|payment)",
    r"order\s+now",
    r"submit\s+order",
    r"purchase",
)
_PURCHASE_WEAK = _words(r"check\s*out", r"proceed\s+to\s+(?:checkout|payment)", r"buy")
_DELETE = _words(
    r"delete(?:\s+all)?",
    r"remove(?:\s+all)?",
    r"erase",
    r"trash",
    r"bin",
    r"discard",
    r"empty\s+(?:trash|bin|cart)",
    r"wipe",
    r"destroy",
    r"unsubscribe",
    r"close\s+account",
)
_SHARE = _words(r"share", r"invite", r"grant\s+access", r"make\s+public")
_SEND = _words(r"send", r"reply(?:\s+all)?", r"forward", r"transfer")
_PUBLISH = _words(r"post", r"publish", r"tweet", r"comment", r"reply", r"upload", r"go\s+live")
_SUBMIT = _words(
    r"submit",
    r"save",
    r"confirm",
    r"apply",
    r"update",
    r"sign\s*up",
    r"register",
    r"create",
    r"accept",
    r"agree",
    r"book",
    r"reserve",
    r"subscribe",
    r"log\s*out|sign\s*out",
)
_HARMLESS = _words(
    r"(?:apply|clear|reset)\s+filters?",
    r"sort\s+by",
    r"search",
    r"save\s+for\s+later",
    r"continue\s+shopping",
    r"add\s+to\s+(?:cart|basket|bag|wish\s*list)",
)
_STEP = _words(r"continue", r"next(?:\s+step)?", r"review", r"proceed", r"go\s+to")
"""Moving to the next step of a multi-page form: reversible, unless card details go with it."""
_INPUT = _words(r"add\s+to\s+(?:cart|basket|bag|wish\s*list)", r"select", r"choose", r"pick")
_READ = _words(
    r"search",
    r"find",
    r"filter",
    r"sort",
    r"next",
    r"previous|prev",
    r"more",
    r"show",
    r"view",
    r"open",
    r"close",
    r"cancel",
    r"back",
    r"menu",
    r"details",
    r"expand",
    r"collapse",
    r"help",
    r"zoom",
    r"dismiss",
)
_PAYMENT_FIELD = re.compile(
    r"cc-(?:number|exp|csc|name|type)|card\s*number|card\s*no|credit\s*card|debit\s*card|"
    r"\bcvc\b|\bcvv\b|security\s+code|expir(?:y|ation)|name\s+on\s+card|cardholder",
    re.IGNORECASE,
)
_TOGGLE_ROLES = frozenset({"checkbox", "radio", "switch", "menuitemcheckbox", "menuitemradio"})
_READ_ROLES = frozenset({"tab", "treeitem", "option", "combobox", "listbox", "slider"})
_COMPOSER = re.compile(r"\b(?:message|compose|to|subject|body|reply|write)\b", re.IGNORECASE)
_TEXT_ROLES = frozenset({"textbox", "searchbox"})
_LOGIN = _words(r"sign\s*in", r"log\s*in", r"log\s*on", r"connexion", r"se\s+connecter")


def has_payment_fields(observation: Observation) -> bool:
    """A card number, expiry or security code field (or its label) is on the page."""
    for element in observation.elements:
        facts = f"{element.name} {element.extra or ''}"
        if _PAYMENT_FIELD.search(facts):
            return True
    return bool(_PAYMENT_FIELD.search(observation.text[:20_000]))


def _label(element: Element) -> str:
    return f'{element.role} "{element.name}"'


def classify_click(
    element: Element, observation: Observation, typed: Mapping[int, str] | None = None
) -> Classification:
    """The effect of clicking `element` on the page `observation` shows. A button whose visible
    text differs from its accessible name (an aria-label) is read both ways; the riskier wins.
    A click that submits a form is then judged by where the form goes (`typed`: what the
    agent typed into the page's fields, by element id, which the form may carry)."""
    return _by_form(_by_words(element, observation), element, observation, typed or {})


def _by_words(element: Element, observation: Observation) -> Classification:
    by_name = _classify_click(element, observation)
    shown = _VISIBLE_TEXT.fullmatch(element.extra or "")
    if shown is None:
        return by_name
    by_text = _classify_click(replace(element, name=shown.group(1)), observation)
    if by_text.effect is Effect.UNKNOWN:
        return by_name  # the text tells nothing more
    if by_name.effect is Effect.UNKNOWN or _rank(by_text.effect) > _rank(by_name.effect):
        return Classification(by_text.effect, f"{by_text.reason}, whatever its label says")
    return by_name


def submission_of(
    element: Element, observation: Observation, typed: Mapping[int, str] | None = None
) -> Submission | None:
    """The form submission that activating `element` makes (a submit button's click, Enter in
    a text field), or may make by the page's script (another button of a form that goes to
    another site); None when it submits no form. `typed`: what the agent typed (or is about to
    type) into the page's fields, by element id."""
    target = element.form
    if target is None or target.method == "dialog":
        return None
    site = site_of(target.url) if target.url.startswith(("http:", "https:")) else None
    here = site_of(observation.url) if observation.url.startswith(("http:", "https:")) else None
    homes = {here}
    if element.frame is not None:  # a form in an iframe goes back to its own frame's site
        homes |= {site_of(w.src) for w in observation.widgets if w.src.startswith("http")}
    elsewhere = site is not None and site not in homes
    if not target.submits and not elsewhere:
        return None
    facts = observation.forms.get(target.form)
    carried = list(facts.values) if facts is not None else []
    login = facts is not None and facts.password
    filled = facts is not None and facts.password_filled
    by_id = {e.id: e for e in observation.elements}
    for element_id, text in (typed or {}).items():
        field = by_id.get(element_id)
        if field is None or field.form is None or field.form.form != target.form or not text:
            continue
        facts_of = observation.fields.get(element_id)
        if facts_of is not None and field_kind(facts_of) == "password":
            login = filled = True
        elif text not in carried:
            carried.append(text)
    return Submission(
        url=target.url,
        site=site,
        elsewhere=elsewhere,
        login=login,
        password_filled=filled,
        carried=tuple(carried),
        scripted=not target.submits,
    )


def _by_form(
    found: Classification, element: Element, observation: Observation, typed: Mapping[int, str]
) -> Classification:
    """`found` (from the element's words) corrected by where its form goes."""
    label = _label(element)
    known = found.effect is not Effect.UNKNOWN
    named = element.role.lower() == "button" and _LOGIN.search(element.name) is not None
    submission = submission_of(element, observation, typed)
    if submission is None:
        if named and not known:
            return Classification(Effect.SUBMIT, f"{label} signs in")
        return found
    how = " (the page's script may submit it)" if submission.scripted else ""
    if submission.elsewhere and (submission.login or submission.carried):
        what = "what it carries" if submission.carried else "its sign-in form"
        if submission.password_filled:
            what = "its password" + (" and what it carries" if submission.carried else "")
        reason = f"sends {what} to {submission.site}, another site than this page's{how}"
        if known and _rank(found.effect) > _rank(Effect.SEND):
            return Classification(found.effect, f"{found.reason}; it {reason}", submission)
        return Classification(Effect.SEND, f"{label} {reason}", submission)
    if submission.elsewhere:
        return replace(
            found,
            reason=f"{found.reason}; it goes to {submission.site}{how}",
            submission=submission,
        )
    signs_in = submission.login or named
    if signs_in and (not known or _rank(found.effect) < _rank(Effect.SUBMIT)):
        return Classification(Effect.SUBMIT, f"{label} signs in on this site", submission)
    return replace(found, submission=submission)


_VISIBLE_TEXT = re.compile(r'text="(.+)"')


def _rank(effect: Effect) -> int:
    """Low, medium, high, critical: 0 to 3."""
    return list(Risk).index(risk_of(effect))


def _classify_click(element: Element, observation: Observation) -> Classification:
    role = element.role.lower()
    name = element.name
    label = _label(element)
    if role in _TOGGLE_ROLES:
        return Classification(Effect.INPUT, f"{label} is a toggle")
    if role in _READ_ROLES or {"expanded", "collapsed"} & set(element.states):
        return Classification(Effect.READ, f"{label} shows or hides content")
    payment = has_payment_fields(observation)
    if _PURCHASE_STRONG.search(name) or (payment and _PURCHASE_WEAK.search(name)):
        fields = " on a page with payment fields" if payment else ""
        return Classification(Effect.PURCHASE, f"{label} buys something{fields}")
    if _DELETE.search(name):
        return Classification(Effect.DELETE, f"{label} deletes something")
    if _SHARE.search(name):
        return Classification(Effect.SHARE, f"{label} shares something")
    if _SEND.search(name):
        composer = any(
            e.role.lower() in _TEXT_ROLES and _COMPOSER.search(e.name) for e in observation.elements
        )
        where = " in a message composer" if composer else ""
        return Classification(Effect.SEND, f"{label} sends a message{where}")
    if _PUBLISH.search(name):
        return Classification(Effect.PUBLISH, f"{label} publishes something")
    if role == "link":
        return Classification(Effect.NAVIGATE, f"{label} is a link")
    if _HARMLESS.search(name):
        effect = Effect.INPUT if _INPUT.search(name) or "save" in name.lower() else Effect.READ
        return Classification(effect, f"{label} changes only what is shown or kept for later")
    if payment and _STEP.search(name):
        return Classification(Effect.SUBMIT, f"{label} sends the payment details it follows")
    if _SUBMIT.search(name) or (element.extra or "").lower() == "type=submit":
        return Classification(Effect.SUBMIT, f"{label} submits a form")
    if _INPUT.search(name):
        return Classification(Effect.INPUT, f"{label} changes a selection")
    if _READ.search(name):
        return Classification(Effect.READ, f"{label} only changes what is shown")
    if _STEP.search(name):
        return Classification(Effect.NAVIGATE, f"{label} goes to the next step of a form")
    return Classification(Effect.UNKNOWN, f"valet cannot tell what {label} does")


def classify_enter(
    element: Element | None, observation: Observation, typed: Mapping[int, str] | None = None
) -> Classification:
    """The effect of pressing Enter in `element` (or the focused one): it may submit a form,
    judged then by where the form goes and what it carries (`typed`: what the agent typed, or
    is typing, into the page's fields, by element id)."""
    if element is None:
        element = next((e for e in observation.elements if "focused" in e.states), None)
    if element is None:
        return Classification(Effect.UNKNOWN, "Enter with no focused element may submit a form")
    return _by_form(_enter(element, observation), element, observation, typed or {})


def _enter(element: Element, observation: Observation) -> Classification:
    role = element.role.lower()
    if role == "searchbox" or re.search(r"\bsearch\b", element.name, re.IGNORECASE):
        return Classification(Effect.READ, f"Enter in {_label(element)} runs a search")
    if role in ("button", "link"):
        return _by_words(element, observation)
    if role in _TOGGLE_ROLES or role in _READ_ROLES:
        return Classification(Effect.INPUT, f"Enter in {_label(element)} picks a value")
    return Classification(Effect.SUBMIT, f"Enter in {_label(element)} may submit its form")


def classify_drag(
    source: Element | None, target: Element | None, observation: Observation
) -> Classification:
    """The effect of dragging `source` onto `target` (None: a point on the screen, which valet
    cannot tell anything about). Only a slider handle's drag is known to be harmless (it sets
    a value, wherever it is dropped); a drop onto or from a control that buys, deletes,
    shares… has that effect; any other drop (a reorder may be saved, a card dropped in a
    column may be moved) is unknown, which asks."""
    if source is not None and source.role.lower() == "slider":
        return Classification(Effect.INPUT, f"dragging {_label(source)} sets a value")
    if source is None or target is None:
        return Classification(Effect.UNKNOWN, "a drag from or to a point on the screen")
    ends = [classify_click(end, observation) for end in (target, source)]
    known = [c for c in ends if c.effect is not Effect.UNKNOWN]
    riskiest = max(known, key=lambda c: _rank(c.effect), default=None)
    if riskiest is not None and _rank(riskiest.effect) > _rank(Effect.INPUT):
        return Classification(riskiest.effect, f"a drag onto {_label(target)}: {riskiest.reason}")
    return Classification(
        Effect.UNKNOWN, f"valet cannot tell what dropping {_label(source)} on {_label(target)} does"
    )


def find_element(observation: Observation, role: str, name: str, nth: int = 0) -> Element | None:
    """The element with `role` and `name` (exact, then case-insensitive, then substring)."""
    of_role = [e for e in observation.elements if e.role.lower() == role.strip().lower()]
    wanted = name.strip()
    folded = wanted.casefold()
    for tier in (
        [e for e in of_role if e.name == wanted],
        [e for e in of_role if e.name.casefold() == folded],
        [e for e in of_role if folded in e.name.casefold()],
    ):
        if tier:
            return tier[nth] if nth < len(tier) else None
    return None
