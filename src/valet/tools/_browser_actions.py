"""The browser actions the model can take, as typed parameter models.

Each class is one tool the model sees: its name is `kind`, its description the docstring, its
parameters the fields. Each declares the effect it has on the world (`effect`), which the gateway
reads; a click's or a drag's real effect (submit, purchase, delete…) is decided from the page, so
it is `UNKNOWN` here.

Every model request carries these schemas, so docstrings and field descriptions are terse (the
system prompt explains ids and the page), and a `ByRole` reference, which scripted models and
saved workflows use, is accepted but not shown to the model.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from valet.browser import ByRole
from valet.effects import Effect

ElementRef = int | SkipJsonSchema[ByRole]
"""An element: its [id] in the observation (or, from scripts and workflows, its role and name;
the model is shown only the id, which the system prompt explains)."""

_MAX_PRESSES = 50
_MAX_WAIT_S = 10.0


class Action(BaseModel):
    """Base of every action: frozen, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ClassVar[str]
    effect: ClassVar[Effect]


def untitled(schema: dict[str, Any]) -> None:
    """A schema's title only repeats its tool's or field's name: not sent (requests are smaller)."""
    schema.pop("title", None)


class Point(BaseModel):
    """Viewport CSS pixels from the top-left."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=untitled)
    x: float = Field(ge=0)
    y: float = Field(ge=0)


class Goto(Action):
    """Open a URL."""

    kind: ClassVar[str] = "goto"
    effect: ClassVar[Effect] = Effect.NAVIGATE
    url: str


class PageCheck(BaseModel):
    """A page (url) that shows text once a click took effect."""

    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=untitled)
    url: str
    text: str = Field(min_length=3)


class Click(Action):
    """Click an element."""

    kind: ClassVar[str] = "click"
    effect: ClassVar[Effect] = Effect.UNKNOWN
    element: ElementRef
    check: PageCheck | None = Field(
        default=None,
        exclude_if=lambda check: check is None,  # asks and the audit log show only what was set
        description="For a click that buys, sends or deletes (looked at after a restart).",
    )


class ClickAt(Action):
    """Click a viewport point."""

    kind: ClassVar[str] = "click_at"
    effect: ClassVar[Effect] = Effect.UNKNOWN
    x: float = Field(ge=0)
    y: float = Field(ge=0)


class HoverAt(Action):
    """Move the mouse to a viewport point."""

    kind: ClassVar[str] = "hover_at"
    effect: ClassVar[Effect] = Effect.READ
    x: float = Field(ge=0)
    y: float = Field(ge=0)


class Type(Action):
    """Replace a field's text; submit presses Enter."""

    kind: ClassVar[str] = "type"
    effect: ClassVar[Effect] = Effect.INPUT
    element: ElementRef
    text: str
    submit: bool = Field(default=False, description="Press Enter after.")


class Clear(Action):
    """Empty a field."""

    kind: ClassVar[str] = "clear"
    effect: ClassVar[Effect] = Effect.INPUT
    element: ElementRef


class Select(Action):
    """Pick a <select> option by label or value (a list for a multi-select)."""

    kind: ClassVar[str] = "select"
    effect: ClassVar[Effect] = Effect.INPUT
    element: ElementRef
    option: str | list[str]


class Check(Action):
    """Tick or untick a checkbox, radio or switch."""

    kind: ClassVar[str] = "check"
    effect: ClassVar[Effect] = Effect.INPUT
    element: ElementRef
    checked: bool = True


class Press(Action):
    """Press a key or combo (Enter, ArrowDown, Control+A), up to 50 times."""

    kind: ClassVar[str] = "press"
    effect: ClassVar[Effect] = Effect.INPUT
    keys: str
    times: int = Field(default=1, ge=1, le=_MAX_PRESSES)
    element: ElementRef | SkipJsonSchema[None] = None


class Hover(Action):
    """Hover over an element."""

    kind: ClassVar[str] = "hover"
    effect: ClassVar[Effect] = Effect.READ
    element: ElementRef


class Scroll(Action):
    """Scroll the page or an element by screens."""

    kind: ClassVar[str] = "scroll"
    effect: ClassVar[Effect] = Effect.READ
    direction: Literal["up", "down", "left", "right"] = "down"
    amount: float = Field(default=1.0, gt=0, le=20)
    element: ElementRef | SkipJsonSchema[None] = None


class Drag(Action):
    """Drag from source to target, each an element or a point (sortable lists, sliders)."""

    kind: ClassVar[str] = "drag"
    effect: ClassVar[Effect] = Effect.UNKNOWN
    source: ElementRef | Point
    target: ElementRef | Point


class Upload(Action):
    """Attach a file from the task's files to a file input."""

    kind: ClassVar[str] = "upload"
    effect: ClassVar[Effect] = Effect.INPUT
    element: ElementRef
    file: str = Field(description="file name")


class Wait(Action):
    """Wait up to 10 seconds."""

    kind: ClassVar[str] = "wait"
    effect: ClassVar[Effect] = Effect.READ
    seconds: float = Field(gt=0, le=_MAX_WAIT_S)


class WaitFor(Action):
    """Wait for a text or an element, or (neither given) the page to settle."""

    kind: ClassVar[str] = "wait_for"
    effect: ClassVar[Effect] = Effect.READ
    text: str | SkipJsonSchema[None] = None
    element: ElementRef | SkipJsonSchema[None] = None
    timeout: float = Field(default=5.0, gt=0, le=30)


class Back(Action):
    """Go back."""

    kind: ClassVar[str] = "back"
    effect: ClassVar[Effect] = Effect.NAVIGATE


class Forward(Action):
    """Go forward."""

    kind: ClassVar[str] = "forward"
    effect: ClassVar[Effect] = Effect.NAVIGATE


class OpenTab(Action):
    """Open a tab (at url)."""

    kind: ClassVar[str] = "open_tab"
    effect: ClassVar[Effect] = Effect.NAVIGATE
    url: str | SkipJsonSchema[None] = None


class SwitchTab(Action):
    """Switch to a tab."""

    kind: ClassVar[str] = "switch_tab"
    effect: ClassVar[Effect] = Effect.READ
    tab: int = Field(ge=0)


class CloseTab(Action):
    """Close a tab (default: this one)."""

    kind: ClassVar[str] = "close_tab"
    effect: ClassVar[Effect] = Effect.NAVIGATE
    tab: Annotated[int, Field(ge=0)] | SkipJsonSchema[None] = None


class Find(Action):
    """Controls anywhere on the page matching a name, value or role."""

    kind: ClassVar[str] = "find"
    effect: ClassVar[Effect] = Effect.READ
    query: str = Field(min_length=1, max_length=200)


class ReadPage(Action):
    """Read the whole page as markdown."""

    kind: ClassVar[str] = "read_page"
    effect: ClassVar[Effect] = Effect.READ


class Screenshot(Action):
    """Save a screenshot."""

    kind: ClassVar[str] = "screenshot"
    effect: ClassVar[Effect] = Effect.READ


class Download(Action):
    """Save the file of a link or a url."""

    kind: ClassVar[str] = "download"
    effect: ClassVar[Effect] = Effect.DOWNLOAD
    element: ElementRef | SkipJsonSchema[None] = None
    url: str | SkipJsonSchema[None] = None


class AskPerson(Action):
    """Ask the person what only they can answer, and wait. Never ask for passwords, card
    numbers or codes."""

    kind: ClassVar[str] = "ask_person"
    effect: ClassVar[Effect] = Effect.READ
    question: str = Field(min_length=1, max_length=1000)


class Done(Action):
    """Finish with your answer (what you did or found); success=false if you could not."""

    kind: ClassVar[str] = "done"
    effect: ClassVar[Effect] = Effect.READ
    answer: str
    success: bool = True


BROWSER_ACTIONS: tuple[type[Action], ...] = (
    Goto,
    Click,
    ClickAt,
    HoverAt,
    Type,
    Clear,
    Select,
    Check,
    Press,
    Hover,
    Scroll,
    Drag,
    Upload,
    Wait,
    WaitFor,
    Back,
    Forward,
    OpenTab,
    SwitchTab,
    CloseTab,
    Find,
    ReadPage,
    Screenshot,
    Download,
    Done,
)
"""Every action the model may choose, `Done` last."""

ACTIONS_BY_KIND: dict[str, type[Action]] = {cls.kind: cls for cls in (*BROWSER_ACTIONS, AskPerson)}
"""Every action of valet's own, by kind: the browser's, and `ask_person` (offered to the model
only when someone can answer)."""
