"""Placeholders the model writes instead of secrets: `{{vault:NAME.username}}`,
`{{vault:NAME.password}}`, `{{vault:NAME.totp}}` (the current one-time code).

`fill` replaces them with the real values, only for a page whose site the credential is bound
to, in a form that goes back to a bound site (its action and every submit button's
`formaction`); otherwise it says why not, as a rule id and a reason the gateway turns into a
denial.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from valet.vault._credential import Credential, Field_
from valet.vault._vault import Vault

PLACEHOLDER = re.compile(
    r"\{\{\s*vault:([A-Za-z0-9][A-Za-z0-9_\-]*)\.(username|password|totp)\s*\}\}"
)


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    field: Field_

    @property
    def text(self) -> str:
        return placeholder(self.name, self.field)


def placeholder(name: str, field: Field_) -> str:
    return "{{vault:" + f"{name}.{field}" + "}}"


def placeholders(text: str) -> list[Placeholder]:
    """The placeholders in `text`, in order (repeats kept)."""
    return [Placeholder(m.group(1), cast(Field_, m.group(2))) for m in PLACEHOLDER.finditer(text)]


def available(vault: Vault | None, url: str) -> list[str]:
    """The placeholders valet would fill on the page at `url`."""
    if vault is None:
        return []
    return [placeholder(c.name, f) for c in vault.for_page(url) for f in c.fields()]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a placeholder is not filled: `vault.unknown`, `vault.field`, `vault.domain`,
    `vault.form` or `vault.frame`."""

    rule_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Filled:
    text: str
    """The text with the real values."""
    values: dict[str, str]
    """Each value filled → the placeholder it came from (to hide it again in outputs)."""


def check(
    vault: Vault | None,
    text: str,
    url: str,
    *,
    in_frame: bool = False,
    sends_to: Sequence[str] = (),
) -> Refusal | None:
    """Why the placeholders of `text` may not be filled on the page at `url`, into a field
    whose form may be sent to `sends_to` (every URL it can go to), or None."""
    for found in placeholders(text):
        credential = vault.get(found.name) if vault is not None else None
        if credential is None:
            where = "there is no vault" if vault is None else "the vault has no such credential"
            return Refusal("vault.unknown", f"{found.text}: {where}")
        if found.field not in credential.fields():
            return Refusal("vault.field", f"{found.text}: the credential has no {found.field}")
        if not credential.bound_to(url):
            bound = ", ".join(credential.domains)
            return Refusal(
                "vault.domain",
                f"{found.text} is bound to {bound}, not to this page ({_origin(url)})",
            )
        elsewhere = next((to for to in sends_to if not credential.bound_to(to)), None)
        if elsewhere is not None:
            bound = ", ".join(credential.domains)
            return Refusal(
                "vault.form",
                f"{found.text}: this field's form sends what it holds to {_origin(elsewhere)}, "
                f"not to a site the credential is bound to ({bound}); valet fills it only into "
                "a form that goes back to that site",
            )
        if in_frame:
            return Refusal(
                "vault.frame",
                f"{found.text}: valet fills secrets only into the page's own document, "
                "not into a frame whose site it cannot check",
            )
    return None


def fill(vault: Vault, text: str, at: float | None = None) -> Filled:
    """Replace every placeholder of `text` (call `check` first)."""
    values: dict[str, str] = {}

    def real(match: re.Match[str]) -> str:
        credential: Credential | None = vault.get(match.group(1))
        if credential is None:
            return match.group(0)
        field = cast(Field_, match.group(2))
        value = credential.value(field, at)
        values[value] = placeholder(credential.name, field)
        return value

    return Filled(PLACEHOLDER.sub(real, text), values)


def _origin(url: str) -> str:
    head = url.split("?", 1)[0].split("#", 1)[0]
    return head if len(head) <= 80 else head[:79] + "…"
