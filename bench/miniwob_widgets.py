"""The MiniWoB++ widget tasks' solvers (sortable lists, sliders, a spinner, a date picker, a
rich-text editor, a checkbox grid, a day calendar, flight cards), like `miniwob_solvers.py`:
each reads only valet's text and acts only through valet's tools, and raises `Gap` naming what
it could not find."""

from __future__ import annotations

import re
from collections.abc import Callable

from miniwob_solvers import TEXT_ROLES, press
from miniwob_view import CLICKABLE, Element, Gap, Plan, View, click, submit_button, type_into

SOLVERS: dict[str, Callable[[View], Plan]] = {}


def solver(task: str) -> Callable[[Callable[[View], Plan]], None]:
    def register(plan: Callable[[View], Plan]) -> None:
        SOLVERS[task] = plan

    return register


_GRID = {
    "top left": 1, "top center": 2, "top right": 3,
    "center left": 4, "center": 5, "center right": 6,
    "bottom left": 7, "bottom center": 8, "bottom right": 9,
}  # fmt: skip
_MOVES = {"up": -3, "down": 3, "left": -1, "right": 1}


def draggables(view: View) -> list[Element]:
    return [e for e in view.elements if e.has("draggable") or e.role == "listitem"]


@solver("drag-items-grid")
def drag_items_grid(view: View) -> Plan:
    found = view.instruction(r"Drag (.+?) (?:to the (.+?)|(up|down|left|right) by one)\.", "what")
    items = draggables(view)
    names = [e.name for e in items]
    if len(items) != 9 or found[1] not in names:
        raise Gap(f"the 9 grid items are not all listed as draggable ({len(items)} are)")
    index = names.index(found[1]) + 1
    target = _GRID[found[2]] if found[2] else index + _MOVES[found[3]]
    yield "drag", {"source": items[index - 1].id, "target": items[target - 1].id}


@solver("drag-sort-numbers")
def drag_sort_numbers(view: View) -> Plan:
    view.instruction(r"Sort the numbers in increasing order", "sort")
    before: list[str] = []
    for _ in range(10):
        items = [e for e in draggables(view) if re.fullmatch(r"-?\d+", e.name)]
        if len(items) < 2:
            raise Gap(f"the numbers are not listed as draggable items ({len(items)} are)")
        values = [int(e.name) for e in items]
        if values == sorted(values):
            yield click(submit_button(view))
            return
        if [e.name for e in items] == before:
            raise Gap("dragging a number onto another did not reorder the sortable list")
        before = [e.name for e in items]
        place = next(
            i for i, (v, w) in enumerate(zip(values, sorted(values), strict=False)) if v != w
        )
        source = items[values.index(sorted(values)[place], place)]
        view = yield "drag", {"source": source.id, "target": items[place].id}
    raise Gap("the list was not sorted after 10 drags")


def slider_value(view: View, slider: Element) -> float:
    """The slider's value as valet states it: on its line (`value=`, or its range and where its
    handle is), or as the number printed right after it (a jQuery UI handle's shown value)."""
    number = r"(-?\d+(?:\.\d+)?)"
    if found := re.search(rf'(?:value[=:]\s*"?|="){number}', slider.rest):
        return float(found[1])
    low, high = re.search(rf"min={number}", slider.rest), re.search(rf"max={number}", slider.rest)
    at = re.search(rf"at {number}%", slider.rest)
    if low and high and at:
        return round(float(low[1]) + float(at[1]) / 100 * (float(high[1]) - float(low[1])))
    tokens = view.tokens
    place = next((i for i, t in enumerate(tokens) if t.element and t.element.id == slider.id), -1)
    after = tokens[place + 1] if 0 <= place < len(tokens) - 1 else None
    if after is not None and re.fullmatch(number, after.text.strip()):
        return float(after.text)
    shown = next((t.text for t in reversed(tokens[:place]) if t.text), "")
    raise Gap(
        f"no value printed after the slider in valet's text: {slider.line} "
        f"(the last line before it reads {shown!r})"
    )


@solver("use-slider-2")
def use_slider_2(view: View) -> Plan:
    combo = view.instruction(r"combination \[([-\d,\s]+)\]", "the combination")[1]
    wanted = [int(v) for v in combo.split(",")]
    sliders = [e for e in view.elements if e.role == "slider"]
    if len(sliders) != len(wanted):
        raise Gap(f"valet lists {len(sliders)} sliders, the task has {len(wanted)}")
    for slider, value in zip(sliders, wanted, strict=True):
        view = yield click(slider)  # a person focuses the handle, then uses the arrow keys
        for _ in range(3):  # one press per difference; again if a key moved it less or more
            now = view.find(lambda e, i=slider.id: e.id == i, None, "the slider again")
            delta = round(value - slider_value(view, now))
            if delta == 0:
                break
            key = "ArrowRight" if delta > 0 else "ArrowLeft"
            view = yield from press(view, now, key, abs(delta))
        now = view.find(lambda e, i=slider.id: e.id == i, None, "the slider again")
        if slider_value(view, now) != value:
            shown = slider_value(view, now)
            raise Gap(f"the arrow keys did not move the slider to {value} (it shows {shown:g})")
    yield click(submit_button(view))


@solver("use-spinner")
def use_spinner(view: View) -> Plan:
    value = view.instruction(r"Select (-?\d+) with the spinner", "the number")[1]
    view = yield type_into(view.find(lambda e: e.role in TEXT_ROLES, None, "spinner"), value)
    yield click(submit_button(view))


_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]


@solver("choose-date")
def choose_date(view: View) -> Plan:
    found = view.instruction(r"Select (\d\d)/(\d\d)/(\d{4}) as the date", "the date")
    month, day, year = int(found[1]), int(found[2]), int(found[3])
    view = yield click(view.find(lambda e: e.role in TEXT_ROLES, None, "date field"))
    title = re.compile(rf"({'|'.join(_MONTHS)})\s+(\d{{4}})")
    for _ in range(24):
        shown = next((m for line in view.lines if (m := title.search(line))), None)
        if shown is None:
            raise Gap("the date picker's month and year are not in valet's text")
        steps = (year * 12 + month) - (int(shown[2]) * 12 + _MONTHS.index(shown[1]) + 1)
        if steps == 0:
            break
        name = "Next" if steps > 0 else "Prev"
        view = yield click(view.find(lambda e, n=name: e.says(n), CLICKABLE, f'"{name}"'))
    view = yield click(view.find(str(day), CLICKABLE))
    yield click(submit_button(view))


_STYLE = {"bold": "bold", "italics": "italic", "underlined": "underline"}
_HUES = {"red": 0, "orange": 35, "yellow": 60, "green": 120, "blue": 215, "purple": 275}
"""Where each colour the instruction names sits on the colour wheel (degrees)."""


def hue_of(hex_color: str) -> tuple[str, float] | None:
    """The colour name of a swatch's hex (the nearest hue) and how vivid it is (0: grey)."""
    digits = hex_color.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    r, g, b = (int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4))
    high, low = max(r, g, b), min(r, g, b)
    if high - low < 0.1:
        return None
    chroma = high - low
    if high == r:
        hue = 60 * (((g - b) / chroma) % 6)
    elif high == g:
        hue = 60 * ((b - r) / chroma + 2)
    else:
        hue = 60 * ((r - g) / chroma + 4)
    name = min(_HUES, key=lambda n: min(abs(hue - _HUES[n]), 360 - abs(hue - _HUES[n])))
    return name, chroma


def swatch(view: View, color: str) -> Element:
    """The most vivid swatch of `color`, read from the hex valet prints (`icon: color #e60000`)."""
    found: list[tuple[float, Element]] = []
    for element in view.elements:
        hexes = re.findall(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b", element.name)
        named = hue_of(hexes[0]) if hexes and element.role in CLICKABLE else None
        if named is not None and named[0] == color:
            found.append((named[1], element))
    if not found:
        raise Gap(f"no {color} colour swatch in valet's text")
    return max(found, key=lambda f: f[0])[1]


@solver("text-editor")
def text_editor(view: View) -> Plan:
    found = view.instruction(
        r"give (?:the text (.+?)|everything) the (style|color) (\w+)"
        r"|make everything the color (\w+)",
        "the text and its style",
    )
    word, kind, style = found[1], found[2] or "color", found[3] or found[4]
    editor = view.find(lambda e: e.role in TEXT_ROLES and e.value is not None, None, "editor")
    if word is None:
        view = yield "press", {"keys": "Control+a", "element": editor.id}
    else:
        words = (editor.value or "").split(" ")
        if word not in words:
            raise Gap(f'"{word}" is not in the editor\'s text as valet shows it')
        offset = sum(len(w) + 1 for w in words[: words.index(word)])
        view = yield "press", {"keys": "Control+Home", "element": editor.id}
        view = yield from press(view, editor, "ArrowRight", offset)
        view = yield from press(view, editor, "Shift+ArrowRight", len(word))
    if kind == "style":
        view = yield click(view.find(lambda e: e.says(_STYLE[style]), CLICKABLE, f"{style} button"))
    else:
        picker = view.find(lambda e: e.says("color", "picker"), CLICKABLE, "colour picker")
        view = yield click(picker)
        view = yield click(swatch(view, style))
    yield click(submit_button(view))


_DIGITS = {
    0: "0110 1001 1001 1001 1001 1001 0110",
    1: "0010 0110 0010 0010 0010 0010 0010",
    2: "0110 1001 1001 0010 0100 1000 1111",
    3: "0110 1001 0001 0110 0001 1001 0110",
    4: "1000 1010 1010 1111 0010 0010 0010",
    5: "1111 1000 1000 1110 0001 1001 0110",
    6: "0110 1001 1000 1110 1001 1001 0110",
    7: "1111 1001 0001 0010 0010 0100 0100",
    8: "0110 1001 1001 0110 1001 1001 0110",
    9: "0110 1001 1001 0111 0001 1001 0110",
}


@solver("number-checkboxes")
def number_checkboxes(view: View) -> Plan:
    digit = int(view.instruction(r'Draw the number "(\d)"', "which number")[1])
    boxes = [e for e in view.elements if e.role == "checkbox" and not e.has("disabled")]
    if len(boxes) < 28:
        raise Gap(f"valet lists {len(boxes)} of the 28 checkboxes to tick")
    for box, bit in zip(boxes, _DIGITS[digit].replace(" ", ""), strict=False):
        if bit == "1":
            view = yield "check", {"element": box.id, "checked": True}
    yield click(submit_button(view))


_HOURS = [f"{h % 12 or 12}{'am' if h < 12 else 'pm'}" for h in range(24)]
_LENGTHS = {"30 mins": 1, "0.5 hours": 1, "60 mins": 2, "1 hour": 2, "90 mins": 3, "1.5 hours": 3}


def half_hour(view: View, index: int) -> Element:
    """The calendar cell of half-hour `index`: the hour's two cells, in its block or near its
    label."""
    label = _HOURS[index // 2]
    cells = next((b.elements for b in view.blocks(lambda line: line == label)), [])
    if len(cells) < 2:
        cells = [e for e in view.elements if f'near "{label}"' in e.name]
    if len(cells) < 2:
        raise Gap(f"the two half-hour cells of {label} are not in valet's text")
    return cells[index % 2]


@solver("daily-calendar")
def daily_calendar(view: View) -> Plan:
    found = view.instruction(
        r'Create a (.+?) event named "(\w+)", between (\d+)(AM|PM)', "the event"
    )
    length = _LENGTHS[found[1]]
    start = _HOURS.index(f"{found[3]}{found[4].lower()}") * 2
    first, last = half_hour(view, start), half_hour(view, start + length - 1)
    view = yield "drag", {"source": first.id, "target": last.id}
    names = view.all(lambda e: e.role in TEXT_ROLES and e.says("event name"))
    if not names:
        raise Gap(
            f"no event-name field after dragging from {first.line} to {last.line} (valet's text "
            "does not say where the events already on the calendar are; one may cover the cells)"
        )
    name = names[0]
    view = yield type_into(name, found[2])
    yield click(view.find("Create", CLICKABLE))


@solver("buy-ticket")
def buy_ticket(view: View) -> Plan:
    goal = view.instruction(r"Buy the ticket with the (\w+ \w+)", "which ticket")[1]
    duration: int | None = None
    tickets: dict[int, tuple[int, int | None]] = {}
    for token in view.tokens:
        if token.text and (m := re.fullmatch(r"(\d+)h (\d+)m", token.text)):
            duration = int(m[1]) * 60 + int(m[2])
        elif token.element is not None and (price := re.search(r"\$(\d+)", token.element.name)):
            tickets[token.element.id] = (int(price[1]), duration)
            duration = None
    if not tickets or any(d is None for _, d in tickets.values()):
        raise Gap("the flights' durations are not printed with their Book buttons")
    pick = {
        "cheapest cost": lambda t: t[1][0],
        "most expensive": lambda t: -t[1][0],
        "shortest duration": lambda t: t[1][1],
        "longest duration": lambda t: -(t[1][1] or 0),
    }[goal]
    best = min(tickets.items(), key=pick)[0]
    yield click(view.find(lambda e: e.id == best, None, "Book button"))
