"""The gateway: the one door between the model's actions and the world.

- `Gateway(tools=[...], rules=Policy(...), audit=AuditLog, approver=..., scope=Scope(...),
  task=TaskContext(...))`: wraps typed Python tools declared with `@tool(effect=...)`;
  `await gateway.call(name, args)` returns a `ToolResult`.
- `GatedToolbox(inner_toolbox, gateway)`: the same decisions for valet's browser actions.
- `DocumentGuard(gate)`: the navigation rules on every document request the browser makes
  (redirect hops, popups, iframes, script navigations), before it is sent; pass its `check` to
  `BrowserSession.start(guard=...)` and the guard to `GatedToolbox(documents=...)`. Its
  `connect` is the egress proxy's check on every connection (`egress=`, with `resolve=` its
  `addresses`).
- Approvals: `Approver` (protocol), `ApprovalRequest`, `Approval`, `DenyAllApprover` (fail
  closed), `ScriptedApprover` (tests).
- `TaskSecrets(vault, redactor)`: vault placeholders filled on bound sites, values hidden.
- `StopGuard` (inside `GatedToolbox(stops=..., vault_can_fill=...)`): marks a page that needs
  the person (login, payment, CAPTCHA, one-time code) and denies typing into those fields
  (`stop.sensitive_field`); `VaultCanFill` is the vault's say on whether it fills the form.
- Watch mode: `GatedToolbox(watch=Watch, sensitive_sites=...)` holds actions on sensitive
  sites (mail, banking, admin consoles) until the person watches the live view.
- `Spending`: where a person's payments are kept across tasks (per-month limits).
- `current_task()`: inside a tool, the `TaskContext` its call runs for (`current_run_folder()`:
  its run record's folder); `may_reach(url)`:
  whether the running task's navigation rules let a tool reach an address it found itself
  (`reach_check()`: the same, bound now, for a callback that runs later);
  `running_action()`: the journaled action it performs (a stable id, the point of no
  return), set by the runtime.
- `page_state(observation, element)`: the digest an approval of an action on a page is bound
  to (`ApprovalRequest.page`): an answer counts only for the page as it was when asked.
- `ToolFailure`: raise it in a tool for a failure the model should read. `GatewayError`: setup.
"""

from valet.gateway._action import RunningAction, performing, running_action
from valet.gateway._approval import (
    Approval,
    ApprovalRequest,
    Approver,
    DenyAllApprover,
    ScriptedApprover,
)
from valet.gateway._documents import DocumentGuard, Refusal, Resolver, resolve_host
from valet.gateway._errors import GatewayError, ToolFailure
from valet.gateway._gate import Gate, Ruling, Spending, TaskContext
from valet.gateway._gateway import (
    Gateway,
    ToolResult,
    current_run_folder,
    current_task,
    may_reach,
    reach_check,
)
from valet.gateway._page_state import learn_page, page_state
from valet.gateway._secrets import TaskSecrets
from valet.gateway._stop_guard import SENSITIVE_RULE, StopGuard, VaultCanFill, no_vault
from valet.gateway._tool import Tool, ToolEffects, make_tool, tool
from valet.gateway._toolbox import GatedToolbox
from valet.gateway._watch import Watch, WatchGuard

__all__ = [
    "SENSITIVE_RULE",
    "Approval",
    "ApprovalRequest",
    "Approver",
    "DenyAllApprover",
    "DocumentGuard",
    "Gate",
    "GatedToolbox",
    "Gateway",
    "GatewayError",
    "Refusal",
    "Resolver",
    "Ruling",
    "RunningAction",
    "ScriptedApprover",
    "Spending",
    "StopGuard",
    "TaskContext",
    "TaskSecrets",
    "Tool",
    "ToolEffects",
    "ToolFailure",
    "ToolResult",
    "VaultCanFill",
    "Watch",
    "WatchGuard",
    "current_run_folder",
    "current_task",
    "learn_page",
    "make_tool",
    "may_reach",
    "no_vault",
    "page_state",
    "performing",
    "reach_check",
    "resolve_host",
    "running_action",
    "tool",
]
