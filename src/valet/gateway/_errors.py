"""The gateway's exceptions. A tool raises `ToolFailure` for a failure the model should read."""

from __future__ import annotations

from valet.errors import ValetError


class GatewayError(ValetError):
    """The gateway was set up wrongly (e.g. two tools with one name, a tool without hints)."""


class ToolFailure(ValetError):
    """Raised by a tool for an expected failure (e.g. insufficient funds): the gateway returns
    it to the model as a failed result instead of raising."""
