"""The MiniWoB++ click, form, list and inbox tasks' solvers (the widget tasks' are in
`miniwob_widgets.py`), reading only valet's text (`View`) and acting only through valet's
tools. Each is a generator: it yields a tool call and receives the page valet shows next. What
it cannot find raises `Gap` with the missing thing named."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator

from miniwob_view import (
    CLICKABLE,
    Element,
    Gap,
    Move,
    Plan,
    View,
    click,
    submit_button,
    type_into,
)

SOLVERS: dict[str, Callable[[View], Plan]] = {}
TOLERANT: set[str] = set()
"""Tasks whose solver reads a failed action's result itself (the others stop at the first)."""

TEXT_ROLES = ("textbox", "searchbox", "combobox", "spinbutton", "textarea")


def solver(task: str, tolerant: bool = False) -> Callable[[Callable[[View], Plan]], None]:
    def register(plan: Callable[[View], Plan]) -> None:
        SOLVERS[task] = plan
        if tolerant:
            TOLERANT.add(task)

    return register


def press(view: View, element: Element, key: str, times: int) -> Generator[Move, View, View]:
    """Press `key` on `element` `times` times: one call when `press` takes a count."""
    count = view.takes("press", "times", "count", "repeat")
    if count is not None:
        while times > 1:
            view = yield "press", {"keys": key, "element": element.id, count: min(times, 50)}
            times -= min(times, 50)
    for _ in range(times):
        view = yield "press", {"keys": key, "element": element.id}
    return view


def text_fields(view: View) -> list[Element]:
    return [e for e in view.elements if e.role in TEXT_ROLES]


def labelled(view: View, *words: str, roles: tuple[str, ...] = TEXT_ROLES) -> Element:
    found = [e for e in view.elements if e.role in roles and e.says(*words)]
    if len(found) != 1:
        listed = "; ".join(e.line for e in view.elements if e.role in roles)
        raise Gap(f"no single field named {words[0]!r} in valet's text ({listed})")
    return found[0]


def close_button(view: View) -> Element:
    names = ("close", "×", "x", "✕")
    return view.find(
        lambda e: e.name.casefold() in names or e.says("icon: close"), CLICKABLE, '"x" (close)'
    )


@solver("click-dialog")
def click_dialog(view: View) -> Plan:
    view.instruction(r'clicking the "x"', "close the dialog")
    yield click(close_button(view))


@solver("click-dialog-2")
def click_dialog_2(view: View) -> Plan:
    label = view.instruction(r'dialog box labeled "([^"]+)"', "which button")[1]
    yield click(close_button(view) if label.casefold() == "x" else view.find(label, CLICKABLE))


@solver("click-option")
def click_option(view: View) -> Plan:
    name = view.instruction(r"Select (.+?) and click Submit", "which option")[1]
    view = yield click(view.find(name, ("radio",)))
    yield click(submit_button(view))


@solver("click-scroll-list")
def click_scroll_list(view: View) -> Plan:
    wanted = view.instruction(r"Select (.+?) from the scroll list", "which items")[1]
    names = [n.strip() for n in wanted.split(",")]
    box = view.find(lambda e: e.role == "listbox", ("listbox",), "scroll list")
    schema = json.dumps(view.tools.get("select", {}).get("properties", {}))
    if len(names) == 1:
        view = yield "select", {"element": box.id, "option": names[0]}
    elif (many := view.takes("select", "options")) is not None:
        view = yield "select", {"element": box.id, many: names}
    elif '"array"' in schema:
        view = yield "select", {"element": box.id, "option": names}
    else:
        raise Gap(f"`select` picks one option: a multiple-choice list cannot get {len(names)}")
    yield click(submit_button(view))


@solver("click-tab")
def click_tab(view: View) -> Plan:
    name = view.instruction(r"Click on (Tab #\d+)", "which tab")[1]
    found = view.all(name, CLICKABLE)
    if not found:
        raise Gap(f'no tab "{name}" in valet\'s text')
    links = [e for e in found if e.role == "link"]
    yield click((links or found)[0])


@solver("click-menu")
def click_menu(view: View) -> Plan:
    path = view.instruction(r"Select ([^\n.]+>[^\n.]+|\S+)$", "menu path")[1].split(">")
    parent = None
    for name in (n.strip() for n in path):
        item = view.all(name, CLICKABLE)
        if not item:
            shown = f' after hovering "{parent}"' if parent else ""
            raise Gap(f'menu item "{name}" is not in valet\'s text{shown}')
        if name == path[-1].strip():
            yield click(item[0])
            return
        view = yield "hover", {"element": item[0].id}
        parent = name


@solver("click-collapsible")
def click_collapsible(view: View) -> Plan:
    view.instruction(r"Expand the section", "expand a section")
    sections = view.all(lambda e: e.has("collapsed") and e.name.startswith("Section"))
    sections = sections or view.all(lambda e: e.has("collapsed"))
    if not sections:
        raise Gap("no collapsed section in valet's text")
    view = yield click(sections[0])
    yield click(view.find("Submit", ("button", "clickable")))


@solver("click-test-2")
def click_test_2(view: View) -> Plan:
    name = view.instruction(r"Click button (\w+)", "which button")[1]
    yield click(view.find(name, CLICKABLE))


@solver("enter-password")
def enter_password(view: View) -> Plan:
    password = view.instruction(r'password "([^"]*)" into both', "the password")[1]
    boxes = [e for e in text_fields(view) if e.says("type=password", "password")]
    if len(boxes) != 2:
        raise Gap(f"expected two password fields, valet lists {len(boxes)}")
    for box in boxes:
        if not box.value:  # else the person filled it when valet stopped for them
            view = yield type_into(box, password)
    yield click(submit_button(view))


@solver("enter-text-2")
def enter_text_2(view: View) -> Plan:
    found = view.instruction(r'Type "([^"]+)" in all (upper|lower) case', "the text")
    text = found[1].upper() if found[2] == "upper" else found[1].lower()
    view = yield type_into(view.find(lambda e: e.role in TEXT_ROLES, None, "text field"), text)
    yield click(submit_button(view))


@solver("enter-time")
def enter_time(view: View) -> Plan:
    found = view.instruction(r"Enter (\d+):(\d+) ?(AM|PM) as the time", "the time")
    hour = int(found[1]) % 12 + (12 if found[3] == "PM" else 0)
    field = view.find(lambda e: e.role in TEXT_ROLES, None, "time field")
    view = yield type_into(field, f"{hour:02d}:{found[2]}")
    yield click(submit_button(view))


@solver("focus-text-2")
def focus_text_2(view: View) -> Plan:
    nth = int(view.instruction(r"Focus into the (\d+)\w* input textbox", "which textbox")[1])
    boxes = text_fields(view)
    if len(boxes) < nth:
        raise Gap(f"valet lists {len(boxes)} text boxes, the task has at least {nth}")
    yield click(boxes[nth - 1])


@solver("find-word")
def find_word(view: View) -> Plan:
    nth = int(view.instruction(r"Find the (\d+)\w* word in the paragraph", "which word")[1])
    lines = view.lines
    start = next(i for i, line in enumerate(lines) if "word in the paragraph" in line)
    paragraph = next((line for line in lines[start + 1 :] if len(line.split()) >= nth), None)
    if paragraph is None:
        raise Gap("the paragraph is not in valet's text")
    word = re.sub(r"[^a-zA-Z]+", "", paragraph.split()[nth - 1])
    view = yield type_into(view.find(lambda e: e.role in TEXT_ROLES, None, "text field"), word)
    yield click(submit_button(view))


@solver("read-table")
def read_table(view: View) -> Plan:
    key = view.instruction(r"Enter the value of (.+?) into the text field", "which row")[1]
    row = re.compile(rf"^\|?\s*{re.escape(key)}\s*[|:]?\s+(.+?)\s*\|?$")
    values = [m[1] for line in view.lines if (m := row.match(line))]
    if not values:
        raise Gap(f'the table row "{key}" is not in valet\'s text')
    view = yield type_into(view.find(lambda e: e.role in TEXT_ROLES, None, "text field"), values[0])
    yield click(submit_button(view))


_PROPERTY = {"phone": r"^[\d-]{7,}$", "email": r"@", "address": r"\d+ \w"}


@solver("phone-book")
def phone_book(view: View) -> Plan:
    found = view.instruction(
        r"Find (.+?) in the contact book and click on their (phone|email|address)", "whom"
    )
    person, prop = found[1], found[2]
    for _ in range(15):
        for block in view.blocks(lambda line: line == person):
            values = [
                line.split(":", 1)[1].strip()
                for line in block.lines
                if line.casefold().startswith(f"{prop}:")
            ]
            targets = [view.find(v, CLICKABLE) for v in values if v] or [
                e for e in block.elements if re.search(_PROPERTY[prop], e.name)
            ]
            if not targets:
                raise Gap(f"{person}'s {prop} is not in valet's text")
            yield click(targets[0])
            return
        view = yield click(view.find(">", CLICKABLE, 'next page ">"'))
    raise Gap(f"{person} is on none of the pages valet showed")


_MENU = (
    "Caesar Salad",
    "Garlic bread",
    "Spinach and goat cheese dip",
    "Chicken wings",
    "Tofu and Vegetable stone pot",
    "Spicy Thai Peanut Chicken",
    "Grilled Pork Tenderloin",
    "Spaghetti and Meatballs",
    "Cheese wheel",
    "Chocolate cake",
    "Ice cream sundae",
    "Coconut mango tart",
)


def badges_of(view: View) -> dict[str, list[str]]:
    """Each menu item's badges (`[n] img "vegan"`): the image lines valet prints right before
    the item's name (valet places an image whose words are not in the page's text after the
    text read so far, which is the end of the item before). An image line that something else
    separates from a name (a course heading, the instruction) is left unread, not guessed."""
    found: dict[str, list[str]] = {}
    run: list[str] = []
    for token in view.tokens:
        if token.element is not None and token.element.role == "img":
            run.append(token.element.name)
            continue
        if token.text in _MENU:
            found[token.text] = run
        run = []
    return found


@solver("order-food")
def order_food(view: View) -> Plan:
    text = view.text()
    by_name = re.search(r"Order one of each item: (.+)", text)
    by_type = re.search(r"Order (\d+) items that are ([\w-]+)", text)
    blocks = {b.anchor: b for b in view.blocks(lambda line: line in _MENU)}

    def add(item: str) -> Element:
        block = blocks.get(item)
        adds = [e for e in block.elements if e.name == "+" or e.says("add")] if block else []
        if not adds:
            raise Gap(f'no "+" control printed among the words of "{item}"')
        return adds[0]

    if by_name is not None:
        for item in by_name[1].split(", "):
            view = yield click(add(item.strip()))
    elif by_type is not None:
        kind = by_type[2]
        items = [name for name, badges in badges_of(view).items() if kind in badges]
        if not items:
            raise Gap(f'no menu item is shown as "{kind}" in valet\'s text (the type icons)')
        for _ in range(int(by_type[1])):
            view = yield click(add(items[0]))
    else:
        raise Gap("the instruction (what to order) is not in valet's text")
    yield click(submit_button(view, "Order!"))


@solver("multi-layouts")
def multi_layouts(view: View) -> Plan:
    found = view.instruction(
        r"Search for (.+?) movies directed by (.+?) from year (\d+)", "the search"
    )
    for words, value in (
        (("genre",), found[1]),
        (("director",), found[2]),
        (("year", "released"), found[3]),
    ):
        view = yield type_into(labelled(view, *words), value)
    yield click(submit_button(view, "Submit", "Search", "Go!"))


def icon_of(view: View, owner: str, words: tuple[str, ...]) -> Element | None:
    """The icon (trash, star…) valet prints with `owner`'s item: in the item's block, or
    described as near the item's words."""
    for block in view.blocks(lambda line: line == owner or line.endswith(f" {owner}")):
        for element in block.elements:
            if element.says(*words):
                return element
    for element in view.elements:
        if element.says(*words) and f'near "{owner}' in element.name:
            return element
    return None


@solver("email-inbox-delete")
def email_inbox_delete(view: View) -> Plan:
    sender = view.instruction(r"Find the email by (.+?) and click the trash", "whose email")[1]
    icon = icon_of(view, sender, ("delete", "trash"))
    if icon is None:
        raise Gap(f"no trash icon tied to {sender}'s email in valet's text")
    yield click(icon)


@solver("email-inbox-star-reply")
def email_inbox_star_reply(view: View) -> Plan:
    found = view.instruction(
        r'Find the email by (.+?) and (click the star icon|reply to them with the text "(.*)")',
        "whose email and what to do",
    )
    sender = found[1]
    if found[3] is None:
        icon = icon_of(view, sender, ("star",))
        if icon is None:
            raise Gap(f"no star icon tied to {sender}'s email in valet's text")
        yield click(icon)
        return
    row = view.find(lambda e: e.name == sender or e.name.startswith(f"{sender} "), CLICKABLE)
    view = yield click(row)
    reply = view.find(lambda e: e.name.casefold() == "reply" or e.says("icon: reply"), CLICKABLE)
    view = yield click(reply)
    box = view.find(lambda e: e.role in TEXT_ROLES and not e.says("search"), None, "reply box")
    view = yield type_into(box, found[3])
    yield click(view.find(lambda e: e.says("send"), CLICKABLE, "send (icon)"))


@solver("social-media-some")
def social_media_some(view: View) -> Plan:
    found = view.instruction(
        r'Click the "(\w+)" button on (\d+) posts? by (@\S+) and then click Submit', "what to click"
    )
    action, amount, user = found[1].casefold(), int(found[2]), found[3]
    icons: list[Element] = []
    for block in view.blocks(lambda line: re.search(r"(^|\s)@[\w.]+$", line) is not None):
        if not block.anchor.endswith(f" {user}") and block.anchor != user:
            continue
        mine = [e for e in block.elements if e.says(action)]
        for line in block.lines:  # or: icons described as near this user's posts
            mine += [
                e
                for e in view.elements
                if e.says(action) and f'near "{line[:25]}' in e.name and e not in mine
            ]
        icons += mine
    if len(icons) < amount:
        raise Gap(
            f"valet's text ties {len(icons)} \"{action}\" icons to {user}'s posts, need {amount}"
        )
    for icon in icons[:amount]:
        view = yield click(icon)
    yield click(submit_button(view))


@solver("login-user-popup", tolerant=True)
def login_user_popup(view: View) -> Plan:
    found = view.instruction(r'username "([^"]*)" and the password "([^"]*)"', "the login")
    for words, value in ((("username",), found[1]), (("type=password",), found[2])):
        if labelled(view, *words).value:  # the person filled it when valet stopped for them
            continue
        for _ in range(2):
            view = yield type_into(labelled(view, *words), value)
            if "Exit to home page?" not in view.text():
                if view.failed:
                    raise Gap(f"typing the {words[0]} failed: {view.last_result[:200]}")
                break
            view = yield click(view.find("Cancel", CLICKABLE))
    yield click(submit_button(view, "OK", "Login"))
