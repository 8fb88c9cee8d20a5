"""The compact text a model reads for one observation: the page as one outline, in document
order, with the controls among the words around them.

Format (every part but `url:` appears only when it has something to say)::

    url: http://127.0.0.1:8000/flights
    title: Flights – Travel
    tabs: [0] Flights – Travel (active) | [1] Widget
    dialogs: alert "Saved" (accepted)
    vault (type these; valet fills them in): {{vault:shop.username}} {{vault:shop.password}}
    page (* = new since the previous observation):
    [1] link "Home" →/
    Flights to Lisbon
    Depart: 10:05
    Duration: 2h 40m
    [2] button "Book" (the first card's button, after the card's words)
    Depart: 14:30
    Duration: 3h 05m
    *[3] button "Book"
    [4] textbox "Note" multi-line
    below the fold:
    [5] checkbox "Remember me" checked
    … not shown here: 9 controls ([191] link "Row 191" … [200] link "Row 200"), 4 lines
    in frame "Coupon":
    [8] textbox "Coupon code"

A line that starts with `[id]` (or `*[id]` when it appeared since the previous observation) is
a control: `[id] role "accessible name"`, or a descriptor in parentheses instead of a name
(icon, nearby text, form field name). Then, when present: `="value"` (a field's current value;
passwords show `•••`), states (`checked`, `disabled`, `expanded`, `collapsed`, `selected`,
`pressed`, `required`, `readonly`, `invalid`, `focused`, `current`, `draggable`), and a hint
(`→/path` link target, `type=email`, `multi-line`, `min=0 max=100`, `handle at 30% of its
track`, `options: a|b|c`, `new tab`, `(folder)`) and, when the model also sees the screenshot,
the control's middle `@x,y`. Every other line is the page's own text, as
shown, where it is on the page: a label sits just before its field, a card's words before its
button. A line equal to a control's name is not repeated. `above the fold:` / `below the
fold:` / `in view:` mark where the viewport begins and ends; `in frame "<label>":` starts an
iframe's part. Nothing is cut silently: when the page does not fit, what is in view is kept
first, then what is nearest to it, and a `… not shown here:` line stands where things were left
out, naming the first and last control left out there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from valet.browser._types import Element, Observation

_DESCRIPTOR_PREFIXES = ("(icon: ", "(near ", "(name=", "(unlabeled ")
_FRAME_MARK = '[frame "'
_LOOKAHEAD = 30
"""How many text lines ahead a control's name is looked for, to place it among them."""
_GROUP_HEADERS = ("above the fold:", "in view:", "below the fold:")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _group(element: Element) -> int:
    if element.above:
        return 0
    return 2 if element.offscreen else 1


def element_line(element: Element, points: bool = False) -> str:
    name = element.name
    shown = name if name.startswith(_DESCRIPTOR_PREFIXES) else f'"{name}"'
    parts = [f"{'*' if element.new else ''}[{element.id}] {element.role} {shown}"]
    if element.value is not None:
        parts.append(f'="{element.value}"')
    parts.extend(element.states)
    if element.extra:
        parts.append(element.extra)
    if points and element.point is not None:
        parts.append(f"@{element.point[0]},{element.point[1]}")
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Item:
    """One line of the outline: a control, a line of the page's text, or valet's own line (a
    frame's start, a fold, an omission)."""

    element: Element | None
    text: str
    group: int
    """0 above the fold, 1 in view, 2 below: of the control, or of the next control after it."""
    frame: str | None
    own: bool = False
    """valet's line (a header or an omission), never the page's."""


def _sections(obs: Observation) -> list[tuple[str | None, list[str], list[Element]]]:
    """(frame label, text lines, controls) per document, the top one first, in page order."""
    order: list[str | None] = [None]
    texts: dict[str | None, list[str]] = {None: []}
    current: str | None = None
    for line in obs.text.split("\n") if obs.text else []:
        if line.startswith(_FRAME_MARK) and line.endswith('"]'):
            current = line[len(_FRAME_MARK) : -2]
            if current not in texts:
                texts[current] = []
                order.append(current)
            continue
        texts[current].append(line)
    controls: dict[str | None, list[Element]] = {}
    for element in obs.elements:
        controls.setdefault(element.frame, []).append(element)
        if element.frame not in texts:
            texts[element.frame] = []
            order.append(element.frame)
    return [(frame, texts[frame], controls.get(frame, [])) for frame in order]


def _covers(name: str, lines: list[str], start: int) -> int:
    """How many lines from `start` the control's name stands for (0: none): the line itself,
    or consecutive lines that its name is made of (a card link named by all its text)."""
    first = lines[start]
    if first == name:
        return 1
    if len(first) < 2 or not name.startswith(first):
        return 0
    joined = first
    end = start + 1
    while end < len(lines) and len(joined) < len(name):
        candidate = f"{joined} {lines[end]}"
        clipped = name.endswith("…") and candidate.startswith(name[:-1])
        if not name.startswith(candidate) and not clipped:
            break
        joined = candidate
        end += 1
    return end - start if len(joined) >= len(name.rstrip("…")) else 0


def _holds(line: str, name: str) -> bool:
    """The line shows the name among other words (a short name only as a word of its own)."""
    return name in line if len(name) >= 3 else name in line.split()


def _without(line: str, name: str) -> str:
    """The line's words that are left for the next controls, once `name` was placed on it."""
    if len(name) >= 3:
        return line.replace(name, "\x00", 1)
    words = line.split()
    if name in words:
        words.remove(name)
    return " ".join(words)


def _merge(
    frame: str | None, lines: list[str], controls: list[Element], points: bool = False
) -> list[Item]:
    """The document's text lines and controls, both in page order, as one outline. A control
    goes where its name is in the text: in place of the lines its name is made of, or after
    the line that holds its name among other words (a row "Item 3 Edit" holds the link and the
    button); an unnamed control goes after the text it is near; any other after the text read
    so far."""
    items: list[Item] = []
    at = 0
    last = ""  # the text line shown last: the next controls may sit on it too

    def text_until(stop: int, group: int) -> None:
        nonlocal at, last
        for text in lines[at:stop]:
            items.append(Item(None, text, group, frame))
            last = text
        at = max(at, stop)

    for element in controls:
        group = _group(element)
        name = element.name
        described = name.startswith(_DESCRIPTOR_PREFIXES)
        window = range(at, min(len(lines), at + _LOOKAHEAD))
        covered = 0
        found = -1
        if not described:
            if last and _holds(last, name):
                found = -2  # on the line just shown
                last = _without(last, name)
            else:
                for index in window:
                    covered = _covers(name, lines, index)
                    if covered:
                        found = index
                        break
                if found < 0:
                    found = next((i for i in window if _holds(lines[i], name)), -1)
        elif ', near "' in name or '(near "' in name:
            near = name.split('near "', 1)[1].split('"', 1)[0].rstrip("…")
            if near and last.startswith(near) and '" after it' not in name:
                window = range(0)  # the text it is near was just shown: it goes right here
            found = next((i for i in window if near and lines[i].startswith(near)), -1)
            if found >= 0 and '" after it' in name:  # its words follow it: it goes before them
                text_until(found, group)
                found = -1
        if found >= 0 and covered:
            text_until(found, group)
            at = found + covered
            last = ""
            line = element_line(element, points)
            items.append(Item(element, line, group, frame))
            continue
        if found >= 0:
            text_until(found + 1, group)
            last = _without(last, name)
        items.append(Item(element, element_line(element, points), group, frame))
    last_group = items[-1].group if items else 1
    text_until(len(lines), last_group)
    return items


_SLOT = "\u2063"
"""Starts a line of a fitted observation's text that stands for a control (its id follows):
the render puts the control's line there, as the control is now (values hidden by the
gateway stay hidden)."""


def _from_slots(obs: Observation) -> list[Item]:
    """The outline of a fitted observation: its text lines, with the controls at their slots."""
    by_id = {element.id: element for element in obs.elements}
    raw: list[tuple[Element | None, str, str | None, bool]] = []
    frame: str | None = None
    for line in obs.text.split("\n"):
        if line.startswith(_SLOT):
            element = by_id.get(int(line[1:])) if line[1:].isdigit() else None
            if element is not None:
                raw.append((element, element_line(element, obs.points), frame, False))
        elif line.startswith(_FRAME_MARK) and line.endswith('"]'):
            frame = line[len(_FRAME_MARK) : -2]
            raw.append((None, f'in frame "{frame}":', frame, True))
        else:
            raw.append((None, line, frame, False))
    items: list[Item] = []
    group = 1
    for element, text, where, own in reversed(raw):  # a line belongs with the next control
        if element is not None:
            group = _group(element)
        items.append(Item(element, text, group, where, own=own))
    items.reverse()
    return items


def outline(obs: Observation) -> list[Item]:
    """The whole page as one outline (documents one after the other)."""
    if _SLOT in obs.text:
        return _from_slots(obs)
    items: list[Item] = []
    for frame, lines, controls in _sections(obs):
        merged = _merge(frame, lines, controls, obs.points)
        if not merged:
            continue
        if frame is not None:
            items.append(Item(None, f'in frame "{frame}":', merged[0].group, frame, own=True))
        items.extend(merged)
    return items


def _header(obs: Observation) -> list[str]:
    lines = [f"url: {_clip(obs.url, 300)}"]
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


def _body(items: list[Item]) -> list[str]:
    """The outline's lines with the fold headers where the viewport begins and ends."""
    out: list[str] = []
    group = 1
    frame: str | None = None
    for item in items:
        if item.frame != frame:
            frame, group = item.frame, 1
        if not item.own and item.group != group:
            out.append(_GROUP_HEADERS[item.group])
            group = item.group
        out.append(item.text)
    return out


def _page_line(items: list[Item]) -> str:
    if not items:
        return "page: empty"
    new = any(item.element is not None and item.element.new for item in items)
    return "page (* = new since the previous observation):" if new else "page:"


def render_observation(obs: Observation, max_chars: int | None = None) -> str:
    """Render an observation as the compact text the model reads (format: module docstring).

    The session already fits observations to `max_observation_chars` (`fit_observation`);
    `max_chars` is a last hard cap for callers that want one.
    """
    items = outline(obs)
    lines = _header(obs)
    lines.append(_page_line(items))
    lines.extend(_body(items))
    out = "\n".join(lines)
    if max_chars is not None and len(out) > max_chars:
        marker = "\n… observation cut here"
        out = out[: max_chars - len(marker)] + marker
    return out


def _omitted_line(count: int) -> str:
    return f"… {count:,} more controls not shown; scroll, or use find or read_page"


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
    return replace(element, name=name, value=value, extra=extra)


def _fits(items: list[Item], budget: int) -> bool:
    return sum(len(item.text) + 1 for item in items) + 20 * len(_GROUP_HEADERS) <= budget


def _at_level(items: list[Item], level: int, points: bool) -> list[Item]:
    if level == 0:
        return items
    out: list[Item] = []
    for item in items:
        element = item.element
        simpler = None if element is None else _simplify(element, level)
        if simpler is None or simpler is element:
            out.append(item)
        else:
            out.append(replace(item, element=simpler, text=element_line(simpler, points)))
    return out


def _priority(items: list[Item]) -> list[int]:
    """Indexes of `items`, most wanted first: what is in view (each document's own view, so a
    frame's controls are not pushed out by a long top page), then the nearest to it."""
    distance = [0] * len(items)
    start = 0
    while start < len(items):
        end = start
        while end < len(items) and items[end].frame == items[start].frame:
            end += 1
        seen = [i for i in range(start, end) if items[i].group == 1]
        for i in range(start, end):
            if items[i].group == 1:
                continue
            if seen:
                distance[i] = min(abs(i - j) for j in (seen[0], seen[-1]))
            else:
                distance[i] = 50 + i - start  # a document out of view: its top first
        start = end
    return sorted(range(len(items)), key=lambda i: (distance[i], items[i].element is None, i))


def _gap_line(dropped: list[Item]) -> str:
    controls = [item.element for item in dropped if item.element is not None]
    lines = sum(1 for item in dropped if item.element is None and not item.own)
    parts: list[str] = []
    if controls:
        first = controls[0]
        named = _clip(element_line(replace(first, new=False)), 48)
        if len(controls) > 1:
            named += " … " + _clip(element_line(replace(controls[-1], new=False)), 48)
        parts.append(f"{len(controls)} control{'s' if len(controls) > 1 else ''} ({named})")
    if lines:
        parts.append(f"{lines} line{'s' if lines > 1 else ''} of text")
    return "… not shown here: " + ", ".join(parts) + "; scroll there, or use find"


def fit_observation(obs: Observation, max_chars: int, text_more: bool = False) -> Observation:
    """Fit the observation's outline into `max_chars`: shorten long names and values first,
    then keep what is in view and what is nearest to it, and put a `… not shown here:` line
    where things were left out. The result's elements and text are what is shown (the text
    carries the omission lines, and frame markers before each frame's part)."""
    items = outline(obs)
    budget = max_chars - len("\n".join(_header(obs))) - 60
    if text_more:
        budget -= len(_MORE_TEXT) + 1
    if obs.omitted_elements:
        budget -= len(_omitted_line(obs.omitted_elements)) + 1
    level = 0
    shown = items
    while not _fits(shown, budget) and level < 3:
        level += 1
        shown = _at_level(items, level, obs.points)
    kept = [True] * len(shown)
    if not _fits(shown, budget):
        kept = [False] * len(shown)
        room = budget - 20 * len(_GROUP_HEADERS) - 3 * 170  # fold headers, omission lines
        used = 0
        frames: set[str | None] = set()
        for index in _priority(shown):
            item = shown[index]
            if item.own:
                continue
            cost = len(item.text) + 1
            if item.frame is not None and item.frame not in frames:
                cost += len(item.frame) + 14
            if used + cost > room:
                break
            used += cost
            kept[index] = True
            frames.add(item.frame)
    elements: list[Element] = []
    text: list[str] = []
    dropped: list[Item] = []
    frame: str | None = None
    for item, keep in zip(shown, kept, strict=True):
        if item.own:
            continue
        if item.frame != frame:
            if dropped:
                text.append(_gap_line(dropped))
                dropped = []
            frame = item.frame
            if frame is not None:
                text.append(f'{_FRAME_MARK}{frame}"]')
        if not keep:
            dropped.append(item)
            continue
        if dropped:
            text.append(_gap_line(dropped))
            dropped = []
        if item.element is not None:
            elements.append(item.element)
            text.append(f"{_SLOT}{item.element.id}")
        else:
            text.append(item.text)
    if dropped:
        text.append(_gap_line(dropped))
    if obs.omitted_elements:
        text.append(_omitted_line(obs.omitted_elements))
    if text_more:
        text.append(_MORE_TEXT)
    cut = sum(1 for item, keep in zip(shown, kept, strict=True) if not keep and item.element)
    return replace(
        obs,
        elements=elements,
        omitted_elements=obs.omitted_elements + cut,
        text="\n".join(_tidy(text)),
        truncated=obs.truncated or cut > 0 or not all(kept) or text_more,
    )


_MORE_TEXT = "… the page has more text than shown; use read_page for all of it"


def _tidy(lines: list[str]) -> list[str]:
    """Frame markers only before a frame's part that has lines."""
    out: list[str] = []
    for line in lines:
        if out and out[-1].startswith(_FRAME_MARK) and line.startswith(_FRAME_MARK):
            out.pop()
        out.append(line)
    if out and out[-1].startswith(_FRAME_MARK):
        out.pop()
    return out
