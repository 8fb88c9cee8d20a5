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
from valet.policy._rules import BuiltinRules, MaxDownload, RuleSet
from valet.policy._scope import Scope


class Policy(BaseModel):
    """Everything that decides, as data: valet's built-in rules, the person's, navigation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    builtin: BuiltinRules = Field(default_factory=BuiltinRules)
    rules: RuleSet = Field(default_factory=RuleSet)
    navigation: NavigationSettings = Field(default_factory=NavigationSettings)

    def decisions(
        self, request: ActionRequest, scope: Scope, grants: Collection[Grant] = ()
    ) -> list[Decision]:
        """Every rule's opinion on `request`, the built-in rule first (after a person rule's
        ask). A `Grant` covering the request (the person's "allow for this site for this
        task") lifts the built-in ask only."""
        approved = scope.preapproved | approved_for(scope.grants or (), request)
        builtin = self.builtin.check(request.effect, approved)
        granted = next((grant for grant in grants if grant.covers(request)), None)
        if builtin.verdict == "ask" and granted is not None:
            builtin = Decision.allow(
                f"builtin.granted.{request.effect.value}",
                f"you allowed {granted} for this task",
            )
        person = self.rules.check(request)
        if self.rules.download_cap() is None:
            default = self.builtin.max_download.check(request, "builtin.max_download")
            person += [] if default is None else [default]
        # a person rule that asks (an amount it cannot compare) says why better than the
        # built-in ask, so it comes first and wins the tie between asks
        found = [d for d in person if d.verdict == "ask"]
        found.append(builtin)
        found.extend(d for d in person if d.verdict != "ask")
        out_of_scope = scope.check(request)
        if out_of_scope is not None:
            found.append(out_of_scope)
        outside_grant = None if scope.grants is None else check_grants(scope.grants, request)
        if outside_grant is not None:
            found.append(outside_grant)
        found.extend(_taint(request))
        if request.findings and request.effect is not Effect.READ:
            first = request.findings[0]
            found.append(
                Decision.ask(
                    f"injection.{first.kind}",
                    f"the content behind this action looks like injected instructions ({first})",
                )
            )
        return found

    def download_cap(self) -> tuple[MaxDownload, str]:
        """The download cap in force and its id: the person's smallest, else valet's default."""
        return self.rules.download_cap() or (self.builtin.max_download, "builtin.max_download")

    def evaluate(
        self, request: ActionRequest, scope: Scope, grants: Collection[Grant] = ()
    ) -> Decision:
        """The strictest of `decisions`: deny > ask > allow."""
        return strictest(self.decisions(request, scope, grants))


def _taint(request: ActionRequest) -> list[Decision]:
    found: list[Decision] = []
    for arg in request.tainted:
        sources = ", ".join(str(source) for source in arg.sources)
        seen = f': "{arg.excerpt}"' if arg.excerpt else ""
        found.append(
            Decision.ask(
                f"taint.{arg.name}",
                f"{arg.name} = {arg.value!r} comes from untrusted content ({sources}{seen}), "
                "not from your request",
            )
        )
    return found
