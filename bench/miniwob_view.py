"""What the MiniWoB oracle knows of a page: valet's prompt text, parsed, and nothing else.

`View.parse` reads the page part of the prompt (see the format at the top of
`valet/browser/_render.py`): element lines `[id] role "name" …` (or a descriptor in
parentheses instead of the name) and lines of text, in the order valet prints them. Element
references inside the text (`[5] Tab #3`) are kept where they stand, so that a control can be
paired with the words printed before it (`blocks`), which is what a reader of a document-order
outline does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

_ELEMENT = re.compile(
    r"\*?\[(?P<id>\d+)\]\s+(?P<role>[a-z][\w-]*)"
    r'(?:\s+(?P<name>"(?:[^"\\]|\\.)*"|\((?:[^()]|\([^()]*\))*\)))?(?P<rest>[^\n]*)'
)
_REFERENCE = re.compile(r"^\*?\[(\d+)\]\s")
_HEADER = re.compile(
    r"^(url|title|tabs|dialogs|vault[^:]*|elements[^:]*|page[^:]*|text|above the fold|"
    r"in view|below the fold|in frame[^:]*|… not shown here)\s*:",
)
_VALUE = re.compile(r'="((?:[^"\\]|\\.)*)"')
_FOOTER = ("Last reward:", "Last 10 average:", "Time left:", "Episodes done:")


class Gap(Exception):
    """What the oracle could not find in valet's text (or do with valet's tools)."""


@dataclass(frozen=True)
class Element:
    id: int
    role: str
    name: str
    """The accessible name, unquoted; or the descriptor in parentheses, as shown."""
    rest: str
    """Value, states and hints after the name."""

    @property
    def value(self) -> str | None:
        found = _VALUE.search(self.rest)
        return None if found is None else found.group(1).replace('\\"', '"')

    @property
    def line(self) -> str:
        return f"[{self.id}] {self.role} {self.name}{self.rest}".strip()

    def has(self, state: str) -> bool:
        return re.search(rf"(?<![\w-]){re.escape(state)}(?![\w-])", self.rest) is not None

    def says(self, *words: str) -> bool:
        """Whether the name, descriptor or hints mention any of `words` (case-insensitive)."""
        text = f"{self.name} {self.rest}".casefold()
        return any(word.casefold() in text for word in words)


@dataclass(frozen=True)
class Token:
    text: str = ""
    element: Element | None = None


@dataclass
class Block:
    """The words and controls valet prints from one anchor line up to the next."""

    anchor: str
    lines: list[str] = field(default_factory=lambda: list[str]())
    elements: list[Element] = field(default_factory=lambda: list[Element]())


@dataclass
class View:
    """One prompt, parsed."""

    prompt: str
    page: str = ""
    elements: list[Element] = field(default_factory=lambda: list[Element]())
    tokens: list[Token] = field(default_factory=lambda: list[Token]())
    last_result: str = ""
    tools: dict[str, dict[str, Any]] = field(default_factory=lambda: dict[str, dict[str, Any]]())
    """The tools valet offers, each with its JSON schema (what the model is given)."""

    @classmethod
    def parse(cls, prompt: str, tools: dict[str, dict[str, Any]] | None = None) -> View:
        view = cls(prompt, tools=tools or {})
        head, _, page = prompt.partition("# Current page\n")
        view.page = page.rsplit("\nChoose the next action.", 1)[0]
        view.last_result = head.partition("# Last action result\n")[2].strip()
        known: dict[int, Element] = {}
        for raw in view.page.splitlines():
            line = raw.strip()
            if not line or _HEADER.match(line) or line.startswith(_FOOTER):
                continue
            found = list(_ELEMENT.finditer(line))
            if found:
                for match in found:
                    element = known.get(int(match.group("id"))) or _element(match)
                    if element.id not in known:
                        known[element.id] = element
                        view.elements.append(element)
                    view.tokens.append(Token(element=element))
                rest = _ELEMENT.sub(" ", line).strip(" -|")
                if rest:
                    view.tokens.append(Token(text=rest))
            elif (ref := _REFERENCE.match(line)) and int(ref.group(1)) in known:
                view.tokens.append(Token(element=known[int(ref.group(1))]))
            else:
                view.tokens.append(Token(text=line))
        return view

    @property
    def failed(self) -> bool:
        return self.last_result.startswith("FAILED")

    @property
    def lines(self) -> list[str]:
        return [t.text for t in self.tokens if t.text]

    def text(self) -> str:
        return "\n".join(self.lines)

    def instruction(self, pattern: str, what: str) -> re.Match[str]:
        """The task's instruction (MiniWoB's query), found in the page's words."""
        found = re.search(pattern, self.text())
        if found is None:
            raise Gap(f"the instruction ({what}) is not in valet's text")
        return found

    def all(
        self, name: str | Callable[[Element], bool], roles: tuple[str, ...] | None = None
    ) -> list[Element]:
        def match(element: Element) -> bool:
            if isinstance(name, str):
                return element.name.casefold() == name.casefold()
            return name(element)

        return [e for e in self.elements if match(e) and (roles is None or e.role in roles)]

    def find(
        self,
        name: str | Callable[[Element], bool],
        roles: tuple[str, ...] | None = None,
        what: str = "",
    ) -> Element:
        """The first element that matches, or a `Gap` saying what was looked for."""
        for element in self.all(name, roles):
            return element
        shown = f'"{name}"' if isinstance(name, str) else what
        kinds = "/".join(roles) if roles and len(roles) <= 2 else "control"
        raise Gap(f"no {kinds} {shown} in valet's text")

    def takes(self, tool: str, *args: str) -> str | None:
        """The first of `args` that valet's `tool` takes, if any."""
        known = arguments(self.tools, tool) or set()
        return next((arg for arg in args if arg in known), None)

    def blocks(self, is_anchor: Callable[[str], bool]) -> list[Block]:
        """The page cut at each line of text that `is_anchor` accepts."""
        found: list[Block] = []
        for token in self.tokens:
            if token.text and is_anchor(token.text):
                found.append(Block(token.text))
            elif found and token.element is not None:
                found[-1].elements.append(token.element)
            elif found:
                found[-1].lines.append(token.text)
        return found


def arguments(tools: dict[str, dict[str, Any]], kind: str) -> set[str] | None:
    """The arguments valet's action `kind` takes: from its own tool, or from its line in the
    one `act` tool's description (`press(keys, element?, times?): …`); None when valet has no
    such action."""
    if kind in tools:
        return set(tools[kind].get("properties", {}))
    act = tools.get("act")
    if act is None:
        return None
    line = re.search(rf"^{re.escape(kind)}\(([^)]*)\)", act.get("description", ""), re.M)
    if line is None:
        return None
    return {name.strip().rstrip("?") for name in line[1].split(",") if name.strip()}


def _element(match: re.Match[str]) -> Element:
    name = match.group("name") or ""
    if name.startswith('"'):
        name = name[1:-1].replace('\\"', '"')
    return Element(int(match.group("id")), match.group("role"), name, match.group("rest"))


Move = tuple[str, dict[str, Any]]
Plan = Generator[Move, View, None]
"""A task's solver: yields one tool call at a time and receives the next view."""

CLICKABLE = ("button", "link", "clickable", "menuitem", "tab", "option", "listitem", "img")


def click(element: Element) -> Move:
    return "click", {"element": element.id}


def type_into(element: Element, text: str) -> Move:
    return "type", {"element": element.id, "text": text}


def submit_button(view: View, *names: str) -> Element:
    """The button that ends the task (by its label; Submit unless told otherwise)."""
    wanted = names or ("Submit",)
    for name in wanted:
        for element in view.all(name, CLICKABLE):
            return element
    raise Gap(f"no button {' / '.join(repr(n) for n in wanted)} in valet's text")
