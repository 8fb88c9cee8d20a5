"""Fields whose content never appears in a stored screenshot: passwords and payment cards.

Every screenshot valet stores (the marked one a vision model sees each step, the agent's own
`screenshot`) is taken with these fields painted over (Playwright's `mask`), in the page and
in each of its frames.
"""

from __future__ import annotations

from playwright.async_api import Locator, Page

SENSITIVE_FIELDS = ", ".join(
    [
        "input[type=password i]",
        "[autocomplete^='cc-' i]",
        "[autocomplete*=' cc-' i]",
        *(
            f"input[{attr}*='{word}' i]"
            for attr in ("name", "id")
            for word in ("cardnumber", "card_number", "card-number", "ccnum", "cc-num", "cvc")
        ),
        "input[name*='cvv' i]",
        "input[name*='csc' i]",
        "input[id*='cvv' i]",
    ]
)
"""Password inputs, `autocomplete="cc-…"` fields, and inputs named like card numbers or codes."""


def sensitive_fields(page: Page) -> list[Locator]:
    """Locators of the sensitive fields in the page and all its frames (for `mask=`)."""
    return [frame.locator(SENSITIVE_FIELDS) for frame in page.frames]
