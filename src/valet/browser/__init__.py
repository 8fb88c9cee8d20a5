"""valet's browser: Chromium sessions, compact observations, effect-checked actions."""

from valet.browser._render import render_observation
from valet.browser._session import BrowserSession
from valet.browser._settings import BrowserSettings
from valet.browser._types import (
    ActionOutcome,
    ByRole,
    Element,
    Observation,
    Tab,
    Target,
    digest_of,
)

__all__ = [
    "ActionOutcome",
    "BrowserSession",
    "BrowserSettings",
    "ByRole",
    "Element",
    "Observation",
    "Tab",
    "Target",
    "digest_of",
    "render_observation",
]
