"""Stops for the person inside the gateway: the page that needs them, the fields only they fill.

`StopGuard.review` marks an observation `needs_person` when the page shows a login, payment,
CAPTCHA or one-time-code form (found by code in `valet.policy`), tells the model why, and hides
what those fields hold. A stop the person was given and handed back without clearing
(its form still on the page, its fields left empty) is marked again, saying so: the model
never acts on a page that still needs the person. `StopGuard.check` denies typing into them
(`stop.sensitive_field`), except for an exact vault placeholder, which the vault fills, and a
value the person wrote in their own request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from urllib.parse import urlsplit

from valet.browser import ByRole, FieldFacts, Observation
from valet.policy import (
    STOP_KINDS,
    Decision,
    FieldKind,
    Stop,
    StopKind,
    combine,
    detect_stops,
    field_kind,
    find_element,
    is_vault_placeholder,
)
from valet.tools import Action, Clear, Press, Select, Type

VaultCanFill = Callable[[Observation, Stop], bool]
"""Whether the vault can fill what a stop asks for on this page (a login it holds, a one-time
code from its TOTP secret): then valet does not stop, and the model types placeholders."""

SENSITIVE_RULE = "stop.sensitive_field"
_WHAT: dict[FieldKind, str] = {
    "password": "a password field",
    "card": "a payment field",
    "otp": "a one-time-code field",
}
STILL = (
    "it is still there after the browser was handed back, so valet stops again: the agent "
    "does not act on a page that needs you"
)
"""Said of a stop the person handed back without clearing it (their form is still there)."""
_HIDDEN = "•••"
_STOP_OF: dict[FieldKind, StopKind] = {"password": "login", "card": "payment", "otp": "otp"}


def no_vault(observation: Observation, stop: Stop) -> bool:
    """The default: there is no vault, so every stop goes to the person."""
    return False


class StopGuard:
    """Per-run memory of the stops raised; decides from the page's DOM facts only."""

    def __init__(
        self, kinds: Iterable[StopKind] = STOP_KINDS, vault_can_fill: VaultCanFill = no_vault
    ) -> None:
        self.kinds = frozenset(kinds)
        self.vault_can_fill = vault_can_fill
        self._handed: set[tuple[StopKind, str]] = set()
        """Stops already raised whose form is still on the same page."""
        self._fields: dict[int, FieldFacts] = {}
        """Facts of every field seen this run (element ids are never reused in a session)."""
        self._kinds: dict[FieldFacts, FieldKind | None] = {}
        """What each field's facts make it: a page's fields are mostly the same every step."""

    def review(self, observation: Observation) -> Observation:
        """Mark the observation `needs_person` when its page calls for the person (again, saying
        so, while a form they were given stays there); say why in its text; hide sensitive
        fields' values."""
        self._fields.update(observation.fields)
        observation.elements = [
            replace(e, value=_HIDDEN) if e.value is not None and self._kind(e.id) is not None else e
            for e in observation.elements
        ]
        page = _page(observation.url)
        flagged = {i: f for i, f in observation.fields.items() if self._kind_of(f) is not None}
        stops = [
            s
            for s in detect_stops(replace(observation, fields=flagged), self.kinds)
            if not self.vault_can_fill(observation, s)
        ]
        shown: set[tuple[StopKind, str]] = {(s.kind, page) for s in stops}
        self._handed &= shown
        fresh = combine([s for s in stops if (s.kind, page) not in self._handed])
        handed = [
            s for s in stops if (s.kind, page) in self._handed and s.kind in _STOP_OF.values()
        ]
        filled = self._filled(observation) if handed else set[StopKind]()
        still = combine([s for s in handed if s.kind not in filled])
        self._handed |= shown
        if fresh is not None:
            observation.needs_person = fresh.reason
        elif still is not None:
            observation.needs_person = f"{still.reason}; {STILL}"
        if observation.needs_person is not None:
            observation.text = (
                f"[valet: the person must take over: {observation.needs_person}]\n"
                + observation.text
            )
        elif (seen := combine(stops)) is not None:
            observation.text = (
                f"[valet: {seen.reason}. The person already had the browser on this page; "
                "valet does not type into those fields.]\n" + observation.text
            )
        return observation

    def _filled(self, observation: Observation) -> set[StopKind]:
        """Stops whose fields the person has filled in on this page (a card typed, not yet
        submitted; hidden values count, they are filled): handed back so, the agent goes on
        (e.g. to review the order). A CAPTCHA has no field to tell: a solved widget stays on
        the page, so handing it back clears it."""
        kinds = {self._kind(e.id) for e in observation.elements if e.value is not None}
        return {stop for field, stop in _STOP_OF.items() if field in kinds}

    def check(self, action: Action, page: Observation | None, request: str = "") -> list[Decision]:
        """A denial when the action would type into a password, payment or one-time-code field
        (by its DOM facts); an exact vault placeholder goes on to the vault's own checks, and a
        value the person wrote in their own `request` ("sign in with the password Q3h…") is
        theirs to give."""
        match action:
            case Type(text=text) if is_vault_placeholder(text) or _given(text, request):
                return []
            case Type(element=ref) | Clear(element=ref) | Select(element=ref):
                element_id = self._id(ref, page)
            case Press(element=None):
                focused = (
                    None
                    if page is None
                    else next((e for e in page.elements if "focused" in e.states), None)
                )
                element_id = None if focused is None else focused.id
            case Press(element=ref) if ref is not None:
                element_id = self._id(ref, page)
            case _:
                return []
        kind = None if element_id is None else self._kind(element_id)
        if kind is None:
            return []
        return [
            Decision.deny(
                SENSITIVE_RULE,
                f"[{element_id}] is {_WHAT[kind]}: only the person fills it, when they take "
                "over the browser. Do not try again; go on with the rest, or end with done and "
                "say the person needs to fill it",
            )
        ]

    def _kind(self, element_id: int) -> FieldKind | None:
        facts = self._fields.get(element_id)
        return None if facts is None else self._kind_of(facts)

    def _kind_of(self, facts: FieldFacts) -> FieldKind | None:
        if facts not in self._kinds:
            if len(self._kinds) >= 4096:
                self._kinds.clear()
            self._kinds[facts] = field_kind(facts)
        return self._kinds[facts]

    @staticmethod
    def _id(ref: int | ByRole, page: Observation | None) -> int | None:
        if isinstance(ref, int):
            return ref
        found = None if page is None else find_element(page, ref.role, ref.name, ref.nth)
        return None if found is None else found.id


def _page(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _given(text: str, request: str) -> bool:
    """`text` is a whole value the person wrote in their request: between spaces or quotes,
    not a part of a longer value."""
    value = text.strip()
    if len(value) < 2 or not request:
        return False
    before = r"(?:^|(?<=[\s\"'`(«“‘]))"
    after = r"(?=$|[\s\"'`)»”’]|[.,;:!?](?:\s|$))"
    return re.search(before + re.escape(value) + after, request) is not None
