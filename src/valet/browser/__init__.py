"""valet's browser: Chromium sessions, compact observations, effect-checked actions."""

from valet.browser._egress import Connection, EgressCheck, EgressProxy
from valet.browser._interception import DocumentCheck, DocumentKind, DocumentRequest
from valet.browser._masking import SENSITIVE_FIELDS
from valet.browser._pool import BrowserPool
from valet.browser._printing import print_pdf
from valet.browser._privacy import (
    Forgotten,
    forget_all,
    forget_site,
    is_sensitive,
    wipe_profile,
)
from valet.browser._render import render_observation
from valet.browser._rendering import Renderer
from valet.browser._screencast import Screencast, ScreencastSettings
from valet.browser._session import BrowserSession
from valet.browser._settings import DEFAULT_SENSITIVE_SITES, BrowserSettings
from valet.browser._types import (
    ActionOutcome,
    ByRole,
    Element,
    FieldFacts,
    FormFacts,
    FormTarget,
    Observation,
    Tab,
    Target,
    Widget,
    digest_of,
)

__all__ = [
    "DEFAULT_SENSITIVE_SITES",
    "SENSITIVE_FIELDS",
    "ActionOutcome",
    "BrowserPool",
    "BrowserSession",
    "BrowserSettings",
    "ByRole",
    "Connection",
    "DocumentCheck",
    "DocumentKind",
    "DocumentRequest",
    "EgressCheck",
    "EgressProxy",
    "Element",
    "FieldFacts",
    "Forgotten",
    "FormFacts",
    "FormTarget",
    "Observation",
    "Renderer",
    "Screencast",
    "ScreencastSettings",
    "Tab",
    "Target",
    "Widget",
    "digest_of",
    "forget_all",
    "forget_site",
    "is_sensitive",
    "print_pdf",
    "render_observation",
    "wipe_profile",
]
