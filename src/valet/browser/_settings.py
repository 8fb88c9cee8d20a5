"""Settings of a browser session."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
HEADLESS_SHELL = Path("/usr/bin/chromium-headless-shell")
"""Debian's `chromium-headless-shell`: Chromium's headless shell, without the browser's own
interface, so each context costs less (about 80 MB instead of 130 at 20 contexts) and each
step less CPU. Used for headless browsers when installed."""

DEFAULT_SENSITIVE_SITES: tuple[str, ...] = (
    "mail.*",
    "*.mail.*",
    "webmail.*",
    "outlook.*",
    "*.outlook.com",
    "*.proton.me",
    "*bank*",
    "paypal.com",
    "*.paypal.com",
    "admin.*",
    "*.admin.*",
    "console.*",
    "*.console.*",
    "portal.azure.com",
    "dashboard.stripe.com",
)
"""Host patterns (shell-style, `*` any characters) of sites whose traces should not outlive a
task: mail, banking and payments, admin consoles."""


class BrowserSettings(BaseModel):
    """How valet launches (or attaches to) its browser and how much of a page it shows."""

    model_config = ConfigDict(frozen=True)

    executable: Path | None = Field(
        default=None,
        description="Chromium binary. None: headless, /usr/bin/chromium-headless-shell when "
        "present; else /usr/bin/chromium when present; else Playwright's own.",
    )
    cdp_url: str | None = Field(
        default=None,
        description="Attach to a running browser over CDP (e.g. http://127.0.0.1:9222) "
        "instead of launching one; its first context is used.",
    )
    headless: bool = Field(default=True, description="Run without a visible window.")
    profile: str | None = Field(
        default=None,
        description="None: an isolated throwaway profile. A name: a persistent profile "
        "directory of that name under the profiles_dir given to BrowserSession.start.",
    )
    wipe_profile_after_sensitive: bool = Field(
        default=False,
        description="With a persistent profile: when the task visited a site matching "
        "sensitive_sites, wipe the profile (cookies, storage, cache, history) after the task.",
    )
    sensitive_sites: tuple[str, ...] = Field(
        default=DEFAULT_SENSITIVE_SITES,
        description="Host patterns (`mail.*`, `*bank*`, `admin.example.com`, `host:port`) "
        "that count as sensitive for wipe_profile_after_sensitive and watch_sensitive.",
    )
    watch_sensitive: bool = Field(
        default=True,
        description="Watch mode, where the person has a live view (valet serve): on a site "
        "matching sensitive_sites the agent acts only while someone watches its browser, "
        "and pauses until they open the live view. False: it goes on unwatched.",
    )
    viewport_width: int = Field(default=1280, ge=200, description="Viewport width in CSS px.")
    viewport_height: int = Field(default=900, ge=200, description="Viewport height in CSS px.")
    action_timeout_s: float = Field(
        default=5, gt=0, description="Longest wait for an element action (click, type, ...)."
    )
    navigation_timeout_s: float = Field(
        default=15, gt=0, description="Longest wait for a page load (goto, back, a click's load)."
    )
    max_elements: int = Field(
        default=400,
        ge=1,
        description="Most elements one observation collects per frame; the render may show "
        "fewer to fit max_observation_chars, and always says how many it left out.",
    )
    max_text_chars: int = Field(
        default=20000,
        ge=0,
        description="Most characters of visible page text read per frame (the view then keeps "
        "what is in view and nearest to it, within max_observation_chars).",
    )
    max_observation_chars: int = Field(
        default=8000, ge=500, description="Hard cap on the rendered observation's length."
    )
    max_read_chars: int = Field(
        default=20000, ge=500, description="Most characters of markdown that read_page returns."
    )
    download_max_bytes: int = Field(
        default=50_000_000, ge=1, description="Downloads larger than this are discarded."
    )
    dialog_limit: int = Field(
        default=20,
        ge=1,
        description="JavaScript dialogs tolerated within one step before the tab is replaced.",
    )
    settle_quiet_ms: int = Field(
        default=12,
        ge=0,
        description="After an action, wait until the DOM has been quiet this long (bounded).",
    )
    settle_max_ms: int = Field(
        default=400, ge=0, description="Upper bound of the post-action DOM-quiet wait."
    )
    settle_busy_max_ms: int = Field(
        default=1500,
        ge=0,
        description="After an action, wait up to this long for the timers (a debounced "
        "autocomplete) and fetches its input set in motion, before the DOM-quiet wait.",
    )
    observation_reuse_s: float = Field(
        default=1.0,
        ge=0,
        description="An action compares against the latest observation when it is younger "
        "than this; otherwise it observes the page first.",
    )


def chromium_executable(settings: BrowserSettings) -> Path | None:
    """The Chromium to launch for `settings`: its own `executable`; else, headless, the
    headless shell when installed; else /usr/bin/chromium when present; else None
    (Playwright's own)."""
    if settings.executable is not None:
        return settings.executable
    if settings.headless and HEADLESS_SHELL.exists():
        return HEADLESS_SHELL
    return DEFAULT_CHROMIUM if DEFAULT_CHROMIUM.exists() else None
