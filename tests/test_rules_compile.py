"""The person's plain-language limits: compiled to rules (patterns, or a model's structured
output validated by the rule types), kept as data, and enforced by code on the demo shop."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel
from tests._person import PlaysPerson, type_card
from tests._runs import run_script
from tests.test_gateway_amounts import CHECKOUT, DEAR, PLACE_ORDER, orders

from valet._rules_file import rules_from_toml, rules_to_toml, with_ids
from valet.agent import Finished
from valet.audit import KEY_ENV
from valet.effects import Effect
from valet.gateway import ScriptedApprover
from valet.policy import (
    AllowedRecipientDomains,
    AllowSites,
    DenySites,
    ForbidEffect,
    MaxAmount,
    Rule,
    RuleSet,
    Uncompiled,
    compile_instruction,
    compile_instructions,
    compile_with_model,
)
from valet.sites import SiteServer


def eur(limit: str, per: str = "purchase") -> MaxAmount:
    return MaxAmount(limit=Decimal(limit), currency="EUR", per=per)  # pyright: ignore[reportArgumentType]


COMPILES: list[tuple[str, tuple[Rule, ...]]] = [
    # amounts: symbols, codes, words, French number formats, per purchase or per task
    ("never spend more than 100 €", (eur("100"),)),
    ("Don't spend more than €100", (eur("100"),)),
    ("max 100 EUR per purchase", (eur("100"),)),
    ("spend at most $50", (MaxAmount(limit=Decimal(50), currency="USD"),)),
    ("no purchase over £20", (MaxAmount(limit=Decimal(20), currency="GBP"),)),
    ("never spend more than 20 euros", (eur("20"),)),
    ("ne jamais dépenser plus de 1 000,50 €", (eur("1000.50"),)),
    ("pas plus de 300 € au total", (eur("300", "task"),)),
    ("never spend more than 250 EUR in total for the task", (eur("250", "task"),)),
    ("budget 200 € pour la tâche", (eur("200", "task"),)),
    ("never spend more than 500 € a month", (eur("500", "month"),)),
    ("pas plus de 300 € par mois au total", (eur("300", "month"),)),
    ("no purchases over 50 CHF", (MaxAmount(limit=Decimal(50), currency="CHF"),)),
    # forbidden effects, everywhere, on a connector, on a site
    ("never delete anything", (ForbidEffect(effect=Effect.DELETE),)),
    (
        "never delete anything in my drive",
        (ForbidEffect(effect=Effect.DELETE, connectors=("drive",)),),
    ),
    (
        "ne jamais rien supprimer dans mon drive",
        (ForbidEffect(effect=Effect.DELETE, connectors=("drive",)),),
    ),
    ("never post on twitter.com", (ForbidEffect(effect=Effect.PUBLISH, sites=("twitter.com",)),)),
    (
        "ne publie jamais sur www.facebook.com",
        (ForbidEffect(effect=Effect.PUBLISH, sites=("www.facebook.com",)),),
    ),
    (
        "never buy anything on ebay.com",
        (ForbidEffect(effect=Effect.PURCHASE, sites=("ebay.com",)),),
    ),
    (
        "don't delete or share anything",
        (ForbidEffect(effect=Effect.DELETE), ForbidEffect(effect=Effect.SHARE)),
    ),
    (
        "never add anything to my calendar",
        (ForbidEffect(effect=Effect.CREATE, connectors=("calendar",)),),
    ),
    # site lists
    ("only use fnac.com and amazon.fr", (AllowSites(sites=("fnac.com", "amazon.fr")),)),
    ("n'utilise que fnac.com et amazon.fr", (AllowSites(sites=("fnac.com", "amazon.fr")),)),
    ("stay on https://www.fnac.com/", (AllowSites(sites=("www.fnac.com",)),)),
    ("never use casino.example", (DenySites(sites=("casino.example",)),)),
    (
        "avoid casino.example and bets.example",
        (DenySites(sites=("casino.example", "bets.example")),),
    ),
    ("ne va jamais sur casino.example", (DenySites(sites=("casino.example",)),)),
    # recipients
    (
        "never email anyone outside example.com",
        (AllowedRecipientDomains(domains=("example.com",)),),
    ),
    (
        "only send mail to people at example.com or @example.org",
        (AllowedRecipientDomains(domains=("example.com", "example.org")),),
    ),
    (
        "n'envoie jamais de mail en dehors de example.com",
        (AllowedRecipientDomains(domains=("example.com",)),),
    ),
    # several limits in one instruction
    (
        "never spend more than 100 € and never delete anything",
        (eur("100"), ForbidEffect(effect=Effect.DELETE)),
    ),
    (
        "only use fnac.com; never email anyone outside example.com",
        (AllowSites(sites=("fnac.com",)), AllowedRecipientDomains(domains=("example.com",))),
    ),
]


@pytest.mark.parametrize(("instruction", "rules"), COMPILES, ids=[c[0] for c in COMPILES])
def test_instructions_compile_to_rules(instruction: str, rules: tuple[Rule, ...]) -> None:
    compiled = compile_instruction(instruction)
    assert compiled.ok, compiled.uncompiled
    assert tuple(rule.model_copy(update={"note": ""}) for rule in compiled.rules) == rules
    assert all(rule.note == instruction for rule in compiled.rules)  # the source, kept


NOT_COMPILED: list[tuple[str, str]] = [
    ("be nice to people", "not a limit valet can enforce"),
    ("never spend more than 100", "no currency"),
    ("never spend more than 100 € per week", "not per day, week or year"),
    ("never spend more than 100 € or 200 € in total", "several amounts"),
    ("spend at least 10 €", "minimum"),
    ("never spend more than 100 € on amazon.fr", "one site only"),
    ("never delete anything in my notion", "does not know 'my notion'"),
    ("only buy on fnac.com", "cannot limit only purchase"),
    ("always ask me before sending", "already asks"),
    ("never email anyone outside", "names no domain"),
    ("   ", "empty"),
]


@pytest.mark.parametrize(("instruction", "why"), NOT_COMPILED, ids=[c[0] for c in NOT_COMPILED])
def test_what_cannot_be_compiled_is_reported(instruction: str, why: str) -> None:
    compiled = compile_instruction(instruction)
    assert compiled.rules == ()
    (missing,) = compiled.uncompiled
    assert why in missing.why
    assert missing.instruction == instruction.strip() or not instruction.strip()


def test_nothing_is_silently_dropped() -> None:
    compiled = compile_instructions(
        ["never spend more than 100 €", "be nice to people", "never use casino.example"]
    )
    assert [rule.kind for rule in compiled.rules] == ["max_amount", "deny_sites"]
    assert [u.instruction for u in compiled.uncompiled] == ["be nice to people"]
    assert not compiled.ok
    half = compile_instruction("never delete anything; and be nice to people")
    assert [rule.kind for rule in half.rules] == ["forbid_effect"]
    assert half.uncompiled[0].instruction == "and be nice to people"


def test_compiled_rules_round_trip_as_data() -> None:
    compiled = compile_instructions(
        [
            "never spend more than 1 000,50 €",
            "pas plus de 300 € au total",
            "never delete anything in my drive",
            'only use fnac.com and amazon.fr — "the usual ones"',
            "never email anyone outside example.com",
            "ne va jamais sur casino.example",
        ]
    )
    assert compiled.ok, compiled.uncompiled
    rules = RuleSet(rules=with_ids(RuleSet(), compiled.rules))
    assert [rule.id for rule in rules.rules] == [
        "max-amount-1",
        "max-amount-2",
        "forbid-effect-1",
        "allow-sites-1",
        "allowed-recipient-domains-1",
        "deny-sites-1",
    ]
    assert rules_from_toml(rules_to_toml(rules)) == rules
    assert RuleSet.from_json(rules.to_json()) == rules
    assert RuleSet.from_yaml(rules.to_yaml()) == rules
    assert rules.rules[3].note == 'only use fnac.com and amazon.fr — "the usual ones"'


def _answer(args: dict[str, Any]) -> FunctionModel:
    def reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    return FunctionModel(reply)


async def test_a_model_can_propose_typed_rules() -> None:
    instruction = "keep my online shopping under a hundred euros a go"
    assert not compile_instruction(instruction).ok  # the patterns do not know this phrasing
    model = _answer(
        {"rules": [{"kind": "max_amount", "limit": "100", "currency": "EUR", "note": "x"}]}
    )
    compiled = await compile_with_model([instruction], model)
    assert compiled.ok
    assert compiled.rules == (
        MaxAmount(limit=Decimal(100), currency="EUR", note=instruction),
    )  # the person's words are the note, whatever the model wrote


async def test_a_model_answer_is_validated_by_the_rule_types() -> None:
    bad = _answer({"rules": [{"kind": "max_amount", "limit": "-5", "currency": "EUR"}]})
    compiled = await compile_with_model(["spend nothing, or less"], bad)
    assert compiled.rules == ()
    (missing,) = compiled.uncompiled
    assert missing.instruction == "spend nothing, or less"
    assert "not valid rules" in missing.why


async def test_a_model_may_say_no_rule_fits() -> None:
    model = TestModel(custom_output_args={"rules": [], "why_not": "politeness is not a limit"})
    compiled = await compile_with_model(["be nice to people"], model)
    assert compiled.uncompiled == (Uncompiled("be nice to people", "politeness is not a limit"),)


@pytest.fixture
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.mark.usefixtures("_no_env_key")
async def test_a_compiled_limit_is_enforced_on_the_demo_shop(home: Path, sites: SiteServer) -> None:
    compiled = compile_instruction("never spend more than $100")
    rules = RuleSet(rules=with_ids(RuleSet(), compiled.rules))
    (rule,) = rules.rules
    before = orders(sites)
    approver = ScriptedApprover()
    run = await run_script(
        home,
        sites,
        [*DEAR, *CHECKOUT, *PLACE_ORDER, {"done": "finished"}],
        rules=rules,
        approver=approver,
        person=PlaysPerson(type_card),  # types the card when valet stops for it
        task="Buy five 240 W cables",
    )
    assert isinstance(run.end, Finished)
    review = next(s for s in run.steps if "Review order" in s["action_text"])
    assert not review["ok"]
    assert review["result"].startswith(
        f"denied by rule {rule.id}: 129.94 USD is over your limit of 100 USD in one purchase"
    )
    assert approver.requests == []  # denied outright, never asked
    assert orders(sites) == before


@pytest.mark.usefixtures("_no_env_key")
async def test_a_euro_limit_on_a_dollar_shop_is_asked_not_guessed(
    home: Path, sites: SiteServer
) -> None:
    compiled = compile_instruction("never spend more than 100 €")
    rules = RuleSet(rules=with_ids(RuleSet(), compiled.rules))
    before = orders(sites)
    approver = ScriptedApprover()  # declines
    run = await run_script(
        home,
        sites,
        [*DEAR, *CHECKOUT, *PLACE_ORDER, {"done": "finished"}],
        rules=rules,
        approver=approver,
        person=PlaysPerson(type_card),  # types the card when valet stops for it
    )
    review = next(s for s in run.steps if "Review order" in s["action_text"])
    assert review["result"].startswith("declined by script (rule max-amount-1: the amount")
    asked = approver.requests[0]
    assert asked.decision.rule_id == "max-amount-1"
    assert "cannot be compared with your EUR limit" in asked.decision.reason
    assert asked.risk == "medium" and asked.grant == "submit on " + (asked.site or "?")
    assert orders(sites) == before
