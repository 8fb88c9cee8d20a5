"""Pure rules: what valet may do, decided by code the person can read. No I/O here.

- `Decision` (`allow | ask | deny`, rule id, reason) and `strictest` (deny > ask > allow).
- `Policy` = `BuiltinRules` + the person's `RuleSet` (the rule language: `MaxAmount`,
  `ForbidEffect`, `RequireApproval`, `AllowSites`, `DenySites`, `AllowConnectors`,
  `AllowModels`, `AllowedRecipientDomains`,
  `MaxDownload`) +
  `NavigationSettings`.
- `Scope`: the sites, connectors and operations of one task, fixed before it reads anything;
  `derive_scope` derives it from the task's words and settings.
- `ConnectorGrant` / `check_grants` / `standing_grants`: per task, the effects allowed on each
  connector (read-only by default); anything outside is denied (`grant.*`).
- `Risk` / `risk_of` / `Grant`: effects' risk tiers; the person's "allow on this site for this
  task" answers (medium and high risk only).
- `compile_instructions` / `compile_with_model`: the person's plain-language limits → rules,
  with `Uncompiled` for what could not be compiled (never dropped).
- `check_navigation`: the navigation guard over a URL and its resolved addresses.
- `classify_click` / `classify_enter` / `classify_drag`: a click's (an Enter's, a drag's)
  effect from the page's DOM facts; `submission_of`: where a form it submits goes and what
  it carries (`Submission`).
- `read_total` / `parse_money`: the order total on a cart or checkout page, for `MaxAmount`.
- `Provenance` / `Source` / `Trace`: where values came from (argument taint).
- `InjectionDetector` / `HeuristicDetector` / `Finding`: instruction-like text in content.
- `detect_stop` / `field_kind` / `Stop`: where the person must take over (login, payment,
  CAPTCHA, one-time code) and the fields only they fill, from the page's markup.
"""

from valet.policy._amounts import parse_money, read_total
from valet.policy._classify import (
    Classification,
    Submission,
    classify_click,
    classify_drag,
    classify_enter,
    find_element,
    has_payment_fields,
    submission_of,
)
from valet.policy._compile import (
    Compiled,
    Uncompiled,
    compile_instruction,
    compile_instructions,
    compile_with_model,
)
from valet.policy._decision import Decision, Verdict, strictest
from valet.policy._grants import (
    READ_ONLY,
    ConnectorGrant,
    check_grants,
    merge_grants,
    standing_grants,
)
from valet.policy._injection import Finding, HeuristicDetector, InjectionDetector
from valet.policy._intent import Intent
from valet.policy._navigation import NavigationSettings, check_navigation
from valet.policy._policy import Policy
from valet.policy._request import ActionRequest, Money, TaintedArg
from valet.policy._risk import GRANTABLE, RISK, Grant, Risk, risk_of
from valet.policy._rules import (
    CONSEQUENTIAL,
    AllowConnectors,
    AllowedRecipientDomains,
    AllowModels,
    AllowSites,
    BuiltinRules,
    DenySites,
    ForbidEffect,
    MaxAmount,
    MaxDownload,
    RequireApproval,
    Rule,
    RuleSet,
    explain,
)
from valet.policy._scope import Scope, derive_scope
from valet.policy._sites import site_matches, site_of
from valet.policy._stops import (
    STOP_KINDS,
    FieldKind,
    Stop,
    StopKind,
    captcha_of,
    combine,
    detect_stop,
    detect_stops,
    field_kind,
    is_vault_placeholder,
    sensitive_field,
)
from valet.policy._taint import (
    PERSON,
    TRUSTED,
    UNTRUSTED_ORIGINS,
    Origin,
    Provenance,
    Source,
    Trace,
    leaves,
)

__all__ = [
    "CONSEQUENTIAL",
    "GRANTABLE",
    "PERSON",
    "READ_ONLY",
    "RISK",
    "STOP_KINDS",
    "TRUSTED",
    "UNTRUSTED_ORIGINS",
    "ActionRequest",
    "AllowConnectors",
    "AllowModels",
    "AllowSites",
    "AllowedRecipientDomains",
    "BuiltinRules",
    "Classification",
    "Compiled",
    "ConnectorGrant",
    "Decision",
    "DenySites",
    "FieldKind",
    "Finding",
    "ForbidEffect",
    "Grant",
    "HeuristicDetector",
    "InjectionDetector",
    "Intent",
    "MaxAmount",
    "MaxDownload",
    "Money",
    "NavigationSettings",
    "Origin",
    "Policy",
    "Provenance",
    "RequireApproval",
    "Risk",
    "Rule",
    "RuleSet",
    "Scope",
    "Source",
    "Stop",
    "StopKind",
    "Submission",
    "TaintedArg",
    "Trace",
    "Uncompiled",
    "Verdict",
    "captcha_of",
    "check_grants",
    "check_navigation",
    "classify_click",
    "classify_drag",
    "classify_enter",
    "combine",
    "compile_instruction",
    "compile_instructions",
    "compile_with_model",
    "derive_scope",
    "detect_stop",
    "detect_stops",
    "explain",
    "field_kind",
    "find_element",
    "has_payment_fields",
    "is_vault_placeholder",
    "leaves",
    "merge_grants",
    "parse_money",
    "read_total",
    "risk_of",
    "sensitive_field",
    "site_matches",
    "site_of",
    "standing_grants",
    "strictest",
    "submission_of",
]
