"""valet's browser: Chromium sessions, compact observations, effect-checked actions."""

from valet.browser._masking import SENSITIVE_FIELDS
from valet.browser._privacy import Forgotten, forget_all, forget_site, wipe_profile
from valet.browser._render import render_observation
from valet.browser._session import BrowserSession
from valet.browser._settings import DEFAULT_SENSITIVE_SITES, BrowserSettings
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
    "DEFAULT_SENSITIVE_SITES",
    "SENSITIVE_FIELDS",
    "ByRole",
    "Element",
    "Observation",
    "Tab",
    "Target",
    "FieldFacts",
    "Forgotten",
    "digest_of",
    "render_observation",
]
    "forget_all",
    "forget_site",
    "wipe_profile",
