"""The order total on a cart or checkout page, read by code (never by a model) so that the
person's spending limits (`MaxAmount`) apply to purchases made in the browser.

A labelled total wins: `Total`, `Order total`, `Grand total`, `Amount due`, `To pay` (and
`Total due`, `Total (incl. VAT)`…), with the amount on the same line or the next one. Only when
the page has no labelled total is the largest amount near the purchase button taken. Anything
ambiguous (no currency, several currencies) reads as `None`: the caller then fails closed.
"""

from __future__ import annotations

import re
from decimal import Decimal

from valet.browser._types import Element, Observation
from valet.policy._request import Money

_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
_NUMBER = (
    r"(?<![\d.,])"
    r"(?:\d{1,3}(?:[,.\u00a0\u202f' ]\d{3})+|\d+)"  # integer part, maybe with thousands groups
    r"(?:[.,]\d{1,2})?"  # decimal part
    r"(?![\d])"
)
_MONEY = re.compile(
    r"(?P<minus>[-−]\s*)?"
    rf"(?:(?P<sym1>[$€£])\s*(?P<n1>{_NUMBER})"
    rf"|(?P<code1>\b(?:USD|EUR|GBP)(?![a-z]))\s*(?P<n2>{_NUMBER})"
    rf"|(?P<n3>{_NUMBER})\s*(?:(?P<sym2>[$€£])|(?P<code2>(?:USD|EUR|GBP)\b)))",
    re.IGNORECASE,
)
_LABEL = re.compile(
    r"(?<!sub)(?<!sub-)(?<!sub )\b"
    r"(?P<label>(?:order|grand)\s+total|total\s+(?:due|to\s+pay|payable|amount)"
    r"|amount\s+(?:due|to\s+pay|payable)|to\s+pay|total)\b"
    r"(?:\s*\([^)]*\))?\s*[:：]?\s*",
    re.IGNORECASE,
)
"""A total's label; its amount follows on the same line or alone on the next one."""
_MARK = re.compile(r"^\[\d+\]\s*")
_NEAR_LINES = 6
"""How many lines around the purchase button count as near it (fallback only)."""


def parse_money(text: str) -> Money | None:
    """The first amount with a currency in `text` (`$1,234.56`, `1.234,56 €`, `EUR 12.00`)."""
    found = _amounts(text)
    return found[0] if found else None


def parse_amounts(text: str) -> list[Money]:
    """Every amount with a currency in `text`, in order."""
    return _amounts(text)


def read_total(observation: Observation, button: Element | None = None) -> Money | None:
    """The order total shown on the page, or `None` when it cannot be told.

    Labelled totals (text lines and element names) come first; a strongly labelled one
    (`Order total`, `Grand total`, `Amount due`…) beats a plain `Total`, and of several the
    largest is taken. Without any labelled total, the largest amount near `button` (in its own
    name or within a few lines of it) is taken. Mixed currencies read as `None`."""
    lines = [_MARK.sub("", line).strip() for line in observation.text.splitlines()]
    lines = [line for line in lines if line]
    labelled = _labelled(lines)
    for element in observation.elements:
        labelled.extend(_labelled([element.name]))
    if labelled:
        best = max(strength for strength, _ in labelled)
        return _largest([money for strength, money in labelled if strength == best])
    if button is None:
        return None
    return _largest(_amounts(button.name) + _near(observation.text, button))


def _labelled(lines: list[str]) -> list[tuple[int, Money]]:
    found: list[tuple[int, Money]] = []
    for index, line in enumerate(lines):
        for label in _LABEL.finditer(line):
            rest = line[label.end() :]
            if not rest and index + 1 < len(lines):
                rest = lines[index + 1]
            money = _MONEY.match(rest)
            value = _money(money) if money is not None and not money["minus"] else None
            if value is not None:
                strength = 1 if label["label"].lower() == "total" else 2
                found.append((strength, value))
    return found


def _near(text: str, button: Element) -> list[Money]:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    marker = f"[{button.id}]"
    at = next(
        (i for i, line in enumerate(lines) if line.startswith(marker) or line == button.name),
        None,
    )
    if at is None:
        return []
    found: list[Money] = []
    for line in lines[max(0, at - _NEAR_LINES) : at + _NEAR_LINES + 1]:
        found.extend(_amounts(_MARK.sub("", line)))
    return found


def _amounts(text: str) -> list[Money]:
    found: list[Money] = []
    for match in _MONEY.finditer(text):
        value = _money(match)
        if value is not None and not match["minus"]:
            found.append(value)
    return found


def _money(match: re.Match[str]) -> Money | None:
    number = match["n1"] or match["n2"] or match["n3"]
    mark = match["sym1"] or match["sym2"]
    code = match["code1"] or match["code2"]
    currency = _SYMBOLS[mark] if mark else (code or "").upper()
    if not number or not currency:
        return None
    return Money(_decimal(number), currency)


def _decimal(number: str) -> Decimal:
    """`1,234.56`, `1.234,56`, `1 234,56`, `12,5`, `1.234` (a thousand) → a `Decimal`."""
    decimals = re.search(r"[.,](\d{1,2})$", number)
    whole = number[: decimals.start()] if decimals else number
    digits = re.sub(r"\D", "", whole)
    return Decimal(f"{digits}.{decimals[1]}" if decimals else digits)


def _largest(found: list[Money]) -> Money | None:
    if not found or len({money.currency for money in found}) > 1:
        return None
    return max(found, key=lambda money: money.amount)
