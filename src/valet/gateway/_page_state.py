"""What a page is to the gateway: its state when the person was asked about an action on it,
and what it said (untrusted content the gate learns).

An answer is bound to it: "yes, send" was said about a form with `bob@example.com` in To. A
task resumed after a restart (the page reopened from its address, the form perhaps emptied),
or a page the person changed during a takeover, is a different question: the old answer does
not count, the action is asked again on the page as it is now."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urldefrag, urlsplit

from valet.browser import ByRole, Element, Observation
from valet.gateway._gate import Gate
from valet.policy import Source, find_element

FIELD_ROLES = frozenset(
    {"textbox", "searchbox", "combobox", "spinbutton", "checkbox", "radio", "switch", "listbox"}
)
"""The roles whose value the person fills in or picks (not sliders, meters or progress bars,
which may move by themselves)."""

_CHOSEN = ("checked", "selected", "pressed")


def page_state(page: Observation, ref: int | ByRole | None) -> str:
    """A short digest of the page's address, the element acted on and the values of the form
    it belongs to (every field of the page when it is in none). Element ids are left out: the
    same page observed again may number its elements differently."""
    target = _target(page, ref)
    form = None if target is None or target.form is None else target.form.form
    fields = [
        _field(e)
        for e in page.elements
        if e.role in FIELD_ROLES and (form is None or (e.form is not None and e.form.form == form))
    ]
    state = {
        "url": urldefrag(page.url).url,
        "target": None if target is None else _field(target),
        "fields": fields,
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()[:16]


def _target(page: Observation, ref: int | ByRole | None) -> Element | None:
    if ref is None:
        return None
    if isinstance(ref, int):
        return page.element(ref)
    return find_element(page, ref.role, ref.name, ref.nth)


def _field(element: Element) -> list[object]:
    chosen = [s for s in element.states if s in _CHOSEN]
    return [element.role, element.name, element.value, chosen, element.frame]


def learn_page(gate: Gate, page: Observation) -> None:
    """Tell the gate what a page said (untrusted content), e.g. for a replayed observation."""
    gate.learn(page_source(page.url), page_content(page))


def page_source(url: str) -> Source:
    parts = urlsplit(url)
    return Source("untrusted", f"page:{parts.netloc}{parts.path}" if parts.netloc else url[:60])


def page_content(page: Observation) -> list[str]:
    """The page's words: its text, its controls' names and values, the full accessible names
    and alt texts the view shortens or leaves out, and where its forms go."""
    texts = [page.title, page.text]
    for element in page.elements:
        texts.append(element.name)
        if element.value:
            texts.append(element.value)
    texts.extend(page.labels)
    texts.extend(to for form in page.forms.values() for to in form.targets)
    return texts
