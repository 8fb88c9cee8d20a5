"""A form sent to another site, as the gateway judges it: the site it goes to and the values it
carries are the action's consequential arguments (provenance traces them), the ask names where
each value came from, and a password never leaves that way.

`GatedToolbox` uses it for a click or an Enter whose form goes elsewhere (`Submission`).
"""

from __future__ import annotations

from valet.gateway._gate import Taint
from valet.policy import Decision, Submission

CONSEQUENTIAL = ("to", "values")
"""The arguments provenance checks: where the form goes and what it carries."""

PASSWORD_RULE = "gateway.password_elsewhere"
_SHOWN_VALUES = 5


def sent(submission: Submission) -> dict[str, object]:
    """The arguments of a submission, as policy traces them and the person is shown them."""
    return {"to": submission.site or submission.url, "values": list(submission.carried)}


def password_leaves(submission: Submission, page_site: str | None) -> Decision | None:
    """The denial when a password the form holds would go to another site than the page's."""
    if not (submission.elsewhere and submission.password_filled):
        return None
    here = page_site or "this page"
    return Decision.deny(
        PASSWORD_RULE,
        f"this sign-in form would send its password to {submission.site}, not to {here}: "
        "valet never lets a password leave for another site",
    )


def carrying(taint: Taint) -> str:
    """What the form carries and where each value came from, for the ask's reason."""
    values = [origin for origin in taint.origins if origin.name == "values"]
    if not values:
        return ""
    shown = [f"{o.value!r} (from {o.source_words})" for o in values[:_SHOWN_VALUES]]
    more = len(values) - len(shown)
    return "carrying " + ", ".join(shown) + (f" and {more} more" if more > 0 else "")
