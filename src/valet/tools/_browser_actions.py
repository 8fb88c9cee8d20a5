"""The browser actions the model can take, as typed parameter models.

Each class is one tool the model sees: its name is `kind`, its description the docstring, its
parameters the fields. Each declares the effect it has on the world (`effect`), which the gateway
reads; a click's real effect (submit, purchase, delete…) is decided from the page, so it is
`UNKNOWN` here.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from valet.browser import ByRole
from valet.effects import Effect

ElementRef = Annotated[
    int | ByRole,
    Field(description="The element's [id] from the observation (or its role and name)."),
]


class Action(BaseModel):
    """Base of every action: frozen, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: ClassVar[str]
    effect: ClassVar[Effect]


class Goto(Action):
    """Open a URL in the current tab."""

    kind: ClassVar[str] = "goto"
    effect: ClassVar[Effect] = Effect.NAVIGATE
    url: str = Field(description="Absolute URL, e.g. https://example.com/page")


class PageCheck(BaseModel):
    """Where to look, after an interruption, to tell whether a click took effect."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    url: str = Field(description="The page that shows the result, e.g. your orders page.")
    text: str = Field(
        min_length=3, description="Text that page shows only once the click took effect."
    )


class Click(Action):
    """Click an element."""

    kind: ClassVar[str] = "click"
    effect: ClassVar[Effect] = Effect.UNKNOWN
    element: ElementRef
    check: PageCheck | None = Field(
        default=None,
        exclude_if=lambda check: check is None,  # asks and the audit log show only what was set
        description="Optional, for a click that buys, sends or deletes: where valet looks if "
        "it is interrupted (valet restarted mid-click) to tell whether it took effect.",
    )


class ClickAt(Action):
    """Click at viewport coordinates (CSS pixels from the top-left), for canvases and maps."""

    kind: ClassVar[str] = "click_at"
    effect: ClassVar[Effect] = Effect.UNKNOWN
    x: float = Field(ge=0)
    y: float = Field(ge=0)


class Type(Action):
    """Type text into a text field (replacing its content). Set submit to press Enter after."""

    kind: ClassVar[str] = "type"
    effect: ClassVar[Effect] = Effect.INPUT
    element: ElementRef
    text: str
    submit: bool = Field(default=False, description="Press Enter after typing.")


class Clear(Action):
    """Empty a text field."""

    kind: ClassVar[str] = "clear"
    effect: ClassVar[Effect] = Effect.INPUT
    element: ElementRef


class Select(Action):
    """Choose an option of a select/combobox by its visible label (or value)."""

    kind: ClassVar[str] = "select"
    effect: ClassVar[Effect] = Effect.INPUT
    element: ElementRef
    option: str


class Check(Action):
    """Tick (checked=true) or untick (checked=false) a checkbox, radio button or switch."""

    kind: ClassVar[str] = "check"
    effect: ClassVar[Effect] = Effect.INPUT
    element: ElementRef
    checked: bool = True


class Press(Action):
    """Press a key or shortcut, e.g. "Enter", "Escape", "Control+A", optionally on an element."""

    kind: ClassVar[str] = "press"
    effect: ClassVar[Effect] = Effect.INPUT
    keys: str
    element: ElementRef | None = None


class Hover(Action):
    """Move the mouse over an element (opens hover menus and tooltips)."""

    kind: ClassVar[str] = "hover"
    effect: ClassVar[Effect] = Effect.READ
    element: ElementRef


class Scroll(Action):
    """Scroll the page, or a scrollable element, by a number of screens."""

    kind: ClassVar[str] = "scroll"
    effect: ClassVar[Effect] = Effect.READ
    direction: Literal["up", "down", "left", "right"] = "down"
    amount: float = Field(default=1.0, gt=0, le=20, description="Screens to scroll.")
    element: ElementRef | None = None


class Drag(Action):
    """Drag one element and drop it onto another."""

    kind: ClassVar[str] = "drag"
    effect: ClassVar[Effect] = Effect.INPUT
    source: ElementRef
    target: ElementRef


class Upload(Action):
    """Attach a file (a name from the task's files folder) to a file input."""

    kind: ClassVar[str] = "upload"
    effect: ClassVar[Effect] = Effect.INPUT
    element: ElementRef
    file: str = Field(description="File name inside the task's files folder.")


class WaitFor(Action):
    """Wait until some text or an element appears (up to timeout seconds)."""

    kind: ClassVar[str] = "wait_for"
    effect: ClassVar[Effect] = Effect.READ
    text: str | None = None
    element: ElementRef | None = None
    timeout: float = Field(default=5.0, gt=0, le=30)


class Back(Action):
    """Go back in the tab's history."""

    kind: ClassVar[str] = "back"
    effect: ClassVar[Effect] = Effect.NAVIGATE


class Forward(Action):
    """Go forward in the tab's history."""

    kind: ClassVar[str] = "forward"
    effect: ClassVar[Effect] = Effect.NAVIGATE


class OpenTab(Action):
    """Open a new tab (optionally at a URL) and switch to it."""

    kind: ClassVar[str] = "open_tab"
    effect: ClassVar[Effect] = Effect.NAVIGATE
    url: str | None = None


class SwitchTab(Action):
    """Switch to the tab with this index."""

    kind: ClassVar[str] = "switch_tab"
    effect: ClassVar[Effect] = Effect.READ
    tab: int = Field(ge=0)


class CloseTab(Action):
    """Close a tab (the current one when no index is given)."""

    kind: ClassVar[str] = "close_tab"
    effect: ClassVar[Effect] = Effect.NAVIGATE
    tab: int | None = Field(default=None, ge=0)


class ReadPage(Action):
    """Read the whole page as markdown (longer than the observation's condensed text)."""

    kind: ClassVar[str] = "read_page"
    effect: ClassVar[Effect] = Effect.READ


class Screenshot(Action):
    """Save a screenshot of the page to the run's artifacts."""

    kind: ClassVar[str] = "screenshot"
    effect: ClassVar[Effect] = Effect.READ


class Download(Action):
    """Download a file from a link element or a URL into the run's artifacts."""

    kind: ClassVar[str] = "download"
    effect: ClassVar[Effect] = Effect.DOWNLOAD
    element: ElementRef | None = None
    url: str | None = None


class AskPerson(Action):
    """Ask the person something only they can answer (a choice between options, a missing
    detail, a preference) and wait for the answer. Never ask for passwords, card numbers or
    codes: pages that need them are handed to the person by valet itself."""

    kind: ClassVar[str] = "ask_person"
    effect: ClassVar[Effect] = Effect.READ
    question: str = Field(min_length=1, max_length=1000)


class Done(Action):
    """Finish the task: give the answer (what you did or found) and whether the task succeeded."""

    kind: ClassVar[str] = "done"
    effect: ClassVar[Effect] = Effect.READ
    answer: str
    success: bool = True


BROWSER_ACTIONS: tuple[type[Action], ...] = (
    Goto,
    Click,
    ClickAt,
    Type,
    Clear,
    Select,
    Check,
    Press,
    Hover,
    Scroll,
    Drag,
    Upload,
    WaitFor,
    Back,
    Forward,
    OpenTab,
    SwitchTab,
    CloseTab,
    ReadPage,
    Screenshot,
    Download,
    Done,
)
"""Every action the model may choose, `Done` last."""

ACTIONS_BY_KIND: dict[str, type[Action]] = {cls.kind: cls for cls in (*BROWSER_ACTIONS, AskPerson)}
"""Every action of valet's own, by kind: the browser's, and `ask_person` (offered to the model
only when someone can answer)."""
