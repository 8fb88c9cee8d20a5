"""The policy: built-in rules, the person's rules, the task's scope, taint and injection findings,
combined so that the strictest wins. Pure: it decides on an `ActionRequest` and nothing else."""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, Field

from valet.effects import Effect
from valet.policy._decision import Decision, strictest
from valet.policy._grants import approved_for, check_grants
from valet.policy._navigation import NavigationSettings
from valet.policy._request import ActionRequest
from valet.policy._risk import Grant
from valet.policy._rules import CONSEQUENTIAL, BuiltinRules, MaxDownload, RuleSet
from valet.policy._scope import Scope
from valet.policy._taint import WEAK_FINDINGS


class Policy(BaseModel):
    """Everything that decides, as data: valet's built-in rules, the person's, navigation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    builtin: BuiltinRules = Field(default_factory=BuiltinRules)
    rules: RuleSet = Field(default_factory=RuleSet)
    navigation: NavigationSettings = Field(default_factory=NavigationSettings)

    def decisions(
        self, request: ActionRequest, scope: Scope, grants: Collection[Grant] = ()
    ) -> list[Decision]:
        """Every rule's opinion on `request`, most specific first: the scope and grants,
        provenance, the request's intent, injection findings, then a person rule's ask, the
        built-in rule and the person's other rules (the first wins a tie, so an ask names its
        most specific reason). A `Grant` covering the request (the person's "allow for this
        site for this task") and what the request states with the person's own values lift the
        built-in ask only."""
        approved = scope.preapproved | approved_for(scope.grants or (), request)
        # What the task may not do at all is said before where a value came from.
        found: list[Decision] = []
        out_of_scope = scope.check(request)
        if out_of_scope is not None:
            found.append(out_of_scope)
        outside_grant = None if scope.grants is None else check_grants(scope.grants, request)
        if outside_grant is not None:
            found.append(outside_grant)
        found.extend(_provenance(request))
        found.extend(_intent(request, approved))
        # Text that only asks its reader to do something ("please pay") warns at an ask
        # that happens anyway; it does not make one.
        strong = [f for f in request.findings if f.kind not in WEAK_FINDINGS]
        if strong and request.effect is not Effect.READ:
            first = strong[0]
            found.append(
                Decision.ask(
                    f"injection.{first.kind}",
                    f"the content behind this action looks like injected instructions ({first})",
                )
            )
        builtin = self.builtin.check(request.effect, approved)
        granted = next((grant for grant in grants if grant.covers(request)), None)
        if builtin.verdict == "ask" and granted is not None:
            builtin = Decision.allow(
                f"builtin.granted.{request.effect.value}",
                f"you allowed {granted} for this task",
            )
        if builtin.verdict == "ask" and request.preapproved:
            builtin = Decision.allow(
                f"intent.stated.{request.effect.value}",
                "your request asks for exactly this, with these values",
            )
        person = self.rules.check(request)
        if self.rules.download_cap() is None:
            default = self.builtin.max_download.check(request, "builtin.max_download")
            person += [] if default is None else [default]
        # a person rule that asks (an amount it cannot compare) says why better than the
        # built-in ask, so it comes before it and wins the tie between asks
        found.extend(d for d in person if d.verdict == "ask")
        found.append(builtin)
        found.extend(d for d in person if d.verdict != "ask")
        return found

    def download_cap(self) -> tuple[MaxDownload, str]:
        """The download cap in force and its id: the person's smallest, else valet's default."""
        return self.rules.download_cap() or (self.builtin.max_download, "builtin.max_download")

    def evaluate(
        self, request: ActionRequest, scope: Scope, grants: Collection[Grant] = ()
    ) -> Decision:
        """The strictest of `decisions`: deny > ask > allow."""
        return strictest(self.decisions(request, scope, grants))


def _provenance(request: ActionRequest) -> list[Decision]:
    """A consequential value copied from content the person did not point to is refused for
    an action that changes the world; for a read (a URL to fetch) it asks, and a value found
    only in instruction-like text is refused."""
    found: list[Decision] = []
    changes = request.effect in CONSEQUENTIAL or request.effect is Effect.UNKNOWN
    for arg in request.tainted:
        seen = f': "{arg.excerpt}"' if arg.excerpt else ""
        where = f"{arg.name} = {arg.value!r} comes from {arg.source_words}{seen}"
        if changes or arg.origin == "flagged":
            found.append(
                Decision.deny(
                    f"provenance.{arg.name}",
                    f"{where}, not from you; valet does not act on values it was handed by "
                    "what it reads (say it in your request, or add a rule, if you want this)",
                )
            )
        else:
            found.append(Decision.ask(f"taint.{arg.name}", f"{where}, not from your request"))
    for arg in request.carried:
        if changes and arg.untrusted:
            found.append(
                Decision.ask(
                    f"taint.carried.{arg.name}",
                    f"{arg.name} carries {arg.value!r}, which comes from {arg.source_words}, "
                    "not from your request",
                )
            )
    return found


def _intent(request: ActionRequest, approved: frozenset[Effect]) -> list[Decision]:
    """A consequential action the person's request does not state is refused; a web page
    opened at an address copied from what they pointed to, when they asked to open nothing
    on the web, is asked with a warning."""
    if request.beyond is not None and request.effect in CONSEQUENTIAL:
        return [
            Decision.deny(
                f"intent.count.{request.effect.value}",
                f"{request.beyond} ({request.tool}); only what you ask for is done (the content "
                "the agent read cannot add a payment: ask for another one if you want it)",
            )
        ]
    if request.stated is not False or request.effect in approved:
        return []
    if request.effect is Effect.NAVIGATE:
        return [
            Decision.ask(
                f"intent.navigate.{arg.name}",
                f"{arg.name} = {arg.value!r} comes from {arg.source_words}, and your request "
                "does not ask to open anything on the web",
            )
            for arg in request.origins
            if arg.origin == "designated"
        ]
    if request.effect not in CONSEQUENTIAL:  # an unknown effect is asked, whatever was said
        return []
    effect = request.effect.value
    if request.unnamed is not None:
        why = f"{request.tool} changes your {request.unnamed}, which your request never mentions"
    else:
        why = f"your request does not ask to {effect} anything ({request.tool})"
    return [
        Decision.deny(
            f"intent.{effect}",
            f"{why}; only what you ask for is done (the content the agent read cannot add it)",
        )
    ]
