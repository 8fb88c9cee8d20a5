"""Reading the order total from a cart or checkout page (`read_total`), and the gateway using it
so that the person's `MaxAmount` applies to purchases made in the browser (no browser here)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.test_gateway_toolbox import MemoryToolbox, Page

from valet.browser import ByRole, Element, Observation
from valet.gateway import Approval, GatedToolbox, Gateway, ScriptedApprover
from valet.policy import (
    MaxAmount,
    Money,
    NavigationSettings,
    Policy,
    RuleSet,
    parse_money,
    read_total,
)
from valet.tools import Click

PLACE = Element(40, "button", "Place order")


def page(text: str, *elements: Element) -> Observation:
    return Observation(
        url="https://shop.example/checkout", title="", tabs=[], elements=list(elements), text=text
    )


def money(amount: str, currency: str) -> Money:
    return Money(Decimal(amount), currency)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1,234.56", money("1234.56", "USD")),
        ("1.234,56 €", money("1234.56", "EUR")),
        ("1 234,56 €", money("1234.56", "EUR")),
        ("1\u202f234,56\u00a0€", money("1234.56", "EUR")),
        ("EUR 12.00", money("12.00", "EUR")),
        ("12.00 EUR", money("12.00", "EUR")),
        ("£7", money("7", "GBP")),
        ("€ 12,5", money("12.5", "EUR")),
        ("1.234 €", money("1234", "EUR")),
        ("GBP1,000", money("1000", "GBP")),
        ("1234.5 USD", money("1234.5", "USD")),
    ],
)
def test_amount_formats(text: str, expected: Money) -> None:
    assert parse_money(text) == expected


@pytest.mark.parametrize("text", ["12.00", "-$5.00", "Europe 12", "order 1234", ""])
def test_no_amount_without_a_currency(text: str) -> None:
    assert parse_money(text) is None


US_REVIEW = """\
Review your order
Items
USB-C Cable 240 W, 2 m 5 $124.95
Subtotal
$124.95
Shipping
$4.99
Estimated tax
$10.31
Order total
$140.25
[40] Place order
By placing your order you agree to Voltline's terms of sale."""

EU_CHECKOUT = """\
Warenkorb
2 × Kopfhörer 199,99 €
Zwischensumme: 399,98 €
Versand: 4,90 €
Total (inkl. MwSt.): 404,88 €
[40] Place order"""

FR_CART = """\
Sous-total 1 199,00 €
Livraison offerte
Total à payer
Grand total : EUR 1.234,50
[40] Pay now"""


def test_us_review_page_total_beats_subtotal_and_lines() -> None:
    assert read_total(page(US_REVIEW, PLACE), PLACE) == money("140.25", "USD")


def test_eu_total_with_vat_note_on_the_same_line() -> None:
    assert read_total(page(EU_CHECKOUT, PLACE), PLACE) == money("404.88", "EUR")


def test_a_strong_label_beats_a_plain_total() -> None:
    text = "Total $10.00\nShipping $5.00\nGrand total: $15.00"
    assert read_total(page(text)) == money("15.00", "USD")
    assert read_total(page(FR_CART)) == money("1234.50", "EUR")


def test_labels_in_a_sentence_and_not_subtotals() -> None:
    assert read_total(page("Checkout. Total 129.90 €")) == money("129.90", "EUR")
    assert read_total(page("Sub-total $80.00\nSub total $80.00\nSubtotal: $80.00")) is None
    assert read_total(page("Total savings $5.00\nYou save 10%")) is None


@pytest.mark.parametrize(
    "text",
    ["Amount due\n£42.10", "To pay: £42.10", "Total due £42.10", "Amount due: GBP 42.10"],
)
def test_other_labels(text: str) -> None:
    assert read_total(page(text)) == money("42.10", "GBP")


def test_a_total_in_an_element_name() -> None:
    status = Element(7, "status", "Order total: $58.00")
    assert read_total(page("Checkout", status, PLACE), PLACE) == money("58.00", "USD")


def test_without_a_label_the_largest_amount_near_the_button() -> None:
    far = "\n".join(["Free shipping on orders over $500", *["…"] * 10])
    text = f"{far}\nCable $12.00\nShipping $4.99\n$16.99\n[40] Place order\nThanks"
    assert read_total(page(text, PLACE), PLACE) == money("16.99", "USD")


def test_an_amount_in_the_button_counts_when_no_label() -> None:
    pay = Element(9, "button", "Pay 1.299,00 €")
    assert read_total(page("Checkout", pay), pay) == money("1299.00", "EUR")


def test_no_total() -> None:
    assert read_total(page("Checkout\nShipping address\n[40] Place order", PLACE), PLACE) is None
    assert read_total(page("Cable $12.00")) is None  # no label and no button to be near
    assert read_total(page("Total\nCalculated at the next step", PLACE), PLACE) is None


def test_mixed_currencies_cannot_be_told() -> None:
    assert read_total(page("Order total $10.00\nOrder total 12,00 €")) is None


# The gateway: a purchase click carries the total the page shows.

SHOP = "http://127.0.0.1:8765"
CARD = [Element(1, "textbox", "Card number"), Element(2, "textbox", "CVC")]


def toolbox(
    text: str, approver: ScriptedApprover, *rules: MaxAmount, button: Element = PLACE
) -> GatedToolbox:
    pages = {f"{SHOP}/checkout": Page(f"{SHOP}/checkout", [*CARD, button], text)}
    inner = MemoryToolbox(pages, current=f"{SHOP}/checkout")
    policy = Policy(
        rules=RuleSet(rules=rules),
        navigation=NavigationSettings(allow_hosts=frozenset({"127.0.0.1:8765"})),
    )
    return GatedToolbox(inner, Gateway(rules=policy, approver=approver))


USD_100 = MaxAmount(limit=Decimal(100), currency="USD")
PLACE_ORDER = Click(element=ByRole(role="button", name="Place order"))


async def test_a_purchase_over_the_limit_is_denied() -> None:
    asked = ScriptedApprover.of([Approval.approved("alice")])
    gated = toolbox("Order total $140.25", asked, USD_100)
    await gated.observe()
    outcome = await gated.execute(PLACE_ORDER)
    assert not outcome.ok
    assert outcome.message.startswith("denied by rule person.max_amount#1: 140.25 USD is over")
    assert asked.requests == []


async def test_a_purchase_under_the_limit_is_asked_with_its_amount() -> None:
    asked = ScriptedApprover.of([Approval.approved("alice")])
    gated = toolbox("Order total $40.00", asked, USD_100)
    await gated.observe()
    assert (await gated.execute(PLACE_ORDER)).ok
    assert [r.decision.rule_id for r in asked.requests] == ["builtin.ask.purchase"]
    assert gated.gate.spent() == (money("40.00", "USD"),)


async def test_the_task_limit_adds_up_purchases() -> None:
    per_task = MaxAmount(limit=Decimal(100), currency="USD", per="task")
    asked = ScriptedApprover.of([Approval.approved("alice")] * 3)
    gated = toolbox("Order total $60.00", asked, per_task)
    await gated.observe()
    assert (await gated.execute(PLACE_ORDER)).ok
    second = await gated.execute(PLACE_ORDER)
    assert second.message.startswith("denied by rule person.max_amount#1: 120.00 USD is over")


async def test_an_unreadable_total_asks_when_a_limit_exists() -> None:
    asked = ScriptedApprover()  # declines
    gated = toolbox("Checkout\nTotal\nCalculated later", asked, USD_100)
    await gated.observe()
    outcome = await gated.execute(PLACE_ORDER)
    assert not outcome.ok
    [request] = asked.requests
    assert request.decision.verdict == "ask"
    assert request.decision.rule_id == "gateway.amount_unread"
    assert "could not read the order total" in request.decision.reason


async def test_an_unreadable_total_without_a_limit_is_the_usual_ask() -> None:
    asked = ScriptedApprover()
    gated = toolbox("Checkout", asked)
    await gated.observe()
    await gated.execute(PLACE_ORDER)
    assert [r.decision.rule_id for r in asked.requests] == ["builtin.ask.purchase"]


async def test_a_continue_with_card_fields_carries_the_total() -> None:
    asked = ScriptedApprover()
    button = Element(40, "button", "Continue")
    gated = toolbox("Order total $140.25\n[40] Continue", asked, USD_100, button=button)
    await gated.observe()
    outcome = await gated.execute(Click(element=ByRole(role="button", name="Continue")))
    assert outcome.message.startswith("denied by rule person.max_amount#1: 140.25 USD")
