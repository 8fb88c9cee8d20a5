"""Connectors: the person's services (and any MCP server) as toolsets of typed operations.

- `Operation` (typed arguments model, declared `Effect`, scopes) and `Toolset` (a named group
  of them, with its auth method); `Toolset.tools()` gives the gateway's tools,
  `Toolset.actions()` the model's typed actions. Nothing here runs an operation: only
  `valet.gateway.Gateway.call` does.
- `Connector` (protocol) and `registered_connectors()`: the `valet.connectors` entry point,
  which valet's own connectors use the same way a third-party package would (`files`, `mcp`).
- `ToolsetConfig` / `configured_toolsets(config)` / `open_toolsets(...)`: which toolsets a task
  attaches (`[[mcp]]` and `[[connectors]]` in `config.toml`, or `TaskSpec.toolsets`);
  `inspect_toolsets(...)` opens each to report its operations (or why it failed).
- `McpSettings` / `effect_of`: an MCP server (stdio command or streamable-HTTP URL) and how each
  of its tools gets an effect (the person's mapping, then annotations, else unknown → ask).
- `ToolsetToolbox`: the agent's toolbox with the toolsets' actions added, all gated.
- `ConnectorError`: a connector or toolset cannot be loaded or opened.
"""

from valet.connectors._errors import ConnectorError
from valet.connectors._files import FilesSettings
from valet.connectors._mcp import McpSettings, effect_of
from valet.connectors._registry import (
    ENTRY_POINT_GROUP,
    Connector,
    ToolsetConfig,
    ToolsetReport,
    configured_toolsets,
    inspect_toolsets,
    open_toolsets,
    registered_connectors,
)
from valet.connectors._schema import model_from_schema
from valet.connectors._toolbox import ToolsetToolbox, outcome_of
from valet.connectors._toolset import AuthMethod, Operation, Toolset, ToolsetAction

__all__ = [
    "ENTRY_POINT_GROUP",
    "AuthMethod",
    "Connector",
    "ConnectorError",
    "FilesSettings",
    "McpSettings",
    "Operation",
    "Toolset",
    "ToolsetAction",
    "ToolsetConfig",
    "ToolsetReport",
    "ToolsetToolbox",
    "configured_toolsets",
    "effect_of",
    "inspect_toolsets",
    "model_from_schema",
    "open_toolsets",
    "outcome_of",
    "registered_connectors",
]
