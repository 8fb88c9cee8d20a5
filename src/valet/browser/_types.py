"""Value types shared by the browser session, the toolbox and the loop."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class ByRole(BaseModel):
    """Address an element by its ARIA role and accessible name instead of its id.

    Used by scripted models and saved workflows, so that a step keeps working when the page's
    layout changes. `name` matches exactly first, then case-insensitively, then as a substring.
    """

    model_config = ConfigDict(frozen=True)

    role: str = Field(description="ARIA role, e.g. button, link, textbox, checkbox, combobox.")
    name: str = Field(description="Accessible name, e.g. the button's label.")
    nth: int = Field(default=0, ge=0, description="Which match to take when several match.")


Target = int | ByRole
"""An element: its id from the latest observation, or its role and accessible name."""


@dataclass(frozen=True, slots=True)
class Element:
    """One interactive element as the model sees it."""

    id: int
    role: str
    name: str
    """Accessible name, or a descriptor such as `(icon: trash)` when it has none."""
    value: str | None = None
    states: tuple[str, ...] = ()
    """e.g. `checked`, `disabled`, `expanded`, `selected`, `required`, `focused`."""
    new: bool = False
    """Appeared since the previous observation."""
    offscreen: bool = False
    frame: str | None = None
    """Label of the iframe the element lives in, `None` for the top document."""
    extra: str | None = None
    """Short extra hint, e.g. a link's target path or an input's type."""
    above: bool = False
    """Off-screen above the viewport (scrolled past); `offscreen` is then True too."""
    point: tuple[int, int] | None = None
    """Its middle in the viewport (CSS pixels from the top-left) when it is in view in the top
    document: shown to a model that also sees the screenshot, for `click_at` and `drag`."""
    href: str | None = None
    """The absolute URL a click on it follows (its own `href` or its enclosing link's, as the
    page had it when observed); "" when it is in no link; None when not known (the gateway
    then asks the page). Never shown to the model."""
    form: FormTarget | None = None
    """Where activating it would send the form it belongs to (None: in no form). Never shown
    to the model."""


@dataclass(frozen=True, slots=True)
class FormTarget:
    """Where activating one element sends its form, as the page declared it when observed."""

    form: str
    """Which form of the observation (a key of `Observation.forms`)."""
    url: str
    """The absolute URL the submission goes to: a submit button's own `formaction`, else the
    form's `action`; for a text field, where Enter sends it (its form's first submit button's
    target)."""
    method: str
    """`get`, `post` or `dialog` (a dialog form sends nothing)."""
    submits: bool
    """Activating it submits the form: a submit button's click, or Enter in a text field.
    False for another button of the form (the page's script may still submit it)."""


@dataclass(frozen=True, slots=True)
class FormFacts:
    """One form of the page: where it can go and what it would carry. For the vault and the
    gateway; the model never sees it."""

    action: str
    """The form's own `action`, absolute (the page's URL when it has none)."""
    method: str
    targets: tuple[str, ...]
    """Every URL it can be sent to: its action and each submit button's `formaction`."""
    password: bool = False
    """It has a password field."""
    password_filled: bool = False
    """One of its password fields holds a value."""
    values: tuple[str, ...] = ()
    """What its text fields hold (not passwords, not hidden fields), as observed."""


@dataclass(frozen=True, slots=True)
class FieldFacts:
    """What a form field's markup declares about it (not its accessible name): read by code
    that must tell a password, card or one-time-code field from a look-alike."""

    tag: str
    """`input`, `textarea` or `select`."""
    type: str = ""
    """The `type` attribute, lower case (`password`, `text`, `tel`…)."""
    autocomplete: str = ""
    """The `autocomplete` attribute, lower case (`current-password`, `cc-number`…)."""
    name: str = ""
    """The `name` attribute."""
    id: str = ""
    """The `id` attribute."""
    inputmode: str = ""
    maxlength: int | None = None


@dataclass(frozen=True, slots=True)
class Widget:
    """A visible iframe, or a container with CAPTCHA-style markup, as the page declares it."""

    tag: str
    src: str = ""
    """An iframe's absolute `src` (clipped), empty otherwise."""
    classes: str = ""
    """The `class` attribute (clipped)."""
    sitekey: bool = False
    """It carries a `data-sitekey` attribute."""
    size: str = ""
    """The `data-size` attribute (`invisible` for a background check)."""
    frame: str | None = None
    """Label of the iframe whose document holds it, `None` for the top document."""


@dataclass(frozen=True, slots=True)
class Tab:
    index: int
    title: str
    url: str
    active: bool


@dataclass(slots=True)
class Observation:
    """What the model sees at one step."""

    url: str
    title: str
    tabs: list[Tab]
    elements: list[Element]
    text: str
    """Visible text, condensed."""
    truncated: bool = False
    """True when elements or text were cut to fit the size budget (the render says so)."""
    omitted_elements: int = 0
    dialogs: list[str] = field(default_factory=lambda: list[str]())
    """JavaScript dialogs that appeared (and were dismissed) since the previous observation."""
    screenshot: bytes | None = None
    """PNG with numbered marks, only when requested."""
    digest: str = ""
    """Content hash of the page state: equal digests mean nothing visible changed."""
    vault: list[str] = field(default_factory=lambda: list[str]())
    """Vault placeholders valet fills on this page's site (`{{vault:shop.password}}`): names
    only, never values. Set by the gateway."""
    needs_person: str | None = None
    """Why the person must take over here (a login form, a payment form, a CAPTCHA, a one-time
    code), set by code that inspects the page, never by the model."""
    fields: dict[int, FieldFacts] = field(default_factory=lambda: dict[int, FieldFacts]())
    """DOM facts of the form fields listed (element id → facts), for code that decides; the
    model never sees them. Kept for every element the page listed, also those cut from view."""
    widgets: list[Widget] = field(default_factory=lambda: list[Widget]())
    """Visible iframes and CAPTCHA-style widget containers, for code that detects CAPTCHAs."""
    points: bool = False
    """Show each in-view control's middle (`@x,y`): the model also sees the screenshot."""
    forms: dict[str, FormFacts] = field(default_factory=lambda: dict[str, FormFacts]())
    """The page's forms (`FormTarget.form` → facts), for code that decides; never shown."""
    labels: list[str] = field(default_factory=lambda: list[str]())
    """Accessible names, alt and title texts in full, as the page wrote them (the view
    shortens names and lists no plain image): the gateway learns them as the page's words.
    Never shown to the model."""

    def element(self, element_id: int) -> Element | None:
        for candidate in self.elements:
            if candidate.id == element_id:
                return candidate
        return None


def digest_of(*parts: str) -> str:
    hasher = hashlib.blake2b(digest_size=8)
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogatepass"))
        hasher.update(b"\x00")
    return hasher.hexdigest()


@dataclass(slots=True)
class ActionOutcome:
    """What an action did, as a value the model can read. Failures are values, not exceptions."""

    ok: bool
    message: str
    """One or two sentences for the model, e.g. `clicked [12] button "Add to cart"`."""
    changed: bool | None = None
    """False when the page looks exactly the same after the action (same URL and digest)."""
    content: str | None = None
    """Longer payload, e.g. the page as markdown for `read_page`."""
    artifacts: list[Path] = field(default_factory=lambda: list[Path]())
    """Files written to the run's artifacts (screenshots, downloads)."""
    target: Element | None = None
    """The element acted on, as it was before the action (for the run record and replay)."""
    unconfirmed: str | None = None
    """An action interrupted by a restart that nobody could confirm (what it was): the run
    cannot end as a plain success while one is open."""
