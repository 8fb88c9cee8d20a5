"""The rule language: built-in rules and the person's rules, as data a person can read and edit.

A person's plain-language limits compile to these rules (by hand or with a model's help; the
rules themselves are enforced by code only). They round-trip as JSON or YAML::

    rules:
    - kind: max_amount           # never spend more than 100 € per purchase
      limit: "100"
      currency: EUR
      per: purchase              # or: task (the whole task), month (the calendar month)
    - kind: forbid_effect        # never delete anything in my drive
      effect: delete
      connectors: [drive]        # and/or sites: [drive.example.com]; none = everywhere
    - kind: require_approval     # always ask me before submitting a form on gov.example
      effect: submit
      sites: [gov.example]
    - kind: allow_sites          # only use fnac.com and amazon.fr
      sites: [fnac.com, amazon.fr]
    - kind: deny_sites
      sites: [casino.example]
    - kind: allowed_recipient_domains   # never email anyone outside example.com
      domains: [example.com]
    - kind: max_download         # never download a file over 20 MB
      bytes: 20000000
    - kind: allow_connectors     # only the mail toolset, and only search and read on drive
      connectors: [mail, drive.search, drive.read]
    - kind: allow_models         # only these models (checked when a task is requested)
      models: ["ollama:*", "openai:gpt-4o-mini"]

Every person rule denies what it forbids (the person's limits are not negotiable in the moment;
they are edited as data). A rule's `id` defaults to `person.<kind>#<position>`.
"""

from __future__ import annotations

import fnmatch
import json
from dataclasses import replace
from decimal import Decimal
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from valet.effects import Effect
from valet.policy._decision import Decision
from valet.policy._request import ActionRequest
from valet.policy._sites import matches_any


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = ""
    """Stable name for the audit log; defaults to `person.<kind>#<position>`."""
    note: str = ""
    """The person's own words this rule was compiled from."""
    set_by: Literal["", "organization"] = ""
    """Who set it when not the person: their organization's admins (each refusal says so;
    its id defaults to `org.<kind>#<position>`)."""


class MaxAmount(_Rule):
    """Deny moving more than `limit` in one action (`per: purchase`), in one task (`per: task`)
    or in a calendar month (`per: month`: everything the person's tasks paid this month, in
    their organization's time zone, this task included).

    Applies to every action that carries an amount (purchases, transfers). An amount in another
    currency cannot be compared and is asked about.
    """

    kind: Literal["max_amount"] = "max_amount"
    limit: Decimal = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)
    per: Literal["purchase", "task", "month"] = "purchase"

    def check(self, request: ActionRequest, rule_id: str) -> Decision | None:
        amount = request.amount
        if amount is None:
            return None
        currency = self.currency.upper()
        if amount.currency.upper() != currency:
            return Decision.ask(
                rule_id, f"the amount {amount} cannot be compared with your {currency} limit"
            )
        before = {"purchase": (), "task": request.spent, "month": request.spent_month}[self.per]
        if before is None:
            return Decision.ask(
                rule_id,
                f"valet cannot tell what was spent this month against your {currency} limit",
            )
        total = amount.amount
        total += sum((m.amount for m in before if m.currency.upper() == currency), Decimal(0))
        if total > self.limit:
            where = _PER[self.per]
            return Decision.deny(
                rule_id,
                f"{total:f} {currency} is over your limit of {self.limit:f} {currency} {where}",
            )
        return None


_PER = {"purchase": "in one purchase", "task": "in this task", "month": "this month"}


class _EffectRule(_Rule):
    """A rule about one effect, everywhere or only on some sites and/or connectors."""

    effect: Effect
    sites: tuple[str, ...] = ()
    connectors: tuple[str, ...] = ()

    def where(self, request: ActionRequest) -> str | None:
        """Where the request falls under this rule ("" everywhere, " on x.com"), else None."""
        if request.effect != self.effect:
            return None
        if not self.sites and not self.connectors:
            return ""
        on_site = request.site is not None and matches_any(request.site, self.sites)
        on_connector = request.connector is not None and request.connector in self.connectors
        return f" on {request.site or request.connector}" if on_site or on_connector else None


class ForbidEffect(_EffectRule):
    """Deny an effect everywhere, or only on some sites and/or connectors."""

    kind: Literal["forbid_effect"] = "forbid_effect"

    def check(self, request: ActionRequest, rule_id: str) -> Decision | None:
        where = self.where(request)
        if where is None:
            return None
        return Decision.deny(rule_id, f"you forbade {self.effect.value}{where}")


class RequireApproval(_EffectRule):
    """Ask the person before an effect, everywhere or only on some sites and/or connectors,
    even where a standing grant or the request's own words would let it through."""

    kind: Literal["require_approval"] = "require_approval"

    def check(self, request: ActionRequest, rule_id: str) -> Decision | None:
        where = self.where(request)
        if where is None:
            return None
        return Decision.ask(rule_id, f"{self.effect.value}{where} needs your approval")


class AllowSites(_Rule):
    """Deny acting on any site outside `sites`."""

    kind: Literal["allow_sites"] = "allow_sites"
    sites: tuple[str, ...] = Field(min_length=1)

    def check(self, request: ActionRequest, rule_id: str) -> Decision | None:
        if request.site is None or matches_any(request.site, self.sites):
            return None
        return Decision.deny(
            rule_id, f"{request.site} is not one of your sites ({', '.join(self.sites)})"
        )


class DenySites(_Rule):
    """Deny acting on any of `sites`."""

    kind: Literal["deny_sites"] = "deny_sites"
    sites: tuple[str, ...] = Field(min_length=1)

    def check(self, request: ActionRequest, rule_id: str) -> Decision | None:
        if request.site is not None and matches_any(request.site, self.sites):
            return Decision.deny(rule_id, f"you blocked {request.site}")
        return None


class AllowConnectors(_Rule):
    """Deny every toolset operation (a connector's, an MCP server's) outside `connectors`: each
    entry is a toolset's name (`mail`: all its operations) or one operation of it
    (`drive.search`, or its tool name `drive_search`). The browser is not a toolset here: sites
    are ruled by `allow_sites` and `deny_sites`. A person's task does not even open a toolset
    such a rule leaves out entirely."""

    kind: Literal["allow_connectors"] = "allow_connectors"
    connectors: tuple[str, ...] = Field(min_length=1)

    def allows_toolset(self, toolset: str) -> bool:
        """Whether any operation of `toolset` may be used."""
        return any(entry.split(".", 1)[0] == toolset for entry in self.connectors)

    def check(self, request: ActionRequest, rule_id: str) -> Decision | None:
        toolset = request.connector
        if toolset is None or toolset == "browser":
            return None
        operation = request.tool.removeprefix(f"{toolset}_")
        allowed = {toolset, f"{toolset}.{operation}", request.tool}
        if allowed & set(self.connectors):
            return None
        return Decision.deny(
            rule_id,
            f"{request.tool} is not among the connectors you allow ({', '.join(self.connectors)})",
        )


class AllowModels(_Rule):
    """Refuse a task whose model is not one of `models` (`provider:model` patterns with `*`:
    `ollama:*`, `openai:gpt-4o*`). Checked when the task is requested, not per action."""

    kind: Literal["allow_models"] = "allow_models"
    models: tuple[str, ...] = Field(min_length=1)

    def allows(self, model: str) -> bool:
        return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.models)

    def check(self, request: ActionRequest, rule_id: str) -> Decision | None:
        return None  # a task's model, not an action: see `RuleSet.refuses_model`


class AllowedRecipientDomains(_Rule):
    """Deny sending or sharing to an e-mail address outside `domains` (subdomains included)."""

    kind: Literal["allowed_recipient_domains"] = "allowed_recipient_domains"
    domains: tuple[str, ...] = Field(min_length=1)

    def check(self, request: ActionRequest, rule_id: str) -> Decision | None:
        for recipient in request.recipients:
            _, at, domain = recipient.strip().rstrip(">").rpartition("@")
            if at and not matches_any(domain.lower(), self.domains):
                return Decision.deny(
                    rule_id,
                    f"{recipient} is outside the domains you allow ({', '.join(self.domains)})",
                )
        return None


DOWNLOAD_TOO_LARGE = "download.too_large"
"""The rule id of every download refused or removed for its size (the cap's own id is in the
reason)."""

DEFAULT_MAX_DOWNLOAD_BYTES = 100_000_000
"""valet's download cap when the person set none: 100 MB (10^8 bytes)."""


class MaxDownload(_Rule):
    """Deny downloading a file larger than `bytes`.

    valet's built-in default is 100 MB (100,000,000 bytes) when the person set no
    `max_download` rule; a person's rule replaces it (up or down), and with several the smallest
    wins. The gateway asks the server for the size before a download by URL (or by a link whose
    URL it can read) and denies it when the declared size is over; a file whose size the server
    does not declare is downloaded, then deleted if it turns out larger. Both are denied with
    rule id `download.too_large`.
    """

    kind: Literal["max_download"] = "max_download"
    bytes: int = Field(gt=0)

    def check(self, request: ActionRequest, rule_id: str) -> Decision | None:
        if request.effect is not Effect.DOWNLOAD or request.size_bytes is None:
            return None
        return self.over(request.size_bytes, rule_id)

    def over(self, size: int, rule_id: str) -> Decision | None:
        """The denial when a file of `size` bytes is over this cap (`rule_id`: the cap's own)."""
        if size <= self.bytes:
            return None
        whose = "valet's default" if rule_id.startswith("builtin.") else f"your rule {rule_id}"
        return Decision.deny(
            DOWNLOAD_TOO_LARGE,
            f"the file is {size:,} bytes, over the download cap of {self.bytes:,} bytes ({whose})",
        )


Rule = Annotated[
    MaxAmount
    | ForbidEffect
    | RequireApproval
    | AllowSites
    | DenySites
    | AllowConnectors
    | AllowModels
    | AllowedRecipientDomains
    | MaxDownload,
    Field(discriminator="kind"),
]
"""One person rule; `kind` says which."""


def explain(rule: Rule) -> str:
    """What a rule does, in one sentence."""
    match rule:
        case MaxAmount(per="task"):
            return f"deny spending more than {rule.limit:f} {rule.currency} in one task"
        case MaxAmount(per="month"):
            return f"deny spending more than {rule.limit:f} {rule.currency} in a calendar month"
        case MaxAmount():
            return f"deny spending more than {rule.limit:f} {rule.currency} in one purchase"
        case ForbidEffect():
            places = [*rule.sites, *(f"the {c} connector" for c in rule.connectors)]
            where = f" on {', '.join(places)}" if places else " anywhere"
            return f"deny {rule.effect.value}{where}"
        case RequireApproval():
            places = [*rule.sites, *(f"the {c} connector" for c in rule.connectors)]
            where = f" on {', '.join(places)}" if places else " anywhere"
            return f"ask before {rule.effect.value}{where}, whatever else allows it"
        case AllowSites():
            return f"deny acting on any site other than {', '.join(rule.sites)}"
        case DenySites():
            return f"deny acting on {', '.join(rule.sites)}"
        case AllowConnectors():
            return f"deny any connector or operation other than {', '.join(rule.connectors)}"
        case AllowModels():
            return f"refuse tasks on any model other than {', '.join(rule.models)}"
        case AllowedRecipientDomains():
            return (
                "deny sending or sharing to addresses outside "
                f"{', '.join(rule.domains)} (subdomains included)"
            )
        case MaxDownload():
            return f"deny downloading a file larger than {rule.bytes:,} bytes"


class RuleSet(BaseModel):
    """The person's rules, in order. Edit as data; round-trips through JSON and YAML."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: tuple[Rule, ...] = ()

    def check(self, request: ActionRequest) -> list[Decision]:
        found: list[Decision] = []
        for position, rule in enumerate(self.rules, start=1):
            owner = "org" if rule.set_by else "person"
            decision = rule.check(request, rule.id or f"{owner}.{rule.kind}#{position}")
            if decision is not None and rule.set_by:
                reason = f"{decision.reason} (set by your {rule.set_by})"
                decision = replace(decision, reason=reason)
            if decision is not None:
                found.append(decision)
        return found

    def refuses_model(self, model: str) -> str | None:
        """Why a task on `model` (`provider:model`) is refused by an `allow_models` rule (the
        first that leaves it out), or None."""
        for rule in self.rules:
            if isinstance(rule, AllowModels) and not rule.allows(model):
                whose = f" (set by your {rule.set_by})" if rule.set_by else ""
                return (
                    f"the model {model or '(none)'} is not allowed{whose}: choose one of "
                    f"{', '.join(rule.models)}"
                )
        return None

    def download_cap(self) -> tuple[MaxDownload, str] | None:
        """The person's smallest `max_download` rule and its id, if they set one."""
        caps = [
            (rule, rule.id or f"person.{rule.kind}#{position}")
            for position, rule in enumerate(self.rules, start=1)
            if isinstance(rule, MaxDownload)
        ]
        return min(caps, key=lambda cap: cap[0].bytes, default=None)

    def as_data(self) -> dict[str, object]:
        """Plain data, `kind` first in each rule and defaults left out (what a person edits)."""
        rules = [
            {"kind": rule.kind, **rule.model_dump(mode="json", exclude_defaults=True)}
            for rule in self.rules
        ]
        return {"rules": rules}

    def to_json(self) -> str:
        return json.dumps(self.as_data(), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> RuleSet:
        return cls.model_validate_json(text)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_data(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str) -> RuleSet:
        loaded: object = yaml.safe_load(text)
        return cls.model_validate(loaded if loaded is not None else {})


CONSEQUENTIAL: frozenset[Effect] = frozenset(
    {
        Effect.SEND,
        Effect.PURCHASE,
        Effect.DELETE,
        Effect.PUBLISH,
        Effect.SHARE,
        Effect.SUBMIT,
        Effect.EXECUTE,
        Effect.CREATE,
        Effect.UPDATE,
    }
)
"""Effects that change the world (or the person's data) in a way that may not be undone."""


class BuiltinRules(BaseModel):
    """valet's own rules: consequential effects ask first, harmless ones are allowed.

    An effect in neither set (and `unknown`) asks. The person can lift the ask for some effects
    for one task (`Scope.preapproved`); that never lifts a person rule, the scope or taint.
    Downloads are capped at `max_download` unless the person set their own `max_download`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_download: MaxDownload = MaxDownload(bytes=DEFAULT_MAX_DOWNLOAD_BYTES)
    """The download cap when the person set none (100 MB)."""

    ask: frozenset[Effect] = CONSEQUENTIAL
    allow: frozenset[Effect] = frozenset(
        {Effect.READ, Effect.NAVIGATE, Effect.INPUT, Effect.DOWNLOAD}
    )

    def check(self, effect: Effect, preapproved: frozenset[Effect]) -> Decision:
        if effect in self.ask:
            if effect in preapproved:
                return Decision.allow(
                    f"builtin.preapproved.{effect.value}",
                    f"you approved {effect.value} in advance for this task",
                )
            return Decision.ask(f"builtin.ask.{effect.value}", f"{effect.value} asks you first")
        if effect in self.allow and effect is not Effect.UNKNOWN:
            return Decision.allow(f"builtin.allow.{effect.value}", f"{effect.value} is allowed")
        return Decision.ask(
            "builtin.unknown", f"valet cannot tell what this {effect.value} action does"
        )
