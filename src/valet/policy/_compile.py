"""The person's plain-language limits, compiled to rules of the rule language (`_rules.py`).

`compile_instructions` is a deterministic pattern compiler for common English and French
phrasings; what it cannot compile comes back as `Uncompiled(instruction, why)`, never dropped.
`compile_with_model` asks a model for the same typed rules (validated by the same rule types)
when the patterns do not understand an instruction. Either way the person confirms the rules,
and enforcement only ever runs the rules, never a model.

- `max_amount` (per purchase): never spend more than 100 € · max $50 per purchase ·
  pas plus de 1 000,50 € par achat; (`per: task`): no more than 300 EUR in total ·
  budget 200 € pour la tâche; (`per: month`): never spend more than 500 € a month ·
  pas plus de 300 € par mois
- `forbid_effect`: never delete anything · never delete anything in my drive (a connector) ·
  ne publie jamais sur x.com (a site)
- `allow_sites`: only use fnac.com and amazon.fr · n'utilise que fnac.com
- `deny_sites`: never use casino.example · avoid x.com · ne va jamais sur x.com
- `allowed_recipient_domains`: never email anyone outside example.com · only send mail to
  example.com

One instruction may hold several limits joined by `;`, a new line, a full stop or `and never`
(`et jamais`…); each part is compiled on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from valet.effects import Effect
from valet.policy._amounts import parse_amounts, parse_money
from valet.policy._request import Money
from valet.policy._rules import (
    AllowedRecipientDomains,
    AllowSites,
    DenySites,
    ForbidEffect,
    MaxAmount,
    Rule,
    RuleSet,
)
from valet.policy._words import CONNECTOR_WORDS, EFFECT_WORDS, effects_in, sites_in

if TYPE_CHECKING:  # pydantic-ai loads only when a model helps compile (it is slow to import)
    from pydantic_ai.models import Model


@dataclass(frozen=True, slots=True)
class Uncompiled:
    """An instruction (or part of one) that no rule expresses, and why."""

    instruction: str
    why: str

    def __str__(self) -> str:
        return f"{self.instruction!r}: {self.why}"


@dataclass(frozen=True, slots=True)
class Compiled:
    """Rules compiled from instructions (each rule's `note` is the instruction it came from),
    and what could not be compiled."""

    rules: tuple[Rule, ...] = ()
    uncompiled: tuple[Uncompiled, ...] = ()

    @property
    def ok(self) -> bool:
        """Everything compiled (and there was something to compile)."""
        return not self.uncompiled

    @property
    def ruleset(self) -> RuleSet:
        return RuleSet(rules=self.rules)

    def __add__(self, other: Compiled) -> Compiled:
        return Compiled(self.rules + other.rules, self.uncompiled + other.uncompiled)


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


_CLAUSES = _rx(
    r"\s*(?:[;\n]|\.(?=\s)|,?\s+(?:and|but|also|et|mais|ni)\s+(?=(?:never|don'?t|do\s+not|no\b|only"
    r"|always|jamais|ne\b|n['’]|ni\b|pas\b|uniquement|seulement)))\s*"
)
_NEGATION = _rx(
    r"(?<![\w'])(?:never|don['’]?t|dont|do\s+not|does\s+not|must\s*n['’]?o?t|should\s*n['’]?o?t|"
    r"may\s+not|can['’]?t|cannot|not|no|nothing|none|nobody|jamais|pas|rien|aucun\w*|"
    r"interdi\w*|forbid\w*|prohibit\w*|ni)(?![\w'])"
)
_ONLY = _rx(
    r"(?<![\w'])(?:only|just|solely|exclusively|stick\s+to|stay\s+on|keep\s+to|limit(?:ed)?\s+to|"
    r"restrict(?:ed)?\s+to|uniquement|seulement|exclusivement|que|qu['’]|reste\s+sur|"
    r"limit[ée]e?s?\s+[àa])(?![\w'])"
)
_OUTSIDE = _rx(
    r"(?<![\w'])(?:outside(?:\s+of)?|other\s+than|except|besides|beyond|not\s+(?:at|in|on|from)|"
    r"en\s+dehors\s+d\w*|hors\s+d\w*|autres?\s+que|sauf|à\s+part)(?![\w'])"
)
_RECIPIENTS = _rx(
    r"(?<![\w'])(?:anyone|anybody|someone|somebody|people|persons?|recipients?|address(?:es)?|"
    r"contacts?|write|writes|writing|wrote|personne|quiconque|quelqu['’]un|destinataires?|"
    r"adresses?|contacts?|[ée]cri\w*)(?![\w'])"
)
_DENY_SITES = _rx(
    r"(?<![\w'])(?:avoid|block|ban|blacklist|stay\s+away|keep\s+away|[ée]vite\w*|bloque\w*|"
    r"interdi\w*)(?![\w'])"
)
_VISIT = _rx(
    r"(?<![\w'])(?:use|using|visit\w*|go(?:es|ing)?|open\w*|brows\w*|access\w*|shop\w*|"
    r"utilis\w*|visit\w*|va|aller|ouvr\w*|navigu\w*|acc[ée]d\w*)(?![\w'])"
)
_LIMIT = _rx(
    r"(?<![\w'])(?:more\s+than|over|above|exceed\w*|at\s+most|up\s+to|max\w*|no\s+more|"
    r"budget|limit\w*|cap|ceiling|under|below|less\s+than|beyond|plus\s+d[e']|"
    r"au[\s-]del[àa]|d[ée]pass\w*|au\s+plus|jusqu['’]\s*[àa]|plafond\w*|moins\s+d[e'])(?![\w'])"
)
_AT_LEAST = _rx(r"(?<![\w'])(?:at\s+least|minimum|au\s+moins|min)(?![\w'])")
_PER_TASK = _rx(
    r"(?<![\w'])(?:(?:per|a|each|every|by|for\s+(?:the|this|a)(?:\s+whole)?)\s+task|in\s+total|"
    r"total|overall|altogether|all\s+together|in\s+all|combined|au\s+total|en\s+tout|"
    r"par\s+t[âa]che|pour\s+(?:la|cette|une)\s+t[âa]che|cumul\w*)(?![\w'])"
)
_PER_MONTH = _rx(
    r"(?<![\w'])(?:(?:per|a|each|every|in\s+a|this)\s+month|monthly|par\s+mois|"
    r"(?:chaque|ce)\s+mois|mensuel\w*)(?![\w'])"
)
_PER_PERIOD = _rx(
    r"(?<![\w'])(?:(?:per|a|each|every)\s+(?:day|week|month|year)|daily|weekly|monthly|yearly|"
    r"par\s+(?:jour|semaine|mois|an)|quotidien\w*|mensuel\w*|hebdomadaire\w*)(?![\w'])"
)
_ASK = _rx(r"(?<![\w'])(?:ask|confirm|check\s+with|demande\w*|confirm\w*)(?![\w'])")
_MY_PLACE = _rx(
    r"(?<![\w'])(?:(?P<at>in|on|from|within|inside|dans|sur)|to|into|[àa]|de)\s+"
    r"(?:my|mon|ma|mes)\s+(?P<place>\w+)"
)
"""`in my drive` names a place (unknown: not compiled); `to my calendar` only when known."""
_CURRENCY_WORDS = [
    (_rx(r"(\d)\s*(?:euros?)\b"), r"\1 €"),
    (_rx(r"(\d)\s*(?:dollars?|bucks)\b"), r"\1 $"),
    (_rx(r"(\d)\s*(?:pounds?|livres?(?:\s+sterling)?)\b"), r"\1 £"),
]
_OTHER_CODES = _rx(
    r"(?<![\w.,])(?P<n>\d[\d\u00a0\u202f' .,]*?)\s*(?P<code>CHF|CAD|AUD|JPY|SEK|NOK|DKK|PLN|CZK)\b"
    r"|\b(?P<code2>CHF|CAD|AUD|JPY|SEK|NOK|DKK|PLN|CZK)\s*(?P<n2>\d[\d\u00a0\u202f' .,]*\d|\d)"
)
_BARE_NUMBER = _rx(r"(?<![\w.:])\d+(?:[.,]\d+)?(?![\w.:])")


def compile_instruction(instruction: str) -> Compiled:
    """The rules one instruction (maybe several limits) compiles to, or why it does not."""
    text = " ".join(instruction.split())
    if not text:
        return Compiled(uncompiled=(Uncompiled(instruction, "the instruction is empty"),))
    found = Compiled()
    for clause in _clauses(text):
        result = _clause(clause)
        if isinstance(result, str):
            found += Compiled(uncompiled=(Uncompiled(clause, result),))
        else:
            notes = tuple(rule.model_copy(update={"note": text}) for rule in result)
            found += Compiled(rules=notes)
    return found


def compile_instructions(instructions: Iterable[str]) -> Compiled:
    """Every instruction compiled, in order."""
    found = Compiled()
    for instruction in instructions:
        found += compile_instruction(instruction)
    return found


def _clauses(text: str) -> list[str]:
    parts = (part.strip(" ,.") for part in _CLAUSES.split(text))
    return [part for part in parts if part]


def _clause(clause: str) -> tuple[Rule, ...] | str:
    """One limit → its rules, or a reason (str) why it is not understood."""
    money = _money(clause)
    if isinstance(money, str):
        return money
    if money is not None:
        return _amount(clause, money)
    if _ASK.search(clause) and not _NEGATION.search(clause):
        return (
            "valet already asks you before it sends, buys, deletes, publishes, shares or "
            "submits; your rules can forbid things, not add asks"
        )
    sites = sites_in(clause)
    effects = effects_in(clause)
    recipients = Effect.SEND in effects or Effect.SHARE in effects or _RECIPIENTS.search(clause)
    if recipients and (_OUTSIDE.search(clause) or _ONLY.search(clause)):
        return _recipients(clause)
    negated = _NEGATION.search(clause) is not None
    if _ONLY.search(clause) and not negated:
        return _allow_sites(clause, sites, effects)
    consequential = [e for e in effects if e not in (Effect.SUBMIT, Effect.DOWNLOAD)] or effects
    if consequential and negated:
        return _forbid(clause, consequential, sites)
    if sites and (negated or _DENY_SITES.search(clause)):
        return (DenySites(sites=tuple(sites)),)
    if sites or _VISIT.search(clause):
        return "it names no limit: say what valet must never do, or which sites it may only use"
    return (
        "it is not a limit valet can enforce: rules cover spending, sites, forbidden actions "
        "(send, buy, delete, publish, share…) and e-mail recipients"
    )


def _money(clause: str) -> Money | str | None:
    """The one amount in `clause` (None if none; a reason if it is ambiguous)."""
    text = clause
    for pattern, symbol in _CURRENCY_WORDS:
        text = pattern.sub(symbol, text)
    found = parse_amounts(text)
    for match in _OTHER_CODES.finditer(text):
        number = (match["n"] or match["n2"] or "").strip()
        code = (match["code"] or match["code2"] or "").upper()
        amount = parse_money(f"{number} €") if number else None
        if amount is not None:
            found.append(Money(amount.amount, code))
    amounts = list(dict.fromkeys(found))
    if len(amounts) > 1:
        shown = ", ".join(str(m) for m in amounts)
        return f"it names several amounts ({shown}): write one limit per instruction"
    if amounts:
        return amounts[0]
    if _LIMIT.search(clause) and _BARE_NUMBER.search(sites_free(clause)):
        spending = EFFECT_WORDS[Effect.PURCHASE].search(clause) or _rx(r"budget|co[uû]t").search(
            clause
        )
        if spending:
            return "the amount has no currency: write it as 100 €, €100, 100 EUR or $100"
    return None


def sites_free(text: str) -> str:
    """`text` without the sites it names (their digits are not amounts)."""
    for site in sites_in(text):
        text = re.sub(re.escape(site), " ", text, flags=re.IGNORECASE)
    return text


def _amount(clause: str, money: Money) -> tuple[Rule, ...] | str:
    if _AT_LEAST.search(clause):
        return "a minimum amount is not a limit valet enforces; write a maximum"
    if not _LIMIT.search(clause) and not _NEGATION.search(clause):
        return "it names an amount but no limit: write e.g. 'never spend more than 100 €'"
    month = _PER_MONTH.search(clause) is not None
    if _PER_PERIOD.search(clause) and not month:
        return "valet limits amounts per purchase, per task or per month, not per day, week or year"
    if sites_in(clause):
        return (
            "a spending limit on one site only is not in the rule language: write the limit "
            "without the site to apply it everywhere"
        )
    per = "month" if month else "task" if _PER_TASK.search(clause) else "purchase"
    return (MaxAmount(limit=money.amount, currency=money.currency, per=per),)


def _recipients(clause: str) -> tuple[Rule, ...] | str:
    domains = [site for site in sites_in(clause.replace("@", " ")) if ":" not in site]
    if not domains:
        return "it limits recipients but names no domain (e.g. example.com)"
    return (AllowedRecipientDomains(domains=tuple(domains)),)


def _allow_sites(clause: str, sites: list[str], effects: list[Effect]) -> tuple[Rule, ...] | str:
    if not sites:
        return "it says 'only' but names no site (e.g. fnac.com)"
    if effects:
        doing = ", ".join(e.value for e in effects)
        return (
            f"valet can keep every action to these sites ('only use {' and '.join(sites)}') "
            f"but cannot limit only {doing} to them"
        )
    return (AllowSites(sites=tuple(sites)),)


def _forbid(clause: str, effects: list[Effect], sites: list[str]) -> tuple[Rule, ...] | str:
    connectors = _connectors(clause)
    if isinstance(connectors, str):
        return connectors
    return tuple(
        ForbidEffect(effect=effect, sites=tuple(sites), connectors=connectors) for effect in effects
    )


def _connectors(clause: str) -> tuple[str, ...] | str:
    """Connectors named as a place (`in my drive`); a reason when the place is unknown."""
    found: list[str] = []
    for match in _MY_PLACE.finditer(clause):
        place = match["place"]
        name = next((n for n, words in CONNECTOR_WORDS.items() if words.fullmatch(place)), None)
        if name is None and not match["at"]:
            continue  # `to my boss`: a person, not a place
        if name is None:
            known = ", ".join(CONNECTOR_WORDS)
            return f"valet does not know 'my {place}': name a site or a connector ({known})"
        if name not in found:
            found.append(name)
    return tuple(found)


class ModelCompilation(BaseModel):
    """A model's answer for one instruction: the rules that express it, or why none does."""

    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(default_factory=list[Rule])
    why_not: str = ""
    """When no rule expresses the instruction: why, in one sentence."""


async def compile_with_model(instructions: Iterable[str], model: Model) -> Compiled:
    """Ask `model` for the rules of each instruction (one request per instruction).

    The answer is validated by the rule types themselves; an instruction the model gives no
    rule for, or whose answer is invalid, is `Uncompiled`. The model only proposes: the person
    confirms the rules, and enforcement never calls a model."""
    prompt = resources.files("valet.policy").joinpath("compile_prompt.md").read_text("utf-8")
    from pydantic_ai import Agent
    from pydantic_ai.exceptions import UnexpectedModelBehavior

    agent = Agent(model, output_type=ModelCompilation, instructions=prompt, retries=1)
    found = Compiled()
    for instruction in instructions:
        try:
            result = await agent.run(instruction)
        except (UnexpectedModelBehavior, ValidationError) as exc:
            why = f"the model's answer was not valid rules ({_first_line(str(exc))})"
            found += Compiled(uncompiled=(Uncompiled(instruction, why),))
            continue
        answer = result.output
        if not answer.rules:
            why = answer.why_not or "the model found no rule for it"
            found += Compiled(uncompiled=(Uncompiled(instruction, why),))
            continue
        update = {"note": instruction, "id": ""}
        rules = tuple(rule.model_copy(update=update) for rule in answer.rules)
        found += Compiled(rules=rules)
    return found


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "no detail"
