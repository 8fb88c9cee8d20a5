"""The person's spending limit on real Chromium and the local demo shop: the order total is read
from the checkout page by code, so a cart over the limit cannot be bought."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from tests._person import PlaysPerson, type_card

from valet.agent import Finished
from valet.audit import KEY_ENV
from valet.gateway import Approval, ScriptedApprover, Spending
from valet.models import ScriptPlayer, parse_steps, scripted_model
from valet.policy import MaxAmount, RuleSet
from valet.record import RunStore
from valet.runtime import TaskSpec, run_task
from valet.server._accounts import Accounts
from valet.sites import SiteServer, SiteState
from valet.store import TaskStore

LIMIT = RuleSet(rules=(MaxAmount(id="max-100-usd", limit=Decimal(100), currency="USD"),))


def add(slug: str, quantity: int) -> list[Any]:
    return [
        {"goto": f"/shop/product/{slug}"},
        {"type": {"role": "spinbutton", "name": "Quantity", "text": str(quantity)}},
        {"click": {"role": "button", "name": "Add to cart"}},
        {"expect": {"text": "Added to cart"}},
    ]


CHECKOUT: list[Any] = [  # the demo's steps (src/valet/demo/shop.yaml), cart to review
    {"goto": "/shop/cart"},
    {"click": {"role": "link", "name": "Proceed to checkout"}},
    {"type": {"role": "textbox", "name": "Full name", "text": "Ada Lovelace"}},
    {"type": {"role": "textbox", "name": "Street address", "text": "12 Analytical Row"}},
    {"type": {"role": "textbox", "name": "City", "text": "London"}},
    {"type": {"role": "textbox", "name": "Postal code", "text": "NW1 2AB"}},
    {"select": {"role": "combobox", "name": "Country", "option": "United Kingdom"}},
    {"type": {"role": "textbox", "name": "Email", "text": "ada@example.com"}},
    {"check": {"role": "radio", "name": "Standard"}},
    {"click": {"role": "button", "name": "Continue to payment"}},
    # valet stops at the card form: the person types the card (`PlaysPerson(type_card)`)
    {"type": {"role": "textbox", "name": "Name on card", "text": "Ada Lovelace"}},
    {"click": {"role": "button", "name": "Review order"}},
]
PLACE_ORDER: list[Any] = [
    {"expect": {"element": {"role": "button", "name": "Place order"}}},
    {"click": {"role": "button", "name": "Place order"}},
]
CHEAP = add("usb-c-cable-1m-basic", 2)  # 2 × $5.99 + $4.99 shipping = $16.97
DEAR = add("usb-c-cable-240w-2m", 5)  # 5 × $24.99 + $4.99 shipping = $129.94


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


async def buy(
    home: Path,
    sites: SiteServer,
    script: list[Any],
    approver: ScriptedApprover,
    rules: RuleSet = LIMIT,
    spending: Spending | None = None,
) -> tuple[Finished, list[dict[str, Any]]]:
    spec = TaskSpec(task="Buy some cables", start_url=sites.url_for("/shop"), rules=rules)
    player = ScriptPlayer(parse_steps([*script, {"done": "finished"}]))
    person = PlaysPerson(type_card)
    result = await run_task(
        spec,
        scripted_model(player),
        home=home,
        model_info={"model": "scripted:test"},
        approver=approver,
        handover=person,
        on_session=person.attach,
        spending=spending,
    )
    assert person.reasons == [
        "the page asks for payment details (card number, expiry date and security code)"
    ]
    assert isinstance(result.end, Finished), result.end
    _, steps = RunStore(home / "runs").load(result.run_id)
    return result.end, steps


def orders(sites: SiteServer) -> set[str]:
    state = sites.app.state.site
    assert isinstance(state, SiteState)
    return set(state.orders)


def step(steps: list[dict[str, Any]], label: str) -> dict[str, Any]:
    return next(s for s in steps if label in s["action_text"])


async def test_a_cart_over_the_limit_stops_before_the_card_is_sent(
    home: Path, sites: SiteServer
) -> None:
    before = orders(sites)
    approver = ScriptedApprover.of([Approval.approved("alice")] * 3)
    _, steps = await buy(home, sites, [*DEAR, *CHECKOUT, *PLACE_ORDER], approver)
    review = step(steps, "Review order")
    assert not review["ok"]
    assert review["result"].startswith(
        "denied by rule max-100-usd: 129.94 USD is over your limit of 100 USD in one purchase"
    )
    assert approver.requests == []  # a denial is not asked: the limit is not negotiable
    assert "/shop/checkout/payment" in review["url"]
    assert orders(sites) == before


async def test_a_cart_grown_after_the_review_cannot_be_bought(
    home: Path, sites: SiteServer
) -> None:
    before = orders(sites)
    approver = ScriptedApprover.of([Approval.approved("alice")] * 3)
    script = [*CHEAP, *CHECKOUT, *DEAR, {"goto": "/shop/checkout/review"}, *PLACE_ORDER]
    _, steps = await buy(home, sites, script, approver)
    assert step(steps, "Review order")["ok"]  # $16.97: asked (payment details) and approved
    place = step(steps, "Place order")
    assert not place["ok"]
    assert place["result"].startswith(
        "denied by rule max-100-usd: 141.92 USD is over your limit of 100 USD in one purchase"
    )
    assert [r.decision.rule_id for r in approver.requests] == ["builtin.ask.submit"]
    assert orders(sites) == before


async def test_a_cart_under_the_limit_is_asked_and_bought(home: Path, sites: SiteServer) -> None:
    before = orders(sites)
    approver = ScriptedApprover.of([Approval.approved("alice")] * 2)
    _, steps = await buy(home, sites, [*CHEAP, *CHECKOUT, *PLACE_ORDER], approver)
    place = step(steps, "Place order")
    assert place["ok"], place["result"]
    assert [r.decision.rule_id for r in approver.requests] == [
        "builtin.ask.submit",
        "builtin.ask.purchase",
    ]
    new = orders(sites) - before
    assert len(new) == 1
    assert steps[-1]["url"].endswith(f"/shop/order/{new.pop()}")


async def test_a_months_limit_counts_what_the_persons_earlier_tasks_paid(
    home: Path, sites: SiteServer
) -> None:
    """Payments are kept in the task database as they happen; the next task's review reads
    the month's sum (in the person's calendar month) before anything more is bought."""
    store = TaskStore(f"sqlite:///{home / 'valet.db'}")
    now = [datetime(2026, 12, 30, 12, tzinfo=UTC)]
    accounts = Accounts(store=store, clock=lambda: now[0])
    monthly = RuleSet(
        rules=(MaxAmount(id="month-30", limit=Decimal(30), currency="USD", per="month"),)
    )

    async def task(task_id: str) -> list[dict[str, Any]]:
        approver = ScriptedApprover.of([Approval.approved("alice")] * 2)
        spending = accounts.spending_for(task_id, "alice", accounts.account_of("alice"))
        script = [*CHEAP, *CHECKOUT, *PLACE_ORDER]
        return (await buy(home, sites, script, approver, monthly, spending))[1]

    before = orders(sites)
    assert step(await task("t1"), "Place order")["ok"]  # $16.97 this month
    assert len(orders(sites) - before) == 1
    review = step(await task("t2"), "Review order")  # $33.94 with the first
    assert review["result"].startswith(
        "denied by rule month-30: 33.94 USD is over your limit of 30 USD this month"
    )
    assert len(orders(sites) - before) == 1
    now[0] = datetime(2027, 1, 1, 9, tzinfo=UTC)  # a new month
    assert step(await task("t3"), "Place order")["ok"]
    assert len(orders(sites) - before) == 2
    store.close()
