"""The compact text a model reads for one observation.

Format (every part but `url:` and `elements:` appears only when it has something to say)::

    url: http://127.0.0.1:8000/shop/search?q=cable
    title: Search – Shop
    tabs: [0] Search – Shop (active) | [1] Widget
    dialogs: alert "Saved" (accepted)
    vault (type these; valet fills them in): {{vault:shop.username}} {{vault:shop.password}}
    elements (* = new since the previous observation):
    [1] link "Home" →/shop
    [2] searchbox "Search" ="cable"
    *[3] button "Add to cart"
    [4] textbox "Email" ="a@b.c" required type=email
    [5] button (icon: trash, near "USB cable")
    above the fold:
    [6] link "Top"
    below the fold:
    [7] checkbox "Remember me" checked
    in frame "Coupon":
    [8] textbox "Coupon code"
    … 9,612 more elements not shown; scroll or use read_page
    text:
    Cable search results
    …

Element lines: `[id] role "accessible name"`; an element without a name shows a descriptor in
parentheses instead (icon, nearby text, or form field name). Then, when present: `="value"`
(current value of a field; passwords show `•••`), states (`checked`, `disabled`, `expanded`,
`collapsed`, `selected`, `pressed`, `required`, `readonly`, `invalid`, `focused`, `current`),
and a hint (`→/path` link target, `type=email`, `options: a|b|c`, `new tab`). A leading `*`
marks elements that appeared since the previous observation. Elements are in page order;
those outside the viewport come under `above the fold:` / `below the fold:`; elements inside
an iframe come under `in frame "<label>":`. Nothing is cut silently: a `…` line says what was
left out.
"""

from __future__ import annotations

from dataclasses import replace

from valet.browser._types import Element, Observation

_DESCRIPTOR_PREFIXES = ("(icon: ", "(near ", "(name=", "(unlabeled ")
_MIN_TEXT = 600


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _group(element: Element) -> int:
    if element.above:
        return 0
    return 2 if element.offscreen else 1


_GROUP_HEADERS = ("above the fold:", "in view:", "below the fold:")


def element_line(element: Element) -> str:
    name = element.name
    shown = name if name.startswith(_DESCRIPTOR_PREFIXES) else f'"{name}"'
    parts = [f"{'*' if element.new else ''}[{element.id}] {element.role} {shown}"]
    if element.value is not None:
        parts.append(f'="{element.value}"')
    parts.extend(element.states)
    if element.extra:
        parts.append(element.extra)
    return " ".join(parts)


def display_order(elements: list[Element]) -> list[Element]:
    """Top document first, then each frame; within each, above / in view / below the fold."""
    sections: dict[str | None, list[Element]] = {}
    for element in elements:
        sections.setdefault(element.frame, []).append(element)
    ordered: list[Element] = []
    for section in sections.values():
        ordered.extend(sorted(section, key=_group))
    return ordered


def _element_lines(elements: list[Element]) -> list[str]:
    lines: list[str] = []
    frame: str | None = None
    group = 1
    for index, element in enumerate(display_order(elements)):
        if index == 0 or element.frame != frame:
            frame = element.frame
            group = 1
            if frame is not None:
                lines.append(f'in frame "{frame}":')
        current = _group(element)
        if current != group:
            lines.append(_GROUP_HEADERS[current])
            group = current
        lines.append(element_line(element))
    return lines


def _header(obs: Observation) -> list[str]:
    lines = [f"url: {obs.url}"]
    if obs.title:
        lines.append(f"title: {_clip(obs.title, 120)}")
    if len(obs.tabs) > 1:
        tabs = " | ".join(
            f"[{t.index}] {_clip(t.title or t.url, 40)}{' (active)' if t.active else ''}"
            for t in obs.tabs
        )
        lines.append(f"tabs: {tabs}")
    if obs.dialogs:
        lines.append("dialogs: " + "; ".join(_clip(d, 200) for d in obs.dialogs[:5]))
        if len(obs.dialogs) > 5:
            lines.append(f"… {len(obs.dialogs) - 5} more dialogs")
    if obs.vault:
        lines.append(f"vault (type these; valet fills them in): {' '.join(obs.vault)}")
    return lines


def _omitted_line(count: int) -> str:
    return f"… {count:,} more elements not shown; scroll or use read_page"


def render_observation(obs: Observation, max_chars: int | None = None) -> str:
    """Render an observation as the compact text the model reads (format: module docstring).

    The session already fits observations to `max_observation_chars`; `max_chars` is a last
    hard cap for callers that want one.
    """
    lines = _header(obs)
    new = any(e.new for e in obs.elements)
    new_note = " (* = new since the previous observation)" if new else ""
    lines.append(f"elements{new_note}:" if obs.elements else "elements: none")
    lines.extend(_element_lines(obs.elements))
    if obs.omitted_elements:
        lines.append(_omitted_line(obs.omitted_elements))
    if obs.text:
        lines.append("text:")
        lines.append(obs.text)
    out = "\n".join(lines)
    if max_chars is not None and len(out) > max_chars:
        marker = "\n… observation cut here"
        out = out[: max_chars - len(marker)] + marker
    return out


_LIMITS = ((60, 40), (40, 24), (24, 16))
"""(name, value) length limits of simplification levels 1, 2 and 3."""


def _drops_extra(extra: str) -> bool:
    return extra.startswith(("→", "#")) or extra == "new tab"


def _simplify(element: Element, level: int) -> Element:
    if level == 0:
        return element
    extra = element.extra
    if extra is not None and _drops_extra(extra):
        extra = None
    elif extra is not None and level >= 2 and extra.startswith("options: "):
        extra = None if level >= 3 else _clip(extra, 32)
    name_limit, value_limit = _LIMITS[level - 1]
    name = element.name
    if len(name) > name_limit and not name.startswith(_DESCRIPTOR_PREFIXES):
        name = _clip(name, name_limit)
    value = element.value
    if value is not None and len(value) > value_limit:
        value = _clip(value, value_limit)
    if name is element.name and value is element.value and extra is element.extra:
        return element
    return Element(
        id=element.id,
        role=element.role,
        name=name,
        value=value,
        states=element.states,
        new=element.new,
        offscreen=element.offscreen,
        frame=element.frame,
        extra=extra,
        above=element.above,
    )


def _line_size(element: Element) -> int:
    """len(element_line(element)), without building it."""
    name = element.name
    size = len(str(element.id)) + len(element.role) + len(name) + 4 + element.new
    if not name.startswith(_DESCRIPTOR_PREFIXES):
        size += 2
    if element.value is not None:
        size += len(element.value) + 4
    for state in element.states:
        size += len(state) + 1
    if element.extra:
        size += len(element.extra) + 1
    return size


def _saving(element: Element, level: int) -> int:
    """How much shorter the element's line gets at a simplification level (1 to 3)."""
    name_limit, value_limit = _LIMITS[level - 1]
    name = element.name
    saved = 0
    if len(name) > name_limit and not name.startswith(_DESCRIPTOR_PREFIXES):
        saved = len(name) - name_limit
    if element.value is not None and len(element.value) > value_limit:
        saved += len(element.value) - value_limit
    extra = element.extra
    if not extra:
        return saved
    if _drops_extra(extra):
        return saved + len(extra) + 1
    if level == 1 or not extra.startswith("options: "):
        return saved
    return saved + (max(0, len(extra) - 32) if level == 2 else len(extra) + 1)


def _elements_size(elements: list[Element], sizes: list[int]) -> int:
    """Characters the element lines (with frame and fold headers) and the line breaks before
    each take in the render, mirroring `_element_lines`."""
    total = 0
    frame: str | None = None
    group = 1
    for index, (element, size) in enumerate(zip(elements, sizes, strict=True)):
        if index == 0 or element.frame != frame:
            frame = element.frame
            group = 1
            if frame is not None:
                total += len(frame) + 13  # '\nin frame "<frame>":'
        current = _group(element)
        if current != group:
            total += len(_GROUP_HEADERS[current]) + 1
            group = current
        total += size + 1
    return total


def _cut_text(text: str, budget: int, more: bool) -> str:
    marker = "… text truncated; use read_page for the whole page"
    if len(text) <= budget and not more:
        return text
    if len(text) <= budget:
        return f"{text}\n{marker}"
    keep = max(0, budget - len(marker) - 1)
    cut = text[:keep]
    newline = cut.rfind("\n")
    if newline > keep // 2:
        cut = cut[:newline]
    return f"{cut}\n{marker}" if cut else marker


def fit_observation(obs: Observation, max_chars: int, text_more: bool = False) -> Observation:
    """Shorten element lines, then drop trailing elements and text, until the render fits.

    Line lengths are computed arithmetically (the savings of each simplification level only
    when the plain lines do not fit), and only the elements that change are rebuilt.
    """
    elements = display_order(obs.elements)
    header = len("\n".join(_header(obs)))
    fixed = header + 80
    text_reserve = min(len(obs.text), _MIN_TEXT)
    base = [_line_size(e) for e in elements]
    budget = max_chars - fixed - text_reserve
    level = 0
    sizes = base
    room = budget - 20 * len(_GROUP_HEADERS) - len(base)
    while sum(sizes) > room and level < 3:
        level += 1
        sizes = [size - _saving(e, level) for e, size in zip(elements, base, strict=True)]
    omitted = obs.omitted_elements
    budget -= len(_omitted_line(10**6))
    lines_size = 0
    keep = 0
    frame: str | None = None
    for element, size in zip(elements, sizes, strict=True):
        extra = len(element.frame or "") + 20 if element.frame != frame else 0
        frame = element.frame
        cost = size + 1 + extra
        if lines_size + cost > budget:
            break
        lines_size += cost
        keep += 1
    chosen = [_simplify(e, level) for e in elements[:keep]]
    omitted += len(elements) - keep
    line_sizes = sizes[:keep]
    new_note = " (* = new since the previous observation)" if any(e.new for e in chosen) else ""
    used = header + 1 + (len(f"elements{new_note}:") if chosen else len("elements: none"))
    used += _elements_size(chosen, line_sizes)
    if omitted:
        used += len(_omitted_line(omitted)) + 1
    used += len("\ntext:\n")
    text = _cut_text(obs.text, max(0, max_chars - used), text_more) if obs.text else ""
    truncated = obs.truncated or omitted > 0 or text != obs.text
    return replace(obs, elements=chosen, omitted_elements=omitted, text=text, truncated=truncated)
