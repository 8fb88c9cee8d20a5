"""The connectors' exceptions."""

from __future__ import annotations

from valet.errors import ValetError


class ConnectorError(ValetError):
    """A connector or toolset cannot be loaded or opened (a bad entry point, bad settings, an
    MCP server that does not start). Failures of single calls are values, not exceptions."""
