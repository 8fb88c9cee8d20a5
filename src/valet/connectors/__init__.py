"""Connectors: the person's services (and any MCP server) as toolsets of typed operations.

- `Operation` (typed arguments model, declared `Effect`, scopes) and `Toolset` (a named group
  of them, with its auth method); `Toolset.tools()` gives the gateway's tools,
  `Toolset.actions()` the model's typed actions. Nothing here runs an operation: only
  `valet.gateway.Gateway.call` does.
- `Connector` (protocol) and `registered_connectors()` (`connector_names()`: without loading
  them): the `valet.connectors` entry point,
  which valet's own connectors use the same way a third-party package would (`files`, `mcp`).
- `ToolsetConfig` / `configured_toolsets(config)` / `open_toolsets(...)` / `people_toolsets`
  (those a person's task may open): which toolsets a task
  attaches (`[[mcp]]` and `[[connectors]]` in `config.toml`, or `TaskSpec.toolsets`);
  `inspect_toolsets(...)` opens each to report its operations (or why it failed).
- `McpSettings` / `effect_of`: an MCP server (stdio command or streamable-HTTP URL) and how each
  of its tools gets an effect (the person's mapping, then annotations, else unknown → ask).
- `ToolsetToolbox`: the agent's toolbox with the toolsets' actions added, all gated.
- Accounts: `Account` / `Accounts` (`connectors.toml`, no secrets), `add_oauth_account`
  (`finish_oauth_account`: its second half, for a redirect received elsewhere, `name_is_free`),
  `add_password_account`, `add_secret_account`, `check_account`, `remove_account`,
  `uses_account`, `AccountToken` (a connector's refreshed OAuth token); `record_connect` and
  `record_removal` put the person's account changes in the audit log. OAuth2:
  `OAuthProvider`, `PRESETS` (google, microsoft, github), `oauth_provider`,
  `authorization_request`, `exchange_code`, `refresh`, `revoke`, `LoopbackRedirect`,
  `OAuthError` (`NoRevocationEndpoint`).
- `ConnectorError`: a connector or toolset cannot be loaded or opened.
"""

from typing import TYPE_CHECKING, Any

from valet.connectors._accounts import Account, Accounts, unused_after_days
from valet.connectors._changes import record_connect, record_removal
from valet.connectors._errors import ConnectorError
from valet.connectors._files import FilesSettings
from valet.connectors._oauth import (
    PRESETS,
    AuthorizationRequest,
    LoopbackRedirect,
    NoRevocationEndpoint,
    OAuthError,
    OAuthProvider,
    authorization_request,
    exchange_code,
    oauth_provider,
    refresh,
    revoke,
)
from valet.connectors._registry import (
    ENTRY_POINT_GROUP,
    Connector,
    ToolsetConfig,
    ToolsetReport,
    configured_toolsets,
    connector_names,
    default_grant,
    inspect_toolsets,
    open_toolsets,
    people_toolsets,
    registered_connectors,
)
from valet.connectors._schema import model_from_schema
from valet.connectors._signin import (
    AccountToken,
    CheckReport,
    add_oauth_account,
    add_password_account,
    add_secret_account,
    check_account,
    finish_oauth_account,
    name_is_free,
    remove_account,
    uses_account,
)
from valet.connectors._toolbox import ToolsetToolbox, outcome_of, toolset_actions
from valet.connectors._toolset import (
    AuthMethod,
    DidNotHappen,
    Happened,
    Operation,
    Reconcile,
    Reconciled,
    Toolset,
    ToolsetAction,
    Unsure,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "PRESETS",
    "Account",
    "AccountToken",
    "Accounts",
    "AuthMethod",
    "AuthorizationRequest",
    "CheckReport",
    "Connector",
    "ConnectorError",
    "DidNotHappen",
    "FilesSettings",
    "Happened",
    "LoopbackRedirect",
    "McpSettings",
    "NoRevocationEndpoint",
    "OAuthError",
    "OAuthProvider",
    "Operation",
    "Reconcile",
    "Reconciled",
    "Toolset",
    "ToolsetAction",
    "ToolsetConfig",
    "ToolsetReport",
    "ToolsetToolbox",
    "Unsure",
    "add_oauth_account",
    "add_password_account",
    "add_secret_account",
    "authorization_request",
    "check_account",
    "configured_toolsets",
    "connector_names",
    "default_grant",
    "effect_of",
    "exchange_code",
    "finish_oauth_account",
    "inspect_toolsets",
    "model_from_schema",
    "name_is_free",
    "oauth_provider",
    "open_toolsets",
    "outcome_of",
    "people_toolsets",
    "record_connect",
    "record_removal",
    "refresh",
    "registered_connectors",
    "remove_account",
    "revoke",
    "toolset_actions",
    "unused_after_days",
    "uses_account",
]

if TYPE_CHECKING:
    from valet.connectors._mcp import McpSettings, effect_of


def __getattr__(name: str) -> Any:
    if name in ("McpSettings", "effect_of"):  # the MCP SDK loads on first use (slow import)
        from valet.connectors import _mcp

        return getattr(_mcp, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
